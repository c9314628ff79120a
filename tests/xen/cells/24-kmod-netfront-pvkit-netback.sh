# SPDX-License-Identifier: MIT
#
# Cell 24: pvkit-netfront in the domU <-> pvkit-backd's netback in dom0
# serving backend/pvkvif for frontends in device/pvkvif (--driver
# vif=pvkvif,frontend=pvkvif), its TAP on the bridge: cell 23's checks,
# plus pvkit-backd's own counters and its clean exit on SIGTERM, twice:
#  1. every feature offered; the module asks for 2 queues (max_queues=2)
#     and must use split event channels, SG, checksum offload and TSO both
#     IP versions, the control ring (Toeplitz mapping of 128 entries) and
#     multicast control;
#  2. a minimal backend (--vif-minimal: feature-rx-copy only): one queue,
#     one event channel, no SG (one slot a packet), IPv4 checksum offload
#     only (the default without feature-no-csum-offload), no control ring.
#
# xen-dom0-kmods: bridge tun
# pvk-domu-kmods: pvkit-netfront
. /xen/cells/23-kmod-netfront-linux-netback.sh
CELL_TIMEOUT=300
KNET_BACKEND=pvkit
VIF_DEVID=10

cell_dom0() {
	echo "=== 1: every feature, 2 queues ==="
	KNET_BACKD_OPTS=""
	KNET_MODPARAMS=max_queues=2
	KNET_QUEUES=2
	KNET_EXPECT="*: 2 queue(s), split event channels yes, sg yes, csum v4v6, tso v4v6, control ring yes (hash mapping 128), multicast control yes"
	knet_run
	echo "=== 2: minimal backend ==="
	KNET_BACKD_OPTS="--vif-minimal"
	KNET_MODPARAMS=""
	KNET_QUEUES=1
	KNET_EXPECT="*: 1 queue(s), split event channels no, sg no, csum v4-, tso --, control ring no (hash mapping 0), multicast control no"
	knet_run
}
