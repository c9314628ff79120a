# SPDX-License-Identifier: MIT
#
# Cell 18: crash-safe restart under a stock Linux frontend.  ext4 on xvdb
# (stock xen-blkfront <-> pvkit-backd), the domU writing files with fsync
# in a loop; pvkit-backd is killed with SIGKILL mid-writes, twice, and
# restarted each time: the new daemon must resume the rings from its
# crash journal (pvkit/blkback.h, "Restart"), since Linux's blkfront never
# reconnects once Closed.  The writes must go on after each restart;
# every file the writer completed (fsync returned) must read back with
# its checksum; the filesystem must unmount, and e2fsck in dom0 must find
# it clean.
#
# xen-dom0-kmods: xen-blkback
# xen-domu-kmods: xen-blkfront ext4 crc32c_generic
# The writer keeps at most 64 files of 256 KiB (16 MiB): every 32 files it
# reads the last 64 back from the disk (caches dropped) against their
# checksums and deletes the older 32, so it writes for as long as the cell
# runs and every file is checked once on disk.  A fresh
# 64 MiB ext4 (mke2fs's defaults) holds 213 such files, and an earlier
# writer failed at f213 with ENOSPC (reproduced on a loop mount); a later
# one stopped at a fixed count, which a fast machine reached before the
# second kill, so "the writes go on" could not be seen.
CELL_TIMEOUT=300
BACKEND_TYPE=vbd
IMG_MIB=64

cell_needs() {
	[ -x "$PVK_BIN/pvkit-backd" ] || skip "needs pvkit-backd (not built)"
	[ -x /usr/sbin/mke2fs ] && [ -x /usr/sbin/e2fsck ] ||
		skip "needs mke2fs and e2fsck in dom0 (e2fsprogs)"
}

backd_start() {
	pvkit-backd --type "$BACKEND_TYPE" --control "/run/$CELL.sock" \
		>>"${1:-/tmp/$CELL.backd.log}" 2>&1 &
	echo $! >"/tmp/$CELL.pid"
}

# The daemon is killed mid-writes; the next one must recover the rings.
backd_kill_restart() {
	local n=$1 log=/tmp/$CELL.backd$1.log dev be fp c0 c1 i=0
	dev=$(vbd_number xvdb)
	be=/local/domain/0/backend/$BACKEND_TYPE/$DOMU_ID/$dev
	fp=/local/domain/$DOMU_ID/device/vbd/$dev
	c0=$(domu fs_domu_count) || fail "writer count: $(domu_why)"
	echo "--- kill -9 #$n of pvkit-backd after $c0 files ---"
	kill -KILL "$(cat "/tmp/$CELL.pid")"
	wait "$(cat "/tmp/$CELL.pid")" 2>/dev/null
	: >"$log"
	backd_start "$log"
	until grep -q "vbd $DOMU_ID/$dev: .*[Cc]onnected\|vbd $DOMU_ID/$dev: .*Closing" "$log"; do
		i=$((i + 1))
		[ $i -lt 200 ] || break
		sleep 0.1
	done
	cat "$log"
	grep -q "vbd $DOMU_ID/$dev: Connected - recovered the rings" "$log" ||
		fail "kill -9 #$n: the new pvkit-backd did not recover the rings"
	[ "$(xenstore-read "$be/state")" = 4 ] &&
		[ "$(xenstore-read "$fp/state")" = 4 ] ||
		fail "kill -9 #$n: states $(xenstore-read "$be/state")/$(xenstore-read "$fp/state"), want 4/4"
	sleep 4
	c1=$(domu fs_domu_count) || fail "writer count: $(domu_why)"
	echo "after restart #$n: $c1 files (was $c0)"
	[ "$c1" -gt "$c0" ] || fail "kill -9 #$n: the domU's writes did not go on"
}

