#!/bin/bash
# SPDX-License-Identifier: MIT
# pvkit sim start/stop/status as a service: twice, stale socket, and the
# CLI's answers to bad input.
. "$(dirname "$0")/lib.sh"

t_start
out=$("$PVKIT" sim start) || t_fail "second start must succeed"
echo "$out" | grep -q "already running" || t_fail "second start: '$out'"
echo "$out" | grep -q "export XENSTORED_PATH=$DOM0_XS" ||
	t_fail "start does not say how to reach xenstore"
"$PVKIT" sim status | grep -q "Domain-0" || t_fail "status lists no dom0"
PVKIT_SIM_DIR=/nonexistent "$PVKIT" --dir "$PVKIT_SIM_DIR" sim status \
	>/dev/null || t_fail "--dir must override PVKIT_SIM_DIR"

"$PVKIT" domain create rc7 -- sh -c 'exit 7'
[ $? = 7 ] || t_fail "domain create must exit with CMD's status"
"$PVKIT" domain create who -- sh -c \
	'[ "$XENSTORED_PATH" = "$PVKIT_SIM_DIR/dom$PVKIT_DOMID/xenbus.sock" ]' ||
	t_fail "a guest's XENSTORED_PATH is not its xenbus socket"

id=$(t_detach dup sleep 60)
"$PVKIT" domain list | grep -q "^ *$id  dup " || t_fail "list lacks dup"
msg=$("$PVKIT" domain create dup -- true 2>&1)
[ $? = 1 ] && echo "$msg" | grep -q "already exists" ||
	t_fail "duplicate name: '$msg'"
msg=$("$PVKIT" domain create 9lives -- true 2>&1)
[ $? = 1 ] && echo "$msg" | grep -q "invalid domain name" ||
	t_fail "bad name: '$msg'"
msg=$("$PVKIT" domain destroy nosuch 2>&1)
[ $? = 1 ] && echo "$msg" | grep -q "no running domain 'nosuch'" ||
	t_fail "destroy unknown: '$msg'"
msg=$("$PVKIT" domain destroy 0 2>&1)
[ $? = 1 ] && echo "$msg" | grep -q "control domain" ||
	t_fail "destroy dom0: '$msg'"
msg=$("$PVKIT" domain create g -- env PVKIT_DOMID=0 "$PVKIT" domain list 2>&1)
[ $? = 1 ] && echo "$msg" | grep -q "does not match" ||
	t_fail "a guest claiming to be dom0: '$msg'"
"$PVKIT" nosuch >/dev/null 2>&1
[ $? = 2 ] || t_fail "unknown group must be a usage error"
"$PVKIT" domain destroy dup | grep -q "destroyed" || t_fail "destroy dup"
"$PVKIT" domain list | grep -q " dup " && t_fail "dup still listed"

"$PVKIT" sim stop | grep -q "stopped" || t_fail "stop"
out=$("$PVKIT" sim stop) || t_fail "second stop must succeed"
echo "$out" | grep -q "not running" || t_fail "second stop: '$out'"
"$PVKIT" sim status >/dev/null
[ $? = 3 ] || t_fail "status of a stopped simulator must exit 3"

# A crash leaves the socket behind: detected, cleaned, restartable.
t_start
pid=$(sed -n 1p "$PVKIT_SIM_DIR/simd.pid")
kill -9 "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
[ -S "$PVKIT_SIM_DIR/simd.sock" ] || t_fail "no stale socket to test with"
out=$("$PVKIT" sim status)
[ $? = 3 ] && echo "$out" | grep -q "stale socket" ||
	t_fail "stale socket not reported: '$out'"
[ -e "$PVKIT_SIM_DIR/simd.sock" ] && t_fail "stale socket not removed"
t_start
"$PVKIT" domain create after -- true || t_fail "domain after restart"
echo "service: start/stop twice, stale socket, CLI errors: ok"
