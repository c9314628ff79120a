# SPDX-License-Identifier: MIT
#
# lib.sh -- shell helpers shared by the guests' init scripts and the cells.
# Runs under busybox ash, in dom0 and in the domU.
#
# Cells see, in dom0:
#   CELL           the cell's name (file name without .sh)
#   DOMU_ID        the test domU's domid;  DOMU_HOME=/local/domain/$DOMU_ID
#   PVK_BIN, PVK_TESTS   pvkit's build/bin and build/tests, as copied in
# and may call:
#   domu FN [ARG...]   run FN (a function of the same cell file) in the
#                      domU; prints FN's stdout, returns FN's status.
#                      Arguments are split on spaces.
#   xs_wait PATH GLOB [SECS]   wait until xenstore PATH matches GLOB
#   modload NAME       insmod a module and its dependencies, once
#   fail MSG / skip MSG   end the cell failed / skipped (exit 1 / 77)
# and the vbd, block-data, daemon and cleanup helpers below (listed in
# tests/xen/README.md).

PVK_BIN=/pvkit/bin
PVK_TESTS=/pvkit/tests

# Seconds since boot (integer), from /proc/uptime.
now() {
	local up
	read -r up _ </proc/uptime
	echo "${up%.*}"
}

# Centiseconds since boot, for timings.
now_cs() {
	local up
	read -r up _ </proc/uptime
	echo "${up%.*}${up#*.}" | sed 's/^0*//;s/^$/0/'
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

skip() {
	echo "SKIP: $*"
	echo "SKIP: $*" >&2
	exit 77
}

# modload NAME: load NAME.ko and, first, what it depends on (the list the
# host resolved from each module's .modinfo into /lib/modules/deps).
modload() {
	local m=$1 d
	[ -e "/sys/module/$(echo "$m" | tr - _)" ] && return 0
	[ -f "/lib/modules/$m.ko" ] || {
		echo "modload: no module $m in this image" >&2
		return 1
	}
	for d in $(sed -n "s/^$m://p" /lib/modules/deps); do
		modload "$d" || return 1
	done
	insmod "/lib/modules/$m.ko" || {
		# Loaded meanwhile (by a dependency walk) is fine.
		[ -e "/sys/module/$(echo "$m" | tr - _)" ]
	}
}

# xs_wait PATH GLOB [SECS]: wait (default 30 s) until the value at PATH
# matches the shell pattern GLOB.  Blocks on a xenstore watch between
# reads; the watch is re-armed every second so a change that lands
# between a read and the watch's registration costs at most that.
xs_wait() {
	local path=$1 want=$2 secs=${3:-30} v deadline
	deadline=$(($(now) + secs))
	while :; do
		v=$(xenstore-read "$path" 2>/dev/null) && case "$v" in
		$want) return 0 ;;
		esac
		if [ "$(now)" -ge "$deadline" ]; then
			echo "xs_wait: $path is '${v:-<absent>}' after ${secs}s, wanted '$want'" >&2
			return 1
		fi
		timeout 1 xenstore-watch -n 2 "$path" >/dev/null 2>&1
	done
}

