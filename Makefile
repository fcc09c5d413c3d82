GO ?= go

# VERSION and COMMIT are stamped into the binary by build and image.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS = -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: test test-tools kube-apiserver promtool vet fuzz build demo image

# test installs the Debian tools the tests use when missing, builds the
# kube-apiserver the Kubernetes tests run and the promtool the alerting
# rules' tests run (once; they are cached), then vets, fuzzes for a bounded
# time and runs every test with the race detector.
test: test-tools kube-apiserver promtool vet fuzz
	$(GO) test -race -timeout 20m ./...

# fuzz runs each fuzz target for FUZZTIME on one core: the config parser, the
# zone loader, the zone compiler and the query path (about a minute in all).
# A crash leaves its input in PACKAGE/testdata/fuzz/TARGET/; commit it with
# the fix, and plain `go test` replays it from then on. New inputs are
# minimized for 5s, not the default 60s, which would eat a short run.
FUZZTIME ?= 15s
FUZZ_TARGETS = config:FuzzParse dns:FuzzLoadZones dns:FuzzCompile dns:FuzzAnswer
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s -parallel 1 ./$${t%%:*}/; \
	done

test-tools:
	./scripts/install-test-tools.sh

# Without cgo, as vet: the harness's compile (client-go and the rest, 90 s
# cold) then serves vet too.
kube-apiserver:
	CGO_ENABLED=0 $(GO) run ./internal/kubetest/prepare

promtool:
	$(GO) run ./internal/promtest/prepare

# vet and build compile without cgo, as the image does (Meridian uses
# none): one compile of the dependencies serves vet, build and the image's
# test, where a cgo one and a static one cost two on a cold cache (about
# 140 s of two cores), and the binary build makes is static too.
vet:
	CGO_ENABLED=0 $(GO) vet ./...

# build stamps the version and commit as image does; `meridian version`
# prints them with the Go version. BIN moves the binary elsewhere.
BIN ?= bin/meridian
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/meridian

demo:
	$(GO) run ./cmd/meridian serve -config deploy/demo/meridian.conf

# image builds bin/meridian-image.tar (docker load / podman load / crane
# push) without a Docker engine; the Dockerfile builds the same with Docker.
image:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o bin/meridian-static ./cmd/meridian
	$(GO) run ./internal/imagebuild -binary bin/meridian-static -out bin/meridian-image.tar -tag meridian:$(VERSION)
