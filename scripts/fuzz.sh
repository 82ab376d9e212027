#!/usr/bin/env bash
# Runs each fuzz target (pkg:Name) for FUZZTIME. Failing inputs land in
# testdata/fuzz/<Name>/ of the package: commit them with the fix.
#
# Go 1.26's fuzz coordinator can end a duration-bounded run with a bare
# "context deadline exceeded" at the -fuzztime boundary, with no failing
# input (golang/go#75804, fixed in Go 1.27). Such a run is run once more;
# any failure that writes an input, or a second one, fails.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
for t in "$@"; do
	pkg=${t%%:*} name=${t##*:}
	corpus="$pkg/testdata/fuzz/$name"
	for attempt in 1 2; do
		echo "== fuzz $name ($pkg) for $FUZZTIME"
		before=$(ls "$corpus" 2>/dev/null | sort || true)
		out=$(mktemp)
		if "$GO" test "$pkg" -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" 2>&1 | tee "$out"; then
			rm -f "$out"
			break
		fi
		after=$(ls "$corpus" 2>/dev/null | sort || true)
		if [ "$attempt" = 1 ] && [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$out"; then
			echo "== fuzz $name: the coordinator's deadline race (golang/go#75804), no failing input; once more"
			rm -f "$out"
			continue
		fi
		rm -f "$out"
		echo "== fuzz $name failed" >&2
		exit 1
	done
done
