# rolechain — see README.md. Every target runs on a fresh Debian machine as root.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
BIN      := $(CURDIR)/bin
K8S_BIN  := $(BIN)/k8s
GO_PKGS  := ./...

.PHONY: all build test lint unit integration e2e e2e-kind bench demo \
        k8s-binaries cluster-up cluster-down sts-up sts-down images update-golden

all: build

## build: the two binaries, into bin/
build:
	CGO_ENABLED=0 go build -trimpath -o $(BIN)/ ./cmd/...

## test: everything CI runs (README's second command)
test: lint unit

## lint: formatting and vet, cheap and CI-breaking when skipped
lint:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	go vet $(GO_PKGS)

## unit: unit, golden and in-process tests of the main module
unit:
	go test -race -count=1 $(GO_PKGS)

## k8s-binaries: kube-apiserver, etcd, kubelet … built from the Go module proxy into bin/k8s
k8s-binaries:
	bash test/tools/build.sh

## bench: benchmarks of the admission and refresh paths
bench:
	go test -run '^$$' -bench . -benchmem $(GO_PKGS)

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

## e2e-kind: the e2e suite on kind (needs Docker)
e2e-kind:
	bash test/kind/run.sh
