#!/usr/bin/env bash
# Regenerates manifests/base and manifests/overlays from the Helm chart's
# defaults (charts/rolechain). The chart is the source of truth; the test
# TestManifestsAreGeneratedFromTheChart fails when these files are stale.
set -euo pipefail
cd "$(dirname "$0")/../test/chart"
go run ./cmd/manifests
