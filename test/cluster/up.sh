#!/usr/bin/env bash
# Brings up a single-node Kubernetes cluster of real components on this
# machine, as root: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd + runc, CNI bridge, kubelet, kube-proxy.
# Binaries come from test/tools/build.sh (make k8s-binaries) in bin/k8s;
# containerd, runc and the CNI plugins from Debian.
#
# Env (all optional):
#   CLUSTER_DIR  work dir (default <repo>/.cache/cluster); removed by down.sh
#   ISSUER_URL   service-account issuer (default https://127.0.0.1:18443); the
#                STS harness publishes its discovery document and JWKS there
#   NODE_IP      address of this host that pods can reach (default: the source
#                address of the default route)
#   NODE_NAME    (default: the host name, lower case)
#   FRESH=1      tear down and restart even when a healthy cluster is running
#
# On success it writes $CLUSTER_DIR/cluster.env (KEY=value lines; load with
# `set -a; . cluster.env; set +a`). Running it again is safe: a healthy cluster
# with the same settings is kept, anything else (a crashed run) is torn down
# first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/cluster/lib.sh
. "$here/lib.sh"
# shellcheck source=test/images/lib.sh
. "$REPO_ROOT/test/images/lib.sh"
# shellcheck source=test/lib/install.sh
. "$REPO_ROOT/test/lib/install.sh"

[ "$(id -u)" = 0 ] || { echo "up.sh: must run as root" >&2; exit 1; }

ISSUER_URL=${ISSUER_URL:-https://127.0.0.1:18443}
JWKS_URI=${JWKS_URI:-$ISSUER_URL/openid/v1/jwks}
# Only the issuer: a token minted for STS (audience sts.amazonaws.com) must not
# also authenticate to this API server. TokenRequest issues any audience anyway.
API_AUDIENCES=${API_AUDIENCES:-$ISSUER_URL}
NODE_NAME=${NODE_NAME:-$(hostname | tr '[:upper:]' '[:lower:]')}
if [ -z "${NODE_IP:-}" ]; then
  NODE_IP=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
  [ -n "$NODE_IP" ] || NODE_IP=$(ip -4 -o addr show scope global | awk '{ split($4, a, "/"); print a[1]; exit }')
fi
[ -n "$NODE_IP" ] || { echo "up.sh: cannot find this host's address; set NODE_IP" >&2; exit 1; }

report_exit() {
  local rc=$?
  if [ "$rc" != 0 ] && [ -n "$step_name" ]; then echo "up.sh failed in step: $step_name (exit $rc)" >&2; fi
}
trap report_exit EXIT

# --- 1. host packages, on every run -------------------------------------------
step "host packages"
# Every run, not only when something looks missing (test/lib/install.sh says
# why); a repeat is a one-second no-op. iproute2 for ip/ss, gcc and libc6-dev
# for the static pause binary.
install_debian containerd runc iptables conntrack containernetworking-plugins iproute2 openssl curl gcc libc6-dev ||
  die "apt-get install failed (log: $INSTALL_LOGS/apt.log)"

# --- 2. is a healthy cluster with these settings already up? ------------------
env_file=$CLUSTER_DIR/cluster.env
if [ -z "${FRESH:-}" ] && [ -f "$env_file" ] &&
  grep -qxF "ISSUER_URL=$ISSUER_URL" "$env_file" && grep -qxF "NODE_IP=$NODE_IP" "$env_file"; then
  healthy=1
  for c in etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
    alive "$c" || healthy=
  done
  if [ -n "$healthy" ] && kubectl_admin get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -qx True; then
    echo "cluster already up ($env_file); FRESH=1 restarts it"
    exit 0
  fi
fi

step "binaries and kernel settings"
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
  [ -x "$K8S_BIN/$b" ] || die "$K8S_BIN/$b missing: run make k8s-binaries (test/tools/build.sh)"
done
modprobe overlay 2>/dev/null || true
modprobe br_netfilter 2>/dev/null || true
# Pods reach Services and the outside through the host: forwarding on, and
# bridged traffic through iptables so kube-proxy's rules apply to it.
sysctl -qw net.ipv4.ip_forward=1
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] && sysctl -qw net.bridge.bridge-nf-call-iptables=1

# --- 3. clean up whatever an earlier run left ---------------------------------
if [ -e "$CLUSTER_DIR" ] || ip link show "$CNI_BRIDGE" >/dev/null 2>&1; then
  step "tear down the earlier cluster"
  bash "$here/down.sh" | sed 's/^/  /'
fi
for port in 2379 2380 "$APISERVER_PORT" 10250 10257 10259; do
  if ss -Hltn "sport = :$port" | grep -q .; then
    die "port $port is in use (another cluster on this machine?): $(ss -Hltnp "sport = :$port" | head -n 1)"
  fi
done
mkdir -p "$CLUSTER_DIR" "$PKI" "$KCFG" "$LOGS" "$PIDS"

