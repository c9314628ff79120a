# SPDX-License-Identifier: MIT
#
# Cell 23: pvkit-netfront, pvkit's kernel netfront (make kmods), in the
# domU <-> stock Linux xen-netback in dom0, the vif on the bridge (the
# cell plays vif-bridge, as cell 10).  The vif's frontend is in
# device/pvkvif, the type only pvkit-netfront binds (the stock
# xen-netfront stays off it); xen-netback serves backend/vif and follows
# the "frontend" node.  The module asks for 2 queues (max_queues=2, even on
# the domU's one vCPU) and must report what it negotiated: split event
# channels, SG, checksum offload and TSO both IP versions, the control ring
# with a Toeplitz hash mapping of 128 entries, multicast control.  Pings
# both ways; 16 MiB over TCP each way and 4 streams at once each way, all
# compared by sha256; the vif detached under the loaded module (its NIC
# goes in the domU); a second vif attached, pinged, and the module unloaded
# with it connected (unbound first).  No protocol violation, warning or
# oops in the domU's log.
#
# xen-dom0-kmods: xen-netback bridge tun
# pvk-domu-kmods: pvkit-netfront
CELL_TIMEOUT=240
# Cell 24 sets KNET_BACKEND=pvkit (pvkit-backd serving backend/pvkvif)
# and runs knet_run twice, with these set per run:
KNET_BACKEND=${KNET_BACKEND:-kernel}
KNET_BACKD_OPTS=""          # pvkit-backd's options
KNET_MODPARAMS=max_queues=2 # pvkit-netfront's parameters
KNET_QUEUES=2               # the queues the vif must run on
# What pvkit-netfront must report having negotiated (a glob on its
# "connected to ..." kernel log line).
KNET_EXPECT="*: 2 queue(s), split event channels yes, sg yes, csum v4v6, tso v4v6, control ring yes (hash mapping 128), multicast control yes"
VIF_DEVID=${VIF_DEVID:-8}
NET_BACK_TYPE=pvkvif # backd_net_hotplug's

cell_needs() {
	domu knet_domu_has >/dev/null ||
		skip "pvkit-netfront.ko is not in the domU image (make kmods; it needs the linux-headers package of the lane's kernel)"
	[ "$KNET_BACKEND" = kernel ] && return 0
	[ -x "$PVK_BIN/pvkit-backd" ] || skip "needs pvkit-backd (not built)"
	"$PVK_BIN/pvkit-backd" --help 2>&1 | grep -q 'frontend=' ||
		skip "needs pvkit-backd --driver vif=TYPE,frontend=FETYPE"
	backd_net_needs
}

cell_dom0() {
	knet_run
}

# knet_type: the backend directory's type.
knet_type() {
	if [ "$KNET_BACKEND" = kernel ]; then echo vif; else echo pvkvif; fi
}

# knet_attach DEVID: a vif for the module, hotplugged; wait until both
# ends are Connected.
knet_attach() {
	local type
	type=$(knet_type)
	vif_attach "$DOMU_ID" "$1" "$type" "$(vif_mac "$DOMU_ID" "$1")" pvkvif ||
		fail "cannot write the vif's nodes"
	if [ "$KNET_BACKEND" = kernel ]; then
		vif_hotplug "$DOMU_ID" "$1"
	else
		backd_net_hotplug "$DOMU_ID" "$1"
	fi || {
		vif_show "$DOMU_ID" "$1" "$type" pvkvif
		fail "no vif device for the domU in dom0"
	}
	vif_connected "$DOMU_ID" "$1" "$type" pvkvif || {
		vif_show "$DOMU_ID" "$1" "$type" pvkvif
		fail "the vif did not connect"
	}
}

