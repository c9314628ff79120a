#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make lab, pvkit lab: bench/lab.sh BUILD [bench-lab options] -- run the
# PV-vs-emulated lab (bench/bench-lab) and draw its plots with gnuplot:
#   BUILD/lab/lab.json          every case's figures, the claims, the machine
#   BUILD/lab/samples/*.txt     raw per-operation latencies (ns, in order)
#   BUILD/lab/cdf-*.{png,svg}   latency CDF per workload (log x)
#   BUILD/lab/bars-*.{png,svg}  p50 and p99 per path, per workload
#   BUILD/lab/REPORT.md         the table, the claims checked, the plots
# --hv sim (the default when pvkit-dm is built): a private simulator; the
# lab runs as the guest in an HVM domain (pvkit domain create --hvm), its
# image attached to pvkit-backd twice (xvda, event-driven; xvdb, through a
# second name of the same file, polled: `pvkit disk attach` takes a file
# read-write once) and served as an IDE disk by pvkit-dm (--stats: its
# counters), all in domain 0.  As root, also the NIC cases: the lab moves
# into network and mount namespaces of its own with a bridge, a UDP peer
# (lab-echo) in a namespace on it, pvkit-backd serving a PV NIC (pvkit nic
# attach) and pvkit-dm an e1000, both on TAPs on the bridge; not as root
# (or with LAB_NO_NET=1) they are skipped with a line saying why.
# --hv loop: all in one process (no NIC cases).
# BUILD may also be a directory holding bin/ and bench/ as installed
# (pvkit lab passes the install prefix's).
# gnuplot (Debian: gnuplot-nox) is installed by tools/install-deps.sh when
# run as root (not with LAB_NO_INSTALL=1); otherwise the lab runs without
# plots and REPORT.md says how to get them.  With --quick the harness file
# is BUILD/bench/lab-quick.json, else BUILD/bench/lab.json.
set -u
B=${1:-build}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
B=$(cd "$B" && pwd) || exit 1
# bench-lab: LAB_BENCH (pvkit lab sets it), else the build tree's; the
# NIC cases' peer, lab-echo, beside it.
LAB=${LAB_BENCH:-$B/bench/bench-lab}
ECHO=$(dirname "$LAB")/lab-echo
for a in "$@"; do
	case $a in
	-h | --help)
		echo "usage: bench/lab.sh BUILD [bench-lab options]; pvkit lab [options]"
		exec "$LAB" --help
		;;
	esac
done
if [ ! -x "$LAB" ]; then
	echo "lab: missing $LAB: run make first" >&2
	exit 1
