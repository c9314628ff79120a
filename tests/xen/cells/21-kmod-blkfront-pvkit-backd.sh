# SPDX-License-Identifier: MIT
#
# Cell 21: pvkit-blkfront in the domU <-> pvkit-backd in dom0 serving
# backend/pvkvbd for frontends in device/pvkvbd (--driver
# vbd=pvkvbd,frontend=pvkvbd) from an image file: cell 20's checks, plus
# pvkit-backd's own counters and its clean exit on SIGTERM, twice:
#  1. every feature offered; the module asks for 2 queues (max_queues=2:
#     the queue-N/ layout, even on the domU's one vCPU, where the second
#     queue carries no I/O), 4-page rings, 32 indirect segments;
#  2. a minimal backend: one-page ring (ring-ref), direct requests of at
#     most 11 segments only, no persistent grants (the same grants reused
#     per request), WRITE_BARRIER in place of FLUSH_DISKCACHE.
#
# xen-domu-kmods: ext4 crc32c_generic
# pvk-domu-kmods: pvkit-blkfront
. /xen/cells/20-kmod-blkfront-linux-blkback.sh
KBLK_BACKEND=pvkit

cell_dom0() {
	echo "=== 1: every feature, 2 queues ==="
	KBLK_BACKD_OPTS=""
	KBLK_MODPARAMS=max_queues=2
	KBLK_QUEUES=2
	KBLK_EXPECT="*2 queue(s), ring order 4, 32 segments (indirect), depth 32, flush cache, discard yes, persistent grants yes"
	kblk_run
	echo "=== 2: minimal backend ==="
	KBLK_BACKD_OPTS="--no-indirect --no-persistent --no-flush --max-ring-order 0 --no-mq"
	KBLK_MODPARAMS=""
	KBLK_QUEUES=1
	KBLK_EXPECT="*1 queue(s), ring order 0, 11 segments, depth 32, flush barrier, discard yes, persistent grants no"
	kblk_run
}
