#!/usr/bin/env bash
# make e2e: the e2e suite (this directory) on the local cluster of real
# components with radosgw as STS. Tears everything down afterwards unless
# KEEP=1. E2E_FLAGS adds go test flags (e.g. "-run Refresh").
set -Eeuo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
finish() {
  rc=$?
  if [ -z "${KEEP:-}" ]; then bash "$ROOT/test/stack.sh" down >/dev/null 2>&1 || true; fi
  exit $rc
}
trap finish EXIT
bash "$ROOT/test/stack.sh" up --e2e
set -a; . "$ROOT/.cache/stack.env"; set +a
# The harness's own proofs first: native-sidecar ordering, projected tokens
# and Services on the cluster; chaining and every refusal on the STS.
bash "$ROOT/test/cluster/smoke.sh"
bash "$ROOT/test/sts/check.sh"
# Every object the chart renders, for every tested value set, passes the
# API server's own validation (server-side apply, dry run, strict fields);
# cert-manager's and prometheus-operator's CRDs are installed first so that
# their objects are validated against the real schemas.
(cd "$ROOT/test/chart" && CHART_INSTALL_CRDS=1 go test -count=1 -tags cluster -run ServerSide ./...)
cd "$ROOT/test/e2e"
# CGO_ENABLED=0 -trimpath, as test/tools/build.sh builds Kubernetes: this
# module pins the same client-go and dependencies, so its tests reuse those
# ~650 compiled packages instead of compiling them again (fallback.sh and the
# kind run use the same flags).
# shellcheck disable=SC2086
CGO_ENABLED=0 go test -trimpath -count=1 -v -timeout 30m ./... ${E2E_FLAGS:-}
# Then the webhook in fallback mode, for clusters without native sidecars.
HELM=$ROOT/bin/helm bash "$ROOT/test/e2e/fallback.sh"
# Then the cluster-wide default credentials mode set to endpoint.
HELM=$ROOT/bin/helm bash "$ROOT/test/e2e/credentialsmode.sh"
# Then every block of the user docs marked <!-- runnable -->, as a user runs
# it, with the stack restored afterwards (test/docs/blocks says which).
HELM=$ROOT/bin/helm bash "$ROOT/test/e2e/docblocks.sh"
