#!/usr/bin/env bash
# minio-build: MinIO into bin/ from the Go module proxy, every run. Its first
# build compiles ~1,000 packages (4–10 min of CPU), and go install can only
# tell that bin/minio is up to date while the Go build cache still holds them:
# a stamp (version and Go version) keeps the binary across an emptied cache.
# With the stamp matching, the same install runs as a dry run (go install -n:
# the module resolved, nothing compiled), so this code runs every time.
#
# minio-up.sh runs it first; test/stack.sh starts it in the background at
# its own start, so that a cold build overlaps the cluster's and the STS's
# start (apt, dpkg, daemons) instead of following them.
#
# Variables (defaults): MINIO_VERSION (pinned below), BIN (<repo>/bin).
set -Eeuo pipefail
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/lib/install.sh
. "$(dirname "$0")/../lib/install.sh"
trap on_error ERR

MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
step "build minio $MINIO_VERSION into $BIN"
stamp="$MINIO_VERSION $(go env GOVERSION GOOS GOARCH | tr '\n' ' ')"
if [[ -x $BIN/minio && $(cat "$BIN/.minio.stamp" 2>/dev/null) == "$stamp" ]]; then
  go_install minio "$ROOT/test/sts" "$BIN" "github.com/minio/minio@$MINIO_VERSION" -n -trimpath
else
  go_install minio "$ROOT/test/sts" "$BIN" "github.com/minio/minio@$MINIO_VERSION" -trimpath
  echo "$stamp" >"$BIN/.minio.stamp"
fi
step_done
