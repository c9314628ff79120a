#!/bin/bash
# SPDX-License-Identifier: MIT
# fuzz-smoke, as a test of make test: every libFuzzer target over its
# committed corpus (seeds and past crashes) plus a few seconds of fuzzing.
# make test builds them first (make fuzz-build, into build/fuzz).
here=$(cd "$(dirname "$0")" && pwd)
fb=${PVK_FUZZ_BUILD:-$here/../../build/fuzz}
exec "$here/run.sh" --smoke "$fb"
