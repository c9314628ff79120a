# SPDX-License-Identifier: MIT
#
# Cell 25 (hostile): pvkit-netfront in the domU <-> pvk-xen-netbackevil in
# dom0, a netif backend that answers one request wrongly, one way per case
# (see tests/xen/netbackevil.c): tx responses with an unknown id, a
# duplicate id and an unowed NULL, rx responses beyond their page or with
# an id not posted, rx rsp_prod far ahead, a garbage control response.
# The domU pings (ARP requests: tx traffic) throughout.  Each time the
# module must log the violation once, naming it, latch the vif broken --
# carrier off, nothing more published on either ring however much is
# sent -- and, when the backend closes, close too; the NIC goes with the
# vif.  At the end the module must unload, and the kernel log must hold no
# oops, BUG or WARNING.
#
# pvk-domu-kmods: pvkit-netfront
CELL_TIMEOUT=300
KNEVIL_CASES="tx-bad-id tx-dup-id tx-null rx-beyond-page rx-bad-id rx-prod-overflow ctrl-garbage"
KNEVIL_DEVID=12

cell_needs() {
	domu knevil_domu_has >/dev/null ||
		skip "pvkit-netfront.ko is not in the domU image (make kmods)"
	command -v pvk-xen-netbackevil >/dev/null ||
		skip "needs pvk-xen-netbackevil (make xen-progs)"
}

cell_dom0() {
	local c out rc tx0 tx1 rx0 rx1 mac dev=$KNEVIL_DEVID
	mac=$(vif_mac "$DOMU_ID" "$dev")
	domu knevil_domu_load || fail "cannot load pvkit-netfront: $(domu_why)"
	for c in $KNEVIL_CASES; do
		echo "=== $c ==="
		vif_attach "$DOMU_ID" "$dev" pvkvif "$mac" pvkvif ||
			fail "cannot write the vif's nodes"
		pvk-xen-netbackevil "$DOMU_ID" "$dev" "$c" >"/tmp/$CELL.out" 2>&1 &
		echo $! >"/tmp/$CELL.pid"
		domu knevil_domu_send "$mac" || fail "$c: $(domu_why)"
		domu knevil_domu_check "$c" "$mac" || fail "$c: $(domu_why)"
		wait "$(cat "/tmp/$CELL.pid")"
		rc=$?
		rm -f "/tmp/$CELL.pid"
		out=$(cat "/tmp/$CELL.out")
		echo "$out"
		[ $rc -eq 0 ] || fail "$c: pvk-xen-netbackevil exited with $rc"
		tx0=$(echo "$out" | sed -n 's/.*tx req_prod \([0-9]*\) at +1s.*/\1/p')
		tx1=$(echo "$out" | sed -n 's/.*, \([0-9]*\) at the end; rx.*/\1/p')
		rx0=$(echo "$out" | sed -n 's/.*rx req_prod \([0-9]*\) at +1s.*/\1/p')
		rx1=$(echo "$out" | sed -n 's/.*rx req_prod .*, \([0-9]*\) at the end.*/\1/p')
		[ -n "$tx0" ] && [ "$tx0" = "$tx1" ] ||
			fail "$c: the frontend published tx requests after the violation ($tx0 -> $tx1)"
		[ -n "$rx0" ] && [ "$rx0" = "$rx1" ] ||
			fail "$c: the frontend published rx requests after the violation ($rx0 -> $rx1)"
		xs_wait "/local/domain/$DOMU_ID/device/pvkvif/$dev/state" 6 10 ||
			fail "$c: the frontend did not close after the backend"
		vif_detach "$DOMU_ID" "$dev" pvkvif 5 pvkvif
		domu net_domu_gone "$mac" || fail "$c: $(domu_why)"
	done
	domu knevil_domu_unload || fail "$(domu_why)"
}