fi
# Bad options fail here, before a simulator is started.
"$LAB" --args-only "$@" || exit 2
out=
hv=
prev=
for a in "$@"; do
	[ "$prev" = --out ] && out=$a
	[ "$prev" = --hv ] && hv=$a
	case $a in
	--out=*) out=${a#--out=} ;;
	--hv=*) hv=${a#--hv=} ;;
	esac
	prev=$a
done
if [ -z "$hv" ]; then
	hv=loop
	[ -x "$B/bin/pvkit-dm" ] && hv=sim
	set -- --hv "$hv" "$@"
fi

# The NIC cases (sim, root, LAB_NO_NET unset): the whole lab moves into a
# network namespace (and mount namespace) of its own, where lab_net makes
# the bridge, the peer's namespace and the addresses.
LAB_NET_WHY=
if [ "$hv" = sim ] && [ -z "${PVK_LAB_NETNS:-}" ]; then
	if [ -n "${LAB_NO_NET:-}" ]; then
		LAB_NET_WHY="LAB_NO_NET is set"
	elif [ "$(id -u)" != 0 ] || [ ! -w /dev/net/tun ] ||
		! unshare -n -m true 2>/dev/null; then
		LAB_NET_WHY="they need root, /dev/net/tun and network namespaces (a bridge, TAPs, the peer's namespace)"
	elif [ ! -x "$ECHO" ]; then
		LAB_NET_WHY="$ECHO is missing (make builds it)"
	elif ! command -v ip >/dev/null 2>&1; then
		LAB_NET_WHY="ip (iproute2) is missing"
	else
		PVK_LAB_NETNS=1 exec unshare -n -m "$0" "$B" "$@"
	fi
	echo "lab: NIC cases skipped: $LAB_NET_WHY" >&2
fi
export LAB_NET_WHY

OUT=$B/lab
if [ ! -x "$B/bench/bench-lab" ]; then
	# Installed (pvkit lab): B is the prefix, its bin/ has the programs.
	# The simulator's work directory and the harness file go elsewhere:
	# a private directory that sees the prefix's bin/.
	root=$(mktemp -d "${TMPDIR:-/tmp}/pvkit-lab.XXXXXX") || exit 1
	trap 'rm -rf "$root"' EXIT
	ln -s "$B/bin" "$root/bin" || exit 1
	B=$root
	OUT=$PWD/pvkit-lab
fi
[ -n "$out" ] && OUT=$out
PVK_BUILD=$B
export PVK_BUILD
plots=--no-plots
if command -v gnuplot >/dev/null 2>&1; then
	plots=
elif [ -z "${LAB_NO_INSTALL:-}" ] && [ -x "$here/../tools/install-deps.sh" ] &&
	"$here/../tools/install-deps.sh" gnuplot-nox >&2; then
	command -v gnuplot >/dev/null 2>&1 && plots=
fi
[ -n "$plots" ] && echo "lab: no gnuplot: the run goes on without plots" >&2

mkdir -p "$OUT" || exit 1
rm -f "$OUT"/samples/*.txt "$OUT"/*.png "$OUT"/*.svg "$OUT"/bars-*.dat
OUT=$(cd "$OUT" && pwd)

# The NIC's addresses: the bridge (the host's side, native), the peer,
# the guest's PV NIC and e1000.
NET_BR=labbr0 NET_HOST=10.77.0.1 NET_PEER=10.77.0.9
NET_PV=10.77.0.2 NET_PV_MAC=00:16:3e:77:00:02
NET_E1K=10.77.0.3 NET_E1K_MAC=52:54:00:77:00:03 NET_TAP=labe0

# lab_net: in the lab's own namespaces, the bridge with the host's
# address, the peer's namespace on a veth with lab-echo and static
# neighbours for the guest's addresses.  Sets NET_ARGS.
lab_net() {
	mount -t sysfs sysfs /sys 2>/dev/null
	mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns || return 1
	if ! { ip link set lo up &&
		ip link add "$NET_BR" type bridge &&
		ip addr add "$NET_HOST/24" dev "$NET_BR" &&
		ip link set "$NET_BR" up &&
		ip netns add labpeer &&
		ip link add labv0 type veth peer name labv1 netns labpeer &&
		ip link set labv0 master "$NET_BR" up &&
		ip netns exec labpeer sh -c "ip link set lo up &&
			ip addr add $NET_PEER/24 dev labv1 &&
			ip link set labv1 up &&
			ip neigh replace $NET_PV lladdr $NET_PV_MAC dev labv1 nud permanent &&
			ip neigh replace $NET_E1K lladdr $NET_E1K_MAC dev labv1 nud permanent"; }; then
		echo "lab: setting up the NIC's network failed" >&2
		return 1
	fi
	peer_mac=$(ip netns exec labpeer cat /sys/class/net/labv1/address) || return 1
	ip netns exec labpeer "$ECHO" >"$BLK_WORK/echo.log" 2>&1 &
	ECHO_PID=$!
	BLK_GUESTS="$BLK_GUESTS $ECHO_PID"
	# The guest's network is its own: its native sockets are made in
	# this (domain 0's) namespace.
	NET_ARGS="--net $NET_PEER,$peer_mac,$NET_PV,$NET_E1K --net-host-ns /proc/$$/ns/net"
}

# lab_sim ARGS...: bench-lab as the guest of an HVM domain on a private
# simulator, pvkit-backd and pvkit-dm serving its image from domain 0.
lab_sim() {
	for p in "$B/bin/pvkit-dm" "$B/bin/pvkit"; do
		[ -x "$p" ] || { echo "lab: missing $p: run make first" >&2; return 1; }
	done
	# shellcheck source=bench/blk-env.sh
	. "$here/blk-env.sh"
	blk_env_start || return 1
	img=$BLK_WORK/lab.img go=$BLK_WORK/go
	truncate -s 97M "$img" || return 1
	ln "$img" "$img.b" || return 1
	NET_ARGS='' backd_net='' dm_net='' ECHO_PID=''
	if [ -n "${PVK_LAB_NETNS:-}" ]; then
		lab_net || return 1
		backd_net="--driver vif --bridge $NET_BR"
		dm_net="--e1000 tap=$NET_TAP,mac=$NET_E1K_MAC"
	fi
	# shellcheck disable=SC2086 # options, one word each
	blk_backd_start --driver vbd $backd_net || return 1
	# shellcheck disable=SC2086
	"$PVKIT" domain create lab --hvm -- "$LAB" \
		--image "$img" --go "$go" --out "$OUT" \
		--dm-stats "$BLK_WORK/dm.stats" $NET_ARGS "$@" \
		>"$BLK_WORK/lab.out" 2>&1 &
	lab_pid=$!
	BLK_GUESTS="$BLK_GUESTS $lab_pid"
	i=0
	until "$PVKIT" disk attach lab "$img" >>"$BLK_WORK/attach.log" 2>&1 &&
		"$PVKIT" disk attach lab "$img.b" --vdev xvdb \
			>>"$BLK_WORK/attach.log" 2>&1; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$lab_pid" 2>/dev/null; then
			echo "lab: pvkit disk attach lab failed:" >&2
			cat "$BLK_WORK/attach.log" "$BLK_WORK/lab.out" >&2
			return 1
		fi
		sleep 0.05
	done
	if [ -n "$NET_ARGS" ] && ! "$PVKIT" nic attach lab --mac "$NET_PV_MAC" \
		--bridge "$NET_BR" --queues 1 >>"$BLK_WORK/attach.log" 2>&1; then
		echo "lab: pvkit nic attach lab failed:" >&2
		cat "$BLK_WORK/attach.log" >&2
		return 1
	fi
	# shellcheck disable=SC2086
	"$B/bin/pvkit-dm" --domain lab --ide "$img" $dm_net \
		--stats "$BLK_WORK/dm.stats" >"$BLK_WORK/dm.log" 2>&1 &
	dm_pid=$!
	BLK_GUESTS="$BLK_GUESTS $dm_pid"
	i=0
	until grep -qs "serving domain" "$BLK_WORK/dm.log"; do
		i=$((i + 1))
		if [ $i -gt 200 ] || ! kill -0 "$dm_pid" 2>/dev/null; then
			echo "lab: pvkit-dm did not start serving:" >&2
			cat "$BLK_WORK/dm.log" >&2
			return 1
		fi
		sleep 0.05
	done
	if [ -n "$NET_ARGS" ] && ! { ip link set "$NET_TAP" master "$NET_BR" &&
		ip link set "$NET_TAP" up; }; then
		echo "lab: the e1000's TAP $NET_TAP is not there:" >&2
		cat "$BLK_WORK/dm.log" >&2
		return 1
	fi
	# The backends' CPU counts as the cases' own (PVK_BENCH_PEERS).
	echo "$BACKD_PID $dm_pid ${ECHO_PID:-}" >"$go.tmp" && mv "$go.tmp" "$go"
	wait "$lab_pid"
	rc=$?
	cat "$BLK_WORK/lab.out"
	wait "$dm_pid" 2>/dev/null
	return $rc
}

case $hv in
sim)
	# A subshell: blk-env.sh's EXIT trap stops the simulator there.
	# shellcheck disable=SC2086
	(lab_sim $plots "$@") || exit $?
	;;
*)
	# shellcheck disable=SC2086
	"$LAB" --out "$OUT" $plots "$@" || exit $?
	;;
esac
[ -n "$plots" ] && exit 0

# One CDF per workload: samples/<workload>.<path>.txt, paths in the order
# lab.json lists them.
wls=
for f in "$OUT"/samples/*.txt; do
	f=${f##*/}
	f=${f%.txt}
	wls="$wls ${f%.*}"
done
# shellcheck disable=SC2086 # one word per workload
for wl in $(printf '%s\n' $wls | sort -u); do
	files='' titles=''
	for p in native pv pv-poll ide-pio ide-dma e1000; do
		f=$OUT/samples/$wl.$p.txt
		[ -s "$f" ] || continue
		files="$files $f" titles="$titles $p"
	done
	grep "^$wl\." "$OUT/bars.dat" | sed "s/^$wl\.//" >"$OUT/bars-$wl.dat"
	for ext in png svg; do
		gnuplot -e "files='$files'; titles='$titles'; name='$wl'; out='$OUT/cdf-$wl.$ext'" \
			"$here/lab-cdf.gp" || exit 1
		gnuplot -e "datafile='$OUT/bars-$wl.dat'; name='$wl'; out='$OUT/bars-$wl.$ext'" \
			"$here/lab-bars.gp" || exit 1
	done
done
echo "lab: plots in $OUT (cdf-*.png/svg, bars-*.png/svg); read $OUT/REPORT.md"
