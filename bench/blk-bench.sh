#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make bench-blk: native io_uring vs pvkit PV on the same image file.
# Starts a private simulator and pvkit-backd, creates a 256 MiB image,
# runs bench/bench-blk inside a guest domain with the image attached as
# xvda, and stops everything.  Extra arguments go to bench-blk
# (e.g. BENCH_ARGS="--seconds 5" or "--poll-us 200"); $BACKD_ARGS to
# pvkit-backd (e.g. BACKD_ARGS="--poll-us 100": both ends polling).
set -u
B=${1:-build}
[ $# -gt 0 ] && shift
. "$(dirname "$0")/blk-env.sh"
blk_env_start || exit 1
PVK_BUILD=$B
export PVK_BUILD
blk_image "$BLK_WORK/bench.img" 256
# shellcheck disable=SC2086
blk_backd_start ${BACKD_ARGS:-} || exit 1
# pvkit-backd's CPU is the PV case's own, not another process's load.
PVK_BENCH_PEERS=$BACKD_PID
export PVK_BENCH_PEERS
blk_guest bench "$BLK_WORK/bench.img" "" "$B/bench/bench-blk" \
	--image "$BLK_WORK/bench.img" "$@"
