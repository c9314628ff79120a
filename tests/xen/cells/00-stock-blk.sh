# SPDX-License-Identifier: MIT
#
# Cell 0 (control): stock Linux xen-blkfront in the domU <-> stock Linux
# xen-blkback in dom0, backed by a loop device.  No pvkit code runs; it
# proves the harness: the vbd is created by writing libxl's xenstore
# layout (vbd_attach), data is written and verified in both directions
# with O_DIRECT, then the device is detached the way xl does it.  Cleanup
# unloads both drivers again: later cells bring their own.
#
# xen-dom0-kmods: loop xen-blkback
# xen-domu-kmods: xen-blkfront
CELL_TIMEOUT=120

cell_dom0() {
	local img=/tmp/$CELL.img loop
	modload loop || fail "cannot load loop"
	modload xen-blkback || fail "cannot load xen-blkback"
	truncate -s 16M "$img" || fail "cannot create $img"
	loop=$(losetup -f) && losetup "$loop" "$img" || fail "losetup failed"
	echo "$loop" >"/tmp/$CELL.loop"

	vbd_attach "$DOMU_ID" xvda "$loop" w || fail "cannot write the vbd's nodes"
	domu blk_domu_wait_disk xvda 32768 || {
		vbd_show "$DOMU_ID" xvda
		fail "xvda did not appear in the domU"
	}
	xs_wait "/local/domain/0/backend/vbd/$DOMU_ID/51712/state" 4 10 ||
		fail "xen-blkback is not Connected"
	vbd_show "$DOMU_ID" xvda

	blk_exchange "$loop" kernel xvda

	vbd_detach "$DOMU_ID" xvda || fail "detach did not complete"
	domu blk_domu_wait_gone xvda || fail "xvda still present after detach"
}

cell_cleanup() {
	vbd_detach "$DOMU_ID" xvda vbd 5
	loop_free "/tmp/$CELL.loop"
	module_unload xen-blkback
	rm -f "/tmp/$CELL.img"
}
