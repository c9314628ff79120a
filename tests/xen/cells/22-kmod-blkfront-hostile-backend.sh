# SPDX-License-Identifier: MIT
#
# Cell 22 (hostile): pvkit-blkfront in the domU <-> pvk-xen-blkevil in
# dom0, a backend that answers the first request wrongly, one way per
# case (see tests/xen/blkevil.c).  Each time the module
# must log the violation once, naming it, latch the disk broken -- I/O
# fails at once instead of hanging, nothing more is published on the ring
# -- and, when the backend closes, tear the disk down; at the end it must
# unload.
#
# pvk-domu-kmods: pvkit-blkfront
CELL_TIMEOUT=240
KBLK_CASES="bad-id dup-id bad-status bad-op prod-overflow"

cell_needs() {
	domu kblk_domu_has >/dev/null ||
		skip "pvkit-blkfront.ko is not in the domU image (make kmods)"
	command -v pvk-xen-blkevil >/dev/null ||
		skip "needs pvk-xen-blkevil (make xen-progs)"
	"$PVK_BIN/pvkit" disk attach --help 2>&1 | grep -q -- --frontend-type ||
		skip "needs pvkit disk attach --frontend-type"
}

cell_dom0() {
	local c dev out rc early late
	dev=$(vbd_number xvdb)
	truncate -s 4M "/tmp/$CELL.img" || fail "cannot create the image"
	domu evil_domu_load || fail "cannot load pvkit-blkfront: $(domu_why)"
	for c in $KBLK_CASES; do
		echo "=== $c ==="
		vbd_attach "$DOMU_ID" xvdb "/tmp/$CELL.img" w pvkvbd pvkvbd ||
			fail "cannot write the vbd's nodes"
		pvk-xen-blkevil "$DOMU_ID" "$dev" "$c" >"/tmp/$CELL.out" 2>&1 &
		echo $! >"/tmp/$CELL.pid"
		domu evil_domu_check "$c" || fail "$c: $(domu_why)"
		wait "$(cat "/tmp/$CELL.pid")"
		rc=$?
		rm -f "/tmp/$CELL.pid"
		out=$(cat "/tmp/$CELL.out")
		echo "$out"
		[ $rc -eq 0 ] || fail "$c: pvk-xen-blkevil exited with $rc"
		early=$(echo "$out" | sed -n 's/.*req_prod \([0-9]*\) at +1s.*/\1/p')
		late=$(echo "$out" | sed -n 's/.*, \([0-9]*\) at the end.*/\1/p')
		[ -n "$early" ] && [ "$early" = "$late" ] ||
			fail "$c: the frontend published requests after the violation ($early -> $late)"
		xs_wait "/local/domain/$DOMU_ID/device/pvkvbd/$dev/state" 6 10 ||
			fail "$c: the frontend did not close after the backend"
		vbd_detach "$DOMU_ID" xvdb pvkvbd 5 pvkvbd
		domu kblk_domu_gone pvkvdb || fail "$c: $(domu_why)"
	done
	domu evil_domu_unload || fail "$(domu_why)"
}

cell_cleanup() {
	stop_daemon "/tmp/$CELL.pid"
	vbd_detach "$DOMU_ID" xvdb pvkvbd 5 pvkvbd
	domu evil_domu_unload
	rm -f "/tmp/$CELL.img" "/tmp/$CELL.out"
}

# --- domU ---------------------------------------------------------------

kblk_domu_has() {
	[ -f /lib/modules/pvkit-blkfront.ko ]
}

kblk_domu_gone() {
	wait_gone "/sys/block/$1" 15 || fail "/dev/$1 still there 15s after the backend closed"
}

evil_domu_load() {
	modload pvkit-blkfront || fail "insmod failed"
	dmesg | grep -c "protocol violation" >/tmp/evil.n0
	return 0
}

# evil_domu_check CASE: one new violation line naming CASE's reason, and a
# read that fails at once.
evil_domu_check() {
	local n0 deadline=$(($(now) + 30)) line want rc
	n0=$(cat /tmp/evil.n0)
	until [ "$(dmesg | grep -c "protocol violation")" -gt "$n0" ]; do
		[ "$(now)" -lt "$deadline" ] || fail "no violation reported in 30s"
		sleep 0.1
	done
	sleep 0.5
	[ "$(dmesg | grep -c "protocol violation")" -eq $((n0 + 1)) ] ||
		fail "the violation was reported more than once"
	echo $((n0 + 1)) >/tmp/evil.n0
	line=$(dmesg | grep "protocol violation" | tail -n 1 | sed 's/^\[[^]]*\] //')
	echo "$line"
	case $1 in
	bad-id) want='response id out of range \(id 1000000, .*device disabled' ;;
	dup-id) want='response for an id not in flight|more responses than requests outstanding' ;;
	bad-status) want='unknown response status .*status 7\); device disabled' ;;
	bad-op) want="response operation differs from the request's \\(id [0-9]+, operation 66," ;;
	prod-overflow) want='backend produced more responses than requests outstanding; device disabled' ;;
	esac
	echo "$line" | grep -qE "$want" || fail "unexpected report: $line"
	# The disk is broken: a read must fail, not hang.
	sleep 1
	[ -b /dev/pvkvdb ] || fail "/dev/pvkvdb is gone already"
	timeout 10 dd if=/dev/pvkvdb of=/dev/null bs=4k count=1 skip=100 \
		iflag=direct 2>/dev/null
	rc=$?
	[ $rc -eq 1 ] || fail "a read on the broken disk ended with status $rc (want 1: an error)"
	echo "read on the broken disk: failed at once"
}

evil_domu_unload() {
	local d=/sys/bus/xen/drivers/pvkit-blkfront dev
	for dev in "$d"/pvkvbd-*; do
		[ -e "$dev" ] && echo "${dev##*/}" >"$d/unbind"
	done
	module_unload pvkit-blkfront || fail "rmmod pvkit-blkfront failed"
}