# domu FN [ARG...]: the dom0 half of the dom0 -> domU call channel.
# dom0 writes "SEQ CELL SECS FN ARGS" to $DOMU_HOME/data/cmd; the domU's
# init runs FN for at most SECS - 5 seconds and answers with data/out
# (FN's stdout, first KiB), data/why (its first "FAIL: " line) and
# data/rc = "SEQ STATUS".  dom0 waits SECS ($DOMU_CALL_TIMEOUT, default
# 60).  Sequence numbers make a late answer to an earlier, timed-out call
# harmless.
DOMU_CALL_TIMEOUT=${DOMU_CALL_TIMEOUT:-60}
domu() {
	local seq rc
	seq=$(($(cat /tmp/domu.seq 2>/dev/null || echo 0) + 1))
	echo "$seq" >/tmp/domu.seq
	xenstore-write "$DOMU_HOME/data/cmd" \
		"$seq $CELL $DOMU_CALL_TIMEOUT $*" || return 1
	xs_wait "$DOMU_HOME/data/rc" "$seq *" "$DOMU_CALL_TIMEOUT" || {
		echo "domu $1: no answer from the domU" >&2
		return 124
	}
	rc=$(xenstore-read "$DOMU_HOME/data/rc")
	rc=${rc#* }
	xenstore-read "$DOMU_HOME/data/out" 2>/dev/null | grep -v '^$'
	return "$rc"
}

# domu_why: the reason the last failed domu call gave (its first "FAIL: "
# line), for the cell's own failure message.
domu_why() {
	xenstore-read "$DOMU_HOME/data/why" 2>/dev/null
}

# The domU half: wait for commands and run them, forever.
domu_serve() {
	local last="" cmd seq cell secs fn rc
	while :; do
		cmd=$(xenstore-read data/cmd 2>/dev/null)
		seq=${cmd%% *}
		if [ -z "$cmd" ] || [ "$seq" = "$last" ]; then
			timeout 2 xenstore-watch -n 2 data/cmd >/dev/null 2>&1
			continue
		fi
		last=$seq
		set -- $cmd
		cell=$2 secs=$3 fn=$4
		shift 4
		echo "== domU: $cell $fn $* =="
		CELL=$cell timeout $((secs > 10 ? secs - 5 : 5)) sh -c \
			'. /xen/lib.sh; . "/xen/cells/$0.sh"; "$@"' \
			"$cell" "$fn" "$@" >/tmp/out 2>/tmp/err
		rc=$?
		cat /tmp/err /tmp/out
		echo "== domU: $cell $fn -> $rc =="
		if [ $rc -eq 143 ] || [ $rc -eq 137 ]; then
			blocked_tasks
		fi
		# One transaction: dom0 reads out and why once it sees rc.
		xenstore-write data/out "$(head -c 1024 /tmp/out)" \
			data/why "$(grep -m1 '^FAIL: ' /tmp/err | cut -c7- | head -c 512)" \
			data/rc "$seq $rc" || echo "domU: cannot answer $seq" >&2
	done
}

# blocked_tasks: when something hung, show where: the kernel stacks of
# tasks in uninterruptible sleep (sysrq w), from the kernel log.
blocked_tasks() {
	echo "--- blocked tasks (sysrq w) ---"
	dmesg -c >/dev/null
	echo w >/proc/sysrq-trigger 2>/dev/null
	dmesg | tail -n 80
}

# vbd_attach FE NAME TARGET [MODE [TYPE [FETYPE]]]: give domain FE a virtual
# block device NAME (xvda..xvdp) served from dom0 by the backend that watches
# backend/TYPE (default vbd: Linux's xen-blkback) from TARGET, its frontend
# in device/FETYPE (default vbd; pvkvbd: pvkit-blkfront's own type), with
# `pvkit disk attach`: libxl's layout, which cell 19 compares node by node
# with what `xl block-attach` writes, in one transaction, and for a block
# device its physical-device (what xen-blkback opens), as xl's hotplug
# script adds it.  It does not wait for the backend (--no-wait): cells
# check what they expect.
vbd_attach() {
	local ro=""
	[ "${4:-w}" = r ] && ro=--ro
	# shellcheck disable=SC2086 # $ro is one word or none
	"$PVK_BIN/pvkit" disk attach "$1" "$3" --vdev "$2" --type "${5:-vbd}" \
		${6:+--frontend-type "$6"} --no-wait $ro >/dev/null
}

# vbd_number NAME: Linux's xvd encoding, (202 << 8) | (disk << 4).
vbd_number() {
	local i
	i=$(expr index abcdefghijklmnop "${1#xvd}")
	case "$1" in
	xvd?) [ "$i" -gt 0 ] && echo $((51712 + (i - 1) * 16)) && return 0 ;;
	esac
	echo "vbd_number: $1 is not xvda..xvdp" >&2
	return 1
}

# vbd_detach FE NAME [TYPE [SECS [FETYPE]]]: as `xl block-detach`: ask the
# backend to close (online=0, state Closing), wait (30 s) until it is
# Closed, remove the nodes (also when it did not close: as --force), and
# wait until a kernel backend has let go of its device.  A frontend that
# already closed (a userspace frontend that exited) will not answer
# Closing; neither will Linux's blkback then, which only follows the
# frontend's state: with the frontend Closed, the nodes are just removed.
vbd_detach() {
	local dev
	dev=$(vbd_number "$2") || return 1
	dev_detach "${5:-vbd}" "$1" "$dev" "${3:-vbd}" "${4:-30}"
}

# dev_detach KIND FE DEV TYPE SECS: vbd_detach and vif_detach: device DEV
# of kind KIND (vbd, vif) of domain FE, served from backend/TYPE.
dev_detach() {
	local kind=$1 fe=$2 dev=$3 type=$4 secs=$5 be fp fstate sysdev rc=0
	be=/local/domain/0/backend/$type/$fe/$dev
	fp=/local/domain/$fe/device/$kind/$dev
	sysdev=/sys/bus/xen-backend/devices/$type-$fe-$dev
	xenstore-exists "$be" 2>/dev/null || {
		xenstore-rm "$fp" 2>/dev/null
		xenstore-rm "/libxl/$fe/device/$kind/$dev" 2>/dev/null
		xs_rm_empty "/local/domain/$fe/device/$kind"
		xs_rm_empty "/libxl/$fe/device/$kind"
		return 0
	}
	fstate=$(xenstore-read "$fp/state" 2>/dev/null)
	if [ "${fstate:-6}" = 6 ]; then
		xenstore-write "$be/online" 0 || rc=1
	else
		xenstore-write "$be/online" 0 "$be/state" 5 || rc=1
		xs_wait "$be/state" 6 "$secs" || rc=1
	fi
	# With libxl's record of the device (pvkit disk attach writes it, and
	# xl refuses a vdev it still names).
	xenstore-rm "$be" "$fp" 2>/dev/null
	xenstore-rm "/libxl/$fe/device/$kind/$dev" 2>/dev/null
	# And, as libxl, the parents that leaves empty.
	xs_rm_empty "/local/domain/0/backend/$type/$fe"
	xs_rm_empty "/local/domain/$fe/device/$kind"
	xs_rm_empty "/libxl/$fe/device/$kind"
	if ! wait_gone "$sysdev" 10; then
		echo "${kind}_detach: $sysdev still there" >&2
		rc=1
	fi
	return $rc
}

# xs_rm_empty PATH: remove xenstore directory PATH if it has no children.
xs_rm_empty() {
	xenstore-exists "$1" 2>/dev/null && [ -z "$(xenstore-list "$1" 2>/dev/null)" ] &&
		xenstore-rm "$1" 2>/dev/null
	return 0
}

# wait_gone PATH SECS: wait until PATH does not exist; wait_present
# PATH SECS: until it does.
wait_gone() {
	wait_path "$1" "$2" gone
}

