# SPDX-License-Identifier: MIT
#
# Cell 19: `pvkit disk attach` writes what `xl block-attach` writes.  The
# same block device is attached to the domU with xl (libxl 4.17 and its
# block hotplug script) and with pvkit, read-write and read-only; each
# time Linux's xen-blkback serves it and the domU's xen-blkfront
# connects.  The toolstack's nodes -- backend and frontend directories
# and libxl's /libxl record, values and permissions -- must be the same,
# bar what the drivers write themselves; xl block-list lists the pvkit
# disk and xl block-detach removes it; pvkit disk list and detach do the
# same for xl's; both detaches leave the same directories behind.
#
# xen-dom0-kmods: loop xen-blkback
# xen-domu-kmods: xen-blkfront
CELL_TIMEOUT=240

cell_needs() {
	[ -x /etc/xen/scripts/block ] || skip "no /etc/xen/scripts/block in dom0"
	command -v bash >/dev/null || skip "no bash in dom0 (the hotplug scripts need it)"
	[ -x /usr/bin/flock ] || skip "no flock in dom0 (the hotplug scripts need it)"
}

# The nodes the drivers write (xen-blkback, xen-blkfront): not the
# toolstack's, so not compared.
DRIVER_NODES='^(state|feature-.*|max-ring-page-order|multi-queue-.*|sectors|sector-size|physical-sector-size|info|discard-granularity|discard-alignment|discard-secure|ring-ref.*|event-channel.*|queue-.*|ring-page-order|num-ring-pages|persistent)$'

# layout VDEV DEVID: the toolstack's part of the vbd, one line per node,
# "where/name = value (perms)", with the domU's id as D.
layout() {
	local d=$DOMU_ID dev=$2 where dir
	for where in backend frontend libxl; do
		case $where in
		backend) dir=/local/domain/0/backend/vbd/$d/$dev ;;
		frontend) dir=/local/domain/$d/device/vbd/$dev ;;
		libxl) dir=/libxl/$d/device/vbd/$dev ;;
		esac
		xenstore-ls -p "$dir" 2>&1 |
			sed -n 's/^\([^ ]*\) = \(".*"\)[ .]*(\(.*\))$/\1 \2 \3/p' |
			while read -r name value perms; do
				if [ "$where" != libxl ] && echo "$name" | grep -Eq "$DRIVER_NODES"; then
					continue
				fi
				echo "$where/$name = $value ($perms)"
			done
	done | sed "s/\([(,rn\/]\)$d\([,)/\"]\)/\1D\2/g" | sort
}

# What is left of the domU's vbds once none is attached.
leftovers() {
	{
		xenstore-ls -f /local/domain/0/backend/vbd 2>/dev/null
		xenstore-ls -f "/local/domain/$DOMU_ID/device" 2>/dev/null
		xenstore-ls -f "/local/domain/$DOMU_ID/device/vbd" 2>/dev/null
		xenstore-ls -f "/libxl/$DOMU_ID/device" 2>/dev/null
		xenstore-exists "/local/domain/0/backend/vbd/$DOMU_ID" && echo "backend/vbd/D exists"
		xenstore-exists "/local/domain/$DOMU_ID/device/vbd" && echo "device/vbd exists"
		xenstore-exists "/libxl/$DOMU_ID/device/vbd" && echo "/libxl/D/device/vbd exists"
	} 2>/dev/null | grep -v '/vif' | sed "s,/$DOMU_ID/,/D/,g" | sort
}

# connected DEVID VDEV: the domU's xen-blkfront has the disk (16 MiB).
connected() {
	domu blk_domu_wait_disk "$2" 32768 &&
		xs_wait "/local/domain/0/backend/vbd/$DOMU_ID/$1/state" 4 20 &&
		xs_wait "/local/domain/$DOMU_ID/device/vbd/$1/state" 4 20
}

# same WHAT FILE1 FILE2
same() {
	if cmp -s "$2" "$3"; then
		echo "$1: the same"
	else
		echo "$1: they differ (< xl, > pvkit):"
		diff "$2" "$3"
		return 1
	fi
}

