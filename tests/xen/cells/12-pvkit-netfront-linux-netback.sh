# SPDX-License-Identifier: MIT
#
# Cell 12: pvkit's netfront in domU userspace (`pvkit nic serve-tap`,
# bridging the vif to a TAP device that holds the domU's address) <->
# stock Linux xen-netback in dom0.  The domU's kernel stops binding new
# xenbus devices meanwhile, so that its xen-netfront does not claim the
# vif.  See cell 10.
CELL_TIMEOUT=150
NET_FRONT=pvkit
VIF_DEVID=2
NET_ATTACH=pvkit
. /xen/cells/10-stock-net.sh