wait_present() {
	wait_path "$1" "$2" present
}

wait_path() {
	local deadline=$(($(now) + $2))
	while if [ -e "$1" ]; then [ "$3" = gone ]; else [ "$3" = present ]; fi; do
		[ "$(now)" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# vbd_show FE NAME [TYPE]: print a vbd's xenstore nodes (for the log).
vbd_show() {
	local dev
	dev=$(vbd_number "$2") || return 1
	dev_show vbd "$1" "$dev" "${3:-vbd}"
}

# dev_show KIND FE DEV TYPE: see vbd_show.
dev_show() {
	xenstore-ls -fp "/local/domain/0/backend/$4/$2/$3" 2>&1
	xenstore-ls -fp "/local/domain/$2/device/$1/$3" 2>&1
	# xenbus_dev_fatal() and friends leave their reasons here.
	xenstore-ls -fp /local/domain/0/error 2>/dev/null
	xenstore-ls -fp "/local/domain/$2/error" 2>/dev/null
}

# --- data checks shared by the block cells ----------------------------
#
# blk_exchange DOM0_PATH HOW NAME
#   moves data both ways and compares sha256 sums: the domU writes 4 MiB
#   of random data at 1 MiB and dom0 reads it from DOM0_PATH (the image
#   or device behind the backend); dom0 writes 4 MiB at 8 MiB into
#   DOM0_PATH and the domU reads it.  HOW is the domU's way to vbd NAME:
#   "kernel" (/dev/NAME, O_DIRECT) or "pvkit" (pvk-xen-blkio, pvkit's
#   userspace blkfront).
blk_exchange() {
	local path=$1 how=$2 name=$3 want got
	want=$(domu blk_domu_write "$how" "$name" 1 4) ||
		fail "domU write failed: $(domu_why)"
	got=$(dd if="$path" bs=1M skip=1 count=4 $(blk_direct "$path" i) \
		2>/dev/null | sha256sum | cut -d' ' -f1)
	echo "domU wrote $want, dom0 read $got"
	[ -n "$want" ] && [ "$want" = "$got" ] ||
		fail "data written by the domU differs in dom0"

	dd if=/dev/urandom of=/tmp/blk.pat bs=1M count=4 2>/dev/null
	want=$(sha256sum </tmp/blk.pat | cut -d' ' -f1)
	dd if=/tmp/blk.pat of="$path" bs=1M seek=8 conv=notrunc,fsync \
		$(blk_direct "$path" o) 2>/dev/null || fail "dom0 write to $path failed"
	got=$(domu blk_domu_read "$how" "$name" 8 4) ||
		fail "domU read failed: $(domu_why)"
	echo "dom0 wrote $want, domU read $got"
	[ "$want" = "$got" ] || fail "data written by dom0 differs in the domU"
	rm -f /tmp/blk.pat
}

# O_DIRECT for block devices (tmpfs files refuse it).
blk_direct() {
	[ -b "$1" ] && echo "${2}flag=direct"
}

# domU: blk_domu_write HOW NAME OFF_MIB MIB: write MIB MiB of random
# data at OFF_MIB; print its sha256.
blk_domu_write() {
	local how=$1 name=$2
	shift 2
	dd if=/dev/urandom of=/tmp/pat bs=1M count="$2" 2>/dev/null
	case $how in
	kernel)
		blk_kernel_dd "$name" if=/tmp/pat of="/dev/$name" bs=1M \
			seek="$1" oflag=direct conv=fsync ||
			fail "write to /dev/$name failed"
		;;
	pvkit)
		pvk-xen-blkio "$name" write $(($1 << 20)) </tmp/pat >&2 ||
			fail "pvk-xen-blkio write failed"
		;;
	esac
	sha256sum </tmp/pat | cut -d' ' -f1
}

# domU: blk_domu_read HOW NAME OFF_MIB MIB: print the sha256 of MIB MiB
# at OFF_MIB.
blk_domu_read() {
	local how=$1 name=$2
	shift 2
	case $how in
	kernel)
		blk_kernel_dd "$name" if="/dev/$name" bs=1M skip="$1" \
			count="$2" iflag=direct || echo "read from /dev/$name failed" >&2
		;;
	pvkit)
		pvk-xen-blkio "$name" read $(($1 << 20)) $(($2 << 20)) ||
			fail "pvk-xen-blkio read failed"
		;;
	esac | sha256sum | cut -d' ' -f1
}

# domU: blk_kernel_dd NAME DD-ARGS...: dd on the kernel's /dev/NAME,
# watched: when xen-blkfront disables the disk (a backend protocol
# violation) the I/O never completes, so fail at once with the kernel's
# reason instead of waiting out the call's timeout.  The dd is left
# behind in D state; a failed cell gets a fresh domU.
blk_kernel_dd() {
	local name=$1 pid n0 why deadline
	shift
	n0=$(dmesg | wc -l)
	dd "$@" 2>/dev/null &
	pid=$!
	deadline=$(($(now) + 40))
	while kill -0 "$pid" 2>/dev/null; do
		why=$(dmesg | tail -n +$((n0 + 1)) | grep "$name" |
			sed 's/^\[[^]]*\] //' | tr '\n' ' ')
		case $why in
		*"disabled for further use"*)
			echo "xen-blkfront: $why" >&2
			why=${why%%"$name disabled"*}
			fail "xen-blkfront disabled $name: ${why% }"
			;;
		esac
		[ "$(now)" -lt "$deadline" ] || fail "dd on /dev/$name hangs"
		sleep 0.2
	done
	wait "$pid"
}

