# swarmdns — see README.md. CI (.ci/run) runs `make test`, `make fuzz`, `make e2e`, `make e2e-stack` and `make e2e-multinode`.
GO        ?= go
BIN       := bin/swarmdns
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)

.PHONY: all build run test unit lint e2e bench fuzz clean image e2e-stack multinode-up multinode-down e2e-multinode proto manager-load scale scale-short

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/swarmdns

# Serve the example registry (see README for dig lines): DNS on LISTEN, the
# operations HTTP listener on HTTP_LISTEN. It prints where, and a dig line.
LISTEN      ?= 127.0.0.1:5353
HTTP_LISTEN ?= 127.0.0.1:8053
run_port    = $(lastword $(subst :, ,$(LISTEN)))
run_host    = $(or $(subst [,,$(subst ],,$(patsubst %:$(run_port),%,$(LISTEN)))),127.0.0.1)
run: build
	@echo "swarmdns: DNS on $(LISTEN) (UDP and TCP), HTTP on $(HTTP_LISTEN); try: dig @$(run_host) -p $(run_port) web"
	$(BIN) serve --listen $(LISTEN) --http-listen $(HTTP_LISTEN) --registry-file examples/registry.yaml

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...

# Unit and loopback end-to-end tests (no Docker needed).
unit:
	$(GO) test -race -count=1 ./...

# Everything: lint, unit tests, then the suites that need real peers.
test: lint unit

# End-to-end suite against a real dockerd and Swarm on this machine (root;
# installs docker.io, busybox-static, dnsutils when missing). It removes the
# services and networks it creates; scripts/swarm-down.sh stops the rest.
E2E_TIMEOUT ?= 20m
e2e: build
	scripts/swarm-up.sh
	$(GO) vet -tags e2e ./...
	SWARMDNS_BIN=$(CURDIR)/$(BIN) $(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -v ./e2e/

# Each fuzz target for FUZZTIME (CI: 20s each); scripts/fuzz.sh. Failing
# inputs land in testdata/fuzz/ of the package: commit them with the fix.
FUZZTIME ?= 30s
FUZZ_TARGETS := ./server:FuzzHandler ./server:FuzzTCPStream ./registry:FuzzParseFile ./registry:FuzzParsePorts ./server/transfer:FuzzTransferQuery ./registry/file:FuzzDecodeInParts
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh $(FUZZ_TARGETS)

# The image: FROM scratch with the host-built static binary, which gets
# the file capability to bind port 53 as a non-root user (needs setcap,
# Debian package libcap2-bin, and root). See docs/deployment.md.
IMAGE ?= swarmdns:$(VERSION)
image: build
	rm -rf bin/rootfs && mkdir -p bin/rootfs && cp $(BIN) bin/rootfs/swarmdns
	setcap cap_net_bind_service=+ep bin/rootfs/swarmdns
	tar --xattrs --xattrs-include=security.capability --owner=0 --group=0 -C bin/rootfs -cf bin/rootfs.tar .
	DOCKER_BUILDKIT=0 docker build -t $(IMAGE) -t swarmdns:latest .

# Deploy deploy/stack.yml on the local Swarm (scripts/swarm-up.sh) and
# resolve through it from a container.
e2e-stack: image
	scripts/e2e-stack.sh

# A Docker Swarm of several nodes on this machine (root; one network
# namespace and one dockerd per node, bridge swbr 10.99.0.0/24; installs
# docker.io, busybox-static, iproute2, iptables, dnsutils when missing), and
# the suite that needs it (e2e/multinode/README.md). The nodes stay up after
# the suite; multinode-down removes every trace. MULTINODE_MANAGERS,
# MULTINODE_WORKERS, MULTINODE_HEARTBEAT: see scripts/multinode-up.sh.
MULTINODE_TIMEOUT ?= 15m
multinode-up:
	scripts/multinode-up.sh

multinode-down:
	scripts/multinode-down.sh

# The sidecar image is built in the bed's first node's engine (sw1; tw1
# with MULTINODE_BED=2; never this machine's) as MULTINODE_IMAGE and loaded
# into every other; deploy/stack.yml runs it. The node-loss test runs
# bin/swarmdns itself in a manager's namespace.
MULTINODE_IMAGE ?= swarmdns:multinode
MULTINODE_FIRST := $(if $(filter 2,$(MULTINODE_BED)),tw1,sw1)
e2e-multinode: multinode-up build
	DOCKER_HOST=unix:///run/$(MULTINODE_FIRST)/docker.sock $(MAKE) image IMAGE=$(MULTINODE_IMAGE)
	scripts/multinode-load-image.sh $(MULTINODE_IMAGE)
	$(GO) vet -tags multinode ./e2e/multinode/...
	SWARMDNS_IMAGE=$(MULTINODE_IMAGE) SWARMDNS_BIN=$(CURDIR)/$(BIN) $(GO) test -tags multinode -count=1 -timeout $(MULTINODE_TIMEOUT) -v ./e2e/multinode/...

# Loopback benchmarks against a UDP reflector and dnsmasq, then the Go
# benchmarks; results go to docs/benchmarks.md. BENCH_QUICK=1: small only.
bench:
	scripts/bench.sh

# The follow protocol at scale (docs/benchmarks.md): one manager instance
# with the large registry, followers on loopback in a second process.
# scale: 8 followers with a Store, 200, 1,000 and 10,000 protocol
# followers, and slow ones (15-20 minutes, several GB of memory);
# scale-short: 2 with a Store, 200 and the slow ones, asserting the
# targets scaled (CI, about a minute). SCALE_OUT=FILE writes the table.
SCALE_OUT ?=
scale:
	$(GO) vet -tags scale ./registry/peer/
	$(GO) test -tags scale -run '^TestScale$$' -count=1 -timeout 60m -v ./registry/peer/ -args -scale=full $(if $(SCALE_OUT),-scale.out $(abspath $(SCALE_OUT)))

scale-short:
	$(GO) vet -tags scale ./registry/peer/
	$(GO) test -tags scale -run '^TestScale$$' -count=1 -timeout 5m -v ./registry/peer/ -args -scale=short $(if $(SCALE_OUT),-scale.out $(abspath $(SCALE_OUT)))

# Regenerate the follow protocol's Go code (committed) from its .proto:
# protoc from Debian's protobuf-compiler, the plugins at pinned versions.
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
GOBIN              ?= $(shell $(GO) env GOPATH)/bin
proto:
	@command -v protoc >/dev/null || { echo 'proto: protoc missing (apt-get install protobuf-compiler)'; exit 1; }
	$(GO) install $(PROTOC_GEN_GO)
	$(GO) install $(PROTOC_GEN_GO_GRPC)
	cd registry/peer/peerpb && PATH="$(GOBIN):$$PATH" protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative peer.proto

# What swarmdns costs the manager's dockerd on the local Swarm with 10,000
# pending tasks, at rest and under one change a second, the old source
# against this one (docs/benchmarks.md, "The manager's share"; root,
# about 8 minutes). PENDING, WINDOW, WARMUP, ROUNDS, OLD_REV or OLD_BIN:
# see scripts/manager-load.sh.
manager-load: build
	scripts/manager-load.sh

clean:
	rm -rf bin
