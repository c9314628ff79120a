# SPDX-License-Identifier: MIT
#
# Cell 3: pvkit's blkfront in domU userspace (pvk-xen-blkio) <->
# pvkit-backd in dom0, across the two domains of a real Xen.  See cell 1
# for BACKEND_TYPE, cell 2 for keeping the domU's kernel off the vbd.
#
# xen-dom0-kmods: xen-blkback
CELL_TIMEOUT=120
# Variants (later cells) set these and source this file.
BACKEND_TYPE=${BACKEND_TYPE:-vbd}
BACKD_OPTS=${BACKD_OPTS:-} # e.g. --no-indirect --max-ring-order 0
KERNEL_BLKBACK=${KERNEL_BLKBACK:-} # 1: xen-blkback stays loaded meanwhile

cell_needs() {
	[ -x "$PVK_BIN/pvkit-backd" ] || skip "needs pvkit-backd (not built)"
	command -v pvk-xen-blkio >/dev/null ||
		skip "needs pvkit blkfront (pvk-xen-blkio not built)"
}

cell_dom0() {
	local img=/tmp/$CELL.img
	if [ -n "$KERNEL_BLKBACK" ]; then
		[ "$BACKEND_TYPE" != vbd ] ||
			fail "pvkit-backd and xen-blkback cannot both serve vbd"
		modload xen-blkback || fail "cannot load xen-blkback"
	elif [ "$BACKEND_TYPE" = vbd ]; then
		module_unload xen-blkback ||
			fail "xen-blkback is loaded and cannot be unloaded"
	fi
	domu blk_domu_autoprobe 0 || fail "cannot keep the domU's kernel off the vbd"
	truncate -s 16M "$img" || fail "cannot create $img"
	# shellcheck disable=SC2086 # options are words
	pvkit-backd --type "$BACKEND_TYPE" --control "/run/$CELL.sock" \
		$BACKD_OPTS >"/tmp/$CELL.backd.log" 2>&1 &
	echo $! >"/tmp/$CELL.pid"
	vbd_attach "$DOMU_ID" xvdd "$img" w "$BACKEND_TYPE" ||
		fail "cannot write the vbd's nodes"
	backd_wait_taken "$DOMU_ID" xvdd "$BACKEND_TYPE" "/tmp/$CELL.backd.log"

	domu pvk-xen-blkio xvdd info || {
		vbd_show "$DOMU_ID" xvdd "$BACKEND_TYPE"
		fail "pvkit blkfront cannot open xvdd"
	}
	blk_exchange "$img" pvkit xvdd
	backd_check_stats "/run/$CELL.sock"
	vbd_show "$DOMU_ID" xvdd "$BACKEND_TYPE"

	vbd_detach "$DOMU_ID" xvdd "$BACKEND_TYPE" || fail "detach did not complete"
	backd_term
}

cell_cleanup() {
	vbd_detach "$DOMU_ID" xvdd "$BACKEND_TYPE" 5
	domu blk_domu_autoprobe 1
	stop_daemon "/tmp/$CELL.pid"
	[ -z "$KERNEL_BLKBACK" ] || module_unload xen-blkback
	echo "--- pvkit-backd log ---"
	cat "/tmp/$CELL.backd.log" 2>/dev/null
	rm -f "/tmp/$CELL.img" "/tmp/$CELL.backd.log"
}
