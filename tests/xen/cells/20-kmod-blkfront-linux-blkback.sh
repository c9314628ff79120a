# SPDX-License-Identifier: MIT
#
# Cell 20: pvkit-blkfront, pvkit's kernel blkfront (make kmods), in the
# domU <-> stock Linux xen-blkback in dom0 on a loop device.  The vbd's
# frontend is in device/pvkvbd, the type only pvkit-blkfront binds (the
# stock xen-blkfront stays off it); xen-blkback serves backend/vbd and
# follows the "frontend" node wherever it points.  4 MiB each way by
# sha256; a discard that dom0 sees as zeros; ext4 made, filled and checked
# over pvkit-blkfront in the domU (files verified after a remount, e2fsck
# -f -n clean there and in dom0); a second disk, read-only (with 4096-byte
# sectors behind xen-blkback), read back and detached under the loaded
# module; then the module unloaded with the first disk still connected.
#
# xen-dom0-kmods: loop xen-blkback
# xen-domu-kmods: ext4 crc32c_generic
# pvk-domu-kmods: pvkit-blkfront
CELL_TIMEOUT=180
# Cell 21 sets KBLK_BACKEND=pvkit (pvkit-backd serving backend/pvkvbd)
# and runs kblk_run twice, with these set per run:
KBLK_BACKEND=${KBLK_BACKEND:-kernel}
KBLK_BACKD_OPTS=""   # pvkit-backd's feature options
KBLK_MODPARAMS=""    # pvkit-blkfront's parameters, e.g. max_queues=2
KBLK_QUEUES=1        # the queues the frontend must ask for
# What pvkit-blkfront must report having negotiated (a glob on its
# "pvkvdb: ..." kernel log line): xen-blkback offers 4-page rings, 32
# indirect segments, flush, discard and persistent grants.
KBLK_EXPECT="*ring order 4, 32 segments (indirect), depth 32, flush cache, discard yes, persistent grants yes"
KBLK_MIB=64

cell_needs() {
	domu kblk_domu_has >/dev/null ||
		skip "pvkit-blkfront.ko is not in the domU image (make kmods; it needs the linux-headers package of the lane's kernel)"
	"$PVK_BIN/pvkit" disk attach --help 2>&1 | grep -q -- --frontend-type ||
		skip "needs pvkit disk attach --frontend-type"
	[ "$KBLK_BACKEND" = kernel ] && return 0
	[ -x "$PVK_BIN/pvkit-backd" ] || skip "needs pvkit-backd (not built)"
	"$PVK_BIN/pvkit-backd" --help 2>&1 | grep -q 'frontend=' ||
		skip "needs pvkit-backd --driver vbd=TYPE,frontend=FETYPE"
}

cell_dom0() {
	kblk_run
}

