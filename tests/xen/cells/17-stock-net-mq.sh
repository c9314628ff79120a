# SPDX-License-Identifier: MIT
#
# Cell 17 (control for cell 11): cell 10 with 4 queues, offered by stock
# Linux xen-netback and taken by stock xen-netfront: the multi-queue
# checks and the 4-stream exchange that cell 11 applies to pvkit's
# netback, on two stock ends.
CELL_TIMEOUT=180
NET_QUEUES=4
VIF_DEVID=7
. /xen/cells/10-stock-net.sh
