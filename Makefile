GO ?= go

.PHONY: test test-tools vet build demo

# test installs the Debian tools the tests use when missing, then vets and
# runs every test with the race detector.
test: test-tools vet
	$(GO) test -race ./...

test-tools:
	./scripts/install-test-tools.sh

vet:
	$(GO) vet ./...

build:
	$(GO) build -o bin/meridian ./cmd/meridian

demo:
	$(GO) run ./cmd/meridian serve -config deploy/demo/meridian.conf
