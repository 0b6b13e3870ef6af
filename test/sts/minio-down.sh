#!/usr/bin/env bash
# minio-down: stop the MinIO peer started by minio-up and drop its data.
# (sts-down stops it too.)
set -Eeuo pipefail
. "$(dirname "$0")/lib.sh"
stop_pidfile "$RUN/minio.pid"
rm -rf "$STS_DIR/minio" "$STS_DIR/minio.env"
echo "minio-down: nothing left running"
