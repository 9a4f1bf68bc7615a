#!/usr/bin/env bash
# Runs every Go fuzz target of the project for the given time each, one at a
# time (go test -fuzz takes one target per run). Crashers land in the
# package's testdata/fuzz and become regression seeds for `make test`.
set -euo pipefail
t=${1:-10m}
cd "$(dirname "$0")/.."
fail=0
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "== $pkg $f ($t)"
		if ! go test -run '^$' -fuzz "^${f}\$" -fuzztime "$t" "$pkg"; then
			fail=1
		fi
	done
done
exit $fail
