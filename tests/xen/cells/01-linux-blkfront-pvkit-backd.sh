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
# xen-dom0-kmods: xen-blkback
# xen-domu-kmods: xen-blkfront
CELL_TIMEOUT=120
# Variants (later cells) set these and source this file.
BACKEND_TYPE=${BACKEND_TYPE:-vbd}
BACKD_OPTS=${BACKD_OPTS:-} # e.g. --no-indirect --max-ring-order 0
KERNEL_BLKBACK=${KERNEL_BLKBACK:-} # 1: xen-blkback stays loaded meanwhile

cell_needs() {
	[ -x "$PVK_BIN/pvkit-backd" ] || skip "needs pvkit-backd (not built)"
}

cell_dom0() {
	local img=/tmp/$CELL.img pid rc
	if [ -n "$KERNEL_BLKBACK" ]; then
		[ "$BACKEND_TYPE" != vbd ] ||
			fail "pvkit-backd and xen-blkback cannot both serve vbd"
		modload xen-blkback || fail "cannot load xen-blkback"
	elif [ "$BACKEND_TYPE" = vbd ]; then
		module_unload xen-blkback ||
			fail "xen-blkback is loaded and cannot be unloaded"
	fi
	truncate -s 16M "$img" || fail "cannot create $img"
	# shellcheck disable=SC2086 # options are words
	pvkit-backd --type "$BACKEND_TYPE" --control "/run/$CELL.sock" \
		$BACKD_OPTS >"/tmp/$CELL.backd.log" 2>&1 &
	echo $! >"/tmp/$CELL.pid"
	vbd_attach "$DOMU_ID" xvdb "$img" w "$BACKEND_TYPE" ||
		fail "cannot write the vbd's nodes"
	backd_wait_taken "$DOMU_ID" xvdb "$BACKEND_TYPE" "/tmp/$CELL.backd.log"
	domu blk_domu_wait_disk xvdb 32768 || {
		vbd_show "$DOMU_ID" xvdb "$BACKEND_TYPE"
		fail "xvdb did not appear in the domU"
	}
	vbd_show "$DOMU_ID" xvdb "$BACKEND_TYPE"

	blk_exchange "$img" kernel xvdb
	backd_check_stats "/run/$CELL.sock"

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
	[ -z "$KERNEL_BLKBACK" ] || module_unload xen-blkback
	echo "--- pvkit-backd log ---"
	cat "/tmp/$CELL.backd.log" 2>/dev/null
	rm -f "/tmp/$CELL.img" "/tmp/$CELL.backd.log"
}
