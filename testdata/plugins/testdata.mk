# Hostile test plugins for the host's tests.
plugins-testdata:

# Reload test plugins (core/plugin host tests): the same hook, answering
# their version.
plugins-testdata: testdata/plugins/bin/reload_v1.wasm testdata/plugins/bin/reload_v2.wasm
testdata/plugins/bin/reload_v%.wasm: testdata/plugins/reload_v%.wat
	@mkdir -p $(@D)
	wat2wasm -o $@ $<
