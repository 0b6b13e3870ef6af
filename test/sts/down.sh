#!/usr/bin/env bash
# sts-down: stop the radosgw STS, its mon and OSD, and the issuer publisher
# started by up.sh (also one left by a crashed run), and drop their data.
# Logs stay in $STS_DIR/log for a post-mortem; the standalone key stays in
# $STS_DIR/sa so tokens signed with it remain verifiable by the next sts-up.
set -Eeuo pipefail
. "$(dirname "$0")/lib.sh"
echo "sts-down: $STS_DIR"
stop_daemons
rm -rf "$CEPH" "$RUN" "$STS_DIR/issuer" "$STS_DIR/sts.env" "$STS_DIR/admin.env" "$STS_DIR/minio" "$STS_DIR/minio.env"
echo "sts-down: nothing left running"
