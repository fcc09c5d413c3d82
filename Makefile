GO ?= go

.PHONY: test test-tools kube-apiserver vet build demo

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
