#!/bin/sh
# SPDX-License-Identifier: MIT
#
# pvkit-backd as a process on the simulator, with guests driving their
# disks through the raw test frontend (tests/blk/back-guest.c):
#  1. read-only: writes, barriers and flushes fail, reads work, the image
#     is untouched;
#  2. a request beyond the end of the disk fails, the next one works;
#  3. a guest that scribbles garbage into its ring gets its device marked
#     broken; pvkit-backd lives on and an honest guest next to it passes a
#     verified random-I/O run;
#  4. flush durability: kill -9 right after a flush is acknowledged; the
#     image already holds the data, and after a restart the guest reads it
#     back through the reconnected device;
#  5. with --handover, SIGTERM drains and hands the rings over, a
#     restart resumes them (the guest never reconnects); five kill -9s
#     at random moments, each restart recovering the rings from the
#     crash journal (the guest never reconnects, nothing is answered
#     twice); a kill -9 with --no-journal makes it reconnect; by default SIGTERM
#     closes the devices; writes in flight the whole time: nothing
#     acknowledged is lost, nothing hangs;
#  6. detach of an attached disk, as xl block-detach;
#  7. a block device (loop device) rather than a file, when possible.
set -u
B=${PVK_BUILD:-build}
. "$(dirname "$0")/../../bench/blk-env.sh"
if [ ! -x /usr/lib/xen-4.17/bin/xenstored ]; then
	echo "SKIP: xenstored (Debian xen-utils-4.17) is not installed"
	exit 77
fi
if ! "${PVKIT:-$B/bin/pvkit}" --help 2>&1 | grep -q 'pvkit disk attach'; then
	echo "SKIP: pvkit has no 'disk' commands in this build"
	exit 77
fi
blk_env_start || exit 1
G=$B/tests/back-guest
W=$BLK_WORK
fail=0

ok() { echo "ok    $*"; }
bad() {
	echo "FAIL  $*"
	fail=1
}

wait_for() { # FILE PATTERN SECONDS
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le $(($3 * 20)) ] || return 1
		sleep 0.05
	done
}

# wait_stats DEVICE-NAME KEY VALUE SECONDS
wait_stats() {
	i=0
	while ! "$PVKIT" stats show --raw 2>/dev/null |
		grep -A1 "^device $1 " | grep -q " $2=$3\\b"; do
		i=$((i + 1))
		[ $i -le $(($4 * 20)) ] || return 1
		sleep 0.05
	done
}

domid_of() {
	"$PVKIT" domain list | awk -v n="$1" '$2 == n { print $1 }'
}

blk_backd_start || exit 1

# 1. read-only
dd if=/dev/urandom of="$W/ro.img" bs=1M count=4 status=none
cp "$W/ro.img" "$W/ro.orig"
if out=$(blk_guest ro "$W/ro.img" "--ro" "$G" readonly) &&
	cmp -s "$W/ro.img" "$W/ro.orig"; then
	ok "read-only: $(echo "$out" | grep readonly:)"
else
	bad "read-only"
	echo "$out"
fi

# 2. beyond the end of the disk
blk_image "$W/small.img" 1
if out=$(blk_guest beyond "$W/small.img" "" "$G" beyond); then
	ok "beyond the end: $(echo "$out" | grep beyond:)"
else
	bad "beyond the end"
	echo "$out"
fi

# 3. a hostile guest next to an honest one
blk_image "$W/honest.img" 32
blk_image "$W/hostile.img" 8
blk_guest_bg hostile "$W/hostile.img" "" "$W/hostile.out" "$G" scribble \
	"$W/go3" || exit 1
HOSTILE_PID=$GUEST_PID
if ! wait_for "$W/hostile.out" SCRIBBLED 20; then
	bad "hostile guest did not connect"
	cat "$W/hostile.out"
fi
hid=$(domid_of hostile)
if wait_stats "$hid/51712" broken 1 10; then
	ok "hostile guest: its device is marked broken"
else
	bad "hostile guest: device not marked broken"
	"$PVKIT" stats show --raw
fi
if out=$(blk_guest honest "$W/honest.img" "" "$G" integrity 7 300) &&
	kill -0 "$BACKD_PID" 2>/dev/null; then
	ok "honest guest beside it: $(echo "$out" | grep integrity)"
else
	bad "honest guest beside a hostile one"
	echo "$out"
fi
grep -q "device disabled" "$W/backd.out" ||
	bad "no log line for the broken device"
if "$PVKIT" stats show >"$W/stats.txt" 2>&1 &&
	grep -q "broken 1" "$W/stats.txt"; then
	ok "pvkit stats show: the hostile guest's device is shown broken"
else
	bad "pvkit stats show"
	cat "$W/stats.txt"
fi
touch "$W/go3"
wait "$HOSTILE_PID"

# 4. flush durability across kill -9
blk_image "$W/flush.img" 16
blk_guest_bg flush "$W/flush.img" "" "$W/flush.out" "$G" flush "$W/go4" \
	"$W/pattern" || exit 1
FLUSH_PID=$GUEST_PID
if wait_for "$W/flush.out" FLUSHED 30; then
	blk_backd_stop KILL
	dd if="$W/flush.img" of="$W/snapshot" bs=1M count=4 status=none
	blk_backd_start || exit 1
	touch "$W/go4"
	if wait "$FLUSH_PID" && grep -q VERIFIED "$W/flush.out" &&
		cmp -s "$W/snapshot" "$W/pattern"; then
		ok "flush durability: data in the image at kill -9, read back after restart"
	else
		bad "flush durability"
		cat "$W/flush.out"
	fi