knet_run() {
	local type mac mac2 out line agreed queues dev2=$((VIF_DEVID + 1))
	type=$(knet_type)
	echo "$type" >"/tmp/$CELL.type"
	mac=$(vif_mac "$DOMU_ID" "$VIF_DEVID")
	mac2=$(vif_mac "$DOMU_ID" "$dev2")
	net_bridge_up || fail "cannot create the bridge $NET_BRIDGE"
	if [ "$KNET_BACKEND" = kernel ]; then
		modload xen-netback || fail "cannot load xen-netback"
		echo "$KNET_QUEUES" >/sys/module/xen_netback/parameters/max_queues ||
			fail "cannot set xen-netback's max_queues"
	else
		modload tun || fail "cannot load tun"
		echo "--- pvkit-backd $KNET_BACKD_OPTS ---" >>"/tmp/$CELL.backd.log"
		# shellcheck disable=SC2086 # options are words
		pvkit-backd --driver vif=pvkvif,frontend=pvkvif $KNET_BACKD_OPTS \
			--control "/run/$CELL.sock" >>"/tmp/$CELL.backd.log" 2>&1 &
		echo $! >"/tmp/$CELL.pid"
	fi
	# shellcheck disable=SC2086 # parameters are words
	domu knet_domu_load $KNET_MODPARAMS || fail "$(domu_why)"

	echo "=== vif $VIF_DEVID: exchange, then detach under the module ==="
	knet_attach "$VIF_DEVID"
	out=$(domu knet_domu_up "$mac" "$VIF_DEVID") || {
		vif_show "$DOMU_ID" "$VIF_DEVID" "$type" pvkvif
		fail "the domU's NIC: $(domu_why)"
	}
	# xenstore-read gives the domU's lines back with "\n" escaped.
	out=$(printf '%b\n' "$out")
	echo "$out"
	line=$(echo "$out" | tail -n 1)
	case $line in
	$KNET_EXPECT) ;;
	*) fail "pvkit-netfront negotiated otherwise than expected ($KNET_EXPECT)" ;;
	esac
	vif_show "$DOMU_ID" "$VIF_DEVID" "$type" pvkvif
	queues=$(echo "$out" | head -n 1 | sed -n 's/.*queues=//p')
	agreed=$(xenstore-read \
		"/local/domain/$DOMU_ID/device/pvkvif/$VIF_DEVID/multi-queue-num-queues" \
		2>/dev/null)
	echo "queues: frontend asked ${agreed:-1}, the domU's NIC has $queues"
	[ "${agreed:-1}" = "$KNET_QUEUES" ] ||
		fail "pvkit-netfront asked for ${agreed:-1} queues, expected $KNET_QUEUES"
	[ "$queues" = "$KNET_QUEUES" ] ||
		fail "the domU's NIC has $queues queues, expected $KNET_QUEUES"

	net_ping_both
	net_exchange
	net_exchange_streams 4
	domu knet_domu_stats "$mac" || fail "$(domu_why)"
	if [ "$KNET_BACKEND" = kernel ]; then
		net_stats "vif$DOMU_ID.$VIF_DEVID"
	else
		backd_check_stats "/run/$CELL.sock" vif
	fi
	knet_rebind "$VIF_DEVID" "$type" "$mac"
	vif_detach "$DOMU_ID" "$VIF_DEVID" "$type" 30 pvkvif ||
		fail "detach did not complete"
	domu net_domu_gone "$mac" ||
		fail "the NIC is still in the domU after detach"
	echo "vif $VIF_DEVID detached under the loaded module: its NIC is gone"

	echo "=== vif $dev2: ping, then unload with it connected ==="
	knet_attach "$dev2"
	out=$(domu knet_domu_up "$mac2" "$dev2") || fail "the domU's NIC: $(domu_why)"
	echo "$out"
	# The domU first: its ARP request tells dom0 the new MAC.
	echo "--- domU -> dom0 ping ---"
	domu net_ping "$NET_DOM0_IP" || fail "the domU cannot ping dom0: $(domu_why)"
	echo "--- dom0 -> domU ping ---"
	net_ping "$NET_DOMU_IP" || fail "dom0 cannot ping the domU"
	domu knet_domu_unload "$mac2" || fail "unload: $(domu_why)"
	xs_wait "/local/domain/$DOMU_ID/device/pvkvif/$dev2/state" 6 10 ||
		fail "the frontend did not close on unload"
	vif_detach "$DOMU_ID" "$dev2" "$type" 30 pvkvif ||
		fail "detach did not complete"
	[ "$KNET_BACKEND" = kernel ] || backd_term
	domu knet_domu_dmesg_clean || fail "$(domu_why)"
}

