// SPDX-License-Identifier: MIT
/*
 * simd_main.c -- pvkit-simd's entry point, apart so that the request
 * dispatch in simd.c can be linked into a fuzzer (tests/fuzz/
 * fuzz-simctl.c), which brings its own.
 */
#include "simd.h"

int main(int argc, char **argv)
{
	return simd_main(argc, argv);
}
