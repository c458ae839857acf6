# Build rules for every Wasm module, included by the top-level Makefile.
# Every module is built from source; bin/ directories are build outputs.
.PHONY: plugins plugins-core plugins-examples plugins-testdata

# All of them: first-party plugins, SDK examples, hostile test plugins.
plugins: plugins-core plugins-examples plugins-testdata

include plugins/toolchains.mk
include plugins/core.mk
include examples/plugins/examples.mk
include testdata/plugins/testdata.mk
