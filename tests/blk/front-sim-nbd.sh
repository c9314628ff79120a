#!/bin/sh
# SPDX-License-Identifier: MIT
#
# `pvkit disk serve-nbd` (nbdkit with pvkit's plugin) in a guest domain on
# the simulator, used by stock NBD clients on the host: nbdinfo (structured
# replies, base:allocation with --map, multi-conn, write zeroes and FUA
# offered), nbdcopy in and out over 4 connections at once, qemu-io for
# unaligned writes, WRITE_ZEROES and FUA.  What was written must come back
# byte for byte and be in the image file pvkit-backd serves (the whole
# path: NBD -> nbdkit -> blkfront -> ring -> pvkit-backd -> io_uring).
# Then TLS (PSK: a client without it is refused), a backend that stops
# answering (the client gets an error after --timeout, not a hang), and a
# detach (serve-nbd ends).  Skips without the clients or nbdkit.
set -u
B=${PVK_BUILD:-build}
. "$(dirname "$0")/../../bench/blk-env.sh"
for t in nbdinfo nbdcopy qemu-io nbdkit; do
	if ! command -v $t >/dev/null; then
		echo "SKIP: $t not installed (apt-get install libnbd-bin qemu-utils nbdkit)"
		exit 77
	fi
done
blk_env_start || exit 1
blk_image "$BLK_WORK/disk.img" 16
blk_image "$BLK_WORK/disk2.img" 4
blk_backd_start || exit 1
sock=$BLK_WORK/nbd.sock
uri="nbd+unix:///?socket=$sock"
blk_guest_bg nbd "$BLK_WORK/disk.img" "" "$BLK_WORK/guest-nbd.out" \
	"$PVKIT" disk serve-nbd xvda --unix "$sock" --timeout 2 || exit 1
nbd_pid=$GUEST_PID
wait_line() { # FILE PID
	i=0
	until grep -q "serve-nbd: xvda" "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 "$2" 2>/dev/null; then
			echo "FAIL  serve-nbd did not start:"
			cat "$1"
			exit 1
		fi
		sleep 0.05
	done
}
wait_line "$BLK_WORK/guest-nbd.out" "$nbd_pid"
fail=0
check() { # WHAT CMD...
	what=$1
	shift
	if "$@" >"$BLK_WORK/cmd.out" 2>&1; then
		echo "ok    $what"
	else
		echo "FAIL  $what"
		cat "$BLK_WORK/cmd.out"
		fail=1
	fi
}
has() { # PATTERN FILE
	grep -q -- "$1" "$2"
}
nbdinfo --json "$uri" >"$BLK_WORK/info.json" 2>&1
nbdinfo "$uri" >"$BLK_WORK/info.txt" 2>&1
check "nbdinfo: 16 MiB" has '"export-size": 16777216' "$BLK_WORK/info.json"
check "nbdinfo: structured replies" has "using structured packets" "$BLK_WORK/info.txt"
for c in can_flush can_trim can_zero can_fua can_multi_conn; do
	check "nbdinfo: $c" has "\"$c\": true" "$BLK_WORK/info.json"
done
check "nbdinfo --map (base:allocation)" sh -c "nbdinfo --map '$uri' | grep -q 'data'"
head -c 16777216 /dev/urandom >"$BLK_WORK/a.img"
check "nbdcopy into the PV disk, 4 connections" nbdcopy --connections=4 "$BLK_WORK/a.img" "$uri"
check "nbdcopy out of the PV disk, 4 connections" nbdcopy --connections=4 "$uri" "$BLK_WORK/b.img"
check "read back byte for byte" cmp "$BLK_WORK/a.img" "$BLK_WORK/b.img"
check "the backend's image holds it" cmp "$BLK_WORK/a.img" "$BLK_WORK/disk.img"
# Unaligned, WRITE_ZEROES, FUA (qemu-io speaks them all).
check "qemu-io: unaligned write, write zeroes, FUA, read back" \
	qemu-io -f raw "$uri" -c "write -P 0x55 1000 3000" \
	-c "write -z 8192 65536" -c "write -f -P 0x66 131072 4096" \
	-c "read -P 0x55 1000 3000" -c "read -P 0 8192 65536" \
	-c "read -P 0x66 131072 4096"
