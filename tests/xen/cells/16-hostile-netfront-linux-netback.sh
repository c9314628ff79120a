# SPDX-License-Identifier: MIT
#
# Cell 16 (control for cell 15): pvk-xen-netevil's cases against stock
# Linux xen-netback, which must report the tx violations ("Impossible
# number of requests", "Malicious frontend using N slots": fatal error,
# vif disabled), answer the bad grant with an error status, and then
# serve a well-behaved vif.  It shows that cell 15's cases are real
# violations, so that pvkit-backd surviving them means something.
CELL_TIMEOUT=240
NET_BACK=kernel
. /xen/cells/15-hostile-netfront-pvkit-netback.sh
