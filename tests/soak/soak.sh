#!/bin/sh
# SPDX-License-Identifier: MIT
#
# soak.sh [SECONDS] -- make soak (not part of make test): the simulator,
# pvkit-backd serving vbds and vifs, and 8 guests for SECONDS (default
# SOAK_SECONDS or 600):
#   - every guest runs front-sim-io on a disk of its own (16 I/Os in
#     flight, random offsets and sizes, every read checked against a model,
#     the whole disk read back at the end of each run);
#   - g1 and g2 also have a vif each (serve-tap) and send each other 32 MiB
#     over TCP, again and again, each transfer checked by sha256;
#   - every CHAOS seconds (default 15) one event, at random: a guest
#     destroyed mid-I/O and created again; a disk detached under I/O, the
#     guest then re-created with it; pvkit-backd killed with SIGKILL
#     (block rings recovered from the crash journal, vifs reconnect);
#     pvkit-backd stopped with SIGTERM --handover and restarted
#     (SOAK_BACKD_RESTARTS=0 leaves pvkit-backd alone: one instance lives
#     the whole run, which shows its memory over a long life);
# Sampled every 10 s: RSS and open fds of pvkit-backd and pvkit-simd.  At
# the end all guests are stopped (their final read-back must pass) and
# destroyed, and the daemons' fds must be back at their count before the
# first guest; RSS growth of pvkit-simd and of the longest-lived
# pvkit-backd instance is reported (and must stay under 32 MiB).
# Prints a summary; exit 0 only if every check passed.
set -u
. "$(dirname "$0")/../../bench/net-env.sh"
net_isolate "$0" "$@"
B=${PVK_BUILD:-build}
DUR=${1:-${SOAK_SECONDS:-600}}
CHAOS=${SOAK_CHAOS:-15}
# 4 kinds of chaos event, or only the first 2 (no pvkit-backd restarts).
KINDS=4
[ "${SOAK_BACKD_RESTARTS:-1}" = 0 ] && KINDS=2
case "$DUR$CHAOS" in *[!0-9]*)
	echo "soak.sh: SECONDS ($DUR) and SOAK_CHAOS ($CHAOS) are whole seconds" >&2
	exit 2 ;;
