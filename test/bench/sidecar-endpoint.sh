#!/usr/bin/env bash
# Measures the sidecar's credentials endpoint under 200 concurrent clients
# (test/bench/endpointload): open loop at 200 and 2,000 requests/s; at 200
# requests/s after 1,000 connections that sent a request's head announcing
# a body that never comes (the probe's attack); and at 200 requests/s while
# 1,000 such connections, or 1,000 that send nothing, are reopened as soon
# as the sidecar closes them (a flood that never ends). Each scenario runs REPS times, interleaved:
# the machine is noisy. Prints, per run, what the clients saw (failures,
# latency from the intended send time) and what it cost the sidecar (CPU
# per request from /proc/PID/stat, max RSS, max open descriptors).
#
# Env: REPS (default 3), DURATION (default 10s), CLIENTS (default 200),
# SIDECAR (a prebuilt binary to measure instead of building this tree's).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS=${REPS:-3}
DURATION=${DURATION:-10s}
CLIENTS=${CLIENTS:-200}
. test/bench/lib.sh

if [ -n "${SIDECAR:-}" ]; then
  cp "$SIDECAR" "$work/rolechain-sidecar"
else
  CGO_ENABLED=0 go build -trimpath -o "$work/rolechain-sidecar" ./cmd/sidecar
fi
go build -o "$work/endpointload" ./test/bench/endpointload
bench_sidecar_start "$work/rolechain-sidecar"
sleep 1
echo "sidecar before load: VmRSS $(awk '$1 == "VmRSS:" {print $2}' /proc/"$sc_pid"/status) KiB, $(ls /proc/"$sc_pid"/fd | wc -l) open descriptors"

load() {
  "$work/endpointload" ${SHOW_ERRORS:+-show-errors} -url "http://127.0.0.1:$port/v1/credentials/default" -token-file "$work/out/endpoint-token" \
    -pid "$sc_pid" -clients "$CLIENTS" -duration "$DURATION" "$@"
}
for rep in $(seq "$REPS"); do
  echo "--- repetition $rep of $REPS"
  load -rate 200
  load -rate 2000
  load -rate 200 -stalled 1000 -stall body
  load -rate 200 -stalled 1000 -stall body -reconnect
  load -rate 200 -stalled 1000 -stall silent -reconnect
done
echo "sidecar after load: VmRSS $(awk '$1 == "VmRSS:" {print $2}' /proc/"$sc_pid"/status) KiB, $(ls /proc/"$sc_pid"/fd | wc -l) open descriptors"
if grep -v '^{' "$work/sidecar.log" | head -3 | grep -q .; then
  echo "lines outside the JSON log:"; grep -v '^{' "$work/sidecar.log" | head -3
fi
grep -c '"too many open connections' "$work/sidecar.log" | sed 's/^/connection-cap warnings logged: /'
