#!/usr/bin/env bash
# Builds the Kubernetes and etcd binaries the tests run, from the Go module
# proxy, into $BIN (default: <repo>/bin/k8s). Versions are pinned by go.mod
# in this directory; a binary is rebuilt only when it is missing.
#
# Usage: build.sh [component ...]   (default: all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BIN=${BIN:-$root/bin/k8s}
mkdir -p "$BIN"

k8s_version=$(awk '$1=="k8s.io/kubernetes"{print $2}' "$here/go.mod")
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
components=("$@")
[ ${#components[@]} -gt 0 ] || components=(etcd kube-apiserver kubectl kube-controller-manager kube-scheduler kube-proxy kubelet)

cd "$here"
for c in "${components[@]}"; do
  [ -n "${pkg[$c]:-}" ] || { echo "build.sh: unknown component $c" >&2; exit 2; }
  if [ -x "$BIN/$c" ]; then continue; fi
  echo ">> building $c ($k8s_version)"
  start=$(date +%s)
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$BIN/$c.tmp" "${pkg[$c]}"
  mv "$BIN/$c.tmp" "$BIN/$c"
  echo ">> built $c in $(( $(date +%s) - start ))s"
done
