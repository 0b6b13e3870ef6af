# shellcheck shell=bash disable=SC2034
# Settings and helpers shared by up.sh, down.sh and smoke.sh; source it.
#
# Everything the cluster writes at run time lives in CLUSTER_DIR:
#   pki/ kubeconfig/ logs/ pids/ etcd/ containerd/ cni/ kubelet/ pod-logs/ cluster.env
# down.sh removes that directory; built images stay in <repo>/.cache/images.

cluster_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$cluster_here/../.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-$REPO_ROOT/.cache/cluster}
K8S_BIN=${K8S_BIN:-$REPO_ROOT/bin/k8s}
KUBECTL=$K8S_BIN/kubectl

# Fixed network layout of the single node.
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1 # first address of SERVICE_CIDR: the kubernetes Service
POD_CIDR=10.244.0.0/24
CNI_BRIDGE=rolechain0
CNI_NETWORK=rolechain
CNI_BIN_DIR=${CNI_BIN_DIR:-/usr/lib/cni}
APISERVER_PORT=6443

PKI=$CLUSTER_DIR/pki
KCFG=$CLUSTER_DIR/kubeconfig
LOGS=$CLUSTER_DIR/logs
PIDS=$CLUSTER_DIR/pids
CONTAINERD_DIR=$CLUSTER_DIR/containerd
CONTAINERD_ADDRESS=$CONTAINERD_DIR/containerd.sock
IPAM_DIR=$CLUSTER_DIR/cni/ipam

# --- progress and failure reporting ----------------------------------------

cluster_t0=$EPOCHREALTIME
step_t0=$EPOCHREALTIME
step_name=
# component whose log explains a failure of the current step
step_component=

elapsed() { # elapsed SINCE → seconds with one decimal
  awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

# step NAME [COMPONENT] ends the previous step (printing its duration) and
# starts the next one.
step() {
  step_done
  step_name=$1 step_component=${2:-} step_t0=$EPOCHREALTIME
  printf '[%6ss] %s ...\n' "$(elapsed "$cluster_t0")" "$step_name"
}
step_done() {
  if [ -n "$step_name" ]; then
    printf '[%6ss]   done: %s (%ss)\n' "$(elapsed "$cluster_t0")" "$step_name" "$(elapsed "$step_t0")"
  fi
  step_name=
}

# show_log COMPONENT prints the last lines of a component's log.
show_log() {
  local log=$LOGS/$1.log
  [ -f "$log" ] || return 0
  echo "----- last 40 lines of $log -----" >&2
  tail -n 40 "$log" >&2
  echo "-----" >&2
}

# die MESSAGE [COMPONENT] reports a failure with the log of COMPONENT (default:
# the current step's) and exits.
# on_failure, when set, is a command whose output helps explain a failure.
on_failure=
die() {
  echo "FAILED: ${step_name:+$step_name: }$1" >&2
  local c=${2:-$step_component}
  if [ -n "$c" ]; then show_log "$c"; fi
  if [ -n "$on_failure" ]; then eval "$on_failure" >&2 || true; fi
  exit 1
}

# --- background components ---------------------------------------------------

# start_bg NAME BINARY ARG... runs BINARY in its own session, detached from
# the caller's terminal, logging to logs/NAME.log, its PID in pids/NAME.pid.
start_bg() {
  local name=$1
  shift
  mkdir -p "$LOGS" "$PIDS"
  setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
  echo $! >"$PIDS/$name.pid"
}

# pid_of NAME prints the PID of a running component started by start_bg, or
# fails. The PID is checked against the binary so a recycled PID is not mistaken
# for the component.
pid_of() {
  local f=$PIDS/$1.pid pid exe
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && running "$pid" || return 1
  exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n 1)
  case $exe in */"$1" | "$1") echo "$pid" ;; *) return 1 ;; esac
}

alive() { pid_of "$1" >/dev/null; }

# running PID: the process exists and is not a zombie. Our components are
# orphans once up.sh exits, and this machine's PID 1 may reap them late.
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# stop_component NAME [TIMEOUT] sends SIGTERM, then SIGKILL after TIMEOUT
# seconds (default 10), and removes the PID file.
stop_component() {
  local name=$1 timeout=${2:-10} pid i
  if pid=$(pid_of "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
      running "$pid" || break
      sleep 0.1
    done
    if running "$pid"; then
      echo "  $name did not exit on SIGTERM within ${timeout}s; SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "$PIDS/$name.pid"
}

# wait_until DESCRIPTION TIMEOUT COMPONENT COMMAND... polls COMMAND until it
# succeeds. It fails early when COMPONENT (if not empty) has exited, and
# reports COMPONENT's log either way.
wait_until() {
  local desc=$1 timeout=$2 component=$3 deadline
  shift 3
  deadline=$(awk -v t="$EPOCHREALTIME" -v d="$timeout" 'BEGIN { printf "%d", t + d }')
  while ! "$@" >/dev/null 2>&1; do
    if [ -n "$component" ] && ! alive "$component"; then
      die "$component exited while waiting for $desc" "$component"
    fi
    [ "${EPOCHREALTIME%.*}" -lt "$deadline" ] || die "timed out after ${timeout}s waiting for $desc" "$component"
    sleep 0.2
  done
}

kubectl_admin() { "$KUBECTL" --kubeconfig "$KCFG/admin.kubeconfig" "$@"; }
