#!/usr/bin/env bash
# Smoke test of a running cluster (after up.sh): the features rolechain relies
# on work for real here.
#   1. A native sidecar (init container with restartPolicy Always and a
#      startupProbe) is started, and ready, before the app container.
#   2. A kubelet-projected service-account token with audience
#      sts.amazonaws.com is in the pod, issued by ISSUER_URL for the pod's
#      ServiceAccount.
#   3. A ClusterIP Service reaches the pod, from the host and from a pod
#      (hairpin), once kube-proxy has programmed it.
#   4. kubectl exec works (the apiserver reaches the kubelet).
# Env: CLUSTER_DIR as for up.sh; KEEP=1 keeps the namespace for inspection.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/cluster/lib.sh
. "$here/lib.sh"
# shellcheck source=test/images/lib.sh
. "$REPO_ROOT/test/images/lib.sh"
env_file=$CLUSTER_DIR/cluster.env
[ -f "$env_file" ] || { echo "smoke.sh: $env_file missing: run make cluster-up first" >&2; exit 1; }
set -a
# shellcheck disable=SC1090
. "$env_file"
set +a

ns=rolechain-smoke
image=localhost/rolechain/toolbox:dev
k() { "$KUBECTL" -n "$ns" "$@"; }
fail() {
  echo "SMOKE FAILED: $1" >&2
  k get pods -o wide >&2 || true
  k describe pod smoke >&2 || true
  exit 1
}

step "toolbox image"
bash "$REPO_ROOT/test/images/go-image.sh" "$image" "$IMAGES_DIR/toolbox.tar" "$REPO_ROOT/test/images/toolbox" | sed 's/^/  /'
bash "$REPO_ROOT/test/images/import.sh" "$IMAGES_DIR/toolbox.tar"

step "pod with a native sidecar and a projected token"
"$KUBECTL" delete namespace "$ns" --ignore-not-found --wait=true --timeout=60s >/dev/null
"$KUBECTL" create namespace "$ns" >/dev/null
# The default ServiceAccount of a new namespace appears asynchronously.
wait_until "ServiceAccount $ns/default" 30 "" k get serviceaccount default
k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: smoke
  labels: {app: smoke}
spec:
  terminationGracePeriodSeconds: 1
  # Non-root like the real sidecar; the kubelet then gives the token to this UID.
  securityContext: {runAsUser: 65534, runAsGroup: 65534, runAsNonRoot: true}
  initContainers:
  - name: sidecar
    image: $image
    imagePullPolicy: Never
    restartPolicy: Always
    # Ready only after 2 s: an app started before its startupProbe passed
    # would find no /shared/ready and crash.
    command: [/toolbox, mark, --after, 2s, /shared/ready, sidecar-was-ready]
    startupProbe:
      exec: {command: [/toolbox, exists, /shared/ready]}
      periodSeconds: 1
      failureThreshold: 60
    volumeMounts:
    - {name: shared, mountPath: /shared}
  containers:
  - name: app
    image: $image
    imagePullPolicy: Never
    # Serves the sidecar's file, read once at start: fails if it is missing.
    command: [/toolbox, serve, ":8080", "@/shared/ready"]
    ports:
    - {containerPort: 8080}
    volumeMounts:
    - {name: shared, mountPath: /shared, readOnly: true}
    - {name: sts-token, mountPath: /var/run/secrets/rolechain/serviceaccount, readOnly: true}
  volumes:
  - name: shared
    emptyDir: {}
  - name: sts-token
    projected:
      sources:
      - serviceAccountToken: {audience: sts.amazonaws.com, expirationSeconds: 3600, path: token}
---
apiVersion: v1
kind: Service
metadata:
  name: smoke
spec:
  selector: {app: smoke}
  ports:
  - {port: 80, targetPort: 8080}
EOF
k wait pod/smoke --for=condition=Ready --timeout=90s >/dev/null || fail "pod smoke not Ready within 90s"

step "sidecar started before the app"
sidecar_started=$(k get pod smoke -o jsonpath='{.status.initContainerStatuses[?(@.name=="sidecar")].state.running.startedAt}')
app_started=$(k get pod smoke -o jsonpath='{.status.containerStatuses[?(@.name=="app")].state.running.startedAt}')
app_restarts=$(k get pod smoke -o jsonpath='{.status.containerStatuses[?(@.name=="app")].restartCount}')
echo "  sidecar started $sidecar_started, app started $app_started, app restarts $app_restarts"
if [ -z "$sidecar_started" ] || [ -z "$app_started" ]; then fail "container start times missing"; fi
[ "$app_restarts" = 0 ] || fail "app restarted $app_restarts times: it started before the sidecar was ready"
# RFC 3339 UTC timestamps of equal length compare as strings.
[[ ! "$app_started" < "$sidecar_started" ]] || fail "app started ($app_started) before the sidecar ($sidecar_started)"

step "projected token: audience, issuer, subject (kubectl exec)"
token=/var/run/secrets/rolechain/serviceaccount/token
aud=$(k exec smoke -c app -- /toolbox jwt-claims "$token" aud) || fail "kubectl exec / reading the token failed"
iss=$(k exec smoke -c app -- /toolbox jwt-claims "$token" iss)
sub=$(k exec smoke -c app -- /toolbox jwt-claims "$token" sub)
echo "  aud=$(echo "$aud" | paste -sd,) iss=$iss sub=$sub"
[ "$aud" = sts.amazonaws.com ] || fail "token aud is '$aud', want sts.amazonaws.com"
[ "$iss" = "$ISSUER_URL" ] || fail "token iss is '$iss', want $ISSUER_URL"
[ "$sub" = "system:serviceaccount:$ns:default" ] || fail "token sub is '$sub'"

step "ClusterIP Service reaches the pod"
cluster_ip=$(k get service smoke -o jsonpath='{.spec.clusterIP}')
# The Service exists before kube-proxy has programmed it: poll.
svc_answers_host() { [ "$(curl -fsS --max-time 2 "http://$cluster_ip/")" = sidecar-was-ready ]; }
svc_answers_pod() { [ "$(k exec smoke -c app -- /toolbox get "http://$cluster_ip/")" = sidecar-was-ready ]; }
wait_until "http://$cluster_ip/ from the host" 30 kube-proxy svc_answers_host
wait_until "http://$cluster_ip/ from the pod itself (hairpin)" 30 kube-proxy svc_answers_pod
echo "  http://$cluster_ip/ answered from the host and from the pod"

if [ -z "${KEEP:-}" ]; then
  step "clean up"
  # The namespace controller finishes in the background; the next run waits for it.
  "$KUBECTL" delete namespace "$ns" --wait=false >/dev/null
fi
step_done
echo "smoke test passed in $(elapsed "$cluster_t0")s"
