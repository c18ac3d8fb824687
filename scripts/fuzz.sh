#!/bin/sh
# Runs every libFuzzer harness of a NETD_FUZZ build for SECONDS each:
#   scripts/fuzz.sh BUILD [SECONDS]
# Each starts from its corpus in tests/fuzz/corpus/ (read only) and keeps
# what it finds new in BUILD/fuzz-corpus/NAME; a crash's input goes to
# BUILD/fuzz-crashes/NAME/, and fails the run. A crash input is a bug:
# fix it and add the input to the harness's corpus, where make check
# replays it from then on.
set -eu
build=$1
secs=${2:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
failed=""
for h in "$build"/tests/fuzz/fuzz_*; do
	[ -x "$h" ] || continue
	name=$(basename "$h")
	mkdir -p "$build/fuzz-corpus/$name" "$build/fuzz-crashes/$name"
	log="$build/fuzz-crashes/$name.log"
	if "$h" -max_total_time="$secs" -rss_limit_mb=2048 \
		-artifact_prefix="$build/fuzz-crashes/$name/" \
		"$build/fuzz-corpus/$name" "$top/tests/fuzz/corpus/$name" >"$log" 2>&1; then
		printf '%-18s ok   %s\n' "$name" "$(grep -o 'Done [0-9]* runs' "$log")"
	else
		printf '%-18s FAIL see %s and %s\n' "$name" "$log" "$build/fuzz-crashes/$name/"
		failed="$failed $name"
	fi
done
[ -z "$failed" ] || { echo "fuzz: crashed:$failed" >&2; exit 1; }
