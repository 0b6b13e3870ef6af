#!/usr/bin/env bash
# Imports image tarballs into the running cluster's containerd (namespace
# k8s.io), where the kubelet finds them without any registry.
#
# Usage: import.sh IMAGE.tar...
# Reads CONTAINERD_ADDRESS from the environment, else from
# $CLUSTER_DIR/cluster.env (default <repo>/.cache/cluster/cluster.env).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/images/lib.sh
. "$here/lib.sh"
[ $# -gt 0 ] || { sed -n '2,7p' "$0" >&2; exit 2; }
if [ -z "${CONTAINERD_ADDRESS:-}" ]; then
  env_file=${CLUSTER_DIR:-$images_root/.cache/cluster}/cluster.env
  [ -f "$env_file" ] || { echo "import.sh: $env_file missing: run make cluster-up first" >&2; exit 1; }
  # shellcheck disable=SC1090
  . "$env_file"
fi
import_image "$@"
