# SPDX-License-Identifier: MIT
#
# Cell 1: stock Linux xen-blkfront in the domU <-> pvkit-backd (pvkit's
# blkback, userspace, io_uring) in dom0, serving a raw image file.
#
# The backend type: DESIGN.md has pvkit-backd serve a type of its own on
# a Xen dom0 so it never races the kernel's xen-blkback; with xen-blkback
# unloaded (cell 0's cleanup does that) it may also serve backend/vbd,
# which is what libxl writes.  BACKEND_TYPE picks.
#
# xen-domu-kmods: xen-blkfront
CELL_TIMEOUT=120
BACKEND_TYPE=vbd

cell_needs() {
	[ -x "$PVK_BIN/pvkit-backd" ] || skip "needs pvkit-backd (not built)"
}

cell_dom0() {
	local img=/tmp/$CELL.img pid rc
	[ "$BACKEND_TYPE" != vbd ] || module_unload xen-blkback ||
		fail "xen-blkback is loaded and cannot be unloaded"
	truncate -s 16M "$img" || fail "cannot create $img"
	pvkit-backd --type "$BACKEND_TYPE" --control "/run/$CELL.sock" \
		>"/tmp/$CELL.backd.log" 2>&1 &
	echo $! >"/tmp/$CELL.pid"
	vbd_attach "$DOMU_ID" xvdb "$img" w "$BACKEND_TYPE" ||
		fail "cannot write the vbd's nodes"
	domu blk_domu_wait_disk xvdb 32768 || {
		vbd_show "$DOMU_ID" xvdb "$BACKEND_TYPE"
		fail "xvdb did not appear in the domU"
	}
	vbd_show "$DOMU_ID" xvdb "$BACKEND_TYPE"

	blk_exchange "$img" kernel xvdb

	vbd_detach "$DOMU_ID" xvdb "$BACKEND_TYPE" || fail "detach did not complete"
	domu blk_domu_wait_gone xvdb || fail "xvdb still present after detach"
	pid=$(cat "/tmp/$CELL.pid")
	rm -f "/tmp/$CELL.pid"
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	[ $rc -eq 0 ] || fail "pvkit-backd exited with $rc on SIGTERM"
}

cell_cleanup() {
	vbd_detach "$DOMU_ID" xvdb "$BACKEND_TYPE" 5
	stop_daemon "/tmp/$CELL.pid"
	echo "--- pvkit-backd log ---"
	cat "/tmp/$CELL.backd.log" 2>/dev/null
	rm -f "/tmp/$CELL.img" "/tmp/$CELL.backd.log"
}
