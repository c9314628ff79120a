#!/bin/sh
# SPDX-License-Identifier: MIT
# make demo: the main job.  Until the simulator and block driver land, the
# ring benchmark between two processes is the demo.
set -eu
B=${1:-build}
exec "$B/bench/bench-ring" --quick
