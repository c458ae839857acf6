# First-party plugins (Go, GOOS=wasip1): the defaults config.yaml loads.
# Each .wasm depends on its own sources, the Go SDK and go.mod/go.sum, so a
# second `make plugins-core` with nothing changed builds nothing.
PLUGINS_CORE     := signin-default directory-static notify-default
PLUGINS_CORE_BIN := $(PLUGINS_CORE:%=plugins/bin/%.wasm)
PLUGINS_CORE_SDK := $(shell find sdk/go -name '*.go' ! -name '*_test.go')

plugins-core: $(PLUGINS_CORE_BIN)

plugins/bin:
	mkdir -p $@

# A Go reactor module: -buildmode=c-shared keeps the runtime alive between
# calls and exports _initialize; -buildvcs=false keeps the bytes (and so the
# plugin's content-hash version) independent of the git state.
define plugins_core_rule
plugins/bin/$(1).wasm: $$(filter-out %_test.go,$$(wildcard plugins/$(1)/*.go)) $$(PLUGINS_CORE_SDK) go.mod go.sum | plugins/bin
	GOOS=wasip1 GOARCH=wasm $$(GO) build -buildmode=c-shared -trimpath -buildvcs=false -o $$@ ./plugins/$(1)
endef
$(foreach p,$(PLUGINS_CORE),$(eval $(call plugins_core_rule,$(p))))
