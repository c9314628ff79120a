#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run.sh [--smoke | --seconds N | --seeds] FUZZBUILD [TARGET...]
#
# Run pvkit's libFuzzer targets (FUZZBUILD/fuzz/fuzz-*), one after the
# other, each over its committed corpus (tests/fuzz/corpus/<target>/:
# seeds and the regression inputs of every crash ever found) and a working
# corpus of what it finds (FUZZBUILD/corpus/<target>/).
#   --smoke      replay the committed corpus, then fuzz FUZZ_SMOKE_SECONDS
#                (default 3) more; what make test runs
#   --seconds N  fuzz N seconds per target (make fuzz; FUZZ_SECONDS), in
#                processes of at most FUZZ_CHUNK_SECONDS (default 900)
#   --seeds      regenerate each target's seeds into its committed corpus
# One line per target: executions, their rate, corpus size, crashes.
# A crash leaves its input in FUZZBUILD/crashes/<target>/ and fails the run.
set -u

mode=smoke secs=${FUZZ_SMOKE_SECONDS:-3}
case "${1:-}" in
--smoke) shift ;;
--seconds) mode=fuzz secs=${2:?--seconds needs a number}; shift 2 ;;
--seeds) mode=seeds; shift ;;
esac
fb=${1:?usage: run.sh [--smoke | --seconds N | --seeds] FUZZBUILD [TARGET...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
case "$secs" in
'' | *[!0-9]*) echo "run.sh: --seconds '$secs' is not a whole number of seconds" >&2; exit 2 ;;
esac

if [ $# -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for f in "$fb"/fuzz/fuzz-*; do
		[ -x "$f" ] && targets+=("$(basename "$f")")
	done
fi
if [ ${#targets[@]} -eq 0 ]; then
	echo "run.sh: no fuzz targets in $fb/fuzz; build them with: make fuzz-build" >&2
	exit 2
fi

# Campaigns skip ASan's allocation stack traces (a fifth of the time of the
# xenstore-heavy targets); replaying a crash input alone gives them back.
[ "$mode" = fuzz ] && export ASAN_OPTIONS="malloc_context_size=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

fail=0
report="$fb/fuzz-report.txt"
[ "$mode" = fuzz ] && printf '# %s, %s s per target\n' "$(date -u +%FT%TZ)" "$secs" >>"$report"
for t in "${targets[@]}"; do
	bin="$fb/fuzz/$t"
	if [ ! -x "$bin" ]; then
		echo "run.sh: no such target $bin (targets: $(ls "$fb/fuzz" | tr '\n' ' '))" >&2
		exit 2
	fi
	seeds="$here/corpus/$t"
	if [ "$mode" = seeds ]; then
		mkdir -p "$seeds"
		PVK_FUZZ_SEEDS="$seeds" "$bin" || { echo "$t: seed writing failed" >&2; exit 1; }
		echo "$t: $(ls "$seeds" | wc -l) inputs in $seeds"
		continue
	fi
	work="$fb/corpus/$t" crashes="$fb/crashes/$t" log="$fb/logs/$t.log"
	mkdir -p "$work" "$crashes" "$(dirname "$log")"
	dict=()
	[ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
	common=(-timeout=30 -rss_limit_mb=4096 -artifact_prefix="$crashes/"
		-print_final_stats=1 "${dict[@]}")
	: >"$log"
	rc=0
	# Every committed input first (seeds and past crashes), alone.
	if [ -d "$seeds" ] && [ -n "$(ls -A "$seeds" 2>/dev/null)" ]; then
		"$bin" "${common[@]}" -runs=0 "$seeds" >>"$log" 2>&1 || rc=$?
	fi
	# In processes of at most FUZZ_CHUNK_SECONDS, the corpus carried
	# over: clang 14's ASan keeps a little for every thread ever started
	# (netback starts some per connection), and hours of that run a
	# process out of memory mappings.
	left=$secs
	while [ $rc -eq 0 ] && [ "$left" -gt 0 ]; do
		chunk=$((left < ${FUZZ_CHUNK_SECONDS:-900} ? left : ${FUZZ_CHUNK_SECONDS:-900}))
		left=$((left - chunk))
		"$bin" "${common[@]}" -max_total_time="$chunk" "$work" \
			$([ -d "$seeds" ] && echo "$seeds") >>"$log" 2>&1 || rc=$?
	done
	execs=$(awk '/stat::number_of_executed_units/ { s += $NF } END { print s + 0 }' "$log")
	corp=$(ls "$work" | wc -l)
	rate=$(awk -v e="$execs" -v s="$secs" 'BEGIN { printf "%d", s ? e / s : 0 }')
	ncrash=$(ls "$crashes" | wc -l)
	line=$(printf '%-22s %12s execs %9s/s  corpus %6s  crashes %s' "$t" "$execs" "$rate" "$corp" "$ncrash")
	if [ $rc -ne 0 ]; then
		fail=1
		echo "$line  FAILED (exit $rc)"
		echo "----- $log (last 40 lines) -----"
		tail -n 40 "$log"
		echo "-----"
		echo "Reproduce: $bin <input from $crashes/>; once fixed, keep the input:"
		echo "  cp $crashes/<input> $seeds/regress-<what>"
	else
		echo "$line"
	fi
	[ "$mode" = fuzz ] && echo "$line rc=$rc" >>"$report"
done
exit $fail
