#!/usr/bin/env bash
# The e2e suite's third phase: the installed webhook (Helm release
# "rolechain" in rolechain-system) switched to
# --default-credentials-mode=endpoint (the chart's
# sidecar.defaultCredentialsMode), the specs of the cluster-wide default run
# against it, and the webhook switched back to file whatever happened.
#
# Inputs: what the suite needs (KUBECONFIG, STS_ENV, E2E_* images), and
# HELM and KUBECTL (default: helm and kubectl on PATH). Used by
# test/e2e/run.sh (make e2e) and test/kind/run.sh (make e2e-kind).
# Cost: two rolling upgrades of the webhook and about a minute of specs
# (they run in parallel; the longer one reads for 40 s).
set -Eeuo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HELM=${HELM:-helm}
KUBECTL=${KUBECTL:-kubectl}
step() { printf '\n==> %s\n' "$*"; }
# shellcheck source=../lib/rollout.sh
. "$ROOT/test/lib/rollout.sh"

# mode file|endpoint: the webhook's --default-credentials-mode, rolled out
# completely (no replica of the other mode left to answer an admission).
mode() { webhook_set "sidecar.defaultCredentialsMode=$1"; }
restore() {
  rc=$?
  step "webhook back to the credentials file by default"
  mode file || rc=1
  exit $rc
}

step "webhook with the cluster default endpoint (--default-credentials-mode=endpoint)"
trap restore EXIT
mode endpoint
step "cluster-default specs"
cd "$ROOT/test/e2e"
# The flags of run.sh's go test: the same compiled packages.
E2E_CREDENTIALS_MODE=endpoint CGO_ENABLED=0 go test -trimpath -count=1 -v -timeout 10m \
  -run '^(TestWithTheClusterDefaultEndpoint|TestInANamespaceThatKeepsTheFile)' ./...
