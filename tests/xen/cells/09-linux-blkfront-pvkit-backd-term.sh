# SPDX-License-Identifier: MIT
#
# Cell 9: cell 1, and then pvkit-backd is restarted under the connected
# stock Linux frontend: SIGTERM with --handover answers everything in
# flight and leaves the rings to the next instance, which resumes them in
# place (pvkit/blkback.h, "Restart").  Linux's blkfront never reconnects
# once Closed, so this is how a planned restart keeps a stock guest's
# disk; the domU must see it unchanged and move data both ways.
CELL_TIMEOUT=150
RESTART_BACKD=TERM
BACKD_OPTS="${BACKD_OPTS:-} --handover"
. /xen/cells/01-linux-blkfront-pvkit-backd.sh
