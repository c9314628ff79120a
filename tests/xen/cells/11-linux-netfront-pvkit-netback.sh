# SPDX-License-Identifier: MIT
#
# Cell 11: stock Linux xen-netfront in the domU <-> pvkit's netback in
# pvkit-backd, serving a backend type of its own (backend/pvkvif) so that
# it never races the kernel's xen-netback: the frontend sees an ordinary
# vif.  xen-netfront asks for 4 queues; the vif must run on several, and
# besides the one-stream exchange 4 streams at once move each way (flows
# hash to different queues).  See cell 10 for the rest.
CELL_TIMEOUT=180
NET_BACK=pvkit
NET_QUEUES=4
VIF_DEVID=1
NET_ATTACH=pvkit
. /xen/cells/10-stock-net.sh
