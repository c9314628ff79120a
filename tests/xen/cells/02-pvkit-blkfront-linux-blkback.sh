# SPDX-License-Identifier: MIT
#
# Cell 2: pvkit's blkfront in domU userspace (pvk-xen-blkio, on
# libpvkit-front and the xen flavour of libpvkit-hv) <-> stock Linux
# xen-blkback in dom0 with a loop device behind it.  The domU's kernel
# stops binding xenbus devices to drivers meanwhile, so that its own
# xen-blkfront does not claim the vbd.
#
# xen-dom0-kmods: loop xen-blkback
CELL_TIMEOUT=120

cell_needs() {
	command -v pvk-xen-blkio >/dev/null ||
		skip "needs pvkit blkfront (pvk-xen-blkio not built)"
}

cell_dom0() {
	local img=/tmp/$CELL.img loop
	domu blk_domu_autoprobe 0 || fail "cannot keep the domU's kernel off the vbd"
	modload loop || fail "cannot load loop"
	modload xen-blkback || fail "cannot load xen-blkback"
	truncate -s 16M "$img" || fail "cannot create $img"
	loop=$(losetup -f) && losetup "$loop" "$img" || fail "losetup failed"
	echo "$loop" >"/tmp/$CELL.loop"
	vbd_attach "$DOMU_ID" xvdc "$loop" w || fail "cannot write the vbd's nodes"

	domu pvk-xen-blkio xvdc info || {
		vbd_show "$DOMU_ID" xvdc
		fail "pvkit blkfront cannot open xvdc"
	}
	blk_exchange "$loop" pvkit xvdc
	vbd_show "$DOMU_ID" xvdc

	vbd_detach "$DOMU_ID" xvdc || fail "detach did not complete"
}

cell_cleanup() {
	vbd_detach "$DOMU_ID" xvdc vbd 5
	domu blk_domu_autoprobe 1
	loop_free "/tmp/$CELL.loop"
	module_unload xen-blkback
	rm -f "/tmp/$CELL.img"
}
