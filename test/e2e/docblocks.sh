#!/usr/bin/env bash
# The e2e run's third phase: every fenced sh block of the user documentation
# marked <!-- runnable --> (test/docs/blocks), run against the local stack as
# a user would: from the repository root, each block in its own
# `bash -euo pipefail`, with helm and kubectl first on PATH and the stack's
# KUBECONFIG. Prints file:line before each block and fails on the first block
# that fails. Blocks of one run build on each other, in document order.
#
# What the blocks assume is created first (the namespaces they annotate);
# what they change is restored whatever happened: the release "rolechain" in
# rolechain-system rolled back to its revision from before (and the webhook
# rolled out), each namespace annotation given back its value from before (or
# removed), the namespaces this script created deleted.
#
# Inputs: KUBECONFIG (default: from .cache/stack.env), HELM and KUBECTL
# (default: helm and kubectl on PATH). DRYRUN=1 prints what it would run and
# runs nothing: no cluster needed. DOCBLOCKS_DIR: blocks already extracted
# there (go run ./test/docs/docblocks extract DIR; the runner's own tests).
# Used by test/e2e/run.sh (make e2e).
set -Eeuo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
RELEASE=rolechain
RELEASE_NS=rolechain-system
dry=${DRYRUN:-}
step() { printf '\n==> %s\n' "$*"; }
# shellcheck source=../lib/rollout.sh
. "$ROOT/test/lib/rollout.sh"

work=$(mktemp -d)
blocks=${DOCBLOCKS_DIR:-$work/blocks}
if [[ -z ${DOCBLOCKS_DIR:-} ]]; then
  # Fails, naming it, on a block marked runnable that cannot be run or undone.
  go run ./test/docs/docblocks extract "$blocks"
fi

if [[ -z $dry ]]; then
  if [[ -z ${KUBECONFIG:-} && -f .cache/stack.env ]]; then
    set -a
    # shellcheck source=/dev/null
    . .cache/stack.env
    set +a
  fi
  : "${KUBECONFIG:?KUBECONFIG unset and no .cache/stack.env: bring the stack up first (KEEP=1 make e2e)}"
  export KUBECONFIG
  HELM=$(command -v "${HELM:-helm}") || { echo "docblocks: no helm (HELM=${HELM:-helm})" >&2; exit 1; }
  KUBECTL=$(command -v "${KUBECTL:-kubectl}") || { echo "docblocks: no kubectl (KUBECTL=${KUBECTL:-kubectl})" >&2; exit 1; }
  # The blocks say helm and kubectl: these two, whatever else is on PATH.
  mkdir -p "$work/path"
  ln -s "$HELM" "$work/path/helm"
  ln -s "$KUBECTL" "$work/path/kubectl"
fi

# k and h run kubectl and helm, or print them in a dry run.
k() { if [[ -n $dry ]]; then echo "+ kubectl $*"; else "$KUBECTL" "$@"; fi; }
h() { if [[ -n $dry ]]; then echo "+ helm $*"; else "$HELM" "$@"; fi; }
rolled_out() { if [[ -n $dry ]]; then echo "+ webhook_rolled_out"; else webhook_rolled_out; fi; }

# revision prints the release's current revision: helm history --max 1 lists
# the newest only, and "revision" is its first field.
revision() {
  if [[ -n $dry ]]; then echo REVISION; return; fi
  "$HELM" history "$RELEASE" --namespace "$RELEASE_NS" --max 1 -o json |
    sed -n 's/^\[{"revision":\([0-9]*\),.*/\1/p'
}

# annotation NS KEY prints "set VALUE" when the namespace has the
# annotation, nothing when it has not.
annotation() {
  "$KUBECTL" get namespace "$1" \
    -o go-template="{{range \$k, \$v := .metadata.annotations}}{{if eq \$k \"$2\"}}set {{\$v}}{{end}}{{end}}"
}

release_before=
created=()      # namespaces this script created
saved=()        # "NS KEY", each with its value from before in $work/saved/N
restore() {
  rc=$?
  step "restoring what the blocks changed"
  if [[ -n $release_before ]]; then
    now=$(revision) || rc=1
    if [[ $now != "$release_before" || -n $dry ]]; then
      h rollback "$RELEASE" "$release_before" --namespace "$RELEASE_NS" --wait --timeout 5m || rc=1
      rolled_out || rc=1
    fi
  fi
  local i ns key
  for i in "${!saved[@]}"; do
    read -r ns key <<<"${saved[$i]}"
    if [[ -f $work/saved/$i ]]; then
      k annotate namespace "$ns" --overwrite "$key=$(cat "$work/saved/$i")" >/dev/null || rc=1
    else
      k annotate namespace "$ns" "$key-" >/dev/null || rc=1
    fi
  done
  for ns in "${created[@]}"; do
    k delete namespace "$ns" --timeout 2m || rc=1
  done
  rm -rf "$work"
  exit $rc
}
trap restore EXIT

step "saving what the blocks change"
if grep -q $'^block\t.*\trelease$' "$blocks/plan"; then
  release_before=$(revision)
  [[ -n $release_before ]] || { echo "docblocks: no revision of the release $RELEASE in $RELEASE_NS" >&2; exit 1; }
  echo "   release $RELEASE at revision $release_before"
fi
mkdir -p "$work/saved"
while IFS=$'\t' read -r kind ns key; do
  [[ $kind == annotation ]] || continue
  if [[ -n $dry ]] || ! "$KUBECTL" get namespace "$ns" >/dev/null 2>&1; then
    if [[ " ${created[*]} " != *" $ns "* ]]; then
      k create namespace "$ns"
      created+=("$ns")
    fi
  elif [[ " ${created[*]} " != *" $ns "* ]]; then
    i=${#saved[@]}
    saved+=("$ns $key")
    before=$(annotation "$ns" "$key")
    if [[ -n $before ]]; then
      # As on a fresh namespace, the block's own annotate must not need
      # --overwrite; its value from before comes back afterwards.
      printf '%s' "${before#set }" >"$work/saved/$i"
      k annotate namespace "$ns" "$key-" >/dev/null
    fi
  fi
done <"$blocks/plan"

while IFS=$'\t' read -r kind id where release; do
  [[ $kind == block ]] || continue
  step "$where"
  sed 's/^/   | /' "$blocks/$id.sh"
  if [[ -n $dry ]]; then
    echo "+ PATH=<helm and kubectl>:\$PATH bash -euo pipefail $where"
  elif ! PATH="$work/path:$PATH" bash -euo pipefail "$blocks/$id.sh"; then
    echo "docblocks: the block at $where failed" >&2
    exit 1
  fi
  if [[ $release == release ]]; then rolled_out; fi
done <"$blocks/plan"
step "every runnable block ran"
