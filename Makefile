# rolechain — see README.md. Every target runs on a fresh Debian machine as root.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
BIN      := $(CURDIR)/bin
K8S_BIN  := $(BIN)/k8s
GO_PKGS  := ./...

.PHONY: all build test lint unit integration chart-test e2e e2e-kind bench demo \
        k8s-binaries cluster-up cluster-down sts-up sts-down minio-up minio-down sts-check images e2e-images docker-images manifests update-golden helm

all: build

## build: the two binaries, into bin/
build:
	CGO_ENABLED=0 go build -trimpath -o $(BIN)/ ./cmd/...

## demo: the local cluster and STS, the webhook from manifests/ (kubectl apply -k), an annotated pod gets chained credentials (README's first command)
demo:
	bash test/demo.sh

## test: everything CI runs (README's second command)
test: lint unit integration chart-test e2e

## lint: formatting and vet, cheap and CI-breaking when skipped. vet compiles
## with the images' flags (CGO_ENABLED=0 -trimpath), so that the images reuse
## what it compiled instead of compiling the same packages a second time.
lint:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	@CGO_ENABLED=0 bash test/lib/go-compile.sh vet -trimpath
	CGO_ENABLED=0 go vet -trimpath $(GO_PKGS)
	bash test/lib/check-installs.sh

## unit: unit, golden and in-process tests of the main module
unit:
	@bash test/lib/go-compile.sh race -race
	go test -race -count=1 $(GO_PKGS)

## integration: the webhook on a real kube-apiserver + etcd (envtest), binaries from test/tools
integration: k8s-binaries
	KUBEBUILDER_ASSETS=$(K8S_BIN) go test -race -count=1 -tags integration ./test/integration/...

## chart-test: lint, render and check the Helm chart and manifests/ with the Helm SDK
chart-test:
	@GO_COMPILE_DIR=test/chart bash test/lib/go-compile.sh chart
	cd test/chart && go test -count=1 ./...

## manifests: regenerate manifests/ from the chart
manifests:
	bash manifests/generate.sh

## e2e: the e2e suite on the local cluster + radosgw (KEEP=1 keeps them up)
e2e: k8s-binaries
	bash test/e2e/run.sh

## images: webhook, sidecar, and the app and toolbox images the demo runs, as OCI tarballs in .cache/images (crane, no Docker)
images:
	IMAGE_USER=65532:65532 bash test/images/go-image.sh localhost/rolechain/webhook:dev .cache/images/webhook.tar cmd/webhook /rolechain-webhook
	IMAGE_USER=65532:65532 GOFLAGS=-tags=rolechain_nodefaultchain bash test/images/go-image.sh localhost/rolechain/sidecar:dev .cache/images/sidecar.tar cmd/sidecar /rolechain-sidecar
	bash test/images/go-image.sh localhost/rolechain/e2e-app:dev .cache/images/e2e-app.tar test/app /app
	bash test/images/go-image.sh localhost/rolechain/toolbox:dev .cache/images/toolbox.tar test/images/toolbox /toolbox

## e2e-images: the images, and those only the e2e suite uses (the stand-in for EKS's webhook)
e2e-images: images
	IMAGE_USER=65532:65532 bash test/images/go-image.sh localhost/rolechain/ekswebhook:dev .cache/images/ekswebhook.tar test/ekswebhook /ekswebhook

## docker-images: the same two images with Docker, where an engine runs
docker-images:
	@docker info >/dev/null 2>&1 || { echo "make docker-images needs a running Docker engine ('docker info' failed); 'make images' builds the same binaries into OCI tarballs without Docker" >&2; exit 1; }
	docker build -f Dockerfile.webhook -t rolechain/webhook:dev .
	docker build -f Dockerfile.sidecar -t rolechain/sidecar:dev .

## helm: the helm CLI into bin/ (every run; a no-op when up to date)
helm:
	. test/lib/install.sh && install_helm

## k8s-binaries: kube-apiserver, etcd, kubelet … built from the Go module proxy into bin/k8s
k8s-binaries:
	bash test/tools/build.sh

## bench: in-process benchmarks; the webhook's load benchmark (the real binary over TLS, a live
## kube-apiserver behind it; BENCH_FLAGS e.g. '-duration 5s -reps 1' or '-target eks=eks:PATH');
## the idle sidecar; its endpoint under 200 clients
bench:
	go test -run '^$$' -bench . -benchmem $(GO_PKGS)
	bash test/tools/build.sh etcd kube-apiserver
	KUBEBUILDER_ASSETS=$(K8S_BIN) go run ./test/bench/admission $(BENCH_FLAGS)
	IDLE_SECONDS=$${IDLE_SECONDS:-130} bash test/bench/sidecar-idle.sh
	bash test/bench/sidecar-endpoint.sh

## update-golden: regenerate golden files after an intended change
update-golden:
	UPDATE_GOLDEN=1 go test ./webhook/...

## cluster-up / cluster-down: a single-node Kubernetes cluster of real components (test/cluster)
cluster-up: k8s-binaries
	bash test/cluster/up.sh
cluster-down:
	bash test/cluster/down.sh

## sts-up / sts-down: Ceph radosgw as a real STS + S3, trusting the cluster's issuer (test/sts)
sts-up:
	bash test/sts/up.sh
sts-down:
	bash test/sts/down.sh

## minio-up / minio-down: MinIO, a second web-identity peer trusting the same issuer (after sts-up)
minio-up:
	bash test/sts/minio-up.sh
minio-down:
	bash test/sts/minio-down.sh

## sts-check: what both peers enforce, with the app and the sidecar binary (test/sts/check.sh)
sts-check:
	bash test/sts/check.sh

## e2e-kind: the e2e suite on kind (needs Docker)
e2e-kind:
	bash test/kind/run.sh
