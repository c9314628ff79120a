# SPDX-License-Identifier: MIT
#
# Cell 8: cell 1, and then pvkit-backd is killed (SIGKILL: no drain, no
# goodbye) under the connected stock Linux frontend and a new pvkit-backd
# started.  The new one cannot resume the dead one's rings
# (pvkit/blkback.h, "Restart"): the vbd must go through Closing/Closed
# back to Connected, the domU must see its disk again, unchanged, and
# move data both ways.
CELL_TIMEOUT=150
RESTART_BACKD=KILL
. /xen/cells/01-linux-blkfront-pvkit-backd.sh
