#!/usr/bin/env bash
# make e2e-kind: the e2e suite (test/e2e) on a kind cluster, with the images
# built by Docker and the STS peer (Ceph radosgw) run as a container.
#
#  1. check that a Docker engine answers; without one, say so and fail
#     (this target never pretends to pass);
#  2. kind and helm from the Go module proxy into bin/ (every run);
#  3. a fresh kind cluster (test/kind/kind-config.yaml) whose service-account
#     issuer is the STS container's address;
#  4. the webhook and sidecar images (Dockerfile.webhook, Dockerfile.sidecar)
#     and, when test/e2e ships one, the e2e app image; kind load each;
#  5. the STS container: test/sts/up.sh inside a Debian+Go image on kind's
#     network, trusting the cluster's service-account key; it writes the
#     sts.env the suite reads (STS_ENDPOINT, WEB_ROLE_ARN, TARGET_ROLE_ARN,
#     BUCKET, OBJECT_KEY, REGION);
#  6. helm install charts/rolechain with the loaded images (pullPolicy Never);
#  7. cd test/e2e && go test ./... with KUBECONFIG and STS_ENV;
#  8. delete the cluster and the STS container (KEEP=1 keeps both).
#
# Variables (defaults): KIND_NODE_IMAGE (kindest/node:v1.33.4), KIND_VERSION
# (v0.30.0), IMAGE_TAG (dev), STS_SUBJECTS (passed to
# test/sts/up.sh: the namespace:serviceaccount pairs the web role trusts),
# INSTALL_CHART (1; 0 when the suite installs the chart itself), E2E_FLAGS
# (extra `go test` flags, e.g. "-run Refresh -v"), KEEP (unset).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER_NAME=rolechain-e2e
STS_CONTAINER=rolechain-kind-sts
# Must match service-account-issuer in kind-config.yaml.
ISSUER_URL=https://$STS_CONTAINER:18443
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:-kindest/node:v1.33.4}
KIND_VERSION=${KIND_VERSION:-v0.30.0}
IMAGE_TAG=${IMAGE_TAG:-dev}
INSTALL_CHART=${INSTALL_CHART:-1}
GO_IMAGE=${GO_IMAGE:-golang:1.26-bookworm}
# The web role trusts ServiceAccount "app" in every namespace the suite uses.
STS_SUBJECTS=${STS_SUBJECTS:-$(sed 's/$/:app/' "$ROOT/test/e2e/namespaces.txt" | tr '\n' ' ')}
WORK=$ROOT/.cache/kind
BIN=$ROOT/bin
# shellcheck source=test/lib/install.sh
. "$ROOT/test/lib/install.sh"

step() { printf '==> %s\n' "$*"; }
die() { printf 'e2e-kind: %s\n' "$*" >&2; exit 1; }

# (1) A Docker client alone is not enough: `docker info` talks to the engine.
NO_DOCKER_HINT="Start dockerd (kind also needs privileged containers), or run 'make e2e': the same suite on the local cluster, which needs no Docker."
if ! command -v docker >/dev/null 2>&1; then
  die "make e2e-kind needs a running Docker engine: the docker command is not installed.
$NO_DOCKER_HINT"
fi
if ! docker_err=$(docker info 2>&1 >/dev/null); then
  die "make e2e-kind needs a running Docker engine: 'docker info' failed:
  $(printf '%s' "$docker_err" | grep -v '^\s*$' | tail -n 1)
$NO_DOCKER_HINT"
fi

# (2) Tools, from the Go module proxy: no binary downloads.
mkdir -p "$BIN" "$WORK"
export PATH=$BIN:$PATH
# Every run, into bin/ (first on PATH), whatever else PATH holds: a no-op
# when they are up to date (test/lib/install.sh says why).
step "kind $KIND_VERSION and helm (test/chart's Helm release) into $BIN"
CGO_ENABLED=0 go_install kind "$ROOT" "$BIN" "sigs.k8s.io/kind@$KIND_VERSION"
install_helm
KUBECTL=$(command -v kubectl || echo "$BIN/k8s/kubectl")
[[ -x $KUBECTL ]] || die "kubectl not found (PATH or bin/k8s; 'make k8s-binaries' builds it)"

