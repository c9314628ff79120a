# SPDX-License-Identifier: MIT
#
# Cell 27: unbind and rebind of ordinary devices with the stock frontends
# (through sysfs, /sys/bus/xen/drivers/{vbd,vif}/{unbind,bind}), each
# against Linux's backend and against pvkit-backd:
#
#  vbd (xen-blkfront; xen-blkback on a loop device, pvkit-backd --type
#      vbd): 4 MiB written and read back by sha256, unbind: the disk goes,
#      the frontend Closed (straight from Connected: xenbus_dev_remove()),
#      xen-blkback Closed, pvkit-backd InitWait (a frontend that drops to
#      Closed is offered the device again at once).  Bind: Linux 6.1's xen-blkfront stays Closed and
#      no disk comes back, whichever the backend: xenbus_dev_probe() leaves
#      the device's state at Closed (what xenbus_dev_remove() switched it
#      to; only xenbus_probe_node() for a new device and xenbus_dev_resume()
#      set Initialising), xen-blkfront's probe writes no state, and
#      blkback_changed() sets up the rings on the backend's InitWait only
#      when that state is Initialising -- so nothing ever asks the backend
#      to reconnect (xen-blkback's "prepare for reconnect" needs the
#      frontend's Initialising).  The cell asserts exactly that, then the
#      way back: detach and attach again, and the data reads back.
#  vif (xen-netfront; xen-netback, pvkit-backd's netback): pings, unbind:
#      the NIC goes, both ends Closed (xen-netfront's remove closes in
#      order, Closing then Closed, and waits to read the backend's Closed;
#      both backends stay Closed until the frontend says Initialising).  Bind: xen-netfront's probe switches to
#      Initialising and waits for the backend to leave Closed; the backend
#      offers InitWait again ("prepare for reconnect"), the vif reconnects
#      and pings go both ways.
#
# xen-dom0-kmods: loop xen-blkback xen-netback bridge tun
# xen-domu-kmods: xen-blkfront xen-netfront
CELL_TIMEOUT=420
. /xen/cells/10-stock-net.sh
CELL_TIMEOUT=420
RB_VBD=xvdc
RB_VIF=14
VIF_DEVID=$RB_VIF

cell_needs() {
	[ -x "$PVK_BIN/pvkit-backd" ] || skip "needs pvkit-backd (not built)"
	backd_net_needs
}

cell_dom0() {
	rb_vbd kernel
	rb_vbd pvkit
	rb_vif kernel
	rb_vif pvkit
}

# rb_states KIND DEV TYPE: "frontend F, backend B" (xenbus state numbers).
rb_states() {
	echo "frontend $(xenstore-read "/local/domain/$DOMU_ID/device/$1/$2/state" 2>/dev/null)," \
		"backend $(xenstore-read "/local/domain/0/backend/$3/$DOMU_ID/$2/state" 2>/dev/null)"
}

