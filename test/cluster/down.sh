#!/usr/bin/env bash
# Tears down the cluster of up.sh and leaves nothing behind: no process, no
# mount, no network namespace, no bridge, no KUBE-/CNI- iptables chain, no
# kubepods cgroup, no CLUSTER_DIR. Safe to run at any time, also after a
# crash or twice in a row. Built images in <repo>/.cache/images stay.
#
# Order matters: the controller-manager goes first (else ReplicaSets recreate
# the pods we delete), pods are deleted while the kubelet runs (so it calls
# CNI DEL and releases addresses and iptables rules), then the components stop
# by PID file; whatever survived a crash is killed through its cgroup.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/cluster/lib.sh
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || { echo "down.sh: must run as root" >&2; exit 1; }

step "stop kube-controller-manager"
stop_component kube-controller-manager

if [ -x "$KUBECTL" ] && alive kube-apiserver && alive kubelet && alive containerd; then
  step "delete pods (the kubelet runs CNI DEL)" kubelet
  kubectl_admin delete pods --all --all-namespaces --grace-period=1 --wait=true --timeout=60s >/dev/null 2>&1 ||
    echo "  some pods did not go within 60s; killing them below"
  # host-local keeps one file per leased address: gone means CNI DEL ran.
  for _ in $(seq 100); do
    leases=$(find "$IPAM_DIR" -type f -name '[0-9]*' 2>/dev/null | wc -l)
    [ "$leases" = 0 ] && break
    sleep 0.2
  done
fi

step "stop the components"
# The node and the scheduler together, then the API server, then its store.
for c in kube-scheduler kube-proxy kubelet; do stop_component "$c" & done
wait
stop_component kube-apiserver
stop_component etcd

if alive containerd; then
  step "stop containers and containerd" containerd
  ctr_() { ctr --address "$CONTAINERD_ADDRESS" -n k8s.io "$@"; }
  for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
  for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$t" >/dev/null 2>&1 || true; done
  stop_component containerd
else
  step "stop containerd"
  stop_component containerd
fi

step "kill leftover processes"
# Container processes of a crashed run: everything in the kubelet's cgroups.
kill_cgroup_procs() {
  local f pid n=0
  for f in /sys/fs/cgroup/*/kubepods/cgroup.procs /sys/fs/cgroup/*/kubepods/**/cgroup.procs \
    /sys/fs/cgroup/kubepods/cgroup.procs /sys/fs/cgroup/kubepods/**/cgroup.procs; do
    [ -f "$f" ] || continue
    while read -r pid; do
      [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && n=$((n + 1))
    done <"$f"
  done
  echo "$n"
}
shopt -s globstar nullglob
for _ in 1 2 3 4 5; do [ "$(kill_cgroup_procs)" = 0 ] && break; sleep 0.2; done
# containerd shims outlive containerd; ours name our socket on their command line.
for f in $(grep -lsF -- "$CONTAINERD_ADDRESS" /proc/[0-9]*/cmdline || true); do
  if grep -qsF containerd-shim "$f"; then
    pid=${f#/proc/}
    kill -KILL "${pid%/cmdline}" 2>/dev/null || true
  fi
done
# Every component we started, if a PID file survived.
for f in "$PIDS"/*.pid; do stop_component "$(basename "$f" .pid)" 5; done

step "unmount"
# Deepest first: pod volumes, container rootfs, sandbox shm, network namespaces.
for _ in 1 2 3; do
  mapfile -t mounts < <(awk -v d="$CLUSTER_DIR/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | uniq)
  [ ${#mounts[@]} = 0 ] && break
  for m in "${mounts[@]}"; do
    m=$(printf '%b' "$m") # /proc/mounts escapes spaces as \040
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
done
if awk -v d="$CLUSTER_DIR/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
  echo "  still mounted under $CLUSTER_DIR:" >&2
  awk -v d="$CLUSTER_DIR/" 'index($2, d) == 1 { print "    " $2 }' /proc/self/mounts >&2
fi

step "network: bridge and iptables chains"
ip link delete "$CNI_BRIDGE" 2>/dev/null || true
# drop_chains FAMILY (iptables|ip6tables): remove the rules that jump to
# KUBE-*/CNI-* chains from the other chains, then flush and delete those
# chains, one iptables-restore per table (one call per rule is slow).
drop_chains() {
  local ipt=$1 table script
  command -v "$ipt-restore" >/dev/null || return 0
  script=$(mktemp)
  for table in filter nat mangle raw; do
    "$ipt" -t "$table" -S 2>/dev/null | awk -v t="$table" '
      $1 == "-N" && $2 ~ /^(KUBE|CNI)-/ { chains[++n] = $2; next }
      $1 == "-A" && $2 !~ /^(KUBE|CNI)-/ && / -j (KUBE|CNI)-/ { sub(/^-A /, "-D "); rules[++m] = $0 }
      END {
        if (n + m == 0) exit
        print "*" t
        for (i = 1; i <= m; i++) print rules[i]
        for (i = 1; i <= n; i++) print "-F " chains[i]
        for (i = 1; i <= n; i++) print "-X " chains[i]
        print "COMMIT"
      }' >"$script" || true
    if [ -s "$script" ]; then
      "$ipt-restore" --noflush <"$script" ||
        echo "  $ipt-restore could not remove every KUBE-/CNI- rule from table $table" >&2
    fi
  done
  rm -f "$script"
}
drop_chains iptables
drop_chains ip6tables

step "cgroups and log links"
# The kubelet's cgroup tree, leaves first; only empty cgroups can go.
for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
  if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
done
# The kubelet links container logs from /var/log/containers into podLogsDir.
if [ -d /var/log/containers ]; then
  find /var/log/containers -maxdepth 1 -type l -lname "$CLUSTER_DIR/*" -delete
fi
# Paths compiled into the kubelet, libcni and the containerd shim: remove
# what they created, and the directories once empty.
rm -f /var/lib/kubelet/device-plugins/kubelet.sock
# libcni caches each ADD result until DEL, which a crash skips: ours are the
# results of our network and the loopback results of the same sandboxes.
for f in /var/lib/cni/results/"$CNI_NETWORK"-*-eth0; do
  id=${f#/var/lib/cni/results/"$CNI_NETWORK"-}
  rm -f "$f" "/var/lib/cni/results/cni-loopback-${id%-eth0}-lo"
done
# Sockets of shims killed above: nothing listens on them any more.
if [ -d /run/containerd/s ]; then
  listening=$(ss -Hxl 2>/dev/null | awk '{ print $5 }')
  for f in /run/containerd/s/*; do
    grep -qxF "$f" <<<"$listening" || rm -f "$f"
  done
fi
for d in /var/lib/kubelet/device-plugins /var/lib/kubelet /var/lib/cni/results /var/lib/cni \
  /run/containerd/s /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd /var/log/containers; do
  rmdir "$d" 2>/dev/null || true
done

step "remove $CLUSTER_DIR"
# --one-file-system: never descend into something still mounted.
rm -rf --one-file-system "$CLUSTER_DIR" 2>/dev/null ||
  die "could not remove $CLUSTER_DIR completely (still mounted?)"
step_done
echo "cluster down in $(elapsed "$cluster_t0")s"
