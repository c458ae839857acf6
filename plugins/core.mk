# First-party plugins (Go, GOOS=wasip1): the defaults config.yaml loads.
plugins-core:
