#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Guests on the simulator talking through pvkit's network split driver:
# each guest runs `pvkit nic serve-tap` (pvkit's netfront, its TAP in the
# guest's own network namespace) and pvkit-backd serves the vifs on a
# dom0 bridge.  Inside a network namespace of the test's own:
#  1. ping both ways;
#  2. 256 MiB over TCP each way, compared by sha256 (GSO and checksum
#     offload on);
#  3. MTU 9000 (no fragmentation: ping -M do -s 8972) and TCP over it;
#  4. offloads off in one guest (--no-offload): TCP still correct;
#  5. multi-queue: 4 queues agreed in xenstore, 4 streams at once;
#  6. pvkit-backd restarted while a transfer runs: the frontends
#     reconnect by themselves and the transfer completes intact;
#  7. a guest destroyed mid-transfer: its TAP goes, pvkit-backd keeps
#     serving the others (ping still answers) and holds as many TAP fds
#     and threads as before it;
#  8. hostile frontends (pvk-netevil: tx req_prod overflow, 64 slots, a
#     bad grant, garbage, rx req_prod overflow) beside an honest pair
#     moving data: pvkit-backd survives, the honest transfer is intact;
#  9. `pvkit nic detach`: serve-tap ends by itself with status 0.
set -u
. "$(dirname "$0")/../../bench/net-env.sh"
net_isolate "$0" "$@"
# shellcheck disable=SC2034 # B is read by blk-env.sh
B=${PVK_BUILD:-build}
. "$(dirname "$0")/../../bench/blk-env.sh"
for t in /usr/lib/xen-4.17/bin/xenstored xenstore-read ping ip sha256sum; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "SKIP: $t is missing (Debian xen-utils-4.17, xenstore-utils, iputils-ping, iproute2)"
		exit 77
	}
done
NET_TCP=$B/tests/pvk-tcp
blk_env_start || exit 1
XENSTORED_PATH=$PVKIT_SIM_DIR/xenstored/socket
export XENSTORED_PATH
W=$BLK_WORK
fail=0
T0=$(date +%s)
ok() { echo "ok    $* [$(($(date +%s) - T0)) s]"; }
bad() {
	echo "FAIL  $*"
	fail=1
}
node() { xenstore-read "$1" 2>/dev/null; }
domid() {
	for d in $(xenstore-list /local/domain); do
		[ "$(node "/local/domain/$d/name")" = "$1" ] && echo "$d"
	done
}

blk_backd_start --driver vif --vif-queues 4 || exit 1
net_guest g1 10.9.0.1 --queues 1 || bad "guest g1 did not come up"
net_guest g2 10.9.0.2 --queues 1 || bad "guest g2 did not come up"

# 1. ping
if net_gexec g1 ping -c 3 -W 2 -q 10.9.0.2 >/dev/null &&
	net_gexec g2 ping -c 3 -W 2 -q 10.9.0.1 >/dev/null; then
	ok "ping g1 -> g2 and g2 -> g1"
else
	bad "ping between g1 and g2"
fi

# 2. TCP both ways
if net_xfer g1 g2 10.9.0.2 256; then
	ok "256 MiB g1 -> g2 over TCP: $NET_MBS MB/s sha256 $NET_SHA"
else
	bad "256 MiB g1 -> g2: data differ or transfer failed"
fi
if net_xfer g2 g1 10.9.0.1 256; then
	ok "256 MiB g2 -> g1 over TCP: $NET_MBS MB/s sha256 $NET_SHA"
else
	bad "256 MiB g2 -> g1: data differ or transfer failed"
fi

# 3. MTU 9000
net_guest j1 10.9.1.1 --queues 1 -- --mtu 9000 --bridge pvkbr9 ||
	bad "guest j1 did not come up"
net_guest j2 10.9.1.2 --queues 1 -- --mtu 9000 --bridge pvkbr9 ||
	bad "guest j2 did not come up"
