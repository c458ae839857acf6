# Hostile test plugins for the host's tests (core/plugin): every
# testdata/plugins/<name>.wat becomes testdata/plugins/bin/<name>.wasm.
TESTDATA_WAT  := $(wildcard testdata/plugins/*.wat)
TESTDATA_WASM := $(patsubst testdata/plugins/%.wat,testdata/plugins/bin/%.wasm,$(TESTDATA_WAT))

plugins-testdata: $(TESTDATA_WASM)

# wat2wasm (Debian's wabt) is installed by plugins/toolchains.mk where missing.
testdata/plugins/bin/%.wasm: testdata/plugins/%.wat | toolchain-wat
	@mkdir -p $(@D)
	$(WAT2WASM) $< -o $@
