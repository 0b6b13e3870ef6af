#!/usr/bin/env bash
# Builds a single-layer OCI image from static files, without Docker or any
# outside registry, into a tarball that `ctr images import` accepts.
#
# Usage: build.sh NAME:TAG OUT.tar ENTRYPOINT FILE...
#   NAME:TAG    image reference the tarball carries, e.g. localhost/rolechain/toolbox:dev
#   OUT.tar     tarball to write (rewritten only when an input is newer)
#   ENTRYPOINT  entrypoint inside the image, comma-separated argv: /toolbox or /toolbox,serve
#   FILE        SRC (placed at /basename(SRC)) or SRC=/PATH/IN/IMAGE
# Env: IMAGE_USER (default: none; e.g. 65535:65535), CRANE (default <repo>/bin/crane).
#
# How: the files are tarred into one layer (owner 0:0, mtime 0, every file
# readable and executable by anyone so the image runs as any UID), pushed with
# `crane append` to an in-memory `crane registry serve` on loopback, then
# `crane mutate` sets the entrypoint and the platform and writes the tarball.
# The platform matters: an empty-base image has blank os/architecture and
# `ctr images import` silently drops it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/images/lib.sh
. "$here/lib.sh"

if [ $# -lt 4 ]; then
  sed -n '2,10p' "$0" >&2
  exit 2
fi
ref=$1 out=$2 entrypoint=$3
shift 3

# Up to date? Skip the work when the tarball is newer than every input.
if [ -s "$out" ]; then
  stale=
  for f in "$@"; do [ "${f%%=*}" -nt "$out" ] && stale=1; done
  [ "$0" -nt "$out" ] && stale=1
  if [ -z "$stale" ]; then echo ">> image $ref up to date ($out)"; exit 0; fi
fi

crane=$(ensure_crane)
work=$(mktemp -d)
reg_pid=
cleanup() {
  if [ -n "$reg_pid" ]; then
    kill "$reg_pid" 2>/dev/null || true
    wait "$reg_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/rootfs"
for f in "$@"; do
  src=${f%%=*}
  if [ "$src" = "$f" ]; then dest=/$(basename "$src"); else dest=${f#*=}; fi
  case $dest in /*) ;; *) echo "build.sh: destination $dest of $src must be absolute" >&2; exit 2 ;; esac
  [ -f "$src" ] || { echo "build.sh: $src is not a file" >&2; exit 2; }
  install -D -m 0755 "$src" "$work/rootfs$dest"
done
# Directories too: 0755, so a non-root user can traverse them.
find "$work/rootfs" -type d -exec chmod 0755 {} +
tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name \
  -C "$work/rootfs" -cf "$work/layer.tar" .

"$crane" registry serve --address 127.0.0.1:0 >"$work/registry.log" 2>&1 &
reg_pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$work/registry.log")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "build.sh: crane registry did not start:" >&2; cat "$work/registry.log" >&2; exit 1; }

repo=${ref%%[:@]*}
staging=127.0.0.1:$port/${repo#*/}:build
"$crane" append --insecure --oci-empty-base -f "$work/layer.tar" -t "$staging" >/dev/null 2>"$work/append.log" ||
  { cat "$work/append.log" >&2; exit 1; }
mutate=(--insecure --entrypoint "$entrypoint" --set-platform linux/amd64 -t "$ref" -o "$work/image.tar")
[ -n "${IMAGE_USER:-}" ] && mutate+=(--user "$IMAGE_USER")
"$crane" mutate "${mutate[@]}" "$staging" >/dev/null 2>"$work/mutate.log" ||
  { cat "$work/mutate.log" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
mv "$work/image.tar" "$out"
echo ">> image $ref -> $out"