# domU: load xen-blkfront, wait for /dev/NAME, check its size in sectors.
# (A disk being torn down may still show, with 0 sectors: wait it out.)
blk_domu_wait_disk() {
	local deadline=$(($(now) + 30)) size=""
	modload xen-blkfront || fail "cannot load xen-blkfront"
	until [ -b "/dev/$1" ] && size=$(cat "/sys/block/$1/size" 2>/dev/null) &&
		[ "$size" = "$2" ]; do
		[ "$(now)" -lt "$deadline" ] ||
			fail "/dev/$1 has ${size:-no} sectors after 30s, expected $2"
		sleep 0.1
	done
	echo "/dev/$1: $size sectors" >&2
}

blk_domu_wait_gone() {
	wait_gone "/sys/block/$1" 15 || fail "/dev/$1 still there after 15s"
}

# domU: blk_domu_autoprobe 0|1: whether the domU's kernel binds new xenbus
# devices to their drivers.  Off while pvkit's userspace blkfront owns a
# vbd, so that xen-blkfront (loaded by an earlier cell, perhaps wedged on
# a broken disk and impossible to unload) never claims it.
blk_domu_autoprobe() {
	echo "$1" >/sys/bus/xen/drivers_autoprobe ||
		fail "cannot set /sys/bus/xen/drivers_autoprobe"
}

# cell_main: how dom0 runs a cell: its optional cell_needs (which may
# `skip`), then its cell_dom0.  Afterwards, in a shell of its own and
# whatever the outcome (even a timeout), dom0 runs cell_cleanup_main: the
# cell's optional cell_cleanup, which must undo what cell_dom0 may have
# left (devices, daemons, modules) so the next cell starts clean.  Cells
# keep what cleanup needs in files (e.g. /tmp/$CELL.pid).
cell_main() {
	if command -v cell_needs >/dev/null 2>&1; then
		cell_needs || exit $?
	fi
	cell_dom0
}

cell_cleanup_main() {
	command -v cell_cleanup >/dev/null 2>&1 || return 0
	cell_cleanup
}

# backd_wait_taken FE NAME TYPE LOG: wait until pvkit-backd has taken the
# vbd (its state InitWait or beyond); else fail with its last log line.
backd_wait_taken() {
	local dev
	dev=$(vbd_number "$2") || return 1
	xs_wait "/local/domain/0/backend/$3/$1/$dev/state" '[2345]' 15 && return 0
	cat "$4"
	fail "pvkit-backd did not take the vbd: $(tail -n1 "$4")"
}

# backd_check_stats SOCKET [vbd|vif]: pvkit-backd's own view of the
# device it serves (`pvkit stats show --raw`): it must have counted no
# error and not latched the device broken; a vbd must have done reads and
# writes.
backd_check_stats() {
	local out line
	out=$(pvkit stats show --raw --control "$1") || fail "pvkit stats failed"
	echo "--- pvkit stats ---"
	echo "$out"
	line=$(echo "$out" | grep -m1 '^counters ')
	[ -n "$line" ] || fail "pvkit-backd reports no device"
	[ "${2:-vbd}" != vbd ] || case " $line " in
	*" reads=0 "* | *" writes=0 "*) fail "pvkit-backd saw no I/O: $line" ;;
	esac
	case " $line " in
	*" errors=0 "*) ;;
	*) fail "pvkit-backd counted errors: $line" ;;
	esac
	case " $line " in
	*" broken=0 "*) ;;
	*) fail "pvkit-backd latched the device broken: $line" ;;
	esac
}

# backd_term: SIGTERM the cell's pvkit-backd (a child of this shell, its
# pid in /tmp/$CELL.pid), which must answer everything and exit 0.
backd_term() {
	local pid rc
	pid=$(cat "/tmp/$CELL.pid")
	rm -f "/tmp/$CELL.pid"
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	[ $rc -eq 0 ] || fail "pvkit-backd exited with $rc on SIGTERM"
}

# --- cleanup helpers ---------------------------------------------------

# stop_daemon PIDFILE: SIGTERM, wait up to 10 s, then SIGKILL.
stop_daemon() {
	local pid deadline
	[ -f "$1" ] || return 0
	pid=$(cat "$1")
	rm -f "$1"
	kill -TERM "$pid" 2>/dev/null || return 0
	deadline=$(($(now) + 10))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$(now)" -ge "$deadline" ]; then
			echo "stop_daemon: $pid ignored SIGTERM; killing it"
			kill -KILL "$pid" 2>/dev/null
			break
		fi
		sleep 0.1
	done
}

# loop_free LOOPFILE: detach the loop device named in LOOPFILE, retrying
# while the backend still holds it.
loop_free() {
	local dev deadline
	[ -f "$1" ] || return 0
	dev=$(cat "$1")
	deadline=$(($(now) + 10))
	until losetup -d "$dev" 2>/dev/null; do
		[ "$(now)" -lt "$deadline" ] || {
			echo "loop_free: $dev still busy"
			return 1
		}
		sleep 0.1
	done
	rm -f "$1"
}

# module_unload NAME: rmmod if loaded.
module_unload() {
	[ -e "/sys/module/$(echo "$1" | tr - _)" ] || return 0
	rmmod "$1"
}

