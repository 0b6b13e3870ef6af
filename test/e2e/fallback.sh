#!/usr/bin/env bash
# The e2e suite's second phase: the installed webhook (Helm release
# "rolechain" in rolechain-system) switched to fallback mode
# (--native-sidecars=false, for clusters before 1.29), the fallback spec run
# against it, and the webhook switched back whatever happened.
#
# Inputs: what the suite needs (KUBECONFIG, STS_ENV, E2E_* images), and
# HELM and KUBECTL (default: helm and kubectl on PATH). Used by
# test/e2e/run.sh (make e2e) and test/kind/run.sh (make e2e-kind).
set -Eeuo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HELM=${HELM:-helm}
KUBECTL=${KUBECTL:-kubectl}
step() { printf '\n==> %s\n' "$*"; }
# shellcheck source=../lib/rollout.sh
. "$ROOT/test/lib/rollout.sh"

# mode true|false: the webhook's --native-sidecars, rolled out completely
# (no replica of the other mode left to answer an admission).
mode() { webhook_set "sidecar.nativeSidecars=$1"; }
restore() {
  rc=$?
  step "webhook back to native sidecars"
  mode true || rc=1
  exit $rc
}

step "webhook in fallback mode (--native-sidecars=false)"
trap restore EXIT
mode false
step "fallback spec"
cd "$ROOT/test/e2e"
# The flags of run.sh's go test: the same compiled packages.
E2E_SIDECAR_MODE=fallback CGO_ENABLED=0 go test -trimpath -count=1 -v -timeout 10m -run '^TestFallback' ./...
