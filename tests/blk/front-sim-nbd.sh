#!/bin/sh
# SPDX-License-Identifier: MIT
#
# `pvkit disk serve-nbd` in a guest domain on the simulator, used by stock
# NBD clients on the host: nbdinfo, nbdcopy in and out.  What nbdcopy
# wrote must come back byte for byte, and must be in the image file that
# pvkit-backd serves (the whole path: NBD -> blkfront -> ring ->
# pvkit-backd -> io_uring).  Skips without nbdcopy/nbdinfo, or if pvkit
# was built without the serve-nbd command.
set -u
B=${PVK_BUILD:-build}
. "$(dirname "$0")/../../bench/blk-env.sh"
for t in nbdinfo nbdcopy; do
	if ! command -v $t >/dev/null; then
		echo "SKIP: $t not installed (apt-get install libnbd-bin)"
		exit 77
	fi
done
if ! "${PVKIT:-$B/bin/pvkit}" --help 2>&1 | grep -q 'pvkit disk serve-nbd'; then
	echo "SKIP: pvkit has no 'disk serve-nbd' command in this build"
	exit 77
fi
blk_env_start || exit 1
blk_image "$BLK_WORK/disk.img" 16
blk_backd_start || exit 1
sock=$BLK_WORK/nbd.sock
uri="nbd+unix:///?socket=$sock"
blk_guest_bg nbd "$BLK_WORK/disk.img" "" "$BLK_WORK/guest-nbd.out" \
	"$PVKIT" disk serve-nbd xvda --unix "$sock" || exit 1
i=0
until grep -q "serve-nbd: xvda" "$BLK_WORK/guest-nbd.out" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 300 ] || ! kill -0 "$GUEST_PID" 2>/dev/null; then
		echo "FAIL  serve-nbd did not start"
		exit 1
	fi
	sleep 0.05
done
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
check "nbdinfo sees 16 MiB" sh -c "nbdinfo --size '$uri' | grep -qx 16777216"
head -c 16777216 /dev/urandom >"$BLK_WORK/a.img"
check "nbdcopy into the PV disk" nbdcopy "$BLK_WORK/a.img" "$uri"
check "nbdcopy out of the PV disk" nbdcopy "$uri" "$BLK_WORK/b.img"
check "read back byte for byte" cmp "$BLK_WORK/a.img" "$BLK_WORK/b.img"
check "the backend's image holds it" cmp "$BLK_WORK/a.img" "$BLK_WORK/disk.img"
"$PVKIT" domain destroy nbd >/dev/null 2>&1
wait "$GUEST_PID" 2>/dev/null
[ $fail -eq 0 ]
