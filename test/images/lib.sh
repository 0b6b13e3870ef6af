# shellcheck shell=bash disable=SC2034
# Helpers shared by the image scripts; source it, don't run it.
# Expects nothing but bash; paths derive from this file's location.

images_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
images_root=$(cd "$images_here/../.." && pwd)
# shellcheck source=test/lib/install.sh
. "$images_root/test/lib/install.sh"
# Built image tarballs live here (git-ignored), so a warm run reuses them.
IMAGES_DIR=${IMAGES_DIR:-$images_root/.cache/images}
CRANE_VERSION=v0.22.1

# ensure_crane prints the path of a crane binary, installing the pinned
# version into <repo>/bin from the Go module proxy on every call (a no-op
# when it is up to date; test/lib/install.sh says why). With CRANE set, that
# binary is used as it is.
ensure_crane() {
  if [ -n "${CRANE:-}" ]; then echo "$CRANE"; return; fi
  CGO_ENABLED=0 go_install crane "$images_root" "$images_root/bin" \
    "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION" >&2 || return 1
  echo "$images_root/bin/crane"
}

# import_image TAR... imports image tarballs into the k8s.io namespace of the
# cluster's containerd (CONTAINERD_ADDRESS, from cluster.env), where the
# kubelet finds them; pods then use imagePullPolicy Never or IfNotPresent.
import_image() {
  local addr=${CONTAINERD_ADDRESS:?CONTAINERD_ADDRESS unset: source the cluster.env that test/cluster/up.sh writes}
  local tar
  for tar in "$@"; do
    ctr --address "$addr" -n k8s.io images import "$tar" >/dev/null ||
      { echo "import_image: ctr could not import $tar" >&2; return 1; }
  done
}

# build_pause OUT.tar builds the Kubernetes pause image (the sandbox every pod
# starts with) from build/pause/linux/pause.c in the kubernetes module that
# test/tools pins, compiled static with gcc, as the upstream Makefile does.
PAUSE_IMAGE=${PAUSE_IMAGE:-localhost/rolechain/pause:3.10.1}
build_pause() {
  local out=$1 dir src bin
  bin=$(dirname "$out")/pause
  mkdir -p "$(dirname "$out")"
  # Compiled on every call (a second of gcc), and replaced only when it
  # changed, so build.sh can keep the tarball.
  dir=$(cd "$images_root/test/tools" && go mod download -json k8s.io/kubernetes |
    sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  src=$dir/build/pause/linux/pause.c
  [ -f "$src" ] || { echo "build_pause: $src not found" >&2; return 1; }
  gcc -Os -Wall -Werror -static -DVERSION=v3.10.1-rolechain -o "$bin.tmp" "$src"
  strip "$bin.tmp"
  if cmp -s "$bin.tmp" "$bin"; then rm "$bin.tmp"; else mv "$bin.tmp" "$bin"; fi
  IMAGE_USER=65535:65535 bash "$images_here/build.sh" "$PAUSE_IMAGE" "$out" /pause "$bin"
}
