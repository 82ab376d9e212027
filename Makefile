# swarmdns — see README.md. `make test` runs everything CI runs.
GO        ?= go
BIN       := bin/swarmdns
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)

.PHONY: all build run test unit lint e2e bench fuzz clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/swarmdns

# Serve the example registry on 127.0.0.1:5353 (see README for dig lines).
run: build
	$(BIN) serve --listen 127.0.0.1:5353 --registry-file examples/registry.yaml

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...

# Unit and loopback end-to-end tests (no Docker needed).
unit:
	$(GO) test -race -count=1 ./...

# Everything: lint, unit tests, then the suites that need real peers.
test: lint unit

# Each fuzz target for FUZZTIME (CI: 30s each). Failing inputs land in
# testdata/fuzz/ of the package: commit them with the fix.
FUZZTIME ?= 30s
FUZZ_TARGETS := ./server:FuzzHandler ./server:FuzzTCPStream ./registry:FuzzParseFile ./registry:FuzzParsePorts
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME); \
	done

clean:
	rm -rf bin