esac
. "$(dirname "$0")/../../bench/blk-env.sh"
NET_TCP=$B/tests/pvk-tcp
IO=$B/tests/front-sim-io
blk_env_start || exit 1
W=$BLK_WORK
T0=$(date +%s)
fail=0
say() { echo "[$(($(date +%s) - T0))s] $*"; }
bad() {
	say "FAIL  $*"
	fail=1
}
rnd() { echo $(($(od -An -N2 -tu2 /dev/urandom) % $1)); }
pid_of() { pgrep -f "^$B/bin/$1" | head -n1; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
nfd() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

SIMD=$(pid_of pvkit-simd)
blk_backd_start --driver vbd --driver vif --handover || exit 1
sleep 1
SIMD_FD0=$(nfd "$SIMD") BACKD_FD0=$(nfd "$BACKD_PID")
say "start: pvkit-simd fds $SIMD_FD0 rss $(rss_kb "$SIMD") kB; pvkit-backd fds $BACKD_FD0 rss $(rss_kb "$BACKD_PID") kB"

# guest_up N: g<N> with its disk (and, for g1/g2, a vif), I/O running.
guest_up() {
	g=g$1 img=$W/g$1.img out=$W/g$1.out.$(date +%s%N)
	[ -f "$img" ] || blk_image "$img" 32
	if [ "$1" -le 2 ]; then
		"$PVKIT" domain create "$g" --detach -- sh -c \
			"$PVKIT nic serve-tap 0 >$W/$g.tap 2>&1 & exec $IO --until $W/stop.$g" \
			>/dev/null || return 1
	else
		"$PVKIT" domain create "$g" --detach -- \
			"$IO" --until "$W/stop.$g" >/dev/null || return 1
	fi
	i=0
	until "$PVKIT" disk attach "$g" "$img" >>"$W/attach.log" 2>&1; do
		i=$((i + 1))
		[ $i -lt 40 ] || return 1
		sleep 0.05
	done
	if [ "$1" -le 2 ]; then
		"$PVKIT" nic attach "$g" --bridge pvkbr >/dev/null || return 1
		i=0
		until net_gexec "$g" ip link show eth0 2>/dev/null | grep -q UP; do
			i=$((i + 1))
			[ $i -lt 100 ] || return 1
			sleep 0.1
		done
		net_gexec "$g" ip addr add "10.9.0.$1/24" dev eth0
	fi
	echo "$out" >"$W/g$1.cur"
}

guest_down() { # N: destroy g<N> (its I/O run is cut short: not judged)
	"$PVKIT" domain destroy "g$1" >/dev/null 2>&1
	i=0
	while "$PVKIT" domain list 2>/dev/null | awk '{ print $2 }' | grep -qx "g$1"; do
		i=$((i + 1))
		[ $i -lt 100 ] || break
		sleep 0.1
	done
}

for n in 1 2 3 4 5 6 7 8; do
	guest_up $n || { bad "guest g$n did not come up"; exit 1; }
done
say "8 guests up, I/O running"

# The network load: g1 -> g2 and back, 32 MiB a time, for the whole run.
(
	ok=0 bad=0
	while [ ! -e "$W/net.stop" ]; do
		if net_xfer g1 g2 10.9.0.2 32 5001 && net_xfer g2 g1 10.9.0.1 32 5002; then
			ok=$((ok + 2))
		else
			bad=$((bad + 1))
			sleep 1
		fi
		echo "$ok $bad" >"$W/net.count"
	done
) >"$W/net.log" 2>&1 &
NET_PID=$!

kills=0 terms=0 deaths=0 detaches=0 samples=0
BACKD_T=$(date +%s) BACKD_RSS1= BEST_LIFE=0 BEST_GROWTH=0
SIMD_RSS1=
next_chaos=$(($(date +%s) + CHAOS)) next_sample=0
while [ $(($(date +%s) - T0)) -lt "$DUR" ]; do
	now=$(date +%s)
	if [ "$now" -ge "$next_sample" ]; then
		samples=$((samples + 1))
		r=$(rss_kb "$BACKD_PID") s=$(rss_kb "$SIMD")
		echo "$((now - T0)) backd $r $(nfd "$BACKD_PID") simd $s $(nfd "$SIMD")" >>"$W/samples"
		# RSS after a minute of life is each daemon's reference.
		[ -z "$BACKD_RSS1" ] && [ $((now - BACKD_T)) -ge 60 ] && BACKD_RSS1=$r
		[ -z "$SIMD_RSS1" ] && [ $((now - T0)) -ge 60 ] && SIMD_RSS1=$s
		if [ -n "$BACKD_RSS1" ] && [ $((now - BACKD_T)) -gt "$BEST_LIFE" ]; then
			BEST_LIFE=$((now - BACKD_T)) BEST_GROWTH=$((r - BACKD_RSS1))
		fi
		next_sample=$((now + 10))
	fi
	if [ "$now" -ge "$next_chaos" ]; then
		next_chaos=$((now + CHAOS))
		n=$(($(rnd 6) + 3)) # g3..g8: g1/g2 carry the network load
		case $(rnd $KINDS) in
		0)
			say "chaos: g$n destroyed mid-I/O, created again"
			guest_down $n
			guest_up $n || bad "g$n did not come back"
			deaths=$((deaths + 1))
			;;
		1)
			say "chaos: g$n's disk detached under I/O, the guest re-created with it"
			"$PVKIT" disk detach "g$n" xvda >>"$W/attach.log" 2>&1 ||
				bad "detach of g$n's disk failed"
			guest_down $n
			guest_up $n || bad "g$n did not come back"
			detaches=$((detaches + 1))
			;;
		2)
			say "chaos: pvkit-backd killed (SIGKILL)"
			blk_backd_stop KILL
			blk_backd_start --driver vbd --driver vif --handover ||
				{ bad "restart"; break; }
			BACKD_T=$(date +%s) BACKD_RSS1=
			kills=$((kills + 1))
			;;
		3)
			say "chaos: pvkit-backd stopped (SIGTERM, --handover) and restarted"
			kill -TERM "$BACKD_PID"
			wait "$BACKD_PID" 2>/dev/null
			cat "$W/backd.out" >>"$W/backd.log"
			blk_backd_start --driver vbd --driver vif --handover ||
				{ bad "restart"; break; }
			BACKD_T=$(date +%s) BACKD_RSS1=
			terms=$((terms + 1))
			;;
		esac
	fi
	sleep 1
done