cell_cleanup() {
	stop_daemon "/tmp/$CELL.pid"
	vif_detach "$DOMU_ID" "$KNEVIL_DEVID" pvkvif 5 pvkvif
	domu knevil_domu_unload
	rm -f "/tmp/$CELL.out"
}

# --- domU ---------------------------------------------------------------

knevil_domu_has() {
	[ -f /lib/modules/pvkit-netfront.ko ]
}

knevil_domu_load() {
	echo 1 >/sys/bus/xen/drivers_autoprobe
	modload pvkit-netfront || fail "insmod failed"
	dmesg | wc -l >/tmp/knevil.log0
	dmesg | grep -c "protocol violation" >/tmp/knevil.n0
	return 0
}

# knevil_domu_send MAC: the NIC up with the domU's address, pinging dom0's
# (nobody answers: ARP requests, a packet a second) in the background.
knevil_domu_send() {
	kill "$(cat /tmp/knevil.ping 2>/dev/null)" 2>/dev/null
	net_domu_up "$1" >/dev/null || exit 1
	ping -c 40 -w 40 "$NET_DOM0_IP" >/dev/null 2>&1 &
	echo $! >/tmp/knevil.ping
}

# knevil_domu_check CASE MAC: one new violation line naming CASE's reason,
# the carrier off.
knevil_domu_check() {
	local n0 deadline=$(($(now) + 40)) line want ifname
	n0=$(cat /tmp/knevil.n0)
	until [ "$(dmesg | grep -c "protocol violation")" -gt "$n0" ]; do
		[ "$(now)" -lt "$deadline" ] || fail "no violation reported in 40s"
		sleep 0.1
	done
	sleep 2
	[ "$(dmesg | grep -c "protocol violation")" -eq $((n0 + 1)) ] ||
		fail "the violation was reported more than once"
	echo $((n0 + 1)) >/tmp/knevil.n0
	line=$(dmesg | grep "protocol violation" | tail -n 1 | sed 's/^\[[^]]*\] //')
	echo "$line"
	case $1 in
	tx-bad-id) want='tx response id out of range \(tx id 1000, status 0\); device disabled' ;;
	tx-dup-id) want='tx response for an id not in flight|more responses than requests outstanding' ;;
	tx-null) want='tx NULL response with no extra-info slot unanswered \(tx id [0-9]+, status 1\)' ;;
	rx-beyond-page) want='rx response beyond its page \(rx id [0-9]+ at index 0, offset 4000, status 200\)' ;;
	rx-bad-id) want="rx response id differs from its request's \\(rx id 1 at index 0," ;;
	rx-prod-overflow) want='backend produced more responses than requests outstanding; device disabled' ;;
	ctrl-garbage) want="control response id differs from the request's \\(control id [0-9]+, type 119, status 99\\)" ;;
	esac
	echo "$line" | grep -qE "$want" || fail "unexpected report: $line"
	ifname=$(net_ifname "$2") || fail "the NIC is gone already"
	[ "$(cat "/sys/class/net/$ifname/carrier" 2>/dev/null)" = 0 ] ||
		fail "$ifname: carrier $(cat "/sys/class/net/$ifname/carrier" 2>&1) on a broken vif"
	echo "$ifname: carrier off; $(net_stats "$ifname")"
}

knevil_domu_unload() {
	local d=/sys/bus/xen/drivers/pvkit-netfront dev bad
	kill "$(cat /tmp/knevil.ping 2>/dev/null)" 2>/dev/null
	for dev in "$d"/pvkvif-*; do
		[ -e "$dev" ] && echo "${dev##*/}" >"$d/unbind"
	done
	module_unload pvkit-netfront || fail "rmmod pvkit-netfront failed"
	bad=$(dmesg | tail -n +$(($(cat /tmp/knevil.log0 2>/dev/null || echo 0) + 1)) |
		grep -E "BUG|Oops|WARNING:|refcount|general protection" | head -n 3)
	[ -z "$bad" ] || fail "kernel log: $bad"
	echo "unloaded; no oops, BUG or WARNING in the kernel log"
}