else
	bad "flush: never acknowledged"
	cat "$W/flush.out"
fi

# 5. SIGTERM drain, restarts, writes in flight throughout
blk_image "$W/stream.img" 16
blk_backd_stop TERM
blk_backd_start --handover || exit 1
blk_guest_bg stream "$W/stream.img" "" "$W/stream.out" "$G" stream \
	"$W/go5" || exit 1
STREAM_PID=$GUEST_PID
wait_for "$W/stream.out" connected 20 || bad "stream guest did not connect"
sid=$(domid_of stream)
sleep 1
# The histogram of a device doing I/O: unit, percentiles, buckets.
if "$PVKIT" stats show >"$W/stats.txt" 2>&1 &&
	grep -q "write latency, us.*p50 <= [0-9].*p99.9 <= [0-9]" \
		"$W/stats.txt" &&
	grep -q " us .*##" "$W/stats.txt"; then
	ok "pvkit stats show: $(grep -m1 'write latency' "$W/stats.txt" | sed 's/^ *//')"
else
	bad "pvkit stats show: no write latency histogram"
	cat "$W/stats.txt"
fi
kill -TERM "$BACKD_PID"
if ! blk_backd_exited 10; then
	bad "SIGTERM: pvkit-backd still running after 10 s"
	blk_backd_stop KILL
else
	rc=$BACKD_RC
	st=$(XENSTORED_PATH=$PVKIT_SIM_DIR/xenstored/socket xenstore-read \
		"/local/domain/0/backend/vbd/$sid/51712/state" 2>/dev/null)
	if [ "$rc" = 0 ] && grep -q "handed over" "$W/backd.out" &&
		[ "$st" = 4 ]; then
		ok "SIGTERM: drained, exit 0, rings handed over, device left Connected"
	else
		bad "SIGTERM: exit $rc, state '$st'"
		cat "$W/backd.out"
	fi
fi
blk_backd_start --handover || exit 1
if wait_for "$W/backd.out" "resumed the rings" 10; then
	ok "restart resumes the handed-over rings: the guest sees a pause, not a disconnection"
else
	bad "restart did not resume the rings"
	cat "$W/backd.out"
fi
sleep 1
# A crash cannot hand over, but its journal lets the next instance
# resume the rings: requests it took and never answered are re-executed,
# the guest never reconnects.  Five times, at random moments.
for k in 1 2 3 4 5; do
	blk_backd_stop KILL
	blk_backd_start || exit 1
	if ! wait_for "$W/backd.out" "recovered the rings" 10; then
		bad "kill -9 #$k: the restart did not recover the rings"
		cat "$W/backd.out"
		break
	fi
	sleep 0.$(($(od -An -N1 -tu1 /dev/urandom) % 9 + 1))
done
grep -h "re-executed" "$W/backd.log" "$W/backd.out" 2>/dev/null | tail -3
# Without a journal a crash costs a reconnection.
blk_backd_stop KILL
blk_backd_start --no-journal || exit 1
sleep 1
touch "$W/go5"
if wait "$STREAM_PID" && grep -q "stream ok.*connects=2," "$W/stream.out"; then
	ok "writes in flight across SIGTERM (handover), 5 x kill -9 (recovered from the journal), kill -9 with --no-journal (one reconnection): $(grep 'stream ok' "$W/stream.out")"
else
	bad "writes in flight across restarts (want connects=2: one reconnection, after the kill -9 without a journal)"
	cat "$W/stream.out"
fi
blk_backd_stop TERM
if grep -q "closing devices" "$W/backd.out"; then
	ok "without --handover, SIGTERM closes the devices"
else
	bad "SIGTERM without --handover"
fi
blk_backd_start || exit 1

# 6. detach
blk_image "$W/idle.img" 1
"$PVKIT" domain create idle -- sleep 60 >"$W/idle.out" 2>&1 &
IDLE_PID=$!
i=0
until "$PVKIT" disk attach idle "$W/idle.img" >>"$W/attach.log" 2>&1; do
	i=$((i + 1))
	[ $i -lt 40 ] || break
	sleep 0.05
done
if "$PVKIT" disk list | grep -q "idle.img" &&
	"$PVKIT" disk detach idle xvda >/dev/null &&
	! "$PVKIT" disk list | grep -q "idle.img"; then
	ok "attach, list, detach"
else
	bad "attach/list/detach"
	"$PVKIT" disk list
fi
kill "$IDLE_PID" 2>/dev/null

# 7. a block device (a loop device over an image), where the machine
# lets us make one
blk_image "$W/bdev.img" 16
if loopdev=$(losetup -f --show "$W/bdev.img" 2>/dev/null) && [ -b "$loopdev" ]; then
	if out=$(blk_guest bdev "$loopdev" "" "$G" integrity 3 200); then
		ok "block device $loopdev: $(echo "$out" | grep integrity)"
	else
		bad "block device"
		echo "$out"
	fi
	# The guest is gone: pvkit-backd closes the device, then it can go.
	i=0
	until losetup -d "$loopdev" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 100 ] || { bad "$loopdev still busy"; break; }
		sleep 0.05
	done
else
	echo "skip  block device: cannot create a loop device here"
fi

# Every pvkit-backd instance of this run, sanitizer builds included,
# exited without a report.
blk_backd_stop TERM
if grep -E "Sanitizer|runtime error" "$W/backd.log"; then
	bad "pvkit-backd: sanitizer report"
fi
exit $fail