say "stopping: final read-back of every guest's disk"
touch "$W/net.stop"
wait "$NET_PID"
for n in 1 2 3 4 5 6 7 8; do
	touch "$W/stop.g$n"
done
# Each guest's I/O run ends (with its final whole-disk check): the domain
# ends with it; its log says how it went.
i=0
while [ $i -lt 600 ]; do
	left=$("$PVKIT" domain list 2>/dev/null | awk '$2 ~ /^g[1-8]$/' | wc -l)
	[ "$left" -le 2 ] && break # g1/g2: serve-tap outlives the I/O
	sleep 0.2
	i=$((i + 1))
done
ios=0
for n in 1 2 3 4 5 6 7 8; do
	log=$PVKIT_SIM_DIR/domain-g$n.log
	if grep -q "every byte verified" "$log" 2>/dev/null; then
		ios=$((ios + $(sed -n 's/.*integrity: \([0-9]*\) random.*/\1/p' "$log" | tail -n1)))
	else
		bad "g$n: last I/O run did not finish verified"
		tail -n 5 "$log" 2>/dev/null
	fi
	guest_down $n
done
sleep 5
set -- $(cat "$W/net.count" 2>/dev/null || echo "0 0")
net_ok=$1 net_bad=$2
[ "$net_bad" = 0 ] && [ "$net_ok" -gt 0 ] ||
	bad "network: $net_ok transfers verified, $net_bad failed"
SIMD_FD1=$(nfd "$SIMD") BACKD_FD1=$(nfd "$BACKD_PID")
[ "$SIMD_FD1" -eq "$SIMD_FD0" ] ||
	bad "pvkit-simd fds: $SIMD_FD0 before the first guest, $SIMD_FD1 after the last"
[ "$BACKD_FD1" -eq "$BACKD_FD0" ] ||
	bad "pvkit-backd fds: $BACKD_FD0 at start (no guest), $BACKD_FD1 after the last guest"
SIMD_GROWTH=$(($(rss_kb "$SIMD") - ${SIMD_RSS1:-$(rss_kb "$SIMD")}))
[ "$SIMD_GROWTH" -lt 32768 ] || bad "pvkit-simd RSS grew by $SIMD_GROWTH kB"
[ "$BEST_GROWTH" -lt 32768 ] ||
	bad "pvkit-backd RSS grew by $BEST_GROWTH kB over its longest life"
crashes=$(grep -c "AddressSanitizer\|runtime error\|Segmentation" "$W/backd.log" "$W/backd.out" 2>/dev/null | awk -F: '{ s += $2 } END { print s + 0 }')
[ "$crashes" = 0 ] || bad "pvkit-backd reported $crashes sanitizer errors or crashes"

echo "---- soak summary ($DUR s, a chaos event every $CHAOS s) ----"
echo "guests: 8 with block I/O (g1, g2 with network too)"
echo "verified block I/Os in the final runs: $ios"
echo "network: $net_ok TCP transfers of 32 MiB verified by sha256, $net_bad failed"
echo "chaos: $deaths guest deaths, $detaches detaches under I/O, $kills pvkit-backd SIGKILLs, $terms SIGTERM handovers"
# backd.log holds some lines twice (appended at each start and stop).
echo "recoveries from the crash journal: $(grep "recovered the rings" "$W/backd.log" | sort -u | wc -l)," \
	"requests re-executed: $(grep "re-executed" "$W/backd.log" | sort -u |
		sed -n 's/.*re-executed \([0-9]*\) requests.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')"
echo "pvkit-simd: fds $SIMD_FD0 -> $SIMD_FD1; RSS $(rss_kb "$SIMD") kB, +$SIMD_GROWTH kB since its first minute"
echo "pvkit-backd: fds $BACKD_FD0 -> $BACKD_FD1; RSS +$BEST_GROWTH kB over its longest life ($BEST_LIFE s)"
echo "samples (every 10 s): $samples"
# Kept after the run (the work directory is removed on exit).
rm -rf "$B/soak-logs" && mkdir -p "$B/soak-logs" &&
	cp "$W/samples" "$W/backd.log" "$W/net.log" "$W/attach.log" \
		"$PVKIT_SIM_DIR"/domain-g*.log "$B/soak-logs/" 2>/dev/null
echo "logs: $B/soak-logs/"
[ $fail -eq 0 ] && echo "soak: PASS" || echo "soak: FAIL"
exit $fail
