# Toolchains for the plugin builds, installed from apt/npm where missing.
