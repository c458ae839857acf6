# First-party plugins (Rust, sdk/rust): the defaults config.yaml binds.
#
# The binary embeds plugins/<name>/<name>.wasm (embed.go), committed next to
# the sources, so that `go build` alone makes a server that carries them.
# plugins-core builds them from source into plugins/bin (which, being
# plugins.dir in config.yaml, overrides the embedded ones under `make run`);
# plugins-embed copies those builds over the committed modules, and
# plugins-check (run by `make test`) fails on any byte of difference.
#
# Each .wasm depends on its own sources, the SDK and this file, so a
# second `make plugins-core` with nothing changed builds nothing. Debian's rustc by path (RUSTC,
# plugins/toolchains.mk), no cargo: the SDK is an rlib, each plugin a cdylib
# linking it. A 64 KiB stack keeps each instance's memory, and so
# instantiation, small. The build is reproducible: the output depends on
# the sources and the rustc version only (paths are relative, and the
# checkout's directory is remapped away should any absolute one appear).
PLUGINS_CORE       := signin-default directory-static notify-default
PLUGINS_CORE_BIN   := $(PLUGINS_CORE:%=plugins/bin/%.wasm)
PLUGINS_CORE_OBJ   := plugins/bin/obj
PLUGINS_CORE_RLIB  := $(PLUGINS_CORE_OBJ)/libgatehouse.rlib
PLUGINS_CORE_FLAGS := --edition 2021 --target wasm32-unknown-unknown -O -C panic=abort -C target-feature=+bulk-memory \
	--remap-path-prefix=$(CURDIR)/=

.PHONY: plugins-embed plugins-check sdk-rust-test

plugins-core: $(PLUGINS_CORE_BIN)

plugins-embed: $(PLUGINS_CORE_BIN)
	for p in $(PLUGINS_CORE); do cp plugins/bin/$$p.wasm plugins/$$p/$$p.wasm; done

plugins-check: $(PLUGINS_CORE_BIN)
	@status=0; for p in $(PLUGINS_CORE); do \
		cmp -s plugins/bin/$$p.wasm plugins/$$p/$$p.wasm || { status=1; \
		echo "plugins/$$p/$$p.wasm is not the build of its sources (plugins/bin/$$p.wasm, $$($(RUSTC) --version)):" \
			"run make plugins-embed and commit it" >&2; }; \
	done; exit $$status

plugins/bin $(PLUGINS_CORE_OBJ):
	mkdir -p $@

$(PLUGINS_CORE_RLIB): $(wildcard sdk/rust/src/*.rs) plugins/core.mk | $(PLUGINS_CORE_OBJ) toolchain-rust
	$(RUSTC) $(PLUGINS_CORE_FLAGS) --crate-type rlib --crate-name gatehouse -o $@ sdk/rust/src/lib.rs

define plugins_core_rule
plugins/bin/$(1).wasm: $$(wildcard plugins/$(1)/*.rs) $$(PLUGINS_CORE_RLIB) plugins/core.mk | plugins/bin toolchain-rust
	$$(RUSTC) $$(PLUGINS_CORE_FLAGS) --crate-type cdylib --crate-name $$(subst -,_,$(1)) \
		-C link-arg=-zstack-size=65536 -C link-arg=--strip-all \
		--extern gatehouse=$$(PLUGINS_CORE_RLIB) -o $$@ plugins/$(1)/$(1).rs
endef
$(foreach p,$(PLUGINS_CORE),$(eval $(call plugins_core_rule,$(p))))

# The SDK's own unit tests (its #[cfg(test)] modules), built for the host
# by the same rustc and run; `make test` runs them.
sdk-rust-test: | $(PLUGINS_CORE_OBJ) toolchain-rust
	$(RUSTC) --edition 2021 --test --crate-name gatehouse -o $(PLUGINS_CORE_OBJ)/gatehouse-sdk-test sdk/rust/src/lib.rs
	$(PLUGINS_CORE_OBJ)/gatehouse-sdk-test -q
