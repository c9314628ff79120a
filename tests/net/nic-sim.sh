#!/bin/sh
# SPDX-License-Identifier: MIT
#
# pvkit nic attach|detach|list with pvkit-backd serving vifs, on the
# simulator, inside a network namespace of the test's own:
#  1. attach writes libxl's vif node set with libxl's permissions (the
#     guest owns its device directory but only reads its mtu and the
#     backend's directory); pvkit-backd takes the vif: its TAP exists, on
#     the bridge named (made if missing), up, with the MTU; hotplug-status
#     is connected and the backend waits in InitWait for a frontend;
#  2. bad input -- an unknown domain, a multicast or malformed MAC, a bad
#     rate, MTU or queue count, a devid taken -- fails with exit 2 or 1, a
#     message naming the value, and xenstore unchanged;
#  3. list shows it (also as JSON), pvkit stats shows the vif;
#  4. detach (by MAC) removes both directories and the TAP.
set -u
. "$(dirname "$0")/../../bench/net-env.sh"
net_isolate "$0" "$@"
# shellcheck disable=SC2034 # B is read by blk-env.sh
B=${PVK_BUILD:-build}
. "$(dirname "$0")/../../bench/blk-env.sh"
for t in /usr/lib/xen-4.17/bin/xenstored xenstore-ls; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "SKIP: $t (Debian xen-utils-4.17, xenstore-utils) is missing"
		exit 77
	}
done
blk_env_start || exit 1
XENSTORED_PATH=$PVKIT_SIM_DIR/xenstored/socket
export XENSTORED_PATH
W=$BLK_WORK
fail=0
ok() { echo "ok    $*"; }
bad() {
	echo "FAIL  $*"
	fail=1
}
snapshot() {
	xenstore-ls -p /local/domain 2>/dev/null |
		grep -v -e '^ *name = ' -e '^ *domid = ' >"$1"
}
expect_fail() {
	label=$1 want=$2 pat=$3
	shift 3
	snapshot "$W/before"
	"$@" >"$W/out" 2>"$W/err"
	rc=$?
	snapshot "$W/after"
	if [ "$rc" = "$want" ] && grep -q -- "$pat" "$W/err" &&
		cmp -s "$W/before" "$W/after"; then
		ok "$label: exit $rc, \"$(head -c 120 "$W/err")\""
	else
		bad "$label: exit $rc (wanted $want)"
		cat "$W/err"
		diff "$W/before" "$W/after"
	fi
}
node() { xenstore-read "$1" 2>/dev/null; }
# perms NODE: its permissions as xenstore-ls -p shows them ("n0,r1").
perms() {
	xenstore-ls -p "$(dirname "$1")" 2>/dev/null |
		grep "^$(basename "$1") = " | sed 's/.*(\(.*\))$/\1/'
}

blk_backd_start --driver vif --vif-queues 2 || exit 1
"$PVKIT" domain create g1 --detach -- sleep 600 >/dev/null || exit 1
G=
for d in $(xenstore-list /local/domain); do
	[ "$(node "/local/domain/$d/name")" = g1 ] && G=$d
done

# 1. attach and what it wrote
if "$PVKIT" nic attach g1 --mac 00:16:3e:0a:0b:0c --bridge pvkbr9 \
	--mtu 9000 --rate 8Mb/s --queues 1 >"$W/out" 2>"$W/err"; then
	ok "attach: $(cat "$W/out")"
else
	bad "attach: $(cat "$W/err")"
