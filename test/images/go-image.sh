#!/usr/bin/env bash
# Builds a static Go binary and wraps it in an image of its own (see build.sh).
#
# Usage: go-image.sh NAME:TAG OUT.tar PKG_DIR [/PATH/IN/IMAGE]
#   PKG_DIR         directory of a main package; `go build` runs there, so the
#                   go.mod that owns it applies (main module, test/images, …)
#   /PATH/IN/IMAGE  where the binary goes and the entrypoint (default /<basename PKG_DIR>)
# Example: go-image.sh localhost/rolechain/toolbox:dev .cache/images/toolbox.tar test/images/toolbox
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/images/lib.sh
. "$here/lib.sh"
if [ $# -lt 3 ] || [ $# -gt 4 ]; then sed -n '2,8p' "$0" >&2; exit 2; fi
ref=$1 out=$2 pkg=$3
dest=${4:-/$(basename "$(cd "$pkg" && pwd)")}
bin=$IMAGES_DIR/bin/${ref##*/}
bin=${bin%%:*}
mkdir -p "$(dirname "$bin")"
# Quiet unless it fails or takes long (a cold Go cache): progress lines then.
(cd "$pkg" && CGO_ENABLED=0 run_logged "go build ${bin##*/}" "$INSTALL_LOGS/go-build-${bin##*/}.log" go_progress \
  go build -v -trimpath -ldflags "-s -w" -o "$bin.tmp" .)
# Keep the old file (and its mtime) when nothing changed, so build.sh can
# skip rebuilding the tarball.
if cmp -s "$bin.tmp" "$bin"; then rm "$bin.tmp"; else mv "$bin.tmp" "$bin"; fi
exec bash "$here/build.sh" "$ref" "$out" "$dest" "$bin=$dest"