# rb_vbd kernel|pvkit
rb_vbd() {
	local back=$1 img=/tmp/$CELL.img dev target loop sum got st want
	dev=$(vbd_number "$RB_VBD")
	echo "=== vbd $dev, backend $back ==="
	truncate -s 16M "$img" || fail "cannot create $img"
	if [ "$back" = kernel ]; then
		modload loop || fail "cannot load loop"
		modload xen-blkback || fail "cannot load xen-blkback"
		loop=$(losetup -f) && losetup "$loop" "$img" || fail "losetup failed"
		echo "$loop" >"/tmp/$CELL.loop"
		target=$loop
	else
		module_unload xen-blkback ||
			fail "xen-blkback is loaded and cannot be unloaded"
		pvkit-backd --type vbd --control "/run/$CELL.sock" \
			>>"/tmp/$CELL.backd.log" 2>&1 &
		echo $! >"/tmp/$CELL.pid"
		target=$img
	fi
	domu blk_domu_autoprobe 1 || fail "$(domu_why)"
	vbd_attach "$DOMU_ID" "$RB_VBD" "$target" w || fail "cannot write the vbd's nodes"
	domu blk_domu_wait_disk "$RB_VBD" 32768 || {
		vbd_show "$DOMU_ID" "$RB_VBD"
		fail "$RB_VBD did not appear in the domU"
	}
	sum=$(domu rb_domu_write "$RB_VBD") || fail "$(domu_why)"
	echo "wrote 4 MiB, sha256 $sum; $(rb_states vbd "$dev" vbd)"

	# xen-blkfront's remove drops straight to Closed: xen-blkback stays
	# Closed (until the frontend says Initialising), pvkit-backd offers
	# the device again at once (InitWait).
	if [ "$back" = kernel ]; then want=6; else want=2; fi
	domu rb_domu_unbind vbd "vbd-$dev" || fail "$(domu_why)"
	domu blk_domu_wait_gone "$RB_VBD" || fail "$(domu_why)"
	xs_wait "/local/domain/0/backend/vbd/$DOMU_ID/$dev/state" $want 10 &&
		xs_wait "/local/domain/$DOMU_ID/device/vbd/$dev/state" 6 1 ||
		fail "after unbind: $(rb_states vbd "$dev" vbd), expected frontend 6, backend $want"
	sleep 2 # and they stay so
	st=$(rb_states vbd "$dev" vbd)
	echo "after unbind: $st"
	[ "$st" = "frontend 6, backend $want" ] ||
		fail "after unbind: $st, expected frontend 6, backend $want"

	domu rb_domu_bind vbd "vbd-$dev" || fail "$(domu_why)"
	sleep 10
	st=$(rb_states vbd "$dev" vbd)
	echo "10 s after bind: $st"
	[ "$st" = "frontend 6, backend $want" ] ||
		fail "after bind: $st; Linux 6.1's xen-blkfront was expected to stay Closed"
	domu rb_domu_no_disk "$RB_VBD" || fail "$(domu_why)"
	echo "xen-blkfront stays Closed after a rebind (Linux 6.1: blkback_changed ignores InitWait unless its device is Initialising)"

	echo "--- the way back: detach, attach ---"
	vbd_detach "$DOMU_ID" "$RB_VBD" vbd 10 || fail "detach did not complete"
	vbd_attach "$DOMU_ID" "$RB_VBD" "$target" w || fail "cannot write the vbd's nodes"
	domu blk_domu_wait_disk "$RB_VBD" 32768 || fail "$RB_VBD did not come back: $(domu_why)"
	got=$(domu rb_domu_read "$RB_VBD") || fail "$(domu_why)"
	echo "read back after detach/attach: sha256 $got"
	[ "$got" = "$sum" ] || fail "read back $got, wrote $sum"
	vbd_detach "$DOMU_ID" "$RB_VBD" vbd || fail "detach did not complete"
	domu blk_domu_wait_gone "$RB_VBD" || fail "$(domu_why)"
	rb_vbd_stop
}

rb_vbd_stop() {
	if [ -f "/tmp/$CELL.pid" ]; then
		backd_term
	else
		loop_free "/tmp/$CELL.loop"
		module_unload xen-blkback
	fi
	rm -f "/tmp/$CELL.img"
}

# rb_vif kernel|pvkit
rb_vif() {
	local mac type st
	NET_BACK=$1
	type=$(net_back_type)
	mac=$(vif_mac "$DOMU_ID" "$RB_VIF")
	echo "=== vif $RB_VIF, backend $NET_BACK ($type) ==="
	net_back_start 1
	domu net_domu_netfront 1 || fail "$(domu_why)"
	vif_attach "$DOMU_ID" "$RB_VIF" "$type" "$mac" || fail "cannot write the vif's nodes"
	rb_vif_up "$type" "$mac" first

	domu rb_domu_unbind vif "vif-$RB_VIF" || fail "$(domu_why)"
	domu net_domu_gone "$mac" || fail "$(domu_why)"
	sleep 2
	st=$(rb_states vif "$RB_VIF" "$type")
	echo "after unbind: $st"
	[ "$st" = "frontend 6, backend 6" ] || fail "after unbind: $st, expected both Closed (6)"

	domu rb_domu_bind vif "vif-$RB_VIF" || fail "$(domu_why)"
	rb_vif_up "$type" "$mac" again
	echo "xen-netfront reconnected after a rebind"

	vif_detach "$DOMU_ID" "$RB_VIF" "$type" || fail "detach did not complete"
	domu net_domu_gone "$mac" || fail "$(domu_why)"
	net_back_cleanup
}

