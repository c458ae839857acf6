#!/usr/bin/env bash
# Runs every Fuzz target in the module for FUZZTIME each (the first
# argument, or $FUZZTIME, default 20s), one after another, then lists what
# ran. A target that finds a failure stops the script with its output and
# leaves the failing input under the package's testdata/fuzz/ to commit as a
# regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-${FUZZTIME:-20s}}
ran=()
for pkg in $(go list ./...); do
  if ! listed=$(go test -list '^Fuzz' "$pkg" 2>&1); then
    echo "fuzz.sh: cannot list the tests of $pkg:" >&2
    echo "$listed" >&2
    exit 1
  fi
  for target in $(grep '^Fuzz' <<<"$listed" || true); do
    echo "== $pkg $target ($time)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" "$pkg"
    ran+=("$pkg.$target")
  done
done
if [ ${#ran[@]} -eq 0 ]; then
  echo "fuzz.sh: no fuzz targets found" >&2
  exit 1
fi
printf 'fuzzed %d targets for %s each:\n' "${#ran[@]}" "$time"
printf '  %s\n' "${ran[@]}"