if net_gexec j1 ip link show eth0 | grep -q "mtu 9000 " &&
	net_gexec j1 ping -c 2 -W 2 -q -M do -s 8972 10.9.1.2 >/dev/null &&
	net_xfer j2 j1 10.9.1.1 32; then
	ok "MTU 9000: unfragmented 9000-byte pings, TCP $NET_MBS MB/s sha256 $NET_SHA"
else
	bad "MTU 9000"
fi

# 4. offloads off in one guest
net_guest n1 10.9.0.3 --queues 1 --no-offload || bad "guest n1 did not come up"
if net_xfer n1 g1 10.9.0.1 64 && net_xfer g1 n1 10.9.0.3 64; then
	ok "offloads off (n1, --no-offload) <-> on (g1): TCP both ways intact"
else
	bad "TCP with offloads off"
fi

# 5. multi-queue
net_guest m1 10.9.0.4 --queues 4 || bad "guest m1 did not come up"
net_guest m2 10.9.0.5 --queues 4 || bad "guest m2 did not come up"
M1=$(domid m1)
nq=$(node "/local/domain/$M1/device/vif/0/multi-queue-num-queues")
tq=$(sed -n 's/.*, \([0-9]*\) queues,.*/\1/p' "$PVKIT_SIM_DIR/domain-m1.log")
pids=
for p in 5011 5012 5013 5014; do
	(net_xfer m1 m2 10.9.0.5 32 "$p" && echo ok >"$W/mq.$p") &
	pids="$pids $!"
done
# shellcheck disable=SC2086
wait $pids
nok=$(cat "$W"/mq.* 2>/dev/null | grep -c ok)
if [ "$nq" = 4 ] && [ "$tq" = 4 ] && [ "$nok" = 4 ]; then
	ok "multi-queue: 4 queues agreed, TAP with 4 queues, 4 streams intact"
else
	bad "multi-queue: num-queues '$nq', TAP queues $tq, $nok/4 streams"
fi

# 6. pvkit-backd restarted mid-transfer
(net_xfer g1 g2 10.9.0.2 128 5020 && echo ok >"$W/restart.ok") &
xp=$!
sleep 0.5
blk_backd_stop TERM
blk_backd_start --driver vif --vif-queues 4 || bad "pvkit-backd restart"
wait $xp
if [ -f "$W/restart.ok" ] &&
	grep -q "reconnected" "$PVKIT_SIM_DIR/domain-g1.log"; then
	ok "pvkit-backd restarted mid-transfer: netfront reconnected, 128 MiB intact"
else
	bad "backend restart mid-transfer"
	tail -5 "$PVKIT_SIM_DIR/domain-g1.log"
fi

# 7. a guest destroyed mid-transfer
# (every vif reconnected to this pvkit-backd first)
IDS=
for g in g1 g2 j1 j2 n1 m1 m2; do
	IDS="$IDS $(domid $g)"
