# shellcheck shell=bash
# Shared by the sidecar benchmarks; source it, don't run it.
#
# bench_sidecar_start SIDECAR_BINARY [EXTRA SIDECAR FLAGS...] starts the
# in-repo STS (internal/ststest) and the given sidecar binary against it,
# a two-hop chain with the credentials endpoint on a random port, and waits
# until its probe passes. It sets work (a temporary directory, removed on
# exit with both processes), port, args (the sidecar's flags) and sc_pid.
# The token gets a directory of its own, as in a pod: the sidecar watches it.

work=$(mktemp -d)
sts_pid=""; sc_pid=""
bench_cleanup() {
  [ -n "$sc_pid" ] && kill "$sc_pid" 2>/dev/null || true
  [ -n "$sts_pid" ] && kill "$sts_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap bench_cleanup EXIT

bench_sidecar_start() {
  local bin=$1 sts_url
  shift
  go build -o "$work/ststest" ./internal/ststest/cmd/ststest
  "$work/ststest" >"$work/sts.url" 2>"$work/sts.log" &
  sts_pid=$!
  for _ in $(seq 100); do [ -s "$work/sts.url" ] && break; sleep 0.05; done
  sts_url=$(head -1 "$work/sts.url")

  mkdir -p "$work/out" "$work/tok"
  printf 'eyJhbGciOiJSUzI1NiJ9.bench.sig' >"$work/tok/token"
  port=$(( 40000 + RANDOM % 20000 ))
  args=(--token-file "$work/tok/token" --output-dir "$work/out" --sts-endpoint "$sts_url"
    --web-identity-role-arn arn:aws:iam::111111111111:role/web --role-arn arn:aws:iam::222222222222:role/target
    --credentials-endpoint-port "$port" "$@")
  "$bin" "${args[@]}" 2>"$work/sidecar.log" &
  sc_pid=$!
  for _ in $(seq 200); do
    "$bin" probe "${args[@]}" 2>/dev/null && break
    sleep 0.05
  done
  "$bin" probe "${args[@]}"
}
