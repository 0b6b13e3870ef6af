# Shared by up.sh, down.sh and check.sh: where things live, how steps are
# timed, how daemons are started and stopped. Source it; do not run it.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cache/cluster}
STS_DIR=${STS_DIR:-$ROOT/.cache/sts}
BIN=${BIN:-$ROOT/bin}
RUN=$STS_DIR/run     # pid files
LOGS=$STS_DIR/log    # one log per daemon
CEPH=$STS_DIR/ceph   # ceph.conf, mon and osd data
CONF=$CEPH/ceph.conf

# load_cluster_env reads the cluster's cluster.env when present. A variable
# already set in the environment wins over the file.
load_cluster_env() {
  local f=$CLUSTER_DIR/cluster.env v
  [[ -f $f ]] || return 0
  local -A keep=()
  for v in KUBECONFIG NODE_IP ISSUER_URL SA_KEY SA_PUB; do
    [[ -n ${!v:-} ]] && keep[$v]=${!v}
  done
  set -a
  # shellcheck disable=SC1090
  . "$f"
  set +a
  for v in "${!keep[@]}"; do
    printf -v "$v" '%s' "${keep[$v]}"
    export "${v?}"
  done
  CLUSTER_ENV_USED=$f
}

# Progress: step NAME prints the previous step's duration and starts a new one.
T0=$(date +%s.%N)
STEP_NAME=""
STEP_T=$T0
STEP_LOG=""   # the log to show when this step fails
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
step_done() {
  [[ -n $STEP_NAME ]] && printf '   … %s done in %ss\n' "$STEP_NAME" "$(elapsed "$STEP_T")"
  STEP_NAME=""
}
step() {
  step_done
  STEP_NAME=$1
  STEP_LOG=${2:-}
  STEP_T=$(date +%s.%N)
  printf '==> [%6ss] %s\n' "$(elapsed "$T0")" "$1"
}

# on_error prints what failed and the end of the failing daemon's log.
on_error() {
  local rc=$? line=${BASH_LINENO[0]}
  trap - ERR
  # set -E hands the trap to command substitutions too: report once, from
  # the script itself.
  [[ $BASHPID == "$$" ]] || exit "$rc"
  echo "!!! ${STEP_NAME:-setup} failed (exit $rc, ${BASH_SOURCE[1]##*/}:$line)" >&2
  if [[ -n $STEP_LOG && -f $STEP_LOG ]]; then
    echo "--- last lines of $STEP_LOG:" >&2
    tail -n 40 "$STEP_LOG" >&2
  fi
  if [[ ! -f $STEP_LOG && -s ${LOGS:-}/ceph-cli.log ]]; then
    echo "--- last lines of $LOGS/ceph-cli.log:" >&2
    tail -n 10 "$LOGS/ceph-cli.log" >&2
  fi
  exit "$rc"
}