done
connected() {
	n=0
	for d in $IDS; do
		[ "$(node "/local/domain/0/backend/vif/$d/0/state")" = 4 ] &&
			[ "$(node "/local/domain/$d/device/vif/0/state")" = 4 ] &&
			n=$((n + 1))
	done
	echo $n
}
i=0
while [ "$(connected)" -lt 7 ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$(connected)" = 7 ] || bad "after the restart only $(connected) of 7 vifs are connected again"
sleep 0.5
# What a vif holds in pvkit-backd: a TAP fd per queue and a thread per
# queue.  (Event-channel fds are no measure: the simulator's client
# caches a peer's wake-up fds when it first notifies that peer.)
held() {
	echo "$(ls -l "/proc/$BACKD_PID/fd" | grep -c /dev/net/tun) TAP fds," \
		"$(ls "/proc/$BACKD_PID/task" | wc -l) threads"
}
held0=$(held)
net_guest k1 10.9.0.6 --queues 2 || bad "guest k1 did not come up"
K1=$(domid k1)
(net_xfer k1 g2 10.9.0.2 256 5030 >/dev/null 2>&1) &
xp=$!
sleep 0.5
"$PVKIT" domain destroy k1 >/dev/null
# The sender ran beside k1 (`domain exec`), not in it: it would wait for
# its stall timeout on a NIC that is gone.
pkill -f "$NET_TCP send 10.9.0.2 5030" 2>/dev/null
wait $xp 2>/dev/null
i=0
while ip link show "vif$K1.0" >/dev/null 2>&1 && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
i=0
while [ "$(held)" != "$held0" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
held1=$(held)
tap=gone
! ip link show "vif$K1.0" >/dev/null 2>&1 || tap=present
if [ $tap = gone ] && kill -0 "$BACKD_PID" && [ "$held1" = "$held0" ] &&
	net_gexec g1 ping -c 2 -W 2 -q 10.9.0.2 >/dev/null; then
	ok "guest destroyed mid-transfer: TAP vif$K1.0 gone, pvkit-backd back to $held1, g1 <-> g2 still up"
else
	bad "guest destroyed mid-transfer: TAP $tap, pvkit-backd had $held0, now $held1, or g1 -> g2 ping failed"
	tail -n 12 "$W/backd.out"
fi

# 8. hostile frontends (pvk-netevil, one domain per case) beside g1 and g2
#    moving data: pvkit-backd survives every case, the honest pair's
#    transfer is intact.
(net_xfer g1 g2 10.9.0.2 64 5040 && echo ok >"$W/evil.ok") &
xp=$!
for c in prod-overflow too-many-slots bad-gref garbage rx-overflow; do
	"$PVKIT" domain create "evil-$c" --detach -- \
		"$B/tests/pvk-netevil" 0 "$c" >/dev/null 2>"$W/evil.err" &&
		"$PVKIT" nic attach "evil-$c" --bridge pvkbr >/dev/null \
			2>>"$W/evil.err" || {
		bad "hostile guest $c not started: $(cat "$W/evil.err")"
	}
done
wait $xp
i=0
while "$PVKIT" domain list | grep -q " evil-" && [ $i -lt 200 ]; do
	sleep 0.1
	i=$((i + 1))
done
if [ -f "$W/evil.ok" ] && kill -0 "$BACKD_PID" &&
	net_gexec g2 ping -c 2 -W 2 -q 10.9.0.1 >/dev/null; then
	ok "5 hostile frontends beside g1 <-> g2: backd alive, 64 MiB intact, ping answers"
else
	bad "hostile frontends: backd dead, transfer broken or ping failed"
	tail -n 20 "$W/backd.out"
fi
grep -h "latched\|broken\|disabled\|violation" "$W/backd.out" | sed 's/^/      /' | head -8

# 9. detach: serve-tap ends by itself, with status 0 (its domain ends)
"$PVKIT" nic detach n1 0 >/dev/null 2>&1 || bad "nic detach n1 0"
i=0
while "$PVKIT" domain list | grep -q " n1 " && [ $i -lt 150 ]; do
	sleep 0.1
	i=$((i + 1))
done
if ! "$PVKIT" domain list | grep -q " n1 " &&
	grep -q "vif 0 detached" "$PVKIT_SIM_DIR/domain-n1.log"; then
	ok "detach: serve-tap in n1 ended by itself in $((i / 10)).$((i % 10)) s"
else
	bad "detach: serve-tap in n1 still running or did not say why it ended"
	tail -3 "$PVKIT_SIM_DIR/domain-n1.log"
fi

for g in g1 g2 j1 j2 m1 m2; do
	"$PVKIT" domain destroy "$g" >/dev/null 2>&1
done
blk_backd_stop TERM
# The receiver whose sender died in 7 waits for its timeout otherwise
# (`domain exec` runs a command beside a domain, not in it).
pkill -f "$NET_TCP recv" 2>/dev/null
grep -i -e "violation" -e "error" "$W/backd.log" | head -5
exit $fail
