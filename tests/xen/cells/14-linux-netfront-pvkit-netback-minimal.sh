# SPDX-License-Identifier: MIT
#
# Cell 14: cell 11 with pvkit's netback offering nothing optional: only
# feature-rx-copy (no scatter-gather, no GSO, no checksum offload, no
# multi-queue, no split event channels, no control ring, no multicast
# control) -- the paths a minimal third-party backend makes stock Linux
# xen-netfront take.  Checks in xenstore that nothing else was offered,
# then moves data as cell 10.
CELL_TIMEOUT=150
NET_BACK=pvkit
VIF_DEVID=4
BACKD_NET_OPTS="--vif-minimal"
NET_CHECK=net_check_minimal
. /xen/cells/10-stock-net.sh

cell_needs() {
	backd_net_needs
	pvkit-backd --help 2>&1 | grep -q -- "$BACKD_NET_OPTS" ||
		skip "pvkit-backd has no $BACKD_NET_OPTS option"
}

# net_check_minimal TYPE: the backend offered feature-rx-copy and no
# other feature (absent or 0), at most one queue.
net_check_minimal() {
	local be=/local/domain/0/backend/$1/$DOMU_ID/$VIF_DEVID n v bad=""
	[ "$(xenstore-read "$be/feature-rx-copy" 2>/dev/null)" = 1 ] ||
		fail "the backend does not offer feature-rx-copy"
	for n in $(xenstore-list "$be"); do
		case $n in
		feature-rx-copy) continue ;;
		feature-* | multi-queue-max-queues) ;;
		*) continue ;;
		esac
		v=$(xenstore-read "$be/$n")
		case $n=$v in
		feature-*=0 | multi-queue-max-queues=1) ;;
		*) bad="$bad $n=$v" ;;
		esac
	done
	[ -z "$bad" ] || fail "the minimal backend offers:$bad"
	echo "the backend offers feature-rx-copy only"
}