unaligned_in_image() {
	[ "$(dd if="$BLK_WORK/disk.img" bs=1 skip=1000 count=3000 status=none |
		tr -d U | wc -c)" -eq 0 ]
}
check "... and in the image" unaligned_in_image

# TLS: a second guest serves disk2 only to clients with the PSK.
printf 'alice:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
	>"$BLK_WORK/psk"
chmod 600 "$BLK_WORK/psk"
sock2=$BLK_WORK/tls.sock
blk_guest_bg tls "$BLK_WORK/disk2.img" "" "$BLK_WORK/guest-tls.out" \
	"$PVKIT" disk serve-nbd xvda --unix "$sock2" --tls-psk "$BLK_WORK/psk" || exit 1
wait_line "$BLK_WORK/guest-tls.out" "$GUEST_PID"
check "TLS: a client with the PSK" sh -c "nbdinfo 'nbds+unix://alice@/?socket=$sock2&tls-psk-file=$BLK_WORK/psk' | grep -q 'with TLS'"
check "TLS: a client without it is refused" sh -c "! nbdinfo 'nbd+unix:///?socket=$sock2' >/dev/null 2>&1"

# The backend stops answering (SIGSTOP): the client gets an error after
# serve-nbd's --timeout (2 s), not a hang; once it runs again, the disk
# serves again.
kill -STOP "$BACKD_PID"
t0=$(date +%s)
if timeout 20 qemu-io -f raw "$uri" -c "read 0 4096" >"$BLK_WORK/stopped.out" 2>&1; then
	r=0
else
	r=$?
fi
t1=$(date +%s)
kill -CONT "$BACKD_PID"
if [ "$r" -ne 0 ] && [ "$r" -ne 124 ] && [ $((t1 - t0)) -le 10 ] &&
	grep -qi "input/output error" "$BLK_WORK/stopped.out"; then
	echo "ok    backend stopped: the client got an I/O error after $((t1 - t0)) s"
else
	echo "FAIL  backend stopped: status $r after $((t1 - t0)) s"
	cat "$BLK_WORK/stopped.out"
	fail=1
fi
i=0
until qemu-io -f raw "$uri" -c "read -P 0x55 1000 3000" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "FAIL  the disk does not serve again"; fail=1; break; }
	sleep 0.1
done
[ $i -lt 100 ] && echo "ok    backend running again: the disk serves again"

# Detached (as xl does: the directories and the parents they leave empty
# go): a client gets an error at once, not the timeout, and serve-nbd
# ends (nbdkit stops).
"$PVKIT" disk detach nbd xvda --force >/dev/null 2>&1
t0=$(date +%s)
if timeout 20 qemu-io -f raw "$uri" -c "read 0 512" >"$BLK_WORK/gone.out" 2>&1; then
	echo "FAIL  detached: a read still succeeded"
	fail=1
elif [ $(($(date +%s) - t0)) -gt 1 ] && ! grep -q "Connection refused\|No such file" "$BLK_WORK/gone.out"; then
	echo "FAIL  detached: the error took $(($(date +%s) - t0)) s (the timeout, not the removal)"
	cat "$BLK_WORK/gone.out"
	fail=1
else
	echo "ok    detached: the client got an error at once"
fi
i=0
while kill -0 "$nbd_pid" 2>/dev/null && [ $i -lt 100 ]; do
	i=$((i + 1))
	sleep 0.1
done
if kill -0 "$nbd_pid" 2>/dev/null; then
	echo "FAIL  serve-nbd still runs 10 s after its disk was detached"
	fail=1
else
	echo "ok    detached: serve-nbd ended"
fi
! grep -E "Sanitizer|runtime error" "$BLK_WORK"/guest-*.out || fail=1

"$PVKIT" domain destroy tls >/dev/null 2>&1
"$PVKIT" domain destroy nbd >/dev/null 2>&1
wait "$GUEST_PID" 2>/dev/null
[ $fail -eq 0 ]