kblk_run() {
	local img=/tmp/$CELL.img path type dev line
	rm -f "$img"
	truncate -s ${KBLK_MIB}M "$img" || fail "cannot create $img"
	if [ "$KBLK_BACKEND" = kernel ]; then
		type=vbd
		modload loop || fail "cannot load loop"
		modload xen-blkback || fail "cannot load xen-blkback"
		path=$(losetup -f) && losetup "$path" "$img" || fail "losetup failed"
		echo "$path" >"/tmp/$CELL.loop"
	else
		type=pvkvbd
		path=$img
		echo "--- pvkit-backd $KBLK_BACKD_OPTS ---" >>"/tmp/$CELL.backd.log"
		# shellcheck disable=SC2086 # options are words
		pvkit-backd --driver vbd=pvkvbd,frontend=pvkvbd $KBLK_BACKD_OPTS \
			--control "/run/$CELL.sock" >>"/tmp/$CELL.backd.log" 2>&1 &
		echo $! >"/tmp/$CELL.pid"
	fi
	echo "$type" >"/tmp/$CELL.type"
	vbd_attach "$DOMU_ID" xvdb "$path" w "$type" pvkvbd ||
		fail "cannot write the vbd's nodes"
	[ "$KBLK_BACKEND" = kernel ] ||
		backd_wait_taken "$DOMU_ID" xvdb pvkvbd "/tmp/$CELL.backd.log"
	# shellcheck disable=SC2086 # parameters are words
	line=$(domu kblk_domu_wait_disk pvkvdb $((KBLK_MIB * 2048)) $KBLK_MODPARAMS) || {
		vbd_show "$DOMU_ID" xvdb "$type"
		xenstore-ls -fp "/local/domain/$DOMU_ID/device/pvkvbd" 2>&1
		fail "pvkvdb did not appear in the domU: $(domu_why)"
	}
	echo "$line"
	case $line in
	$KBLK_EXPECT) ;;
	*) fail "pvkit-blkfront negotiated otherwise than expected ($KBLK_EXPECT)" ;;
	esac
	dev=$(vbd_number xvdb)
	xenstore-ls -fp "/local/domain/$DOMU_ID/device/pvkvbd/$dev" 2>&1
	if [ "$KBLK_QUEUES" -gt 1 ]; then
		xs_wait "/local/domain/$DOMU_ID/device/pvkvbd/$dev/multi-queue-num-queues" \
			"$KBLK_QUEUES" 1 || fail "pvkit-blkfront did not ask for $KBLK_QUEUES queues"
		xenstore-exists "/local/domain/$DOMU_ID/device/pvkvbd/$dev/queue-$((KBLK_QUEUES - 1))/event-channel" ||
			fail "no queue-$((KBLK_QUEUES - 1))/event-channel"
	fi

	blk_exchange "$path" kernel pvkvdb
	kblk_rebind "$dev" "$type"
	kblk_discard "$path"
	domu kblk_domu_fs pvkvdb || fail "ext4 on pvkvdb: $(domu_why)"
	kblk_ro_disk
	[ "$KBLK_BACKEND" = kernel ] || backd_check_stats "/run/$CELL.sock"

	# Unload with the disk connected: the disk goes, the frontend closes.
	domu kblk_domu_unload pvkvdb || fail "unload: $(domu_why)"
	xs_wait "/local/domain/$DOMU_ID/device/pvkvbd/$dev/state" 6 10 ||
		fail "the frontend did not close on unload"
	vbd_detach "$DOMU_ID" xvdb "$type" 30 pvkvbd || fail "detach did not complete"
	[ "$KBLK_BACKEND" = kernel ] || backd_term
	if [ -x /usr/sbin/e2fsck ]; then
		/usr/sbin/e2fsck -fn "$path" || fail "e2fsck in dom0 finds the filesystem damaged"
		echo "e2fsck in dom0: clean"
	fi
	domu kblk_domu_dmesg_clean || fail "$(domu_why)"
}

# kblk_rebind DEV TYPE: 4 MiB written at 8 MiB, the device unbound from
# pvkit-blkfront through sysfs (the disk goes, the frontend Closed; the
# backend Closed with xen-blkback, InitWait again with pvkit-backd), bound
# again: the probe switches to Initialising, the backend offers the device
# (xen-blkback's "prepare for reconnect"), the disk comes back and reads
# the same data.
kblk_rebind() {
	local fe="/local/domain/$DOMU_ID/device/pvkvbd/$1/state"
	local be="/local/domain/0/backend/$2/$DOMU_ID/$1/state" want=2 sum got
	[ "$KBLK_BACKEND" = kernel ] && want=6
	sum=$(domu kblk_domu_write pvkvdb) || fail "$(domu_why)"
	domu kblk_domu_unbind "pvkvbd-$1" pvkvdb || fail "$(domu_why)"
	xs_wait "$fe" 6 10 && xs_wait "$be" $want 10 ||
		fail "after unbind: frontend $(xenstore-read "$fe"), backend $(xenstore-read "$be"), expected 6 and $want"
	echo "unbound: frontend 6, backend $want"
	domu kblk_domu_bind "pvkvbd-$1" pvkvdb $((KBLK_MIB * 2048)) ||
		fail "$(domu_why)"
	xs_wait "$fe" 4 10 && xs_wait "$be" 4 10 ||
		fail "after bind: frontend $(xenstore-read "$fe"), backend $(xenstore-read "$be"), expected both Connected (4)"
	got=$(domu kblk_domu_read pvkvdb) || fail "$(domu_why)"
	echo "rebound: both Connected, wrote sha256 $sum, read $got"
	[ "$got" = "$sum" ] || fail "after the rebind pvkvdb reads other data"
}