fi
BE=/local/domain/0/backend/vif/$G/0
FE=/local/domain/$G/device/vif/0
for kv in "$BE/frontend=$FE" "$BE/frontend-id=$G" "$BE/online=1" \
	"$BE/script=/etc/xen/scripts/vif-bridge" "$BE/mac=00:16:3e:0a:0b:0c" \
	"$BE/bridge=pvkbr9" "$BE/handle=0" "$BE/type=vif" "$BE/mtu=9000" \
	"$BE/rate=50000,50000" "$BE/hotplug-status=connected" \
	"$BE/feature-rx-copy=1" "$BE/multi-queue-max-queues=1" \
	"$BE/state=2" "$FE/backend=$BE" "$FE/backend-id=0" "$FE/handle=0" \
	"$FE/mac=00:16:3e:0a:0b:0c" "$FE/mtu=9000" "$FE/trusted=1" \
	"$FE/state=1"; do
	k=${kv%%=*} v=${kv#*=}
	[ "$(node "$k")" = "$v" ] || bad "$k is '$(node "$k")', wanted '$v'"
done
ok "libxl's nodes and values"
[ "$(perms "$BE")" = "n0,r$G" ] || bad "backend dir perms $(perms "$BE")"
[ "$(perms "$FE")" = "n$G,r0" ] || bad "frontend dir perms $(perms "$FE")"
[ "$(perms "$FE/mtu")" = "n0,r$G" ] || bad "frontend mtu perms $(perms "$FE/mtu")"
ok "libxl's permissions"
TAP=vif$G.0
if [ -d "/sys/class/net/$TAP" ] && [ "$(cat "/sys/class/net/$TAP/mtu")" = 9000 ] &&
	[ "$(basename "$(readlink "/sys/class/net/$TAP/master")")" = pvkbr9 ] &&
	[ "$(($(cat "/sys/class/net/$TAP/flags") & 1))" = 1 ]; then
	ok "TAP $TAP: on pvkbr9, up, mtu 9000"
else
	bad "TAP $TAP not set up"; ls /sys/class/net
fi

# 2. bad input
expect_fail "unknown domain" 1 "no guest domain 'nosuch'" "$PVKIT" nic attach nosuch
expect_fail "multicast mac" 2 "bad --mac '01:00:5e:00:00:01'" "$PVKIT" nic attach g1 --mac 01:00:5e:00:00:01
expect_fail "malformed mac" 2 "bad --mac '00:16:3e:zz:00:01'" "$PVKIT" nic attach g1 --mac 00:16:3e:zz:00:01
expect_fail "bad rate" 2 "bad --rate '5furlongs'" "$PVKIT" nic attach g1 --rate 5furlongs
expect_fail "bad mtu" 2 "bad --mtu '67'" "$PVKIT" nic attach g1 --mtu 67
expect_fail "bad queues" 2 "bad --queues '17'" "$PVKIT" nic attach g1 --queues 17
expect_fail "devid taken" 1 "has a vif 0 already" "$PVKIT" nic attach g1 --devid 0
expect_fail "detach unknown" 2 "neither a vif number" "$PVKIT" nic detach g1 00:16:3e:99:99:99

# 3. list, stats
"$PVKIT" nic list g1 >"$W/list" 2>&1
grep -q "00:16:3e:0a:0b:0c *pvkbr9 *InitWait *Initialising *connected" "$W/list" &&
	ok "list: $(tail -n 1 "$W/list")" || { bad "list"; cat "$W/list"; }
"$PVKIT" nic list --json >"$W/json" 2>&1
grep -q '"mac": "00:16:3e:0a:0b:0c", "bridge": "pvkbr9"' "$W/json" &&
	ok "list --json" || { bad "list --json"; cat "$W/json"; }
"$PVKIT" stats show --raw >"$W/stats" 2>&1
grep -q "^device vif $G/0 InitWait tap=$TAP bridge=pvkbr9" "$W/stats" &&
	ok "stats: $(grep "^device vif" "$W/stats")" || { bad "stats"; cat "$W/stats"; }
"$PVKIT" stats >"$W/stats" 2>&1
grep -q "^vif $G/0  InitWait  tap=$TAP bridge=pvkbr9" "$W/stats" &&
	grep -q "from the guest 0 packets" "$W/stats" &&
	ok "pvkit stats: $(grep "^vif" "$W/stats")" || { bad "pvkit stats"; cat "$W/stats"; }

# 4. detach by MAC
if "$PVKIT" nic detach g1 00:16:3e:0a:0b:0c >"$W/out" 2>"$W/err"; then
	ok "detach: $(cat "$W/out")"
else
	bad "detach: $(cat "$W/err")"
fi
[ -z "$(node "$BE/state")" ] && [ -z "$(node "$FE/state")" ] &&
	! xenstore-read "/local/domain/0/backend/vif/$G" >/dev/null 2>&1 ||
	bad "nodes left after detach"
for i in $(seq 50); do
	[ -d "/sys/class/net/$TAP" ] || break
	sleep 0.1
done
[ -d "/sys/class/net/$TAP" ] && bad "TAP $TAP left after detach" || ok "TAP removed"
exit $fail
