#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-tests.sh [--timeout SEC] LIST -- run every test named in LIST (one
# path per line), each under its own timeout, and finish with one line:
#   N passed, N failed, N skipped
# Exit status 77 from a test means "cannot run here" and counts as skipped.
# A test's output is kept in <build>/test-logs/<name>.log and printed when
# it fails.
set -u

timeout_s=300
while [ $# -gt 0 ]; do
	case "$1" in
	--timeout) timeout_s=$2; shift 2 ;;
	*) break ;;
	esac
done
list=${1:?usage: run-tests.sh [--timeout SEC] LIST}
build=${PVK_BUILD:-$(dirname "$(dirname "$list")")}
logdir="$build/test-logs"
mkdir -p "$logdir"

pass=0 fail=0 skip=0
failed=()
while IFS= read -r t; do
	[ -n "$t" ] || continue
	name=$(basename "$t")
	log="$logdir/$name.log"
	start=$(date +%s.%N)
	PVK_BUILD="$build" timeout -k 10 "$timeout_s" "$t" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	case $rc in
	0)   pass=$((pass + 1)); printf 'PASS  %-32s %6ss\n' "$name" "$secs" ;;
	77)  skip=$((skip + 1)); printf 'SKIP  %-32s %6ss  %s\n' "$name" "$secs" \
		"$(grep -m1 -i 'skip' "$log" | cut -c1-100)" ;;
	124|137) fail=$((fail + 1)); failed+=("$name")
	     printf 'FAIL  %-32s %6ss  (timed out after %ss)\n' "$name" "$secs" "$timeout_s" ;;
	*)   fail=$((fail + 1)); failed+=("$name")
	     printf 'FAIL  %-32s %6ss  (exit %d)\n' "$name" "$secs" "$rc" ;;
	esac
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		echo "----- last 40 lines of $log -----"
		tail -n 40 "$log"
		echo "-----"
	fi
done <"$list"

[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] && [ $((pass + skip)) -gt 0 ]
