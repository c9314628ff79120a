# SPDX-License-Identifier: MIT
#
# Cell 13: pvkit's netfront (`pvkit nic serve-tap` in the domU) <->
# pvkit's netback in pvkit-backd (backend/pvkvif), across the two domains
# of a real Xen.  See cells 10-12.
CELL_TIMEOUT=150
NET_FRONT=pvkit
NET_BACK=pvkit
VIF_DEVID=3
NET_ATTACH=pvkit
. /xen/cells/10-stock-net.sh