# knet_rebind DEVID TYPE MAC: the vif unbound from pvkit-netfront through
# sysfs (its NIC goes, the frontend Closed; xen-netback Closed,
# pvkit-backd InitWait again at once), bound again: the probe
# switches to Initialising, the backend offers the vif again, both ends
# Connected, pings both ways.
knet_rebind() {
	local fe="/local/domain/$DOMU_ID/device/pvkvif/$1/state"
	local be="/local/domain/0/backend/$2/$DOMU_ID/$1/state" want=6
	[ "$KNET_BACKEND" = kernel ] || want=2
	echo "=== vif $1: unbind and bind pvkit-netfront ==="
	domu knet_domu_unbind "pvkvif-$1" "$3" || fail "$(domu_why)"
	xs_wait "$fe" 6 10 && xs_wait "$be" "$want" 10 ||
		fail "after unbind: frontend $(xenstore-read "$fe"), backend $(xenstore-read "$be"), expected 6 and $want"
	echo "unbound: frontend 6, backend $want"
	domu knet_domu_bind "pvkvif-$1" || fail "$(domu_why)"
	# xen-netback's vif device stays on the bridge across a reconnection.
	[ "$KNET_BACKEND" = kernel ] || backd_net_hotplug "$DOMU_ID" "$1" ||
		fail "no vif device for the domU in dom0 after the rebind"
	vif_connected "$DOMU_ID" "$1" "$2" pvkvif || {
		vif_show "$DOMU_ID" "$1" "$2" pvkvif
		fail "the vif did not connect again after the rebind"
	}
	domu net_domu_up "$3" || fail "the domU's NIC after the rebind: $(domu_why)"
	echo "--- domU -> dom0 ping ---"
	domu net_ping "$NET_DOM0_IP" || fail "the domU cannot ping dom0: $(domu_why)"
	echo "--- dom0 -> domU ping ---"
	net_ping "$NET_DOMU_IP" || fail "dom0 cannot ping the domU"
	echo "vif $1 reconnected after the rebind"
}

cell_cleanup() {
	local type
	type=$(cat "/tmp/$CELL.type" 2>/dev/null || knet_type)
	domu knet_domu_unload_quiet
	vif_detach "$DOMU_ID" "$VIF_DEVID" "$type" 5 pvkvif
	vif_detach "$DOMU_ID" $((VIF_DEVID + 1)) "$type" 5 pvkvif
	if [ "$KNET_BACKEND" = kernel ]; then
		module_unload xen-netback
	else
		stop_daemon "/tmp/$CELL.pid"
		echo "--- pvkit-backd log ---"
		cat "/tmp/$CELL.backd.log" 2>/dev/null
	fi
	net_bridge_down
	rm -f "/tmp/$CELL.type" "/tmp/$CELL.backd.log" /tmp/net.pat /tmp/net.in \
		/tmp/net.in.rc
}

# --- domU ---------------------------------------------------------------

knet_domu_has() {
	[ -f /lib/modules/pvkit-netfront.ko ]
}

