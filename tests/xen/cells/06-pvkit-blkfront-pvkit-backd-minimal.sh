# SPDX-License-Identifier: MIT
#
# Cell 6: cell 3 with pvkit-backd offering no optional feature: one-page
# rings, one queue, no indirect segments (11 per request), no persistent
# grants -- the paths a minimal third-party backend makes both pvkit
# sides take.
CELL_TIMEOUT=120
BACKD_OPTS="--max-ring-order 0 --no-mq --no-indirect --no-persistent"
. /xen/cells/03-pvkit-blkfront-pvkit-backd.sh