cleanup() {
  local rc=$?
  if [[ -n ${KEEP:-} ]]; then
    echo "KEEP set: cluster $CLUSTER_NAME (KUBECONFIG=$WORK/kubeconfig) and container $STS_CONTAINER left running"
  else
    step "tear down"
    kind delete cluster --name "$CLUSTER_NAME" >/dev/null 2>&1 || true
    docker rm -f "$STS_CONTAINER" >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT

# (3) Cluster.
step "kind cluster $CLUSTER_NAME ($KIND_NODE_IMAGE)"
kind delete cluster --name "$CLUSTER_NAME" >/dev/null 2>&1 || true
docker rm -f "$STS_CONTAINER" >/dev/null 2>&1 || true
export KUBECONFIG=$WORK/kubeconfig
kind create cluster --name "$CLUSTER_NAME" --config "$ROOT/test/kind/kind-config.yaml" \
  --image "$KIND_NODE_IMAGE" --kubeconfig "$KUBECONFIG" --wait 120s
NODE=$CLUSTER_NAME-control-plane

# (4) Images.
images=("rolechain/webhook:$IMAGE_TAG" "rolechain/sidecar:$IMAGE_TAG")
step "docker build ${images[*]}"
docker build -f "$ROOT/Dockerfile.webhook" --build-arg VERSION="$IMAGE_TAG" -t "rolechain/webhook:$IMAGE_TAG" "$ROOT"
docker build -f "$ROOT/Dockerfile.sidecar" --build-arg VERSION="$IMAGE_TAG" -t "rolechain/sidecar:$IMAGE_TAG" "$ROOT"
# The suite's test images: the S3 reader (test/app), the toolbox
# (test/images/toolbox) and the stand-in for EKS's pod identity webhook
# (test/ekswebhook), each a static Go binary on distroless.
for pair in "e2e-app:test/app:/app" "toolbox:test/images/toolbox:/toolbox" "ekswebhook:test/ekswebhook:/ekswebhook"; do
  IFS=: read -r name dir dest <<<"$pair"
  images+=("rolechain/$name:$IMAGE_TAG")
  docker build -t "rolechain/$name:$IMAGE_TAG" -f - "$ROOT" <<DOCKERFILE
FROM $GO_IMAGE AS build
WORKDIR /src
COPY . .
RUN cd $dir && CGO_ENABLED=0 go build -trimpath -o /out/bin .
FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/bin $dest
ENTRYPOINT ["$dest"]
DOCKERFILE
done
for img in "${images[@]}"; do
  kind load docker-image --name "$CLUSTER_NAME" "$img"
done

# (5) STS peer, trusting the key kubeadm generated for this cluster.
step "STS peer $STS_CONTAINER (radosgw, issuer $ISSUER_URL)"
rm -rf "$WORK/sa" "$WORK/sts"
mkdir -p "$WORK/sa" "$WORK/sts"
docker cp "$NODE:/etc/kubernetes/pki/sa.key" "$WORK/sa/sa.key"
docker cp "$NODE:/etc/kubernetes/pki/sa.pub" "$WORK/sa/sa.pub"
# up.sh binds radosgw to NODE_IP (the container's address on kind's network,
# which pods reach) and the issuer to $STS_CONTAINER:18443 (the hostname
# resolves to the same address inside the container and on the network).
docker run -d --name "$STS_CONTAINER" --hostname "$STS_CONTAINER" --network kind \
  -v "$ROOT:/src:ro" -v "$WORK/sa:/sa:ro" -v "$WORK/sts:/sts" \
  -e ISSUER_URL="$ISSUER_URL" -e SA_KEY=/sa/sa.key -e SA_PUB=/sa/sa.pub \
  -e STS_DIR=/sts -e BIN=/sts/bin -e CLUSTER_DIR=/nonexistent \
  -e STS_SUBJECTS="$STS_SUBJECTS" -e STS_AUDIENCES=sts.amazonaws.com,pods.eks.amazonaws.com \
  "$GO_IMAGE" bash -c 'export NODE_IP=$(hostname -i | awk "{print \$1}"); bash /src/test/sts/up.sh && touch /sts/ready && exec sleep infinity' >/dev/null
for _ in $(seq 600); do
  [[ -f $WORK/sts/ready ]] && break
  if [[ $(docker inspect -f '{{.State.Running}}' "$STS_CONTAINER") != true ]]; then
    docker logs --tail 60 "$STS_CONTAINER" >&2
    die "the STS container stopped before it was ready"
  fi
  sleep 1
done
[[ -f $WORK/sts/ready ]] || { docker logs --tail 60 "$STS_CONTAINER" >&2; die "the STS container was not ready after 10 minutes"; }
STS_ENV=$WORK/sts/sts.env
cat "$STS_ENV"

# (6) The chart, with the images kind loaded (never pulled).
if [[ $INSTALL_CHART == 1 ]]; then
  step "helm install rolechain"
  # shellcheck disable=SC1090
  REGION=$(. "$STS_ENV" && echo "$REGION")
  helm upgrade --install rolechain "$ROOT/charts/rolechain" --namespace rolechain-system --create-namespace \
    --set image.repository=rolechain/webhook --set image.tag="$IMAGE_TAG" --set image.pullPolicy=Never \
    --set sidecar.image.repository=rolechain/sidecar --set sidecar.image.tag="$IMAGE_TAG" \
    --set sidecar.image.pullPolicy=Never --set sidecar.defaultRegion="$REGION" \
    --wait --timeout 5m
fi

# (7) The suite, the same code `make e2e` runs on the local cluster.
step "e2e suite (test/e2e)"
cd "$ROOT/test/e2e"
# shellcheck disable=SC2086
KUBECONFIG=$KUBECONFIG STS_ENV=$STS_ENV E2E_PROVIDER=kind \
  E2E_APP_IMAGE=rolechain/e2e-app:$IMAGE_TAG E2E_TOOLBOX_IMAGE=rolechain/toolbox:$IMAGE_TAG E2E_EKSWEBHOOK_IMAGE=rolechain/ekswebhook:$IMAGE_TAG CGO_ENABLED=0 go test -trimpath ./... -count=1 -timeout 45m ${E2E_FLAGS:-}
# The webhook in fallback mode, when this run installed it.
if [[ $INSTALL_CHART == 1 ]]; then
  KUBECONFIG=$KUBECONFIG STS_ENV=$STS_ENV E2E_PROVIDER=kind \
    E2E_APP_IMAGE=rolechain/e2e-app:$IMAGE_TAG E2E_TOOLBOX_IMAGE=rolechain/toolbox:$IMAGE_TAG bash "$ROOT/test/e2e/fallback.sh"
  KUBECONFIG=$KUBECONFIG STS_ENV=$STS_ENV E2E_PROVIDER=kind \
    E2E_APP_IMAGE=rolechain/e2e-app:$IMAGE_TAG E2E_TOOLBOX_IMAGE=rolechain/toolbox:$IMAGE_TAG bash "$ROOT/test/e2e/credentialsmode.sh"
fi
