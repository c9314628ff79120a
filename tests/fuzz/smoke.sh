#!/bin/bash
# SPDX-License-Identifier: MIT
# fuzz-smoke, as a test of make test: every libFuzzer target over its
# committed corpus (seeds and past crashes) plus a few seconds of fuzzing.
# make test builds them first (make fuzz-build, into $(B)/fuzz: the
# build directory of make test, PVK_BUILD, with fuzz/ appended).
# A target with an open finding (tests/fuzz/README.md, "Open") is left
# out, by name, with its reason printed: make fuzz still runs it.
here=$(cd "$(dirname "$0")" && pwd)
fb=${PVK_FUZZ_BUILD:-${PVK_BUILD:-$here/../../build}/fuzz}
declare -A open=()
targets=()
for f in "$fb"/fuzz/fuzz-*; do
	t=$(basename "$f")
	if [ -n "${open[$t]:-}" ]; then
		echo "not in the smoke run: $t: ${open[$t]}"
		continue
	fi
	targets+=("$t")
done
exec "$here/run.sh" --smoke "$fb" "${targets[@]}"
