#!/bin/sh
# SPDX-License-Identifier: MIT
#
# blkfront across pvkit-backd restarts on the simulator.
#  1. Reconnect with requests in flight: a guest keeps 16 random I/Os in
#     flight (every byte verified) while pvkit-backd is killed with
#     SIGKILL and restarted without its crash journal, stopped with
#     SIGTERM and restarted, killed with SIGKILL again and restarted with
#     its journal; nothing completed may be lost, nothing may hang, and
#     the frontend must have connected exactly three times (the last
#     restart resumes the rings).
#  2. Flush durability: the guest writes 4 MiB and flushes; the moment the
#     flush is acknowledged pvkit-backd is killed with SIGKILL; the image
#     must already hold the data, and after a restart the guest reads it
#     back through the reconnected device.
set -u
B=${PVK_BUILD:-build}
. "$(dirname "$0")/../../bench/blk-env.sh"
if ! "${PVKIT:-$B/bin/pvkit}" --help 2>&1 | grep -q 'pvkit disk attach'; then
	echo "SKIP: pvkit has no 'disk' commands in this build"
	exit 77
fi
blk_env_start || exit 1
blk_image "$BLK_WORK/disk.img" 32
IO=$B/tests/front-sim-io
fail=0

wait_for() { # FILE PATTERN SECONDS
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le $(($3 * 20)) ] || return 1
		sleep 0.05
	done
}

# 1. reconnect with I/O in flight
blk_backd_start || exit 1
out=$BLK_WORK/guest-r1.out
blk_guest_bg r1 "$BLK_WORK/disk.img" "" "$out" "$IO" \
	--until "$BLK_WORK/stop" --min-connects 3 --seed 7 || exit 1
wait_for "$out" negotiated 20 || { echo "guest did not connect"; exit 1; }
sleep 1
blk_backd_stop KILL
echo "pvkit-backd killed (SIGKILL) with I/O in flight, restarted without its journal"
blk_backd_start --no-journal || exit 1
sleep 1
blk_backd_stop TERM
echo "pvkit-backd stopped (SIGTERM) with I/O in flight"
blk_backd_start || exit 1
sleep 1
blk_backd_stop KILL
echo "pvkit-backd killed (SIGKILL) with I/O in flight, restarted with its journal"
blk_backd_start || exit 1
wait_for "$BLK_WORK/backd.out" "recovered the rings" 10 ||
	echo "FAIL  the restart after SIGKILL did not recover the rings"
sleep 1
touch "$BLK_WORK/stop"
if wait "$GUEST_PID" && grep -q "^connects 3," "$out" &&
	grep -q "recovered the rings" "$BLK_WORK/backd.out"; then
	echo "ok    reconnect with requests in flight (SIGKILL without a journal, SIGTERM), no reconnection after a SIGKILL with one"
	grep -E "integrity|connects" "$out"
else
	echo "FAIL  reconnect with requests in flight"
	cat "$out"
	fail=1
fi

# 2. flush durability
out=$BLK_WORK/guest-r2.out
blk_guest_bg r2 "$BLK_WORK/disk.img" "" "$out" "$IO" \
	--flush-then-wait "$BLK_WORK/go" --pattern-out "$BLK_WORK/pattern" \
	--seed 99 || exit 1
if ! wait_for "$out" FLUSHED 20; then
	echo "FAIL  flush durability: no flush acknowledged"
	cat "$out"
	exit 1
fi
blk_backd_stop KILL
dd if="$BLK_WORK/disk.img" of="$BLK_WORK/snapshot" bs=1M count=4 status=none
blk_backd_start || exit 1
touch "$BLK_WORK/go"
if wait "$GUEST_PID" && grep -q VERIFIED "$out" &&
	cmp -s "$BLK_WORK/snapshot" "$BLK_WORK/pattern"; then
	echo "ok    flush durability: data in the image at SIGKILL, read back after restart"
else
	echo "FAIL  flush durability"
	cat "$out"
	cmp "$BLK_WORK/snapshot" "$BLK_WORK/pattern"
	fail=1
fi
[ $fail -eq 0 ]
