# SPDX-License-Identifier: MIT
#
# Cell 9: as cell 8 with SIGTERM: pvkit-backd drains in-flight I/O and
# closes its devices before exiting, then a new one takes over.
CELL_TIMEOUT=150
RESTART_BACKD=TERM
. /xen/cells/01-linux-blkfront-pvkit-backd.sh
