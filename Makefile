GO ?= go

.PHONY: test test-tools kube-apiserver vet build demo image

# test installs the Debian tools the tests use when missing, builds the
# kube-apiserver the Kubernetes tests run (once; it is cached), then vets and
# runs every test with the race detector.
test: test-tools kube-apiserver vet
	$(GO) test -race -timeout 20m ./...

test-tools:
	./scripts/install-test-tools.sh

kube-apiserver:
	$(GO) run ./internal/kubetest/prepare

vet:
	$(GO) vet ./...

build:
	$(GO) build -o bin/meridian ./cmd/meridian

demo:
	$(GO) run ./cmd/meridian serve -config deploy/demo/meridian.conf

# image builds bin/meridian-image.tar (docker load / podman load / crane
# push) without a Docker engine; the Dockerfile builds the same with Docker.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
image:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/meridian-static ./cmd/meridian
	$(GO) run ./internal/imagebuild -binary bin/meridian-static -out bin/meridian-image.tar -tag meridian:$(VERSION)
