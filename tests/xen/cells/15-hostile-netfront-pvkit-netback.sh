# SPDX-License-Identifier: MIT
#
# Cell 15: a hostile frontend against pvkit's netback.  For each case of
# pvk-xen-netevil (tx req_prod 2^31 ahead, one packet over 64 slots, an
# unissued grant reference, random tx slots, rx req_prod 2^31 ahead) the
# domU connects a fresh vif from userspace, breaks the protocol and
# notifies while dom0 floods ARP requests onto the bridge (so the backend
# has packets for the vif's rx ring too).  pvkit-backd must survive every
# case (the bad-grant one answered with an error status, or the vif
# latched broken: backend Closing/Closed), let each vif be detached,
# leave dom0's kernel without an oops, and then serve a second,
# well-behaved vif (stock xen-netfront) with pings and checksummed TCP
# both ways, and exit 0 on SIGTERM.
#
# Cell 16 runs the same cases against Linux's xen-netback (NET_BACK=
# kernel) and checks that it reports each one: the control that shows
# these cases are violations a backend must catch.
#
# xen-dom0-kmods: xen-netback bridge tun
# xen-domu-kmods: xen-netfront
CELL_TIMEOUT=300
NET_BACK=${NET_BACK:-pvkit}
NET_BACK_TYPE=pvkvif
BACKD_NET_OPTS=
EVIL_CASES="prod-overflow too-many-slots bad-gref garbage rx-overflow"
EVIL_DEVID=10 # the cases take 10..14, the good vif 15

cell_needs() {
	[ "$NET_BACK" = kernel ] || backd_net_needs
	command -v pvk-xen-netevil >/dev/null ||
		skip "needs pvk-xen-netevil (not built)"
}

cell_dom0() {
	local c devid=$EVIL_DEVID out mac type
	type=$(net_back_type)
	net_back_start
	domu blk_domu_autoprobe 0 || fail "cannot keep the domU's kernel off the vifs"
	for c in $EVIL_CASES; do
		echo "=== $c (vif $devid) ==="
		vif_attach "$DOMU_ID" $devid $type || fail "cannot write the vif's nodes"
		net_back_hotplug "$DOMU_ID" $devid || fail "$c: no device in dom0 for the vif"
		arping -c 12 -w 6 -I "$NET_BRIDGE" 10.99.0.77 >/dev/null 2>&1 &
		out=$(domu pvk-xen-netevil $devid "$c") ||
			fail "$c: pvk-xen-netevil: $(domu_why)"
		echo "domU: $out"
		evil_check "$c" "$out"
		vif_detach "$DOMU_ID" $devid $type 10 ||
			fail "$c: the vif could not be detached"
		devid=$((devid + 1))
	done
	if dmesg | grep -E -m3 'BUG:|Oops|general protection|WARNING:'; then
		fail "dom0's kernel complained"
	fi

	echo "=== a well-behaved vif ($devid) ==="
	domu blk_domu_autoprobe 1 || fail "cannot let the domU's kernel bind vifs"
	domu net_domu_netfront 1 || fail "$(domu_why)"
	mac=$(vif_mac "$DOMU_ID" $devid)
	vif_attach "$DOMU_ID" $devid $type || fail "cannot write the vif's nodes"
	net_back_hotplug "$DOMU_ID" $devid || fail "no device for the good vif"
	vif_connected "$DOMU_ID" $devid $type || {
		vif_show "$DOMU_ID" $devid $type
		fail "the good vif did not connect"
	}
	domu net_domu_up "$mac" || fail "the domU's NIC: $(domu_why)"
	net_ping_both
	net_exchange
	[ "$NET_BACK" = kernel ] ||
		pvkit stats show --raw --control "/run/$CELL.sock"
	vif_detach "$DOMU_ID" $devid $type || fail "detach did not complete"
	domu net_domu_gone "$mac" || fail "the NIC is still in the domU after detach"
	[ "$NET_BACK" = kernel ] || backd_term
}

# evil_check CASE OUT: what the backend must have done.  pvkit: be alive
# and answer the bad grant (or latch the vif); its own log says the rest.
# Linux (the control): report each violation in its kernel log.
evil_check() {
	local log
	if [ "$NET_BACK" = kernel ]; then
		log=$(dmesg -c | grep 'vif vif-' | sed 's/^\[[^]]*\] //')
		echo "$log"
		case $1 in
		prod-overflow | too-many-slots)
			case $log in
			*"fatal error; disabling device"*) ;;
			*) fail "$1: xen-netback did not disable the vif" ;;
			esac
			;;
		garbage) # random: a fatal error, or at least error responses
			case "$log $2" in
			*"fatal error"* | *"status -1"*) ;;
			*) fail "garbage: xen-netback neither failed the vif nor answered" ;;
			esac
			;;
		esac
	else
		kill -0 "$(cat "/tmp/$CELL.pid")" 2>/dev/null || {
			tail -n 20 "/tmp/$CELL.backd.log"
			fail "$1: pvkit-backd died"
		}
		echo "--- pvkit-backd's log ---"
		tail -n 5 "/tmp/$CELL.backd.log"
	fi
	case $1:$2 in
	bad-gref:*"status -1"* | bad-gref:*"backend Clos"*) ;;
	bad-gref:*) fail "bad-gref: neither an error response nor a broken vif" ;;
	esac
}

cell_cleanup() {
	local devid=$EVIL_DEVID c
	for c in $EVIL_CASES good; do
		vif_detach "$DOMU_ID" $devid "$(net_back_type)" 5
		devid=$((devid + 1))
	done
	domu blk_domu_autoprobe 1
	net_back_cleanup
}
