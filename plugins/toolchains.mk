# Toolchains for the plugin builds, installed from apt/npm where missing.
#
# The toolchain-* targets check for the files the builds use and install
# only what is missing (apt-get update runs only then), so on a provisioned
# machine they cost a few stat calls. Build rules name them as order-only
# prerequisites (`| toolchain-c`): they run before the build but never make
# a finished .wasm out of date. Variables for other makefiles: WAT2WASM,
# CLANG, RUSTC (Debian's, by path), ASC.
.PHONY: toolchains toolchain-packages toolchain-wat toolchain-c toolchain-rust toolchain-node toolchain-assemblyscript

# Debian's rustc is called by path: rustup's rustc comes first on PATH and
# has no wasm32 standard library (libstd-rust-dev-wasm32 is built for this one).
WAT2WASM ?= /usr/bin/wat2wasm
CLANG    ?= /usr/bin/clang
RUSTC    ?= /usr/bin/rustc
NPM      ?= npm

# What the builds use, as check-path:debian-package pairs. Debian's rustc
# links wasm32 with rust-lld, its own link to lld-14's binary: it ships the
# link but not lld, so the link dangles (and -e fails) until lld is installed.
WASI_LIBC_CHECK := /usr/lib/wasm32-wasi/libc.a
RUST_WASM_STD   := /usr/lib/rustlib/wasm32-unknown-unknown/lib
RUST_LLD        := /usr/bin/rust-lld

toolchains: toolchain-wat toolchain-c toolchain-rust toolchain-assemblyscript

# Each toolchain-* target installs only its own missing packages, so that
# `make run` (Rust plugins only) does not pull in clang or Node.js. apt-get
# waits for dpkg's lock rather than failing when two of them run at once
# under make -j. clang's wasm32 builtins (libclang_rt.builtins-wasm32.a)
# live under a versioned path, hence the glob; Node.js from NodeSource
# ships npm, Debian splits them.
APT_WAIT := -o DPkg::Lock::Timeout=600

# apt_ensure: install the packages of the check-path:package pairs in $(1)
# whose path is missing; $(2) is extra shell adding to $$missing.
define apt_ensure
	@missing=; \
	for pair in $(1); do \
		[ -e "$${pair%%:*}" ] || missing="$$missing $${pair##*:}"; \
	done; \
	$(2) \
	if [ -n "$$missing" ]; then \
		echo "toolchains: installing$$missing"; \
		$(SUDO) apt-get $(APT_WAIT) update -qq && $(SUDO) $(APT) $(APT_WAIT) $$missing; \
	fi
endef

# Each toolchain as the check-path:package pairs its builds need.
TOOLCHAIN_WAT  := $(WAT2WASM):wabt
TOOLCHAIN_C    := $(CLANG):clang /usr/bin/wasm-ld:lld $(WASI_LIBC_CHECK):wasi-libc
TOOLCHAIN_RUST := $(RUSTC):rustc $(RUST_WASM_STD):libstd-rust-dev-wasm32 $(RUST_LLD):lld

toolchain-wat:
	$(call apt_ensure,$(TOOLCHAIN_WAT))
toolchain-c:
	$(call apt_ensure,$(TOOLCHAIN_C),ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || missing="$$missing libclang-rt-dev-wasm32";)
toolchain-rust:
	$(call apt_ensure,$(TOOLCHAIN_RUST))
toolchain-node:
	$(call apt_ensure,,command -v $(NPM) >/dev/null 2>&1 || missing="$$missing nodejs npm";)

# The Debian packages each toolchain-* target installs, one toolchain per
# line: plugins/toolchains_test.go checks them against what the builds use.
toolchain-packages:
	@echo "wat $(foreach p,$(TOOLCHAIN_WAT),$(lastword $(subst :, ,$(p))))"
	@echo "c $(foreach p,$(TOOLCHAIN_C),$(lastword $(subst :, ,$(p)))) libclang-rt-dev-wasm32"
	@echo "rust $(foreach p,$(TOOLCHAIN_RUST),$(lastword $(subst :, ,$(p))))"
	@echo "node nodejs npm"

# The AssemblyScript compiler, pinned by sdk/assemblyscript/package-lock.json
# and installed into sdk/assemblyscript/node_modules by `npm ci`.
ASC_STAMP := sdk/assemblyscript/node_modules/.gatehouse-installed
ASC       := sdk/assemblyscript/node_modules/.bin/asc

toolchain-assemblyscript: $(ASC_STAMP)

$(ASC_STAMP): sdk/assemblyscript/package.json sdk/assemblyscript/package-lock.json | toolchain-node
	cd sdk/assemblyscript && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@
