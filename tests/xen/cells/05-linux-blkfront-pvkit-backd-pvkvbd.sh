# SPDX-License-Identifier: MIT
#
# Cell 5: cell 1 in the configuration DESIGN.md gives for a Xen dom0:
# pvkit-backd serves a backend type of its own (backend/pvkvbd) while the
# kernel's xen-blkback stays loaded and watching backend/vbd; the stock
# Linux frontend follows the `backend` path it is given.
CELL_TIMEOUT=120
BACKEND_TYPE=pvkvbd
KERNEL_BLKBACK=1
. /xen/cells/01-linux-blkfront-pvkit-backd.sh