# start_daemon NAME LOG CMD... runs CMD in the background in its own session,
# output appended to LOG, pid in $RUN/NAME.pid.
start_daemon() {
  local name=$1 log=$2
  shift 2
  mkdir -p "$RUN" "$(dirname "$log")"
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

# ours PID: true when PID is alive and runs with our STS_DIR on its command
# line (guards against a recycled pid of a crashed run).
ours() {
  local pid=$1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$STS_DIR"
}

# stop_daemons stops every daemon with a pid file and waits until it is gone.
# The Ceph daemons get SIGKILL straight away: their data is dropped anyway,
# and on SIGTERM a memstore OSD first dumps its store into its data dir and
# waits for the mon to mark it down, which outlives a mon stopped alongside
# it and can write into the next run's fresh data dir. Others get SIGTERM,
# and SIGKILL after a grace period.
stop_daemons() {
  local f pid n sig pids=()
  for f in "$RUN"/*.pid; do
    [[ -e $f ]] || continue
    pid=$(<"$f")
    if [[ -n $pid ]] && ours "$pid"; then
      case $(basename "$f" .pid) in mon | osd | rgw | minio) sig=KILL ;; *) sig=TERM ;; esac
      kill -"$sig" "$pid" 2>/dev/null || true
      pids+=("$pid")
      echo "   stopping $(basename "$f" .pid) (pid $pid, SIG$sig)"
    fi
    rm -f "$f"
  done
  wait_gone() {
    local n pid
    for ((n = 0; n < $1; n++)); do
      for pid in "${pids[@]}"; do ours "$pid" && break; pid=""; done
      [[ -z ${pid:-} ]] && return 0
      sleep 0.2
    done
    return 1
  }
  if ! wait_gone 50; then
    for pid in "${pids[@]}"; do
      if ours "$pid"; then kill -KILL "$pid" 2>/dev/null || true; echo "   killed pid $pid"; fi
    done
    wait_gone 25 || { echo "daemons ${pids[*]} survive SIGKILL" >&2; return 1; }
  fi
  # A crashed run may have lost its pid files: find our daemons by their
  # command line, which names a path under STS_DIR.
  local argv0
  for f in /proc/[0-9]*; do
    pid=${f#/proc/}
    argv0=""
    # read stops at the first NUL: argv[0], without forking per process.
    { IFS= read -r -d '' argv0 <"$f/cmdline"; } 2>/dev/null || true
    case ${argv0##*/} in
      ceph-mon | ceph-osd | radosgw | ststool | minio) ;;
      *) continue ;;
    esac
    if ours "$pid"; then
      echo "   killing leftover ${argv0##*/} (pid $pid)"
      kill -KILL "$pid" 2>/dev/null || true
      for ((n = 0; n < 25; n++)); do ours "$pid" || break; sleep 0.2; done
    fi
  done
}

# stop_pidfile FILE stops the one daemon named by FILE (SIGTERM, then
# SIGKILL after 10 s) and removes FILE.
stop_pidfile() {
  local f=$1 pid n
  [[ -f $f ]] || return 0
  pid=$(<"$f")
  if [[ -n $pid ]] && ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((n = 0; n < 50; n++)); do ours "$pid" || break; sleep 0.2; done
    if ours "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    for ((n = 0; n < 25; n++)); do ours "$pid" || break; sleep 0.2; done
    echo "   stopped $(basename "$f" .pid) (pid $pid)"
  fi
  rm -f "$f"
}

# port_free HOST:PORT fails, naming the holder, when something listens there.
# Two harnesses on one machine (two worktrees) would otherwise share one mon
# and one issuer and break each other silently.
port_free() {
  local addr=$1 line
  line=$(ss -Hltnp "sport = :${addr##*:}" 2>/dev/null | awk -v a="$addr" '$4 == a || $4 ~ /^(0\.0\.0\.0|\*|\[::\]):/' | head -1)
  [[ -z $line ]] && return 0
  echo "$addr is in use: $line" >&2
  local pid
  pid=$(grep -o 'pid=[0-9]*' <<<"$line" | head -1 | cut -d= -f2)
  [[ -n $pid ]] && echo "  held by pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" >&2
  echo "  another sts-up (other worktree?) may be running: stop it with its sts-down, or choose other ports (STS_PORT, CEPH_MON_PORT, ISSUER_URL)" >&2
  return 1
}

# wait_for DESC TIMEOUT CMD... polls CMD until it succeeds. With WAIT_PID
# set it gives up as soon as that daemon has died.
wait_for() {
  local desc=$1 timeout=$2 start=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [[ -n ${WAIT_PID:-} ]] && ! ours "$WAIT_PID"; then
      echo "the daemon (pid $WAIT_PID) died while waiting for $desc" >&2
      return 1
    fi
    if ((SECONDS - start >= timeout)); then
      echo "timed out after ${timeout}s waiting for $desc" >&2
      return 1
    fi
    sleep 0.3
  done
}

# wait_daemon NAME DESC TIMEOUT CMD... is wait_for while daemon NAME lives.
wait_daemon() {
  local name=$1
  shift
  WAIT_PID=$(<"$RUN/$name.pid") wait_for "$@"
}
