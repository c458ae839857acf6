# Build rules for every Wasm module, included by the top-level Makefile.
.PHONY: plugins
plugins:
	@true
