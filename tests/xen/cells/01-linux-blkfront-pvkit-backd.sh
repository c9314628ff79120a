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
RESTART_BACKD=${RESTART_BACKD:-} # KILL/TERM: restart pvkit-backd midway

cell_needs() {
	[ -x "$PVK_BIN/pvkit-backd" ] || skip "needs pvkit-backd (not built)"
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
	truncate -s 16M "$img" || fail "cannot create $img"
	backd_start
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
	[ -z "$RESTART_BACKD" ] || backd_restart "$img"

	vbd_detach "$DOMU_ID" xvdb "$BACKEND_TYPE" || fail "detach did not complete"
	domu blk_domu_wait_gone xvdb || fail "xvdb still present after detach"
	backd_term
}

# backd_start [LOG]: start pvkit-backd in the background of the cell's
# shell (so that `wait` sees it), its pid in /tmp/$CELL.pid, its output
# appended to LOG (default /tmp/$CELL.backd.log).
backd_start() {
	# shellcheck disable=SC2086 # options are words
	pvkit-backd --type "$BACKEND_TYPE" --control "/run/$CELL.sock" \
		$BACKD_OPTS >>"${1:-/tmp/$CELL.backd.log}" 2>&1 &
	echo $! >"/tmp/$CELL.pid"
}

# The daemon dies (SIG$RESTART_BACKD) under a connected Linux frontend
# and a new one starts: the vbd must be Connected again on both sides --
# resumed in place or reconnected, the new daemon says which -- and the
# domU must see its disk again, unchanged, and move data both ways.
backd_restart() {
	local img=$1 log2=/tmp/$CELL.backd2.log pid dev be fp want got i=0
	dev=$(vbd_number xvdb)
	be=/local/domain/0/backend/$BACKEND_TYPE/$DOMU_ID/$dev
	fp=/local/domain/$DOMU_ID/device/vbd/$dev
	want=$(dd if="$img" bs=1M count=16 2>/dev/null | sha256sum | cut -d' ' -f1)
	pid=$(cat "/tmp/$CELL.pid")
	echo "--- pvkit-backd: SIG$RESTART_BACKD, then a new one ---"
	kill -"$RESTART_BACKD" "$pid"
	wait "$pid"
	echo "old pvkit-backd exited with $?"
	: >"$log2"
	backd_start "$log2"
	# Until the new daemon has settled the device, the xenstore states
	# may still be the dead one's.
	until grep -q "vbd $DOMU_ID/$dev: .*[Cc]onnected\|vbd $DOMU_ID/$dev: .*[Rr]esum" "$log2"; do
		i=$((i + 1))
		[ $i -lt 200 ] || break
		sleep 0.1
	done
	cat "$log2"
	xs_wait "$be/state" 4 10 && xs_wait "$fp/state" 4 10 || {
		vbd_show "$DOMU_ID" xvdb "$BACKEND_TYPE" | grep '/state = '
		fail "no reconnect after SIG$RESTART_BACKD: backend state" \
			"$(xenstore-read "$be/state"), frontend state" \
			"$(xenstore-read "$fp/state")"
	}
	domu blk_domu_wait_disk xvdb 32768 ||
		fail "xvdb did not come back after SIG$RESTART_BACKD: $(domu_why)"
	got=$(domu blk_domu_read kernel xvdb 0 16) ||
		fail "domU read after the restart failed: $(domu_why)"
	echo "before the restart $want, domU reads $got"
	[ "$want" = "$got" ] || fail "the disk changed across the restart"
	blk_exchange "$img" kernel xvdb
	backd_check_stats "/run/$CELL.sock"
}

cell_cleanup() {
	vbd_detach "$DOMU_ID" xvdb "$BACKEND_TYPE" 5
	stop_daemon "/tmp/$CELL.pid"
	[ -z "$KERNEL_BLKBACK" ] || module_unload xen-blkback
	echo "--- pvkit-backd log ---"
	cat "/tmp/$CELL.backd.log" "/tmp/$CELL.backd2.log" 2>/dev/null
	rm -f "/tmp/$CELL.img" "/tmp/$CELL.backd.log" "/tmp/$CELL.backd2.log"
}
