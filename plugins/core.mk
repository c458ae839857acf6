# First-party plugins (Rust, sdk/rust): the defaults config.yaml loads.
# Each .wasm depends on its own sources, the shared Go-compatibility module
# and the SDK, so a second `make plugins-core` with nothing changed builds
# nothing. Debian's rustc by path (RUSTC, plugins/toolchains.mk), no cargo:
# the SDK is an rlib, each plugin a cdylib linking it. A 64 KiB stack keeps
# each instance's memory, and so instantiation, small.
PLUGINS_CORE       := signin-default directory-static notify-default
PLUGINS_CORE_BIN   := $(PLUGINS_CORE:%=plugins/bin/%.wasm)
PLUGINS_CORE_OBJ   := plugins/bin/obj
PLUGINS_CORE_RLIB  := $(PLUGINS_CORE_OBJ)/libgatehouse.rlib
PLUGINS_CORE_FLAGS := --edition 2021 --target wasm32-unknown-unknown -O -C panic=abort -C target-feature=+bulk-memory

plugins-core: $(PLUGINS_CORE_BIN)

plugins/bin $(PLUGINS_CORE_OBJ):
	mkdir -p $@

$(PLUGINS_CORE_RLIB): $(wildcard sdk/rust/src/*.rs) | $(PLUGINS_CORE_OBJ) toolchain-rust
	$(RUSTC) $(PLUGINS_CORE_FLAGS) --crate-type rlib --crate-name gatehouse -o $@ sdk/rust/src/lib.rs

define plugins_core_rule
plugins/bin/$(1).wasm: plugins/$(1)/$(1).rs plugins/shared/gostd.rs $$(PLUGINS_CORE_RLIB) | plugins/bin toolchain-rust
	$$(RUSTC) $$(PLUGINS_CORE_FLAGS) --crate-type cdylib --crate-name $$(subst -,_,$(1)) \
		-C link-arg=-zstack-size=65536 -C link-arg=--strip-all \
		--extern gatehouse=$$(PLUGINS_CORE_RLIB) -o $$@ plugins/$(1)/$(1).rs
endef
$(foreach p,$(PLUGINS_CORE),$(eval $(call plugins_core_rule,$(p))))
