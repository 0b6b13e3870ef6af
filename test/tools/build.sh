#!/usr/bin/env bash
# Builds the Kubernetes and etcd binaries the tests run, from the Go module
# proxy, into $BIN (default: <repo>/bin/k8s). Versions are pinned by go.mod
# in this directory.
#
# The first build compiles ~2,500 packages (about 20 min on 2 idle cores);
# the terminal shows how far it is every PROGRESS_SECONDS instead of Go's
# download lines, which go to .cache/logs/k8s-build.log.
#
# A stamp per binary records what it was built from (go.mod, go.sum, this
# script, the Go version); while every stamp matches the binaries are kept,
# even when the Go build cache was emptied, and the build runs as a dry run
# (go build -n: modules, packages and flags resolved, nothing compiled), so
# the code that builds them is exercised on every run all the same. A clean
# clone has no bin/, so CI runs the real build every time (a warm Go cache
# makes it a link).
#
# Usage: build.sh [--dry-run] [component ...]   (default: all)
#   --dry-run  only the dry run, whatever the stamps say
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=test/lib/install.sh
. "$root/test/lib/install.sh"
BIN=${BIN:-$root/bin/k8s}
mkdir -p "$BIN"

k8s_version=$(awk '$1=="k8s.io/kubernetes"{print $2}' "$here/go.mod")
etcd_version=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2}' "$here/go.mod")
minor=$(echo "$k8s_version" | cut -d. -f2)
# Without these the binaries report v0.0.0-master+$Format:%H$ and kubectl
# cannot parse the server version.
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean"

declare -A pkg=(
  [etcd]=go.etcd.io/etcd/server/v3
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
  [kube-proxy]=k8s.io/kubernetes/cmd/kube-proxy
  [kubelet]=k8s.io/kubernetes/cmd/kubelet
  [kubectl]=k8s.io/kubernetes/cmd/kubectl
)
dry_run=
if [ "${1:-}" = --dry-run ]; then dry_run=1; shift; fi
components=("$@")
[ ${#components[@]} -gt 0 ] || components=(etcd kube-apiserver kubectl kube-controller-manager kube-scheduler kube-proxy kubelet)
k8s_pkgs=()
build_etcd=
for c in "${components[@]}"; do
  [ -n "${pkg[$c]:-}" ] || { echo "build.sh: unknown component $c" >&2; exit 2; }
  if [ "$c" = etcd ]; then build_etcd=1; else k8s_pkgs+=("${pkg[$c]}"); fi
done

cd "$here"
stamp=$(cat go.mod go.sum "$here/build.sh" <(go env GOVERSION GOOS GOARCH) | sha256sum | cut -c1-16)
stamped=1
for c in "${components[@]}"; do
  [ -x "$BIN/$c" ] && [ "$(cat "$BIN/.$c.stamp" 2>/dev/null)" = "$stamp" ] || stamped=
done
if [ -n "$stamped" ] && [ -z "$dry_run" ]; then
  echo ">> Kubernetes $k8s_version binaries in $BIN match their stamps ($stamp); dry run of their build:"
  dry_run=1
fi
n=
[ -n "$dry_run" ] && n=-n
start=$(install_clock)
echo ">> Kubernetes $k8s_version (${components[*]}) into $BIN${dry_run:+ (dry run)}"
run_logged "downloading modules" "$INSTALL_LOGS/k8s-modules.log" "" go mod download
# The number of packages to compile, for the progress line; on a warm cache
# far fewer are compiled, hence "at most".
if [ -z "$dry_run" ]; then
  GO_PROGRESS_TOTAL=$(go list -deps -f '{{.ImportPath}}' "${k8s_pkgs[@]}" ${build_etcd:+"${pkg[etcd]}"} | wc -l)
  export GO_PROGRESS_TOTAL
fi
log=$INSTALL_LOGS/k8s-build.log
# One `go build` for the Kubernetes commands: they share most packages, and a
# single build keeps both cores busy instead of linking one binary at a time.
# etcd is named after its package's module path (server/v3) and so gets its
# own -o; it runs after, reusing every package the first build compiled.
build() {
  if [ ${#k8s_pkgs[@]} -gt 0 ]; then
    CGO_ENABLED=0 go build $n -v -trimpath -ldflags "$ldflags" -o "$BIN/" "${k8s_pkgs[@]}"
  fi
  if [ -n "$build_etcd" ]; then
    CGO_ENABLED=0 go build $n -v -trimpath -ldflags "$ldflags" -o "$BIN/etcd" "${pkg[etcd]}"
  fi
}
if [ -n "$dry_run" ]; then
  log=$INSTALL_LOGS/k8s-build-dry-run.log
  run_logged "dry run of the build" "$log" "" build
  echo ">> dry run: $(grep -c '/compile\|/link' "$log" || true) compile and link commands would run (log $log)"
  exit 0
fi
run_logged "building Kubernetes $k8s_version and etcd $etcd_version" "$log" go_progress build
for c in "${components[@]}"; do echo "$stamp" >"$BIN/.$c.stamp"; done
compiled=$(grep -cv '^go: ' "$log" || true)
echo ">> Kubernetes binaries ready in $(install_minsec "$(awk -v a="$start" -v b="$(install_clock)" 'BEGIN{print b-a}')") ($compiled packages compiled, log $log)"