# --- networking (cells 10-15) -------------------------------------------
#
# dom0 holds NET_DOM0_IP on the bridge NET_BRIDGE; the domU's NIC gets
# NET_DOMU_IP.  Each cell builds the bridge (net_bridge_up) and removes
# it in its cleanup (which also forgets the neighbour entries of the
# previous cell's MAC).
NET_BRIDGE=xenbr0
NET_DOM0_IP=10.99.0.1
NET_DOMU_IP=10.99.0.2
NET_MIB=${NET_MIB:-16} # each direction of a TCP exchange
NET_PORT=5201

# net_bridge_up: create NET_BRIDGE (no STP: ports forward at once) with
# dom0's address.
net_bridge_up() {
	modload bridge || return 1
	[ -d "/sys/class/net/$NET_BRIDGE" ] || brctl addbr "$NET_BRIDGE" || return 1
	ip addr add "$NET_DOM0_IP/24" dev "$NET_BRIDGE" 2>/dev/null
	ip link set dev "$NET_BRIDGE" up
}

net_bridge_down() {
	[ -d "/sys/class/net/$NET_BRIDGE" ] || return 0
	ip link set dev "$NET_BRIDGE" down
	brctl delbr "$NET_BRIDGE"
}

# vif_mac FE DEVID: the MAC the cells give a vif (Xen's OUI).
vif_mac() {
	printf '00:16:3e:5a:%02x:%02x\n' "$1" "$2"
}

# vif_attach FE DEVID [TYPE [MAC [FETYPE]]]: give domain FE the network
# device DEVID, served from dom0 by the backend that watches backend/TYPE
# (default vif: Linux's xen-netback), with libxl's xenstore layout
# (libxl_nic.c): the backend is told the script, bridge, MAC and MTU and
# waits for hotplug-status (vif_hotplug plays the hotplug script); the
# frontend's mtu node is the backend's to write.  The frontend's nodes go
# to device/FETYPE (default vif; pvkvif for pvkit-netfront, which binds
# only that type).  As in vbd_attach, the two state nodes are written last.
vif_attach() {
	local fe=$1 devid=$2 type=${3:-vif} mac=${4:-} be fp
	[ -n "$mac" ] || mac=$(vif_mac "$fe" "$devid")
	be=/local/domain/0/backend/$type/$fe/$devid
	fp=/local/domain/$fe/device/${5:-vif}/$devid
	xenstore-write \
		"$be/frontend" "$fp" "$be/frontend-id" "$fe" "$be/online" 1 \
		"$be/script" /etc/xen/scripts/vif-bridge "$be/mac" "$mac" \
		"$be/mtu" 1500 "$be/bridge" "$NET_BRIDGE" "$be/handle" "$devid" \
		"$be/type" vif "$be/hotplug-status" "" \
		"$fp/backend" "$be" "$fp/backend-id" 0 "$fp/handle" "$devid" \
		"$fp/mac" "$mac" "$fp/mtu" 1500 "$fp/trusted" 1 || return 1
	xenstore-chmod -r "$be" n0 "r$fe" || return 1
	xenstore-chmod -r "$fp" "n$fe" r0 || return 1
	xenstore-chmod "$fp/mtu" n0 "r$fe" || return 1
	xenstore-write "$fp/state" 1 || return 1
	xenstore-write "$be/state" 1
}

# vif_hotplug FE DEVID [IFNAME]: what Xen's vif-bridge script does when a
# kernel backend brings a vif online: wait (20 s) for its network device
# in dom0 (default vif<FE>.<DEVID>, xen-netback's name), enslave it to
# NET_BRIDGE, bring it up, and report hotplug-status = connected, which
# xen-netback waits for before it reports Connected.
vif_hotplug() {
	local fe=$1 devid=$2 ifname=${3:-vif$1.$2}
	wait_present "/sys/class/net/$ifname" 20 || {
		echo "vif_hotplug: no $ifname in dom0 after 20s" >&2
		return 1
	}
	brctl addif "$NET_BRIDGE" "$ifname" || return 1
	ip link set dev "$ifname" up || return 1
	xenstore-write "/local/domain/0/backend/vif/$fe/$devid/hotplug-status" \
		connected
}

# vif_connected FE DEVID [TYPE [FETYPE]]: wait (30 s) until both ends are
# Connected.
vif_connected() {
	local fe=$1 devid=$2 type=${3:-vif}
	xs_wait "/local/domain/0/backend/$type/$fe/$devid/state" 4 30 &&
		xs_wait "/local/domain/$fe/device/${4:-vif}/$devid/state" 4 30
}

# vif_detach FE DEVID [TYPE [SECS [FETYPE]]]: as `xl network-detach` (see
# vbd_detach): online = 0 and Closing, wait (30 s) for Closed, remove the
# nodes, and wait until a kernel backend's device has gone.
vif_detach() {
	dev_detach "${5:-vif}" "$1" "$2" "${3:-vif}" "${4:-30}"
}

# vif_show FE DEVID [TYPE [FETYPE]]: a vif's xenstore nodes (for the log).
vif_show() {
	dev_show "${4:-vif}" "$1" "$2" "${3:-vif}"
}

