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

# Go: a WASI reactor (//go:wasmexport), sdk/go.
$(EXAMPLES_BIN)/signin-example-go.wasm: $(wildcard examples/plugins/go/*.go) $(shell find sdk/go -name '*.go' 2>/dev/null) go.mod | $(EXAMPLES_BIN)
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared -o $@ ./examples/plugins/go

# C: clang with wasi-libc, a reactor (exports _initialize), sdk/c.
C_PLUGIN_FLAGS := --target=wasm32-wasi -O2 -mexec-model=reactor -Wall -Wextra -Werror -Isdk/c \
	-Wl,--strip-all -Wl,-z,stack-size=65536

$(EXAMPLES_BIN)/signin-example-c.wasm: examples/plugins/c/signin.c sdk/c/gatehouse.c sdk/c/gatehouse.h | $(EXAMPLES_BIN) toolchain-c
	$(CLANG) $(C_PLUGIN_FLAGS) -o $@ sdk/c/gatehouse.c examples/plugins/c/signin.c
