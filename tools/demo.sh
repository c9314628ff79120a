#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make demo: the main job.  On the simulated hypervisor: start pvkit-simd
# (with Xen's xenstored) and pvkit-backd in domain 0, create a guest
# domain, attach a disk image to it (the xenstore nodes `xl block-attach`
# writes), and in the guest, through blkfront: print what was negotiated,
# write and read back data with verification, and measure IOPS and
# latency p50/p99 of PV against native io_uring reads of the same file.
# Then networking (tools/demo-net.sh): two guests ping each other and move
# data over TCP through pvkit's netfront and netback, beside a veth pair.
# Everything is stopped on the way out, on failure too.  Installs nothing.
set -u
B=${1:-build}
. "$(dirname "$0")/../bench/blk-env.sh"

echo "== pvkit demo: a PV block device on the simulated hypervisor"
blk_env_start || exit 1
"$PVKIT" sim status | sed -n 1p
blk_image "$BLK_WORK/demo.img" 128
blk_backd_start || exit 1
# pvkit-backd's CPU is the PV case's own, not another process's load.
PVK_BENCH_PEERS=$BACKD_PID
export PVK_BENCH_PEERS
sed -n 1p "$BLK_WORK/backd.out"
PVK_BUILD=$B
export PVK_BUILD
echo "== guest domain 'demo': demo.img (128 MiB) attached as xvda; in the guest:"
blk_guest demo "$BLK_WORK/demo.img" "" "$B/bench/bench-blk" \
	--image "$BLK_WORK/demo.img" --demo --seconds 1
rc=$?
echo "== pvkit-backd's log"
grep -E "vbd [0-9]+/" "$BLK_WORK/backd.out" | sed 's/^/   /'
if [ $rc -eq 0 ]; then
	echo "== block demo passed; stopping pvkit-backd and the simulator"
else
	echo "== block demo FAILED (exit $rc); stopping pvkit-backd and the simulator"
	exit $rc
fi
# Stop the block part's simulator (blk_env_stop exits: a subshell), then
# the networking part starts its own.
trap - EXIT INT TERM HUP
(blk_env_stop)
exec "$(dirname "$0")/demo-net.sh" "$B"
