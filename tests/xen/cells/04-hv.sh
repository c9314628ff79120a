# SPDX-License-Identifier: MIT
#
# Cell 4: libpvkit-hv on real Xen.  test-hv (tests/unit/test-hv.c) runs
# split across the two domains: its dom0 side here, its guest side in the
# domU, meeting under the domU's data/pvktest/<run>/ -- grant
# share/map/copy, event channels, xenstore permissions, watches and
# transactions, the xenbus handshake, all through libxengnttab/gntshr,
# libxenevtchn and libxenstore on Xen itself.
#
# Each test case runs as its own pair of processes (PVKIT_TEST_FILTER)
# with its own rendezvous tag: a case that fails on one side would
# otherwise leave the two sides waiting at different cases, and every
# later case would fail too.  The cases are those of the program (listed
# by a run with PVKIT_TEST_XEN=0, where each skips at once), so new ones
# join the lane by themselves; cases that need to create or destroy
# domains skip themselves on Xen.  PVKIT_TEST_XEN=1:
# "no hypervisor" is a failure here, not a skip.
CELL_TIMEOUT=360
HV_CASE_TIMEOUT=20 # each side's wait for the other (PVKIT_TEST_TIMEOUT)
# Notifications in the grant+evtchn ping-pong (PVKIT_TEST_NOTIFY; the
# simulator's run makes 100000): a round trip costs about a millisecond
# under TCG, so 5000 round trips here.
HV_NOTIFY=10000
# Each side's process, whole.
HV_PROC_TIMEOUT=120

cell_needs() {
	[ -x "$PVK_TESTS/test-hv" ] || skip "needs test-hv (not built)"
}

cell_dom0() {
	local cases c run rc0 rc1 t0 bad="" n=0
	# The case list, from a run where every xen case skips at once.
	cases=$(PVKIT_TEST_SIDE=dom0 PVKIT_TEST_PEER=$DOMU_ID PVKIT_TEST_XEN=0 \
		test-hv 2>/dev/null | sed -n 's/^\[ RUN *\] //p')
	[ -n "$cases" ] || fail "no test cases found in test-hv"
	for c in $cases; do
		n=$((n + 1))
		# Unique per domU and case; rendezvous nodes are never removed.
		run=c04d${DOMU_ID}n$n
		echo "=== $c (run $run) ==="
		t0=$(now_cs)
		domu hv_domu_start "$run" "$c" || fail "cannot start test-hv in the domU"
		PVKIT_TEST_SIDE=dom0 PVKIT_TEST_PEER=$DOMU_ID PVKIT_TEST_RUN=$run \
			PVKIT_TEST_XEN=1 PVKIT_TEST_FILTER=$c \
			PVKIT_TEST_TIMEOUT=$HV_CASE_TIMEOUT PVKIT_TEST_NOTIFY=$HV_NOTIFY \
			timeout $HV_PROC_TIMEOUT test-hv >/tmp/hv0.log 2>&1
		rc0=$?
		grep -v '^\[==========\]\|^$' /tmp/hv0.log
		DOMU_CALL_TIMEOUT=$((HV_CASE_TIMEOUT + 20))
		domu hv_domu_wait $((HV_CASE_TIMEOUT + 10)) >/dev/null
		rc1=$?
		DOMU_CALL_TIMEOUT=60
		t0=$(($(now_cs) - t0))
		echo "=== $c: dom0 side $rc0, guest side $rc1," \
			"$((t0 / 100)).$((t0 % 100 / 10))s ==="
		[ "$rc0" = 0 ] && [ "$rc1" = 0 ] || bad="$bad $c"
	done
	[ -z "$bad" ] || fail "test-hv on Xen:$bad"
}

# domU: hv_domu_start RUN CASE: start the guest side in the background,
# its output straight to the console (so a hang still shows how far it
# got); hv_domu_wait collects its status.
hv_domu_start() {
	rm -f /tmp/hv.rc
	(
		PVKIT_TEST_SIDE=guest PVKIT_TEST_PEER=0 PVKIT_TEST_RUN=$1 \
			PVKIT_TEST_XEN=1 PVKIT_TEST_FILTER=$2 \
			PVKIT_TEST_TIMEOUT=$HV_CASE_TIMEOUT PVKIT_TEST_NOTIFY=$HV_NOTIFY \
			timeout $HV_PROC_TIMEOUT test-hv
		echo $? >/tmp/hv.rc
	) </dev/null >/dev/console 2>&1 &
}

# domU: hv_domu_wait SECS: wait for the guest side; return its status.
hv_domu_wait() {
	local deadline=$(($(now) + $1))
	until [ -f /tmp/hv.rc ]; do
		[ "$(now)" -lt "$deadline" ] ||
			fail "test-hv guest side still running after $1s"
		sleep 0.2
	done
	return "$(cat /tmp/hv.rc)"
}
