# The sign_in example plugin in every SDK language, each built from source
# into examples/plugins/bin/signin-example-<lang>.wasm. Every rule lists its
# sources as prerequisites, so a second `make plugins-examples` does nothing.
EXAMPLES_BIN   := examples/plugins/bin
EXAMPLES_OBJ   := $(EXAMPLES_BIN)/obj
EXAMPLE_LANGS  := go rust c assemblyscript wat
EXAMPLE_PLUGINS := $(foreach l,$(EXAMPLE_LANGS),$(EXAMPLES_BIN)/signin-example-$(l).wasm)

plugins-examples: $(EXAMPLE_PLUGINS)

$(EXAMPLES_BIN) $(EXAMPLES_OBJ):
	mkdir -p $@

# Go: a WASI reactor (//go:wasmexport), its own module on sdk/go's.
$(EXAMPLES_BIN)/signin-example-go.wasm: $(wildcard examples/plugins/go/*.go) examples/plugins/go/go.mod $(shell find sdk/go -name '*.go' -o -name go.mod 2>/dev/null) | $(EXAMPLES_BIN)
	cd examples/plugins/go && GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared -o $(abspath $@) .

# C: clang with wasi-libc, a reactor (exports _initialize), sdk/c. Bulk memory
# turns memcpy/memset into single instructions instead of loops; with it,
# clang 14 accepts wasi-libc's thread-local errno only in the local-exec TLS
# model (sdk/c/errno_check.c, built below, touches errno to keep it so).
C_PLUGIN_FLAGS := --target=wasm32-wasi -O2 -mexec-model=reactor -mbulk-memory -ftls-model=local-exec \
	-Wall -Wextra -Werror -Isdk/c -Wl,--strip-all -Wl,-z,stack-size=65536

plugins-examples: $(EXAMPLES_OBJ)/errno-check-c.wasm

$(EXAMPLES_OBJ)/errno-check-c.wasm: sdk/c/errno_check.c sdk/c/gatehouse.c sdk/c/gatehouse.h | $(EXAMPLES_OBJ) toolchain-c
	$(CLANG) $(C_PLUGIN_FLAGS) -o $@ sdk/c/gatehouse.c sdk/c/errno_check.c

$(EXAMPLES_BIN)/signin-example-c.wasm: examples/plugins/c/signin.c sdk/c/gatehouse.c sdk/c/gatehouse.h | $(EXAMPLES_BIN) toolchain-c
	$(CLANG) $(C_PLUGIN_FLAGS) -o $@ sdk/c/gatehouse.c examples/plugins/c/signin.c

# Rust: Debian's rustc by path (rustup's has no wasm32 std), no cargo: the
# SDK is an rlib, the plugin a cdylib linking it. A small stack keeps each
# instance's memory, and so instantiation, small.
RUST_WASM_FLAGS := --edition 2021 --target wasm32-unknown-unknown -O -C panic=abort -C target-feature=+bulk-memory
RUST_SDK_RLIB   := $(EXAMPLES_OBJ)/libgatehouse.rlib

$(RUST_SDK_RLIB): $(wildcard sdk/rust/src/*.rs) | $(EXAMPLES_OBJ) toolchain-rust
	$(RUSTC) $(RUST_WASM_FLAGS) --crate-type rlib --crate-name gatehouse -o $@ sdk/rust/src/lib.rs

$(EXAMPLES_BIN)/signin-example-rust.wasm: examples/plugins/rust/signin.rs $(RUST_SDK_RLIB) | $(EXAMPLES_BIN) toolchain-rust
	$(RUSTC) $(RUST_WASM_FLAGS) --crate-type cdylib --crate-name signin_example_rust \
		-C link-arg=-zstack-size=65536 -C link-arg=--strip-all \
		--extern gatehouse=$(RUST_SDK_RLIB) -o $@ examples/plugins/rust/signin.rs

# AssemblyScript: the compiler pinned in sdk/assemblyscript/package-lock.json.
# The minimal runtime collects only when asked (the SDK does after every
# call); --use abort keeps env.abort, which the host lacks, out of the imports.
ASC_FLAGS := -O3 --runtime minimal --use abort=sdk/assemblyscript/assembly/index/gh_abort

$(EXAMPLES_BIN)/signin-example-assemblyscript.wasm: examples/plugins/assemblyscript/signin.ts $(wildcard sdk/assemblyscript/assembly/*.ts) $(ASC_STAMP) | $(EXAMPLES_BIN)
	$(ASC) examples/plugins/assemblyscript/signin.ts $(ASC_FLAGS) -o $@

# WebAssembly text: wat2wasm from wabt, nothing else.
$(EXAMPLES_BIN)/signin-example-wat.wasm: examples/plugins/wat/signin.wat | $(EXAMPLES_BIN) toolchain-wat
	$(WAT2WASM) -o $@ $<

# The WAT template in sdk/wat is built too, so it stays valid.
plugins-examples: $(EXAMPLES_OBJ)/wat-template.wasm

$(EXAMPLES_OBJ)/wat-template.wasm: sdk/wat/template.wat | $(EXAMPLES_OBJ) toolchain-wat
	$(WAT2WASM) -o $@ $<

# Test plugins exercising each SDK's host-function wrappers (examples_test.go
# loads them from obj/, where a plugin directory scan does not look).
HOSTCALLS_PLUGINS := $(foreach l,rust c assemblyscript,$(EXAMPLES_OBJ)/hostcalls-$(l).wasm)
plugins-examples: $(HOSTCALLS_PLUGINS)

$(EXAMPLES_OBJ)/hostcalls-c.wasm: examples/plugins/c/hostcalls.c sdk/c/gatehouse.c sdk/c/gatehouse.h | $(EXAMPLES_OBJ) toolchain-c
	$(CLANG) $(C_PLUGIN_FLAGS) -o $@ sdk/c/gatehouse.c examples/plugins/c/hostcalls.c

$(EXAMPLES_OBJ)/hostcalls-rust.wasm: examples/plugins/rust/hostcalls.rs $(RUST_SDK_RLIB) | $(EXAMPLES_OBJ) toolchain-rust
	$(RUSTC) $(RUST_WASM_FLAGS) --crate-type cdylib --crate-name hostcalls \
		-C link-arg=-zstack-size=65536 -C link-arg=--strip-all \
		--extern gatehouse=$(RUST_SDK_RLIB) -o $@ examples/plugins/rust/hostcalls.rs

$(EXAMPLES_OBJ)/hostcalls-assemblyscript.wasm: examples/plugins/assemblyscript/hostcalls.ts $(wildcard sdk/assemblyscript/assembly/*.ts) $(ASC_STAMP) | $(EXAMPLES_OBJ)
	$(ASC) examples/plugins/assemblyscript/hostcalls.ts $(ASC_FLAGS) -o $@
