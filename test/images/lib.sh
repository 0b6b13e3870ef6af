# shellcheck shell=bash disable=SC2034
# Helpers shared by the image scripts; source it, don't run it.
# Expects nothing but bash; paths derive from this file's location.

images_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
images_root=$(cd "$images_here/../.." && pwd)
# Built image tarballs live here (git-ignored), so a warm run reuses them.
IMAGES_DIR=${IMAGES_DIR:-$images_root/.cache/images}
CRANE_VERSION=v0.22.1

# ensure_crane prints the path of a crane binary, installing the pinned
# version into <repo>/bin from the Go module proxy when it is missing.
ensure_crane() {
  local crane=${CRANE:-$images_root/bin/crane}
  if [ ! -x "$crane" ]; then
    echo ">> installing crane $CRANE_VERSION into $(dirname "$crane")" >&2
    GOBIN=$(dirname "$crane") CGO_ENABLED=0 go install \
      "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION" >&2
  fi
  echo "$crane"
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
  if [ ! -x "$bin" ]; then
    dir=$(cd "$images_root/test/tools" && go mod download -json k8s.io/kubernetes |
      sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    src=$dir/build/pause/linux/pause.c
    [ -f "$src" ] || { echo "build_pause: $src not found" >&2; return 1; }
    mkdir -p "$(dirname "$out")"
    gcc -Os -Wall -Werror -static -DVERSION=v3.10.1-rolechain -o "$bin.tmp" "$src"
    strip "$bin.tmp"
    mv "$bin.tmp" "$bin"
  fi
  IMAGE_USER=65535:65535 bash "$images_here/build.sh" "$PAUSE_IMAGE" "$out" /pause "$bin"
}
