# SPDX-License-Identifier: MIT
#
# Cell 4: libpvkit-hv on real Xen.  test-hv (tests/unit/test-hv.c) runs
# split across the two domains: its dom0 side here, its guest side in the
# domU, started together and meeting under the domU's
# data/pvktest/<run>/ -- grant share/map/copy, event channels, xenstore
# permissions, watches and transactions, the xenbus handshake, all through
# libxengnttab/gntshr, libxenevtchn and libxenstore on Xen itself.
# PVKIT_TEST_XEN=1: "no hypervisor" is a failure here, not a skip.
CELL_TIMEOUT=300

cell_needs() {
	[ -x "$PVK_TESTS/test-hv" ] || skip "needs test-hv (not built)"
}

cell_dom0() {
	local run rc0 rc1
	# Unique per boot and per domU; the rendezvous nodes are never removed.
	run=c04d${DOMU_ID}t$(now)
	domu hv_domu_start "$run" || fail "cannot start test-hv in the domU"
	echo "--- test-hv, dom0 side (run $run, peer $DOMU_ID) ---"
	PVKIT_TEST_SIDE=dom0 PVKIT_TEST_PEER=$DOMU_ID PVKIT_TEST_RUN=$run \
		PVKIT_TEST_XEN=1 PVKIT_TEST_VERBOSE=1 PVKIT_TEST_TIMEOUT=30 \
		timeout 200 test-hv
	rc0=$?
	echo "--- test-hv, guest side (in the domU) ---"
	DOMU_CALL_TIMEOUT=70 domu hv_domu_wait 50
	rc1=$?
	[ $rc0 -eq 0 ] || fail "test-hv failed in dom0 (exit $rc0)"
	[ $rc1 -eq 0 ] || fail "test-hv failed in the domU (exit $rc1)"
}

# domU: start the guest side in the background, its output straight to
# the console (so a hang still shows how far it got); hv_domu_wait
# collects its status.
hv_domu_start() {
	rm -f /tmp/hv.rc
	(
		PVKIT_TEST_SIDE=guest PVKIT_TEST_PEER=0 PVKIT_TEST_RUN=$1 \
			PVKIT_TEST_XEN=1 PVKIT_TEST_VERBOSE=1 \
			PVKIT_TEST_TIMEOUT=30 timeout 250 test-hv
		echo $? >/tmp/hv.rc
	) </dev/null >/dev/console 2>&1 &
}

# domU: hv_domu_wait SECS: wait for the guest side; return its status.
hv_domu_wait() {
	local deadline=$(($(now) + $1))
	until [ -f /tmp/hv.rc ]; do
		[ "$(now)" -lt "$deadline" ] ||
			fail "test-hv guest side still running after $1s"
		sleep 0.5
	done
	return "$(cat /tmp/hv.rc)"
}