cell_dom0() {
	local img=/tmp/$CELL.img
	module_unload xen-blkback ||
		fail "xen-blkback is loaded and cannot be unloaded"
	truncate -s ${IMG_MIB}M "$img" || fail "cannot create $img"
	/usr/sbin/mke2fs -q -F -t ext4 "$img" || fail "mke2fs failed"
	backd_start
	vbd_attach "$DOMU_ID" xvdb "$img" w "$BACKEND_TYPE" ||
		fail "cannot write the vbd's nodes"
	backd_wait_taken "$DOMU_ID" xvdb "$BACKEND_TYPE" "/tmp/$CELL.backd.log"
	domu blk_domu_wait_disk xvdb $((IMG_MIB * 2048)) ||
		fail "xvdb did not appear in the domU: $(domu_why)"
	domu fs_domu_start || fail "cannot mount and write: $(domu_why)"
	sleep 4
	backd_kill_restart 1
	backd_kill_restart 2
	domu fs_domu_stop || fail "after the restarts: $(domu_why)"
	vbd_detach "$DOMU_ID" xvdb "$BACKEND_TYPE" || fail "detach did not complete"
	domu blk_domu_wait_gone xvdb || fail "xvdb still present after detach"
	backd_term
	/usr/sbin/e2fsck -fn "$img" || fail "e2fsck finds the filesystem damaged"
	echo "e2fsck: clean"
}

# domU: mount ext4 on xvdb and start the writer: files of 256 KiB of
# random data, each fsync'ed, its checksum recorded (in tmpfs) only once
# fsync returned -- what the filesystem acknowledged as durable.
fs_domu_start() {
	modload crc32c_generic || true
	modload ext4 || fail "cannot load ext4"
	mkdir -p /mnt/x
	mount -t ext4 /dev/xvdb /mnt/x || fail "cannot mount /dev/xvdb"
	rm -rf /tmp/fs.stop /tmp/fs.sums /tmp/fs.done /tmp/fs.count
	mkdir /tmp/fs.sums
	echo 0 >/tmp/fs.count
	setsid sh -c '
		i=0
		while [ ! -e /tmp/fs.stop ]; do
			dd if=/dev/urandom of=/tmp/fs.buf bs=64k count=4 2>/dev/null
			dd if=/tmp/fs.buf of=/mnt/x/f$i bs=64k conv=fsync 2>/tmp/fs.err ||
				{ echo "write f$i failed: $(head -n1 /tmp/fs.err)" >/tmp/fs.done; exit 1; }
			echo "$(sha256sum </tmp/fs.buf | cut -d" " -f1)  /mnt/x/f$i" >/tmp/fs.sums/f$i
			i=$((i + 1))
			echo $i >/tmp/fs.count.new && mv /tmp/fs.count.new /tmp/fs.count
			[ $((i % 32)) = 0 ] && [ $i -ge 64 ] || continue
			# every file is read back from the disk before it goes
			echo 3 >/proc/sys/vm/drop_caches
			cat /tmp/fs.sums/* >/tmp/fs.check
			sha256sum -c -s /tmp/fs.check ||
				{ echo "f$((i - 64))..f$((i - 1)) differ from what was written" >/tmp/fs.done; exit 1; }
			j=$((i - 64))
			while [ $j -lt $((i - 32)) ]; do
				rm -f /mnt/x/f$j /tmp/fs.sums/f$j
				j=$((j + 1))
			done
		done
		echo ok >/tmp/fs.done' </dev/null >/dev/null 2>&1 &
	echo "writer started"
}

# domU: how many files the writer has completed (fsync returned).
fs_domu_count() {
	cat /tmp/fs.count
}

# domU: stop the writer, check every file still kept, unmount.
fs_domu_stop() {
	local i=0 n
	touch /tmp/fs.stop
	until [ -e /tmp/fs.done ]; do
		i=$((i + 1))
		[ $i -lt 300 ] || fail "the writer did not stop (I/O hangs?)"
		sleep 0.1
	done
	[ "$(cat /tmp/fs.done)" = ok ] || fail "writer: $(cat /tmp/fs.done)"
	n=$(cat /tmp/fs.count)
	cat /tmp/fs.sums/* >/tmp/fs.check
	sync
	echo 3 >/proc/sys/vm/drop_caches
	sha256sum -c -s /tmp/fs.check ||
		fail "files differ from what was written"
	umount /mnt/x || fail "cannot unmount"
	echo "$n files written with fsync across the restarts," \
		"the last $(wc -l </tmp/fs.check) kept and verified"
}

cell_cleanup() {
	vbd_detach "$DOMU_ID" xvdb "$BACKEND_TYPE" 5
	stop_daemon "/tmp/$CELL.pid"
	echo "--- pvkit-backd logs ---"
	cat "/tmp/$CELL.backd.log" "/tmp/$CELL.backd1.log" \
		"/tmp/$CELL.backd2.log" 2>/dev/null
	rm -f "/tmp/$CELL.img" /tmp/$CELL.backd*.log
}
