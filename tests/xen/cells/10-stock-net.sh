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
# xen-dom0-kmods: xen-netback bridge
# xen-domu-kmods: xen-netfront
CELL_TIMEOUT=150
VIF_DEVID=0

cell_dom0() {
	local mac
	mac=$(vif_mac "$DOMU_ID" $VIF_DEVID)
	net_bridge_up || fail "cannot create the bridge $NET_BRIDGE"
	modload xen-netback || fail "cannot load xen-netback"
	domu net_domu_netfront 1 || fail "cannot load xen-netfront: $(domu_why)"

	vif_attach "$DOMU_ID" $VIF_DEVID || fail "cannot write the vif's nodes"
	vif_hotplug "$DOMU_ID" $VIF_DEVID || {
		vif_show "$DOMU_ID" $VIF_DEVID
		fail "xen-netback did not create vif$DOMU_ID.$VIF_DEVID"
	}
	vif_connected "$DOMU_ID" $VIF_DEVID || {
		vif_show "$DOMU_ID" $VIF_DEVID
		fail "the vif did not connect"
	}
	domu net_domu_up "$mac" || fail "the domU's NIC: $(domu_why)"
	vif_show "$DOMU_ID" $VIF_DEVID

	net_ping_both
	net_exchange
	net_stats "vif$DOMU_ID.$VIF_DEVID"

	vif_detach "$DOMU_ID" $VIF_DEVID || fail "detach did not complete"
	domu net_domu_gone "$mac" || fail "the NIC is still in the domU after detach"
}

cell_cleanup() {
	vif_detach "$DOMU_ID" $VIF_DEVID vif 5
	net_bridge_down
	module_unload xen-netback
	rm -f /tmp/net.pat /tmp/net.in /tmp/net.in.rc
}