# rb_vif_up TYPE MAC first|again: hotplug (xen-netback's vif device stays
# on the bridge across a reconnection), both ends Connected, the NIC up,
# pings.
rb_vif_up() {
	[ "$NET_BACK$3" = kernelagain ] || net_back_hotplug "$DOMU_ID" "$RB_VIF" || {
		vif_show "$DOMU_ID" "$RB_VIF" "$1"
		fail "no vif device for the domU in dom0"
	}
	vif_connected "$DOMU_ID" "$RB_VIF" "$1" || {
		vif_show "$DOMU_ID" "$RB_VIF" "$1"
		fail "the vif did not connect: $(rb_states vif "$RB_VIF" "$1")"
	}
	domu net_domu_up "$2" >/dev/null || fail "the domU's NIC: $(domu_why)"
	echo "connected: $(rb_states vif "$RB_VIF" "$1")"
	net_ping_both
}

cell_cleanup() {
	vbd_detach "$DOMU_ID" "$RB_VBD" vbd 5
	stop_daemon "/tmp/$CELL.pid"
	loop_free "/tmp/$CELL.loop"
	module_unload xen-blkback
	vif_detach "$DOMU_ID" "$RB_VIF" vif 5
	vif_detach "$DOMU_ID" "$RB_VIF" "$NET_BACK_TYPE" 5
	NET_BACK=kernel net_back_cleanup
	rm -f "/tmp/$CELL.img" "/tmp/$CELL.backd.log"
}

# --- domU ---------------------------------------------------------------

# rb_domu_write DISK: 4 MiB of random data at its start (O_DIRECT); the
# sha256 of what it reads back, which must be what was written.
rb_domu_write() {
	local want got
	dd if=/dev/urandom of=/tmp/rb.pat bs=1M count=4 2>/dev/null
	want=$(sha256sum </tmp/rb.pat | cut -d' ' -f1)
	dd if=/tmp/rb.pat of="/dev/$1" bs=1M oflag=direct 2>/dev/null ||
		fail "write to /dev/$1 failed"
	got=$(rb_domu_read "$1")
	[ "$got" = "$want" ] || fail "/dev/$1 read back $got, wrote $want"
	rm -f /tmp/rb.pat
	echo "$want"
}

rb_domu_read() {
	dd if="/dev/$1" bs=1M count=4 iflag=direct 2>/dev/null |
		sha256sum | cut -d' ' -f1
}

# rb_domu_unbind DRIVER DEVICE / rb_domu_bind DRIVER DEVICE: through
# sysfs, in the background (a driver's remove or probe may wait on its
# backend for ever); wait (40 s) until it is done.
rb_domu_unbind() {
	local d=/sys/bus/xen/drivers/$1
	[ -e "$d/$2" ] || fail "$2 is not bound to $1"
	echo "$2" >"$d/unbind" &
	wait_gone "$d/$2" 40 ||
		fail "unbind $2 from $1 not done after 40s (blocked in the driver)"
	echo "unbound $2 from $1"
}

rb_domu_bind() {
	local d=/sys/bus/xen/drivers/$1
	echo "$2" >"$d/bind" &
	wait_present "$d/$2" 40 ||
		fail "bind $2 to $1 not done after 40s (blocked in the driver's probe)"
	echo "bound $2 to $1"
}

# rb_domu_no_disk DISK: no such disk.
rb_domu_no_disk() {
	[ ! -e "/sys/block/$1" ] || fail "/dev/$1 came back after the rebind"
}