cell_dom0() {
	local img=/tmp/$CELL.img loop d=$DOMU_ID t=/tmp/$CELL rc=0
	modload loop || fail "cannot load loop"
	modload xen-blkback || fail "cannot load xen-blkback"
	truncate -s 16M "$img" "$img.2" || fail "cannot create $img"
	loop=$(losetup -f) && losetup "$loop" "$img" || fail "losetup failed"
	echo "$loop" >"/tmp/$CELL.loop"
	leftovers >"$t.left0"

	# 1. read-write: xl, then pvkit, each detached by the other.
	xl block-attach "$d" "phy:$loop,xvdc,w" || {
		tail -n 20 /var/log/xen/xen-hotplug.log
		fail "xl block-attach failed"
	}
	connected 51744 xvdc || { vbd_show "$d" xvdc; fail "xl's disk did not connect"; }
	layout xvdc 51744 >"$t.xl"
	"$PVK_BIN/pvkit" disk list >"$t.list" 2>&1
	cat "$t.list"
	grep -q "^$d .* xvdc .* 51744 " "$t.list" || { echo "pvkit disk list does not show xl's disk"; rc=1; }
	"$PVK_BIN/pvkit" disk detach "$d" xvdc || fail "pvkit disk detach of xl's disk failed"
	domu blk_domu_wait_gone xvdc || fail "xvdc still in the domU"
	leftovers >"$t.left-pvkit"

	"$PVK_BIN/pvkit" disk attach "$d" "$loop" --vdev xvdc || fail "pvkit disk attach failed"
	connected 51744 xvdc || { vbd_show "$d" xvdc; fail "pvkit's disk did not connect"; }
	layout xvdc 51744 >"$t.pvkit"
	echo "--- xl block-attach phy:$loop,xvdc,w (the toolstack's nodes)"
	cat "$t.xl"
	same "read-write layout" "$t.xl" "$t.pvkit" || rc=1
	xl block-list "$d" >"$t.xlist" 2>&1
	cat "$t.xlist"
	grep -q "^51744 " "$t.xlist" || { echo "xl block-list does not show pvkit's disk"; rc=1; }
	xl block-detach "$d" xvdc || fail "xl block-detach of pvkit's disk failed"
	domu blk_domu_wait_gone xvdc || fail "xvdc still in the domU"
	leftovers >"$t.left-xl"
	same "left after detach" "$t.left-xl" "$t.left-pvkit" || rc=1
	same "left after detach, against before" "$t.left0" "$t.left-xl" || rc=1

	# 2. read-only.
	xl block-attach "$d" "phy:$loop,xvdd,r" || fail "xl block-attach (ro) failed"
	connected 51760 xvdd || { vbd_show "$d" xvdd; fail "xl's read-only disk did not connect"; }
	layout xvdd 51760 >"$t.xl-ro"
	xl block-detach "$d" xvdd || fail "xl block-detach failed"
	"$PVK_BIN/pvkit" disk attach "$d" "$loop" --vdev xvdd --ro || fail "pvkit disk attach --ro failed"
	connected 51760 xvdd || { vbd_show "$d" xvdd; fail "pvkit's read-only disk did not connect"; }
	layout xvdd 51760 >"$t.pvkit-ro"
	same "read-only layout" "$t.xl-ro" "$t.pvkit-ro" || rc=1
	"$PVK_BIN/pvkit" disk detach "$d" xvdd || fail "pvkit disk detach failed"

	# 3. For the record: a file, which xl's script turns into a loop
	# device (pvkit-backd serves files itself).
	if xl block-attach "$d" "format=raw,vdev=xvde,access=rw,target=$img.2"; then
		connected 51776 xvde
		echo "--- xl block-attach of a file"
		layout xvde 51776
		xenstore-read "/local/domain/0/backend/vbd/$d/51776/physical-device-path"
		xl block-detach "$d" xvde
	fi
	return $rc
}

cell_cleanup() {
	xl block-detach "$DOMU_ID" xvdc >/dev/null 2>&1
	xl block-detach "$DOMU_ID" xvdd >/dev/null 2>&1
	xl block-detach "$DOMU_ID" xvde >/dev/null 2>&1
	vbd_detach "$DOMU_ID" xvdc vbd 5
	vbd_detach "$DOMU_ID" xvdd vbd 5
	loop_free "/tmp/$CELL.loop"
	losetup -a 2>/dev/null | grep -q "$CELL.img.2" &&
		losetup -d "$(losetup -a | grep "$CELL.img.2" | cut -d: -f1)"
	module_unload xen-blkback
	rm -f "/tmp/$CELL.img" "/tmp/$CELL.img.2"
}