# --- 4. certificates and kubeconfigs ------------------------------------------
step "certificates and kubeconfigs"
# cert NAME SUBJECT EKU [SANS]: an ECDSA P-256 key and a certificate signed
# by the CA, in one openssl call (OpenSSL 3: req -x509 -CA).
cert() {
  local name=$1 subj=$2 eku=$3 sans=${4:-}
  openssl req -x509 -new -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -days 3650 \
    -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subj" \
    -keyout "$PKI/$name.key" -out "$PKI/$name.crt" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
    -addext "extendedKeyUsage=$eku" ${sans:+-addext "subjectAltName=$sans"} 2>/dev/null
}
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
  -subj "/CN=rolechain-test-ca" -keyout "$PKI/ca.key" -out "$PKI/ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
# Independent of each other: generate them in parallel.
jobs=()
cert apiserver "/CN=kube-apiserver" serverAuth \
  "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:$NODE_NAME,IP:127.0.0.1,IP:$NODE_IP,IP:$SERVICE_IP" &
jobs+=($!)
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth & jobs+=($!)
cert admin "/O=system:masters/CN=kubernetes-admin" clientAuth & jobs+=($!)
cert controller-manager "/CN=system:kube-controller-manager" clientAuth & jobs+=($!)
cert scheduler "/CN=system:kube-scheduler" clientAuth & jobs+=($!)
cert kube-proxy "/CN=system:kube-proxy" clientAuth & jobs+=($!)
cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth & jobs+=($!)
cert kubelet-serving "/O=system:nodes/CN=system:node:$NODE_NAME" serverAuth "DNS:$NODE_NAME,DNS:localhost,IP:$NODE_IP,IP:127.0.0.1" &
jobs+=($!)
# Service-account tokens: RSA, which every STS implementation accepts (RS256).
{
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
} &
jobs+=($!)
for j in "${jobs[@]}"; do wait "$j" || die "openssl failed"; done
chmod 0600 "$PKI"/*.key

kubeconfig() { # kubeconfig NAME CERT: a kubeconfig authenticating with pki/CERT.{crt,key}
  cat >"$KCFG/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: rolechain
  cluster:
    server: https://$NODE_IP:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$2.crt")
    client-key-data: $(base64 -w0 "$PKI/$2.key")
contexts:
- name: rolechain
  context: {cluster: rolechain, user: $2}
current-context: rolechain
EOF
  chmod 0600 "$KCFG/$1.kubeconfig"
}
for c in admin controller-manager scheduler kube-proxy kubelet; do kubeconfig "$c" "$c"; done

# --- 5. the pause image -------------------------------------------------------
step "pause image"
build_pause "$IMAGES_DIR/pause.tar" | sed 's/^/  /'

# --- 6. etcd and containerd ---------------------------------------------------
step "start etcd and containerd" etcd
start_bg etcd "$K8S_BIN/etcd" --name=rolechain --data-dir="$CLUSTER_DIR/etcd" \
  --listen-client-urls=http://127.0.0.1:2379 --advertise-client-urls=http://127.0.0.1:2379 \
  --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 \
  --initial-cluster=rolechain=http://127.0.0.1:2380 --log-level=warn \
  --unsafe-no-fsync=true # a throwaway test cluster: durability is not worth the fsync latency

mkdir -p "$CONTAINERD_DIR" "$CLUSTER_DIR/cni/net.d" "$IPAM_DIR"
cat >"$CONTAINERD_DIR/config.toml" <<EOF
version = 2
root = "$CONTAINERD_DIR/root"
state = "$CONTAINERD_DIR/state"
[grpc]
  address = "$CONTAINERD_ADDRESS"
[ttrpc]
  address = "$CONTAINERD_ADDRESS.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CONTAINERD_DIR/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # The VM's bounding set lacks CAP_SYS_RESOURCE: without this every sandbox
  # fails with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  # Network namespaces under our state dir, so down.sh finds and unmounts them.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # PID 1 is not systemd: cgroupfs, like the kubelet.
        SystemdCgroup = false
        Root = "$CONTAINERD_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$CLUSTER_DIR/cni/net.d"
EOF
cat >"$CLUSTER_DIR/cni/net.d/10-$CNI_NETWORK.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$IPAM_DIR",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
start_bg containerd containerd --config "$CONTAINERD_DIR/config.toml"

wait_until "etcd health" 30 etcd curl -fsS http://127.0.0.1:2379/health
step_component=containerd
wait_until "containerd socket" 30 containerd ctr --address "$CONTAINERD_ADDRESS" version
import_image "$IMAGES_DIR/pause.tar" || die "pause image import failed"

# --- 7. kube-apiserver --------------------------------------------------------
step "start kube-apiserver" kube-apiserver
start_bg kube-apiserver "$K8S_BIN/kube-apiserver" \
  --advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port="$APISERVER_PORT" \
  --etcd-servers=http://127.0.0.1:2379 \
  --client-ca-file="$PKI/ca.crt" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$PKI/ca.crt" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --service-account-issuer="$ISSUER_URL" \
  --service-account-jwks-uri="$JWKS_URI" \
  --service-account-key-file="$PKI/sa.pub" \
  --service-account-signing-key-file="$PKI/sa.key" \
  --api-audiences="$API_AUDIENCES" \
  --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction,MutatingAdmissionWebhook,ValidatingAdmissionWebhook \
  --allow-privileged=true \
  --profiling=false
wait_until "kube-apiserver /readyz" 90 kube-apiserver \
  curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$APISERVER_PORT/readyz"

# --- 8. controllers and the node ----------------------------------------------
step "start controller-manager, scheduler and kubelet" kubelet
start_bg kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$KCFG/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$KCFG/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$KCFG/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false \
  --use-service-account-credentials=true \
  --root-ca-file="$PKI/ca.crt" \
  --service-account-private-key-file="$PKI/sa.key" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --cluster-name=rolechain \
  --flex-volume-plugin-dir="$CLUSTER_DIR/kcm-volume-plugins"
start_bg kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig="$KCFG/scheduler.kubeconfig" \
  --authentication-kubeconfig="$KCFG/scheduler.kubeconfig" \
  --authorization-kubeconfig="$KCFG/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false

mkdir -p "$CLUSTER_DIR/kubelet" "$CLUSTER_DIR/pod-logs"
cat >"$CLUSTER_DIR/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
containerRuntimeEndpoint: unix://$CONTAINERD_ADDRESS
# PID 1 is not systemd and the host runs cgroup v1.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
# The VM cannot give the kubelet its own reserved cgroups; a test node needs
# no enforcement.
enforceNodeAllocatable: []
# Test images are imported, never pulled: never evict or collect them.
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
podLogsDir: $CLUSTER_DIR/pod-logs
volumePluginDir: $CLUSTER_DIR/kubelet/volume-plugins
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
serializeImagePulls: false
EOF
start_bg kubelet "$K8S_BIN/kubelet" \
  --config="$CLUSTER_DIR/kubelet/config.yaml" \
  --kubeconfig="$KCFG/kubelet.kubeconfig" \
  --root-dir="$CLUSTER_DIR/kubelet" --cert-dir="$CLUSTER_DIR/kubelet/pki" \
  --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
wait_until "node $NODE_NAME to register" 60 kubelet kubectl_admin get node "$NODE_NAME"

step "start kube-proxy" kube-proxy
cat >"$CLUSTER_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $KCFG/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the host's conntrack sysctls alone: the VM may not allow writing them.
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
start_bg kube-proxy "$K8S_BIN/kube-proxy" --config="$CLUSTER_DIR/kube-proxy.yaml"
wait_until "kube-proxy healthz" 30 kube-proxy curl -fsS http://127.0.0.1:10256/healthz

# --- 9. prove it works --------------------------------------------------------
step "node Ready and a pod running" kubelet
node_ready() {
  kubectl_admin get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True
}
wait_until "node $NODE_NAME Ready" 60 kubelet node_ready
step_component=kube-controller-manager
wait_until "the default ServiceAccount" 60 kube-controller-manager kubectl_admin -n default get serviceaccount default
step_component=kubelet
kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: cluster-up-check, namespace: default}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: pause, image: $PAUSE_IMAGE, imagePullPolicy: Never}
EOF
pod_ready() {
  kubectl_admin -n default get pod cluster-up-check -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True
}
on_failure='kubectl_admin -n default describe pod cluster-up-check'
wait_until "pod cluster-up-check Ready" 60 kubelet pod_ready
on_failure=
kubectl_admin -n default delete pod cluster-up-check --wait=true --timeout=60s >/dev/null

# --- 10. tell the other scripts how to reach it -------------------------------
cat >"$env_file.tmp" <<EOF
KUBECONFIG=$KCFG/admin.kubeconfig
KUBECTL=$KUBECTL
NODE_IP=$NODE_IP
NODE_NAME=$NODE_NAME
API_SERVER=https://$NODE_IP:$APISERVER_PORT
ISSUER_URL=$ISSUER_URL
JWKS_URI=$JWKS_URI
SA_KEY=$PKI/sa.key
SA_PUB=$PKI/sa.pub
CA_CERT=$PKI/ca.crt
CA_KEY=$PKI/ca.key
CLUSTER_DIR=$CLUSTER_DIR
CONTAINERD_ADDRESS=$CONTAINERD_ADDRESS
PAUSE_IMAGE=$PAUSE_IMAGE
POD_CIDR=$POD_CIDR
SERVICE_CIDR=$SERVICE_CIDR
EOF
mv "$env_file.tmp" "$env_file"
step_done
echo "cluster up in $(elapsed "$cluster_t0")s: node $NODE_NAME ($NODE_IP), issuer $ISSUER_URL"
echo "  set -a; . $env_file; set +a   # then: kubectl get pods -A"
