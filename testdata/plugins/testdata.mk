# Hostile test plugins for the host's tests.
plugins-testdata:
