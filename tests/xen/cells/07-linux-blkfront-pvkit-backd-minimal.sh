# SPDX-License-Identifier: MIT
#
# Cell 7: cell 1 with pvkit-backd offering no optional feature (see cell
# 6): stock Linux xen-blkfront on a one-page ring with direct segments
# only and no persistent grants.
CELL_TIMEOUT=120
BACKD_OPTS="--max-ring-order 0 --no-mq --no-indirect --no-persistent"
. /xen/cells/01-linux-blkfront-pvkit-backd.sh