# Discard 4 MiB at 1 MiB (the random data the domU wrote): the backend
# punches a hole in the image, dom0 reads zeros there.
kblk_discard() {
	local got want
	domu kblk_domu_discard pvkvdb || fail "discard: $(domu_why)"
	want=$(dd if=/dev/zero bs=1M count=4 2>/dev/null | sha256sum | cut -d' ' -f1)
	got=$(dd if="$1" bs=1M skip=1 count=4 $(blk_direct "$1" i) 2>/dev/null |
		sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "after the discard dom0 does not read zeros"
	echo "discard: dom0 reads zeros"
}

# A second disk, read-only, 8 MiB of dom0's data; with xen-blkback its
# loop device has 4096-byte sectors (sector-size 4096).  The domU must see
# it read-only with that block size and read dom0's data; then dom0
# detaches it under the loaded module (backend Closing): the disk goes.
kblk_ro_disk() {
	local img=/tmp/$CELL.ro.img path=/tmp/$CELL.ro.img type lbs=512 want got
	dd if=/dev/urandom of="$img" bs=1M count=8 2>/dev/null || fail "cannot create $img"
	want=$(sha256sum <"$img" | cut -d' ' -f1)
	type=$(cat "/tmp/$CELL.type")
	if [ "$KBLK_BACKEND" = kernel ]; then
		[ -x /usr/sbin/losetup ] ||
			fail "needs util-linux losetup in dom0 (-b 4096)"
		path=$(/usr/sbin/losetup -f) &&
			/usr/sbin/losetup -r -b 4096 "$path" "$img" ||
			fail "losetup -b 4096 failed"
		echo "$path" >"/tmp/$CELL.roloop"
		lbs=4096
	fi
	vbd_attach "$DOMU_ID" xvdc "$path" r "$type" pvkvbd ||
		fail "cannot write the read-only vbd's nodes"
	got=$(domu kblk_domu_ro_check pvkvdc 16384 $lbs) || {
		vbd_show "$DOMU_ID" xvdc "$type"
		fail "read-only disk: $(domu_why)"
	}
	echo "dom0 wrote $want, domU read $got from the read-only disk"
	[ "$got" = "$want" ] || fail "the read-only disk's data differ in the domU"
	vbd_detach "$DOMU_ID" xvdc "$type" 30 pvkvbd ||
		fail "detach of the read-only disk did not complete"
	domu kblk_domu_gone pvkvdc || fail "$(domu_why)"
	echo "read-only disk detached under the loaded module: gone in the domU"
}

cell_cleanup() {
	local type
	type=$(cat "/tmp/$CELL.type" 2>/dev/null || echo vbd)
	vbd_detach "$DOMU_ID" xvdc "$type" 5 pvkvbd
	loop_free "/tmp/$CELL.roloop"
	rm -f "/tmp/$CELL.ro.img"
	vbd_detach "$DOMU_ID" xvdb "$type" 5 pvkvbd
	domu kblk_domu_unload_quiet
	if [ "$KBLK_BACKEND" = kernel ]; then
		loop_free "/tmp/$CELL.loop"
		module_unload xen-blkback
	else
		stop_daemon "/tmp/$CELL.pid"
		echo "--- pvkit-backd log ---"
		cat "/tmp/$CELL.backd.log" 2>/dev/null
	fi
	rm -f "/tmp/$CELL.img" "/tmp/$CELL.type" "/tmp/$CELL.backd.log"
}

# --- domU ---------------------------------------------------------------

kblk_domu_has() {
	[ -f /lib/modules/pvkit-blkfront.ko ]
}

# kblk_domu_wait_disk NAME SECTORS [PARAM...]: load pvkit-blkfront (with
# PARAMs), wait for its disk; print the line it logged for it.
kblk_domu_wait_disk() {
	local deadline=$(($(now) + 30)) size="" name=$1 sectors=$2 n0
	shift 2
	n0=$(dmesg | grep -c "pvkvbd.*$name:")
	dmesg | wc -l >/tmp/kblk.log0 # kblk_domu_dmesg_clean looks after it
	if [ $# -gt 0 ]; then
		insmod /lib/modules/pvkit-blkfront.ko "$@"
	else
		modload pvkit-blkfront
	fi || fail "cannot load pvkit-blkfront: $(dmesg | tail -n 3 | tr '\n' ' ')"
	set -- "$name" "$sectors"
	until [ -b "/dev/$1" ] && size=$(cat "/sys/block/$1/size" 2>/dev/null) &&
		[ "$size" = "$2" ]; do
		[ "$(now)" -lt "$deadline" ] || {
			dmesg | grep -i pvk | tail -n 5 >&2
			fail "/dev/$1 has ${size:-no} sectors after 30s, expected $2"
		}
		sleep 0.1
	done
	echo "/dev/$1: $size sectors" >&2
	# Its log line follows add_disk(): wait for this connection's.
	until [ "$(dmesg | grep -c "pvkvbd.*$1:")" -gt "$n0" ]; do
		[ "$(now)" -lt "$deadline" ] || fail "pvkit-blkfront logged nothing for $1"
		sleep 0.1
	done
	dmesg | grep "pvkvbd.*$1:" | tail -n 1 | sed "s/^\\[[^]]*\\] //"
	for f in logical_block_size max_hw_sectors_kb max_segments nr_requests \
		write_cache discard_max_bytes; do
		echo "queue/$f: $(cat "/sys/block/$1/queue/$f" 2>/dev/null)" >&2
	done
}

# kblk_domu_write NAME: 4 MiB of random data at 8 MiB (O_DIRECT); prints
# its sha256.
kblk_domu_write() {
	dd if=/dev/urandom of=/tmp/k.pat bs=1M count=4 2>/dev/null
	dd if=/tmp/k.pat of="/dev/$1" bs=1M seek=8 oflag=direct 2>/dev/null ||
		fail "write to /dev/$1 failed"
	sha256sum </tmp/k.pat | cut -d' ' -f1
	rm -f /tmp/k.pat
}

kblk_domu_read() {
	dd if="/dev/$1" bs=1M skip=8 count=4 iflag=direct 2>/dev/null |
		sha256sum | cut -d' ' -f1
}

# kblk_domu_unbind DEVICE NAME / kblk_domu_bind DEVICE NAME SECTORS:
# through sysfs, in the background (a remove or probe that waits on the
# backend must not hang the cell); the disk goes / comes back (15 s).
kblk_domu_unbind() {
	local d=/sys/bus/xen/drivers/pvkit-blkfront
	[ -e "$d/$1" ] || fail "$1 is not bound to pvkit-blkfront"
	echo "$1" >"$d/unbind" &
	wait_gone "$d/$1" 15 || fail "unbind of $1 not done after 15s"
	wait_gone "/sys/block/$2" 15 || fail "/dev/$2 still there 15s after the unbind"
}

kblk_domu_bind() {
	local d=/sys/bus/xen/drivers/pvkit-blkfront deadline=$(($(now) + 15))
	echo "$1" >"$d/bind" &
	wait_present "$d/$1" 15 || fail "bind of $1 not done after 15s"
	until [ -b "/dev/$2" ] &&
		[ "$(cat "/sys/block/$2/size" 2>/dev/null)" = "$3" ]; do
		[ "$(now)" -lt "$deadline" ] || {
			dmesg | grep -i pvk | tail -n 5 >&2
			fail "/dev/$2 not back with $3 sectors 15s after the bind"
		}
		sleep 0.1
	done
}

kblk_domu_discard() {
	blkdiscard -o $((1 << 20)) -l $((4 << 20)) "/dev/$1" ||
		fail "blkdiscard on /dev/$1 failed"
}

# kblk_domu_ro_check NAME SECTORS LBS: the disk appears read-only with
# logical blocks of LBS bytes, refuses a write, and reads back; prints
# the sha256 of its contents.
kblk_domu_ro_check() {
	local deadline=$(($(now) + 30)) v
	until [ -b "/dev/$1" ] && [ "$(cat "/sys/block/$1/size" 2>/dev/null)" = "$2" ]; do
		[ "$(now)" -lt "$deadline" ] || fail "/dev/$1 did not appear with $2 sectors"
		sleep 0.1
	done
	dmesg | grep "pvkvbd.*$1:" | tail -n 1 >&2
	v=$(cat "/sys/block/$1/ro")
	[ "$v" = 1 ] || fail "/dev/$1 is not read-only (ro=$v)"
	v=$(cat "/sys/block/$1/queue/logical_block_size")
	[ "$v" = "$3" ] || fail "/dev/$1 has $v-byte blocks, expected $3"
	if dd if=/dev/zero of="/dev/$1" bs=4096 count=1 oflag=direct 2>/dev/null; then
		fail "a write to the read-only /dev/$1 succeeded"
	fi
	dd if="/dev/$1" bs=1M iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1
}

kblk_domu_gone() {
	wait_gone "/sys/block/$1" 15 || fail "/dev/$1 still there 15s after the detach"
}

# kblk_domu_fs NAME: ext4 made, 24 files of random data written, the
# filesystem unmounted and mounted again, every file checked, unmounted,
# e2fsck -f -n clean.
kblk_domu_fs() {
	local dev=/dev/$1 i=0
	[ -x /usr/sbin/mke2fs ] && [ -x /usr/sbin/e2fsck ] ||
		fail "needs mke2fs and e2fsck in the domU (e2fsprogs)"
	modload crc32c_generic || true
	modload ext4 || fail "cannot load ext4"
	/usr/sbin/mke2fs -q -F -t ext4 "$dev" || fail "mke2fs on $dev failed"
	mkdir -p /mnt/k
	mount -t ext4 "$dev" /mnt/k || fail "cannot mount $dev"
	: >/tmp/k.sums
	while [ $i -lt 24 ]; do
		dd if=/dev/urandom of=/tmp/k.buf bs=64k count=$((1 + i % 8)) 2>/dev/null
		cp /tmp/k.buf "/mnt/k/f$i" || fail "write f$i failed"
		echo "$(sha256sum </tmp/k.buf | cut -d' ' -f1)  /mnt/k/f$i" >>/tmp/k.sums
		i=$((i + 1))
	done
	sync
	umount /mnt/k || fail "cannot unmount"
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 -o ro "$dev" /mnt/k || fail "cannot mount $dev again"
	sha256sum -c -s /tmp/k.sums || fail "files differ from what was written"
	umount /mnt/k || fail "cannot unmount"
	/usr/sbin/e2fsck -fn "$dev" >&2 || fail "e2fsck finds the filesystem damaged"
	echo "ext4 on $dev: 24 files verified after a remount, e2fsck clean"
}

# kblk_domu_unload NAME: unload with the disk connected (not mounted).
# xenbus holds a reference on a driver's module for every device bound to
# it (since Linux 5.10; the stock xen-blkfront is no different), so the
# devices are unbound through sysfs first -- the driver's remove() with
# the ring connected -- then the module goes.
kblk_domu_unload() {
	local d=/sys/bus/xen/drivers/pvkit-blkfront dev
	for dev in "$d"/pvkvbd-*; do
		[ -e "$dev" ] || continue
		echo "${dev##*/}" >"$d/unbind" || fail "cannot unbind ${dev##*/}"
		echo "unbound ${dev##*/}" >&2
	done
	[ ! -e "/sys/block/$1" ] || fail "/sys/block/$1 still there after unbind"
	rmmod pvkit-blkfront 2>/tmp/k.rmmod ||
		fail "rmmod pvkit-blkfront failed: $(cat /tmp/k.rmmod)" \
			"(refcnt $(cat /sys/module/pvkit_blkfront/refcnt))"
	[ ! -e /sys/module/pvkit_blkfront ] || fail "module still loaded"
	echo "unbound and unloaded with $1 connected"
}

kblk_domu_unload_quiet() {
	local d=/sys/bus/xen/drivers/pvkit-blkfront dev
	umount /mnt/k 2>/dev/null
	for dev in "$d"/pvkvbd-*; do
		[ -e "$dev" ] && echo "${dev##*/}" >"$d/unbind"
	done
	module_unload pvkit-blkfront
	return 0
}

# No protocol violation, warning or oops from the module in the kernel
# log since this run loaded it (earlier cells' lines do not count).
kblk_domu_dmesg_clean() {
	local bad
	dmesg | tail -n +$(($(cat /tmp/kblk.log0 2>/dev/null || echo 0) + 1)) >/tmp/kblk.log
	bad=$(grep -E "pvkvbd|pvkit" /tmp/kblk.log |
		grep -iE "violation|disabled|error|warn|BUG|Oops|refcount" | head -n 3)
	[ -z "$bad" ] || fail "kernel log: $bad"
	grep -E "pvkvbd|pvkit" /tmp/kblk.log | tail -n 5 >&2
}
