# Hostile test plugins for the host's tests (core/plugin): every
# testdata/plugins/<name>.wat becomes testdata/plugins/bin/<name>.wasm.
TESTDATA_WAT  := $(wildcard testdata/plugins/*.wat)
TESTDATA_WASM := $(patsubst testdata/plugins/%.wat,testdata/plugins/bin/%.wasm,$(TESTDATA_WAT))

.PHONY: testdata-wat2wasm
plugins-testdata: $(TESTDATA_WASM)

# wat2wasm comes from Debian's wabt; installed only where missing.
testdata-wat2wasm:
	@command -v wat2wasm >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) $(APT) wabt; }

testdata/plugins/bin/%.wasm: testdata/plugins/%.wat | testdata-wat2wasm
	@mkdir -p $(@D)
	wat2wasm $< -o $@
