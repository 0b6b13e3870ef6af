#!/usr/bin/env bash
# Measures the idle rolechain-sidecar: resident memory and wake-ups between
# two refreshes. Builds the sidecar and the fake STS (internal/ststest), runs
# the sidecar with a 2-hop chain and the credentials endpoint on, waits for
# the first refresh, then samples /proc over an idle window that ends well
# before the next refresh (15-minute sessions refresh after ≥ 6.75 minutes).
#
# Wake-ups are counted as context switches of every thread of the process
# (/proc/PID/task/*/status: voluntary + nonvoluntary). A thread blocked in
# epoll or a futex and never woken adds nothing. What remains is the Go
# runtime's own: sysmon parks with a 60 s timeout (forcegcperiod/2) and, on
# waking, re-reads the cgroup CPU limit; with GOGC on, a forced GC runs every
# 2 min. STRACE=1 records the window's syscalls to show which thread woke.
#
# Env: IDLE_SECONDS (default 130: spans one forced GC, which Go runs every
# 2 min), GOGC / GOMEMLIMIT / GOMAXPROCS are passed through to the sidecar,
# TAGS are build tags (rolechain_nodefaultchain: the in-pod build without
# the SDK default chain).
set -euo pipefail
cd "$(dirname "$0")/../.."
IDLE_SECONDS=${IDLE_SECONDS:-130}
. test/bench/lib.sh

CGO_ENABLED=0 go build -trimpath ${TAGS:+-tags "$TAGS"} -o "$work/rolechain-sidecar" ./cmd/sidecar
echo "binary size: $(( $(stat -c %s "$work/rolechain-sidecar") / 1024 )) KiB"
bench_sidecar_start "$work/rolechain-sidecar" --duration 900

switches() { # sum of context switches over all threads
  local total=0 v n
  for s in /proc/"$sc_pid"/task/*/status; do
    v=$(awk '/^voluntary_ctxt_switches/ {print $2}' "$s" 2>/dev/null || echo 0)
    n=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$s" 2>/dev/null || echo 0)
    total=$(( total + ${v:-0} + ${n:-0} ))
  done
  echo "$total"
}
status() { awk -v k="$1" '$1 == k":" {print $2}' /proc/"$sc_pid"/status; }

sleep 2 # let start-up work settle
threads=$(ls /proc/"$sc_pid"/task | wc -l)
rss0=$(status VmRSS); cs0=$(switches); t0=$(date +%s.%N)
if [ "${STRACE:-0}" = 1 ] && command -v strace >/dev/null; then
  timeout "$IDLE_SECONDS" strace -f -tt -p "$sc_pid" -o "$work/strace.out" || true
else
  sleep "$IDLE_SECONDS"
fi
rss1=$(status VmRSS); hwm=$(status VmHWM); anon=$(status RssAnon); file=$(status RssFile); cs1=$(switches); t1=$(date +%s.%N)
refreshes=$(grep -c '"credentials refreshed"' "$work/sidecar.log" || true)

start=$(date +%s%N)
kill -TERM "$sc_pid"
set +e; wait "$sc_pid"; code=$?; set -e
sc_pid=""
stop_ms=$(( ($(date +%s%N) - start) / 1000000 ))

window=$(echo "$t1 - $t0" | bc)
cat <<REPORT
threads:               $threads
VmRSS at start:        $rss0 KiB
VmRSS after idle:      $rss1 KiB   (RssAnon $anon KiB, RssFile $file KiB, VmHWM $hwm KiB; target ≤ 12288 KiB)
idle window:           ${window%.*} s (refreshes logged in total: $refreshes)
context switches:      $(( cs1 - cs0 )) over the window, all threads
SIGTERM:               exit $code after $stop_ms ms
build tags:            ${TAGS:-none}
env:                   GOGC=${GOGC:-} GOMEMLIMIT=${GOMEMLIMIT:-} GOMAXPROCS=${GOMAXPROCS:-}
REPORT
if [ -s "$work/strace.out" ]; then
  echo "syscalls in the idle window (strace; its attach adds switches):"
  grep -v -e 'unfinished' -e 'resumed' "$work/strace.out" | tail -n +1 || true
fi
