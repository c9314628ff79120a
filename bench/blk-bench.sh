#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make bench-blk: native io_uring vs pvkit PV on the same image file.
# Starts a private simulator and pvkit-backd, creates a 256 MiB image,
# runs bench/bench-blk inside a guest domain with the image attached as
# xvda, and stops everything.  Two passes:
#   event  both ends sleep until notified (the default configuration):
#          build/bench/blk.json;
#   poll   both ends poll before they sleep (pvkit-backd --poll-us 100,
#          blkfront poll_us 200): build/bench/blk-poll.json.
# BLK_MODES="event" (or "poll") runs one.  Extra arguments go to
# bench-blk (e.g. BENCH_ARGS="--seconds 5" or "--only randread.qd1");
# $BACKD_ARGS to pvkit-backd in the event pass.
set -u
B=${1:-build}
[ $# -gt 0 ] && shift
. "$(dirname "$0")/blk-env.sh"
blk_env_start || exit 1
PVK_BUILD=$B
export PVK_BUILD
blk_image "$BLK_WORK/bench.img" 256
for mode in ${BLK_MODES:-event poll}; do
	case $mode in
	event)
		bopts=${BACKD_ARGS:-} fopts=""
		;;
	poll)
		bopts="--poll-us 100" fopts="--poll-us 200"
		;;
	*)
		blk_log "BLK_MODES: unknown mode '$mode' (event, poll)"
		exit 2
		;;
	esac
	echo "== $mode: pvkit-backd $bopts; bench-blk $fopts"
	# shellcheck disable=SC2086
	blk_backd_start $bopts || exit 1
	# pvkit-backd's CPU is the PV case's own, not another process's load.
	PVK_BENCH_PEERS=$BACKD_PID
	export PVK_BENCH_PEERS
	# shellcheck disable=SC2086
	blk_guest "bench-$mode" "$BLK_WORK/bench.img" "" "$B/bench/bench-blk" \
		--image "$BLK_WORK/bench.img" $fopts "$@" || exit $?
	blk_backd_stop TERM
done