# knet_domu_load [PARAM...]: load pvkit-netfront (with PARAMs) and let the
# kernel bind new xenbus devices (a userspace-frontend cell may have
# turned that off).
knet_domu_load() {
	dmesg | wc -l >/tmp/knet.log0 # knet_domu_dmesg_clean looks after it
	echo 1 >/sys/bus/xen/drivers_autoprobe
	module_unload pvkit-netfront
	if [ $# -gt 0 ]; then
		insmod /lib/modules/pvkit-netfront.ko "$@"
	else
		modload pvkit-netfront
	fi || fail "cannot load pvkit-netfront: $(dmesg | tail -n 3 | tr '\n' ' ')"
}

# knet_domu_up MAC DEVID: the NIC up with the domU's address
# (net_domu_up: "IFNAME queues=N"), then the line pvkit-netfront logged
# when vif DEVID connected, since knet_domu_load (30 s).
knet_domu_up() {
	local out ifname deadline=$(($(now) + 30)) pat
	out=$(net_domu_up "$1") || exit 1
	echo "$out"
	ifname=${out%% *}
	pat="pvkvif-$2 $ifname: connected to .*/$2: "
	until knet_domu_log | grep -q "$pat"; do
		[ "$(now)" -lt "$deadline" ] || {
			dmesg | grep -i pvk | tail -n 5 >&2
			fail "pvkit-netfront logged no connection for $ifname"
		}
		sleep 0.1
	done
	knet_domu_log | grep "$pat" | tail -n 1 | sed "s/^\\[[^]]*\\] //"
}

# knet_domu_log: the kernel log since knet_domu_load.
knet_domu_log() {
	dmesg | tail -n +$(($(cat /tmp/knet.log0 2>/dev/null || echo 0) + 1))
}

# knet_domu_stats MAC: the NIC's counters; it must have moved packets both
# ways without an error.
knet_domu_stats() {
	local ifname line
	ifname=$(net_ifname "$1") || fail "no NIC with MAC $1"
	line=$(net_stats "$ifname")
	echo "$line"
	case " $line " in
	*" rx_packets=0 "* | *" tx_packets=0 "*) fail "no traffic counted: $line" ;;
	esac
	case " $line " in
	*" rx_errors=0 "*" tx_errors=0 "*) ;;
	*) fail "errors counted: $line" ;;
	esac
}

# knet_domu_unload MAC: unload with the vif connected.  xenbus holds a
# reference on a driver's module for every device bound to it (see
# kblk_domu_unload), so the devices are unbound through sysfs first -- the
# driver's remove() with the rings connected -- then the module goes.
knet_domu_unload() {
	local d=/sys/bus/xen/drivers/pvkit-netfront dev
	for dev in "$d"/pvkvif-*; do
		[ -e "$dev" ] || continue
		echo "${dev##*/}" >"$d/unbind" || fail "cannot unbind ${dev##*/}"
		echo "unbound ${dev##*/}" >&2
	done
	! net_ifname "$1" >/dev/null || fail "NIC $1 still there after unbind"
	rmmod pvkit-netfront 2>/tmp/knet.rmmod ||
		fail "rmmod pvkit-netfront failed: $(cat /tmp/knet.rmmod)" \
			"(refcnt $(cat /sys/module/pvkit_netfront/refcnt))"
	[ ! -e /sys/module/pvkit_netfront ] || fail "module still loaded"
	echo "unbound and unloaded with the vif connected"
}

# knet_domu_unbind DEVICE MAC / knet_domu_bind DEVICE: through sysfs, in
# the background (a remove or probe that waits on the backend must not
# hang the cell); unbind waits (15 s) for the NIC to go.
knet_domu_unbind() {
	local d=/sys/bus/xen/drivers/pvkit-netfront
	[ -e "$d/$1" ] || fail "$1 is not bound to pvkit-netfront"
	echo "$1" >"$d/unbind" &
	wait_gone "$d/$1" 15 || fail "unbind of $1 not done after 15s"
	net_domu_gone "$2"
}

knet_domu_bind() {
	local d=/sys/bus/xen/drivers/pvkit-netfront
	echo "$1" >"$d/bind" &
	wait_present "$d/$1" 15 || fail "bind of $1 not done after 15s"
}

knet_domu_unload_quiet() {
	local d=/sys/bus/xen/drivers/pvkit-netfront dev
	for dev in "$d"/pvkvif-*; do
		[ -e "$dev" ] && echo "${dev##*/}" >"$d/unbind"
	done
	module_unload pvkit-netfront
	return 0
}

# No protocol violation, warning or oops since this run loaded the module
# (earlier cells' lines do not count).  The kernel's taint notice for the
# boot's first unsigned module ("module verification failed") is not one.
knet_domu_dmesg_clean() {
	local bad
	knet_domu_log >/tmp/knet.log
	bad=$( (grep -E "pvkvif|pvkit" /tmp/knet.log |
		grep -v "module verification failed" |
		grep -iE "violation|disabled|error|warn|fail|no Toeplitz"
	grep -E "BUG|Oops|WARNING:|refcount" /tmp/knet.log) | head -n 3)
	[ -z "$bad" ] || fail "kernel log: $bad"
	grep -E "pvkvif|pvkit" /tmp/knet.log | tail -n 6 >&2
}
