# Gatehouse. `make run` starts the server with the embedded configuration
# and the embedded first-party plugins (it needs nothing but Go); `make test`
# runs every test (installing what the tests need first).
GO       ?= go
BIN      := bin/gatehouse
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
APT      := DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run test test-short bench fuzz lint plugins deps-test deps-rp deps-backstage deps-bench clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gatehouse

run: build
	./$(BIN) serve

# Everything the tests need: Chromium for the page tests, strace for the
# toolchain check (plugins/toolchains_test.go), the Wasm plugins, the
# third-party relying parties.
# PostgreSQL: core/store/postgres/pgtest runs a throw-away server from
# Debian's binaries (/usr/lib/postgresql/VERSION/bin) for the postgres
# backend's tests.
# libssl3: OpenSSL 3's libcrypto.so.3 (Debian's multiarch directory), which
# RS256 signs with and whose tests fail without it when CI is set.
LIBCRYPTO_CHECK := ls /usr/lib/*/libcrypto.so.3 >/dev/null 2>&1 || missing="$$missing libssl3";
deps-test: deps-rp deps-backstage
	$(call apt_ensure,/usr/bin/chromium:chromium /usr/bin/strace:strace,ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; $(LIBCRYPTO_CHECK))

# The relying parties rp_test.go drives, at pinned versions: the npm
# packages of e2e/testdata/rp/package-lock.json, and oauth2-proxy built from
# the Go module proxy at the version in e2e/testdata/rp/oauth2-proxy.version,
# under a name that carries it. Each step is skipped when what it installs
# is already there and up to date.
RP_DIR       := e2e/testdata/rp
RP_STAMP     := $(RP_DIR)/node_modules/.gatehouse-installed
OAUTH2_PROXY_VERSION := $(strip $(file < $(RP_DIR)/oauth2-proxy.version))
OAUTH2_PROXY := $(RP_DIR)/bin/oauth2-proxy-$(OAUTH2_PROXY_VERSION)
deps-rp: $(RP_STAMP) $(OAUTH2_PROXY)

$(RP_STAMP): $(RP_DIR)/package.json $(RP_DIR)/package-lock.json | toolchain-node
	cd $(RP_DIR) && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

$(OAUTH2_PROXY): $(RP_DIR)/oauth2-proxy.version
	GOBIN=$(CURDIR)/$(RP_DIR)/bin/.install $(GO) install -trimpath github.com/oauth2-proxy/oauth2-proxy/v7@$(OAUTH2_PROXY_VERSION)
	mv $(RP_DIR)/bin/.install/oauth2-proxy $@

# The Backstage backend backstage_test.go runs: Backstage's own packages at
# the versions of e2e/testdata/backstage/package-lock.json. No install scripts:
# the test needs no native module (static plugin keys, no database).
BACKSTAGE_DIR   := e2e/testdata/backstage
BACKSTAGE_STAMP := $(BACKSTAGE_DIR)/node_modules/.gatehouse-installed
deps-backstage: $(BACKSTAGE_STAMP)

$(BACKSTAGE_STAMP): $(BACKSTAGE_DIR)/package.json $(BACKSTAGE_DIR)/package-lock.json | toolchain-node
	cd $(BACKSTAGE_DIR) && $(NPM) ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# wrk for the token endpoint's load tests; PostgreSQL for growth.sh and
# replicas.sh (a throw-away server, as in deps-test); libssl3 for
# BenchmarkSign/RS256/openssl and a server that signs RS256 with it.
deps-bench:
	$(call apt_ensure,/usr/bin/wrk:wrk,ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; $(LIBCRYPTO_CHECK))

# Go modules besides the server's: the plugin SDK, which plugin authors
# require on its own, and the Go plugins built on it (each points at
# sdk/go with a replace). `./...` at the top does not reach into them.
GO_SUBMODULES := sdk/go examples/plugins/go examples/backstage-resolver/go core/upstream/testdata/shaper
in_submodules = for m in $(GO_SUBMODULES); do (cd $$m && $(1)) || exit 1; done

test: deps-test plugins plugins-check sdk-rust-test
	$(GO) vet ./...
	$(call in_submodules,$(GO) vet ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet ./...)
	$(GO) test -race -count=1 -timeout 20m ./...
	$(call in_submodules,$(GO) test -race -count=1 ./...)

# Unit tests only, no browser or plugin toolchains.
test-short:
	$(GO) test -short -count=1 ./...
	$(call in_submodules,$(GO) test -short -count=1 ./...)

bench: deps-bench plugins build
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...
	./.ci/loadtest.sh
	./.ci/growth.sh
	./.ci/replicas.sh

# Each fuzz target for FUZZTIME (default 20s).
FUZZTIME ?= 20s
fuzz:
	./.ci/fuzz.sh $(FUZZTIME)

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(call in_submodules,$(GO) vet ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...)

clean:
	rm -rf bin $(RP_DIR)/node_modules $(RP_DIR)/bin

include plugins/plugins.mk
