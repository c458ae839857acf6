# Toolchains for the plugin builds, installed from apt/npm where missing.
#
# Each toolchain-* target checks for the files the builds use and installs
# only what is missing (apt-get update runs only then), so on a provisioned
# machine every one of them is a few stat calls. Build rules name them as
# order-only prerequisites (`| toolchain-c`): they run before the build but
# never make a finished .wasm out of date.
.PHONY: toolchains toolchain-wat toolchain-c toolchain-rust toolchain-node toolchain-assemblyscript

# Debian's rustc is called by path: rustup's rustc comes first on PATH and
# has no wasm32 standard library (libstd-rust-dev-wasm32 is built for this one).
WAT2WASM ?= /usr/bin/wat2wasm
CLANG    ?= /usr/bin/clang
RUSTC    ?= /usr/bin/rustc
NPM      ?= npm

# Files whose presence proves a toolchain is complete, each with the Debian
# package that provides it.
WASI_SYSROOT     := /usr
WASI_LIBC_CHECK  := /usr/lib/wasm32-wasi/libc.a
CLANG_RT_WASM    := $(wildcard /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a)
RUST_WASM_STD    := /usr/lib/rustlib/wasm32-unknown-unknown/lib

# $(call apt-ensure,check-path package...): install the packages unless the path exists.
define apt-ensure
@if [ ! -e $(1) ]; then \
	echo "toolchains: $(1) missing, installing $(2)"; \
	$(SUDO) apt-get update -qq && $(SUDO) $(APT) $(2); \
fi
endef

toolchains: toolchain-wat toolchain-c toolchain-rust toolchain-assemblyscript

toolchain-wat:
	$(call apt-ensure,$(WAT2WASM),wabt)

# clang drives wasm-ld (lld), links wasi-libc and clang's wasm32 builtins.
toolchain-c:
	$(call apt-ensure,$(CLANG),clang)
	$(call apt-ensure,/usr/bin/wasm-ld,lld)
	$(call apt-ensure,$(WASI_LIBC_CHECK),wasi-libc)
	@if [ -z "$$(ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a 2>/dev/null)" ]; then \
		echo "toolchains: clang wasm32 builtins missing, installing libclang-rt-dev-wasm32"; \
		$(SUDO) apt-get update -qq && $(SUDO) $(APT) libclang-rt-dev-wasm32; \
	fi

toolchain-rust:
	$(call apt-ensure,$(RUSTC),rustc)
	$(call apt-ensure,$(RUST_WASM_STD),libstd-rust-dev-wasm32)

# Node.js ships npm on this machine (NodeSource build); Debian splits them.
toolchain-node:
	@command -v $(NPM) >/dev/null 2>&1 || { \
		echo "toolchains: npm missing, installing nodejs npm"; \
		$(SUDO) apt-get update -qq && $(SUDO) $(APT) nodejs npm; }

# The AssemblyScript compiler, pinned by sdk/assemblyscript/package-lock.json
# and installed into sdk/assemblyscript/node_modules by `npm ci`.
ASC_STAMP := sdk/assemblyscript/node_modules/.gatehouse-installed
ASC       := sdk/assemblyscript/node_modules/.bin/asc

toolchain-assemblyscript: $(ASC_STAMP)

$(ASC_STAMP): sdk/assemblyscript/package.json sdk/assemblyscript/package-lock.json | toolchain-node
	cd sdk/assemblyscript && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@
