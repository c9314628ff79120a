# SPDX-License-Identifier: MIT
#
# Cell 10 (control): stock Linux xen-netfront in the domU <-> stock Linux
# xen-netback in dom0, the vif enslaved to a bridge that holds dom0's
# address.  No pvkit code runs; it proves the network harness: the vif is
# created by writing libxl's xenstore layout (vif_attach), the cell plays
# the vif-bridge hotplug script (vif_hotplug), pings go both ways, then
# NET_MIB MiB of random data move over TCP each way, compared by sha256,
# and the vif is detached as xl does it.  Cleanup unloads xen-netback:
# later cells bring their own backends.
#
# Cells 11-14 are this cell with pvkit on one side or both: they set
#   NET_FRONT   kernel (xen-netfront) or pvkit (`pvkit nic serve-tap` in
#               domU userspace, its TAP device given the domU's address)
#   NET_BACK    kernel (xen-netback on backend/vif) or pvkit (pvkit-backd
#               serving backend/$NET_BACK_TYPE, its TAP on the bridge)
#   NET_QUEUES  queues xen-netfront asks for (and xen-netback offers);
#               above 1 the cell checks that the vif got several and
#               moves data on several streams at once
#   BACKD_NET_OPTS, NET_CHECK   pvkit-backd's options; a function run once
#               the vif is connected (e.g. to check what was offered)
#   NET_ATTACH  shell (vif_attach: libxl's layout written node by node, the
#               control) or pvkit (`pvkit nic attach|detach` on Xen)
# and source this file.
#
# xen-dom0-kmods: xen-netback bridge tun
# xen-domu-kmods: xen-netfront tun
CELL_TIMEOUT=150
NET_FRONT=${NET_FRONT:-kernel}
NET_BACK=${NET_BACK:-kernel}
NET_BACK_TYPE=${NET_BACK_TYPE:-pvkvif}
NET_QUEUES=${NET_QUEUES:-1}
BACKD_NET_OPTS=${BACKD_NET_OPTS:-}
NET_CHECK=${NET_CHECK:-}
VIF_DEVID=${VIF_DEVID:-0}
NET_ATTACH=${NET_ATTACH:-shell}

cell_needs() {
	[ "$NET_BACK" = kernel ] || backd_net_needs
	[ "$NET_FRONT" = kernel ] || domu net_domu_serve_tap_needs ||
		skip "$(domu_why)"
}

cell_dom0() {
	local mac type queues
	mac=$(vif_mac "$DOMU_ID" "$VIF_DEVID")
	type=$(net_back_type)
	net_back_start "$NET_QUEUES"
	if [ "$NET_FRONT" = kernel ]; then
		domu net_domu_netfront "$NET_QUEUES" || fail "$(domu_why)"
	else
		domu blk_domu_autoprobe 0 ||
			fail "cannot keep the domU's kernel off the vif"
	fi

	if [ "$NET_ATTACH" = pvkit ]; then
		"$PVK_BIN/pvkit" nic attach "$DOMU_ID" --devid "$VIF_DEVID" --type "$type" \
			--bridge "$NET_BRIDGE" --mac "$mac" ||
			fail "pvkit nic attach failed"
	else
		vif_attach "$DOMU_ID" "$VIF_DEVID" "$type" ||
			fail "cannot write the vif's nodes"
	fi
	net_back_hotplug "$DOMU_ID" "$VIF_DEVID" || {
		vif_show "$DOMU_ID" "$VIF_DEVID" "$type"
		fail "no vif device for the domU in dom0"
	}
	[ "$NET_FRONT" = kernel ] ||
		domu net_domu_serve_tap "$VIF_DEVID" ||
		fail "pvkit nic serve-tap: $(domu_why)"
	vif_connected "$DOMU_ID" "$VIF_DEVID" "$type" || {
		vif_show "$DOMU_ID" "$VIF_DEVID" "$type"
		fail "the vif did not connect"
	}
	[ "$NET_FRONT" = kernel ] || mac=tun # serve-tap's TAP device
	queues=$(domu net_domu_up "$mac") || fail "the domU's NIC: $(domu_why)"
	echo "domU NIC: $queues"
	vif_show "$DOMU_ID" "$VIF_DEVID" "$type"
	[ -z "$NET_CHECK" ] || $NET_CHECK "$type"
	[ "$NET_QUEUES" -le 1 ] || net_check_queues "$type" "${queues#*queues=}"

	net_ping_both
	net_exchange
	[ "$NET_QUEUES" -le 1 ] || net_exchange_streams 4
	[ "$NET_BACK" = kernel ] && net_stats "vif$DOMU_ID.$VIF_DEVID"
	[ "$NET_BACK" = kernel ] || backd_check_stats "/run/$CELL.sock" vif

	if [ "$NET_ATTACH" = pvkit ]; then
		"$PVK_BIN/pvkit" nic detach "$DOMU_ID" "$VIF_DEVID" --type "$type" \
			--timeout 30000 || fail "pvkit nic detach did not complete"
	else
		vif_detach "$DOMU_ID" "$VIF_DEVID" "$type" ||
			fail "detach did not complete"
	fi
	if [ "$NET_FRONT" = kernel ]; then
		domu net_domu_gone "$mac" ||
			fail "the NIC is still in the domU after detach"
	else
		domu net_domu_serve_tap_wait || fail "pvkit nic serve-tap: $(domu_why)"
	fi
	[ "$NET_BACK" = kernel ] || backd_term
}

# net_check_queues TYPE N: the frontend asked for NET_QUEUES queues; the
# vif must run on more than one, as many as both ends agreed in xenstore.
net_check_queues() {
	local be=/local/domain/0/backend/$1/$DOMU_ID/$VIF_DEVID max agreed
	max=$(xenstore-read "$be/multi-queue-max-queues" 2>/dev/null)
	agreed=$(xenstore-read \
		"/local/domain/$DOMU_ID/device/vif/$VIF_DEVID/multi-queue-num-queues" \
		2>/dev/null)
	echo "queues: backend offers ${max:-none}, frontend asked $NET_QUEUES," \
		"agreed ${agreed:-none}, the domU's NIC has $2"
	[ "${max:-1}" -gt 1 ] || fail "the backend offers no multi-queue"
	[ "${agreed:-1}" -gt 1 ] || fail "the vif was connected with one queue"
	[ "$2" = "$agreed" ] ||
		fail "the domU's NIC has $2 queues, xenstore says $agreed"
}

cell_cleanup() {
	[ "$NET_FRONT" = kernel ] || domu net_domu_serve_tap_stop
	vif_detach "$DOMU_ID" "$VIF_DEVID" "$(net_back_type)" 5
	[ "$NET_FRONT" = kernel ] || domu blk_domu_autoprobe 1
	net_back_cleanup
}
