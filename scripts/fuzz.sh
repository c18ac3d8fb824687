#!/bin/sh
# Runs every libFuzzer harness of a NETD_FUZZ build for SECONDS each:
#   scripts/fuzz.sh BUILD [SECONDS]
# Each starts from its corpus in tests/fuzz/corpus/ (read only) and keeps
# what it finds new in BUILD/fuzz-corpus/NAME; a crash's input goes to
# BUILD/fuzz-crashes/NAME/, and fails the run. A crash input is a bug:
# fix it and add the input to the harness's corpus, where make check
# replays it from then on.
# One input may take FUZZ_TIMEOUT seconds (25): past that it counts as a
# hang, so a run ends within about SECONDS + FUZZ_TIMEOUT per harness.
# A failure prints what reproduces it (the input, also as base64, since CI's
# build directory does not outlive the run) and the sanitizer's report.
set -eu
build=$1
secs=${2:-60}
timeout=${FUZZ_TIMEOUT:-25}
top=$(cd "$(dirname "$0")/.." && pwd)
failed=""
n=0

# report NAME HARNESS LOG: the harness's report and each input it wrote,
# for a reader who has only this output.
report() {
	# From the sanitizer's or libFuzzer's first error line (crash, UB, leak,
	# hang, out of memory); else the log's end.
	if grep -q 'ERROR: \|runtime error: ' "$3"; then
		echo "---- $1: the report in $3"
		sed -n '/ERROR: \|runtime error: /,$p' "$3" | head -n 100
	else
		echo "---- $1: the end of $3"
		tail -n 40 "$3"
	fi
	grep -o 'Test unit written to .*' "$3" | sed 's/^Test unit written to //' |
	while read -r input; do
		[ -f "$input" ] || continue
		echo "---- $1: reproduce with: $2 $input"
		echo "---- $1: $input, $(wc -c <"$input") bytes, base64:"
		base64 "$input"
	done
}

for h in "$build"/tests/fuzz/fuzz_*; do
	[ -x "$h" ] || continue
	n=$((n + 1))
	name=$(basename "$h")
	mkdir -p "$build/fuzz-corpus/$name" "$build/fuzz-crashes/$name"
	log="$build/fuzz-crashes/$name.log"
	if "$h" -max_total_time="$secs" -timeout="$timeout" -rss_limit_mb=2048 \
		-artifact_prefix="$build/fuzz-crashes/$name/" \
		"$build/fuzz-corpus/$name" "$top/tests/fuzz/corpus/$name" >"$log" 2>&1; then
		printf '%-18s ok   %s\n' "$name" "$(grep -o 'Done [0-9]* runs' "$log")"
	else
		printf '%-18s FAIL see %s and %s\n' "$name" "$log" "$build/fuzz-crashes/$name/"
		report "$name" "$h" "$log"
		failed="$failed $name"
	fi
done
# No harness run is a broken build, not a pass.
[ "$n" -gt 0 ] || { echo "fuzz: no harness in $build/tests/fuzz" >&2; exit 1; }
[ -z "$failed" ] || { echo "fuzz: crashed:$failed" >&2; exit 1; }