# net_ifname MAC|tun: the network device with address MAC, if any; or
# the first TAP/TUN device.
net_ifname() {
	local d
	for d in /sys/class/net/*; do
		if [ "$1" = tun ]; then
			[ -e "$d/tun_flags" ] || continue
		else
			[ "$(cat "$d/address" 2>/dev/null)" = "$1" ] || continue
		fi
		basename "$d"
		return 0
	done
	return 1
}

# net_ping IP: three answered pings (20 s at most; the first waits for
# ARP).
net_ping() {
	local out
	out=$(ping -c 3 -w 20 "$1" 2>&1)
	echo "$out" | grep -E 'packets|round-trip' | tr '\n' ' '
	echo
	case $out in
	*" 3 packets received"*) return 0 ;;
	esac
	echo "FAIL: ping $1: $(echo "$out" | grep 'packets transmitted')" >&2
	return 1
}

# net_stats IFNAME: a NIC's counters (busybox ip has no -s).
net_stats() {
	local d=/sys/class/net/$1/statistics c
	echo "$1: $(for c in rx_packets rx_bytes rx_errors rx_dropped tx_packets \
		tx_bytes tx_errors tx_dropped; do
		printf '%s=%s ' "$c" "$(cat "$d/$c" 2>/dev/null)"
	done)"
}

# net_ping_both: dom0 pings the domU, the domU pings dom0.
net_ping_both() {
	echo "--- dom0 -> domU ping ---"
	net_ping "$NET_DOMU_IP" || fail "dom0 cannot ping the domU"
	echo "--- domU -> dom0 ping ---"
	domu net_ping "$NET_DOM0_IP" || fail "the domU cannot ping dom0: $(domu_why)"
}

# net_exchange: NET_MIB MiB of random data over TCP each way, compared by
# sha256 on both ends; prints the rates for the log.
net_exchange() {
	local pat=/tmp/net.pat in=/tmp/net.in want got r n us
	dd if=/dev/urandom of="$pat" bs=1M count="$NET_MIB" 2>/dev/null
	want=$(sha256sum <"$pat" | cut -d' ' -f1)
	domu net_domu_recv_start "$NET_PORT" ||
		fail "cannot listen in the domU: $(domu_why)"
	r=$(pvk-xen-tcp send "$NET_DOMU_IP" "$NET_PORT" 100 <"$pat") ||
		fail "TCP send dom0 -> domU failed"
	got=$(domu net_domu_recv_wait) ||
		fail "TCP receive in the domU failed: $(domu_why)"
	echo "dom0 -> domU: sent $want, domU got $got ($(net_rate "$r"))"
	[ "$want" = "$got" ] || fail "TCP data dom0 -> domU differs"

	pvk-xen-tcp recv "$((NET_PORT + 1))" "$in" 110 ||
		fail "cannot listen in dom0"
	DOMU_CALL_TIMEOUT=120
	want=$(domu net_domu_send "$NET_DOM0_IP" "$((NET_PORT + 1))" "$NET_MIB") ||
		fail "TCP send domU -> dom0 failed: $(domu_why)"
	DOMU_CALL_TIMEOUT=60
	net_recv_wait "$in" 30 || fail "TCP receive in dom0 failed: $(cat "$in.rc" 2>/dev/null)"
	read -r _ n us <"$in.rc"
	got=$(sha256sum <"$in" | cut -d' ' -f1)
	echo "domU -> dom0: sent $want, dom0 got $got ($(net_rate "$n $us"))"
	[ "$want" = "$got" ] || fail "TCP data domU -> dom0 differs"
	rm -f "$pat" "$in" "$in.rc"
}

# net_rate "BYTES USECS": a rate for the log.
net_rate() {
	echo "$1" | awk '{ printf "%d bytes in %.2f s, %.1f MB/s",
		$1, $2 / 1e6, ($2 > 0 ? $1 / $2 : 0) }'
}

# net_recv_wait FILE SECS: wait until pvk-xen-tcp recv wrote FILE.rc;
# succeed when it says 0.
net_recv_wait() {
	local deadline=$(($(now) + $2)) rc
	until [ -f "$1.rc" ]; do
		[ "$(now)" -lt "$deadline" ] || {
			echo "no end of the transfer to $1 after $2 s" >&2
			return 1
		}
		sleep 0.2
	done
	read -r rc _ <"$1.rc"
	[ "$rc" = 0 ]
}

# domU: net_domu_netfront QUEUES: load xen-netfront (it stays loaded)
# and have it ask for QUEUES queues on the next vif it connects (its
# max_queues parameter, read at connect time); make sure the kernel binds
# new xenbus devices (see blk_domu_autoprobe).
net_domu_netfront() {
	modload xen-netfront || fail "cannot load xen-netfront"
	echo "$1" >/sys/module/xen_netfront/parameters/max_queues ||
		fail "cannot set xen-netfront's max_queues"
	echo 1 >/sys/bus/xen/drivers_autoprobe
}

# domU: net_domu_up MAC|tun [SECS]: wait (30 s) for the NIC (net_ifname),
# give it NET_DOMU_IP, bring it up; print its name and queue count.
net_domu_up() {
	local deadline=$(($(now) + ${2:-30})) ifname
	until ifname=$(net_ifname "$1"); do
		[ "$(now)" -lt "$deadline" ] || fail "no NIC with MAC $1 in the domU"
		sleep 0.1
	done
	ip addr add "$NET_DOMU_IP/24" dev "$ifname" || fail "ip addr add failed"
	ip link set dev "$ifname" up || fail "cannot bring $ifname up"
	echo "$ifname queues=$(ls "/sys/class/net/$ifname/queues" | grep -c '^tx-')"
}

# domU: net_domu_gone MAC: wait (15 s) until the NIC has gone.
net_domu_gone() {
	local deadline=$(($(now) + 15))
	while net_ifname "$1" >/dev/null; do
		[ "$(now)" -lt "$deadline" ] || fail "NIC $1 still present after 15s"
		sleep 0.1
	done
}

# domU: net_domu_recv_start PORT: listen; net_domu_recv_wait prints the
# sha256 of what arrived.
net_domu_recv_start() {
	pvk-xen-tcp recv "$1" /tmp/net.in 110
}

net_domu_recv_wait() {
	net_recv_wait /tmp/net.in 30 ||
		fail "receive: $(cat /tmp/net.in.rc 2>/dev/null)"
	sha256sum </tmp/net.in | cut -d' ' -f1
	rm -f /tmp/net.in /tmp/net.in.rc
}

# domU: net_domu_send HOST PORT MIB: send MIB MiB of random data; print
# its sha256.
net_domu_send() {
	dd if=/dev/urandom of=/tmp/net.pat bs=1M count="$3" 2>/dev/null
	pvk-xen-tcp send "$1" "$2" 100 </tmp/net.pat >/dev/null ||
		fail "pvk-xen-tcp send to $1:$2 failed"
	sha256sum </tmp/net.pat | cut -d' ' -f1
	rm -f /tmp/net.pat
}

# net_exchange_streams N: N TCP streams at once each way (NET_MIB / N MiB
# each), each compared by sha256: separate flows hash to different
# queues of a multi-queue vif.
net_exchange_streams() {
	local n=$1 mib=$((NET_MIB / $1)) want got
	[ "$mib" -ge 1 ] || mib=1
	domu streams_recv "$n" $((NET_PORT + 10)) ||
		fail "cannot listen in the domU: $(domu_why)"
	want=$(streams_send "$n" "$NET_DOMU_IP" $((NET_PORT + 10)) "$mib") ||
		fail "TCP streams dom0 -> domU failed"
	got=$(domu streams_sums "$n") || fail "TCP streams into the domU: $(domu_why)"
	echo "$n streams dom0 -> domU: sent $want, domU got $got"
	[ "$want" = "$got" ] || fail "TCP streams dom0 -> domU differ"

	streams_recv "$n" $((NET_PORT + 20))
	DOMU_CALL_TIMEOUT=120
	want=$(domu streams_send "$n" "$NET_DOM0_IP" $((NET_PORT + 20)) "$mib") ||
		fail "TCP streams domU -> dom0 failed: $(domu_why)"
	DOMU_CALL_TIMEOUT=60
	got=$(streams_sums "$n") || fail "TCP streams into dom0 failed"
	echo "$n streams domU -> dom0: sent $want, dom0 got $got"
	[ "$want" = "$got" ] || fail "TCP streams domU -> dom0 differ"
}

# Either domain: streams_recv N PORT starts N receivers (PORT, PORT+1,
# ...) into /tmp/net.in.K; streams_sums N waits for them and prints the
# short sha256 of each stream, in order; streams_send N HOST PORT MIB
# sends N streams of MIB MiB of random data at once and prints theirs.
streams_recv() {
	local k=0
	while [ $k -lt "$1" ]; do
		pvk-xen-tcp recv $(($2 + k)) "/tmp/net.in.$k" 110 ||
			fail "cannot listen on $(($2 + k))"
		k=$((k + 1))
	done
}

streams_sums() {
	local k=0 sums=""
	while [ $k -lt "$1" ]; do
		net_recv_wait "/tmp/net.in.$k" 30 ||
			fail "stream $k: $(cat "/tmp/net.in.$k.rc" 2>/dev/null)"
		sums="$sums $(sha256sum <"/tmp/net.in.$k" | cut -c1-16)"
		k=$((k + 1))
	done
	rm -f /tmp/net.in.*
	echo "${sums# }"
}

streams_send() {
	local k=0 pids="" p sums=""
	while [ $k -lt "$1" ]; do
		dd if=/dev/urandom of="/tmp/net.pat.$k" bs=1M count="$4" 2>/dev/null
		pvk-xen-tcp send "$2" $(($3 + k)) 100 <"/tmp/net.pat.$k" >/dev/null &
		pids="$pids $!"
		sums="$sums $(sha256sum <"/tmp/net.pat.$k" | cut -c1-16)"
		k=$((k + 1))
	done
	for p in $pids; do
		wait "$p" || fail "a TCP stream to $2 failed"
	done
	rm -f /tmp/net.pat.*
	echo "${sums# }"
}

# --- pvkit's netback in pvkit-backd (dom0) ------------------------------
#
# pvkit-backd (NET_BACK=pvkit) serves vifs on a backend type of its own (NET_BACK_TYPE,
# pvkvif), so it never races the kernel's xen-netback on backend/vif; the
# frontend follows the backend path it is given.  Its TAP device goes on
# NET_BRIDGE.

# backd_net_needs: skip unless pvkit-backd has a netback.
backd_net_needs() {
	[ -x "$PVK_BIN/pvkit-backd" ] || skip "needs pvkit-backd (not built)"
	pvkit-backd --help 2>&1 | grep -q 'vif' ||
		skip "needs pvkit's netback in pvkit-backd (its --help names no vif driver)"
}

# backd_net_start: pvkit-backd serving backend/$NET_BACK_TYPE, its pid
# in /tmp/$CELL.pid, its log in /tmp/$CELL.backd.log.
backd_net_start() {
	# shellcheck disable=SC2086 # options are words
	pvkit-backd --driver "vif=$NET_BACK_TYPE" --control "/run/$CELL.sock" \
		$BACKD_NET_OPTS >>"/tmp/$CELL.backd.log" 2>&1 &
	echo $! >"/tmp/$CELL.pid"
}

# backd_net_hotplug FE DEVID: pvkit-backd does the vif-bridge script's part
# itself (TAP vif<FE>.<DEVID> on the bridge, up, hotplug-status =
# connected): wait (20 s) for all of it.
backd_net_hotplug() {
	local ifname=vif$1.$2 deadline=$(($(now) + 20)) hs
	while :; do
		hs=$(xenstore-read \
			"/local/domain/0/backend/$NET_BACK_TYPE/$1/$2/hotplug-status" \
			2>/dev/null)
		[ "$hs" = connected ] && [ -e "/sys/class/net/$ifname/master" ] &&
			break
		[ "$(now)" -lt "$deadline" ] || {
			echo "backd_net_hotplug: $ifname not on a bridge or" \
				"hotplug-status '$hs' after 20s" >&2
			tail -n 5 "/tmp/$CELL.backd.log" >&2
			return 1
		}
		sleep 0.1
	done
	echo "pvkit-backd's TAP for vif $1/$2: $ifname on" \
		"$(basename "$(readlink "/sys/class/net/$ifname/master")")"
}

# net_back_type: the backend directory's type.
net_back_type() {
	if [ "$NET_BACK" = kernel ]; then echo vif; else echo "$NET_BACK_TYPE"; fi
}

# net_back_start [QUEUES]: the bridge, then the backend (xen-netback
# offering QUEUES queues, default 1; or pvkit-backd).
net_back_start() {
	net_bridge_up || fail "cannot create the bridge $NET_BRIDGE"
	[ "$NET_BACK" = kernel ] || {
		# pvkit-backd opens /dev/net/tun; nothing autoloads here.
		modload tun || fail "cannot load tun"
		backd_net_start
		return
	}
	modload xen-netback || fail "cannot load xen-netback"
	# Its default is dom0's vCPU count (1).
	echo "${1:-1}" >/sys/module/xen_netback/parameters/max_queues ||
		fail "cannot set xen-netback's max_queues"
}

# net_back_hotplug FE DEVID: vif_hotplug or backd_net_hotplug.
net_back_hotplug() {
	if [ "$NET_BACK" = kernel ]; then
		vif_hotplug "$1" "$2"
	else
		backd_net_hotplug "$1" "$2"
	fi
}

# net_back_cleanup: stop the backend (its log into the cell's), remove
# the bridge and the exchange's files.
net_back_cleanup() {
	if [ "$NET_BACK" = kernel ]; then
		module_unload xen-netback
	else
		stop_daemon "/tmp/$CELL.pid"
		echo "--- pvkit-backd log ---"
		cat "/tmp/$CELL.backd.log" 2>/dev/null
		rm -f "/tmp/$CELL.backd.log"
	fi
	net_bridge_down
	rm -f /tmp/net.pat /tmp/net.in /tmp/net.in.rc
}

# --- pvkit's netfront in the domU (`pvkit nic serve-tap`) ---------------

# domU: net_domu_serve_tap_needs: fail (the cell skips) without it.
net_domu_serve_tap_needs() {
	pvkit nic serve-tap --help >/dev/null 2>&1 ||
		fail "needs pvkit's netfront (\`pvkit nic serve-tap\`)"
}

# domU: net_domu_serve_tap DEVID: pvkit's netfront on vif DEVID in the
# background, bridging it to a TAP device of the domU; wait (30 s) for
# the TAP.
net_domu_serve_tap() {
	local deadline=$(($(now) + 30))
	modload tun || fail "cannot load the tun module"
	rm -f /tmp/serve-tap.rc
	(
		pvkit nic serve-tap "$1" >/tmp/serve-tap.log 2>&1 &
		echo $! >/tmp/serve-tap.pid
		wait $!
		echo $? >/tmp/serve-tap.rc
	) </dev/null >/dev/null 2>&1 &
	until [ -s /tmp/serve-tap.pid ]; do sleep 0.05; done
	until net_ifname tun >/dev/null; do
		kill -0 "$(cat /tmp/serve-tap.pid)" 2>/dev/null || {
			cat /tmp/serve-tap.log >&2
			fail "pvkit nic serve-tap exited: $(tail -n1 /tmp/serve-tap.log)"
		}
		[ "$(now)" -lt "$deadline" ] || fail "no TAP device after 30s"
		sleep 0.1
	done
}

# domU: net_domu_serve_tap_wait: after the detach, serve-tap must end
# (15 s) with status 0 (the wrapper net_domu_serve_tap started records it).
net_domu_serve_tap_wait() {
	local pid rc deadline=$(($(now) + 15))
	pid=$(cat /tmp/serve-tap.pid)
	while kill -0 "$pid" 2>/dev/null; do
		[ "$(now)" -lt "$deadline" ] ||
			fail "pvkit nic serve-tap still running 15s after the detach"
		sleep 0.1
	done
	cat /tmp/serve-tap.log >&2
	rm -f /tmp/serve-tap.pid
	deadline=$(($(now) + 5))
	until [ -s /tmp/serve-tap.rc ] || [ "$(now)" -ge "$deadline" ]; do
		sleep 0.1
	done
	rc=$(cat /tmp/serve-tap.rc 2>/dev/null)
	[ "$rc" = 0 ] || fail "pvkit nic serve-tap ended with status ${rc:-unknown}"
}

net_domu_serve_tap_stop() {
	stop_daemon /tmp/serve-tap.pid
	cat /tmp/serve-tap.log 2>/dev/null
}
