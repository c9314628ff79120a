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
# ... and, detached, leaves the running domain's log alone.
echo "dup's own line" >>"$PVKIT_SIM_DIR/domain-dup.log"
msg=$("$PVKIT" domain create dup -d -- true 2>&1)
[ $? = 1 ] && echo "$msg" | grep -q "already exists" ||
	t_fail "duplicate name, detached: '$msg'"
grep -q "dup's own line" "$PVKIT_SIM_DIR/domain-dup.log" ||
	t_fail "a duplicate name truncated the running domain's log"
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
# --help everywhere: usage on stdout, exit 0, nothing done.
for c in "sim start" "sim stop" "sim status" "domain create" "domain list" \
	"domain destroy"; do
	out=$("$PVKIT" $c --help) || t_fail "'pvkit $c --help' failed"
	echo "$out" | grep -q "^usage: pvkit $c" || t_fail "pvkit $c --help: '$out'"
done
for g in sim domain; do
	"$PVKIT" $g --help | grep -q "pvkit $g list\|pvkit $g start" ||
		t_fail "pvkit $g --help"
done
"$PVKIT" sim status >/dev/null || t_fail "sim stop --help stopped it"
# A process refused by the simulator gets the reason from pvk_hv_open(),
# not a bare "no hypervisor".
out=$(PVKIT_DOMID=77 "$CLIENT" hv-open)
[ "$out" = "hv-open: -13" ] || t_fail "pvk_hv_open with a wrong PVKIT_DOMID: '$out'"
out=$(PVKIT_SIM_DIR=$PVKIT_SIM_DIR/none "$CLIENT" hv-open)
[ "$out" = "hv-open: -19" ] || t_fail "pvk_hv_open without a simulator: '$out'"
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
"$PVKIT" sim stop >/dev/null || t_fail "stop after restart"

# Guest processes that daemonize (new session, re-parented to the
# supervisor) are still the domain's: they go with it, on destroy and on
# stop.
t_sleepers() {
	local p
	for p in $(t_leftovers); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "^sleep 6" &&
			echo "$p"
	done
}
t_start
dz='(setsid sleep 600 &); sh -c "sleep 601 & (setsid sleep 602 &)"; exec sleep 603'
for n in dz1 dz2 dz3; do
	t_detach $n sh -c "$dz" >/dev/null
done
sleep 0.3
[ -n "$(t_sleepers)" ] || t_fail "the daemonizing guests did not start"
"$PVKIT" domain destroy dz1 >/dev/null || t_fail "destroy dz1"
"$PVKIT" sim stop >/dev/null || t_fail "stop with daemonized guests"
for i in $(seq 50); do
	[ -z "$(t_sleepers)" ] && break
	sleep 0.1
done
left=$(t_sleepers)
[ -z "$left" ] || t_fail "guest processes outlived their domain: $left"

# A state directory that does not exist yet, several levels down.
# It keeps none of its launcher's descriptors (here fd 9, a marker file).
nested=$PVKIT_SIM_DIR/a/b/c
touch "$PVKIT_SIM_DIR/marker"
"$PVKIT" --dir "$nested" sim start 9<"$PVKIT_SIM_DIR/marker" >/dev/null ||
	t_fail "start in $nested"
ls -l "/proc/$(sed -n 1p "$nested/simd.pid")/fd" | grep -q marker &&
	t_fail "pvkit-simd kept an inherited descriptor"
"$PVKIT" --dir "$nested" sim stop | grep -q stopped || t_fail "stop $nested"

# Another user: a directory it cannot write is named with the way out,
# and a running simulator of root's refuses it (it would be domain 0).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null &&
	id nobody >/dev/null 2>&1; then
	as_nobody() {
		setpriv --reuid=nobody --regid="$(id -g nobody)" \
			--clear-groups -- "$@"
	}
	chmod 0755 "$PVKIT_SIM_DIR"
	mkdir -m 0755 "$PVKIT_SIM_DIR/rootdir"
	msg=$(as_nobody "$PVKIT" --dir "$PVKIT_SIM_DIR/rootdir/x" sim start 2>&1)
	[ $? = 1 ] && echo "$msg" | grep -q -- "--dir DIR or PVKIT_SIM_DIR" ||
		t_fail "start as nobody in an unwritable place: '$msg'"
	msg=$(as_nobody "$PVKIT" --dir "$PVKIT_SIM_DIR/rootdir" sim start 2>&1)
	[ $? = 1 ] && echo "$msg" | grep -q -- "--dir DIR or PVKIT_SIM_DIR" ||
		t_fail "start as nobody in root's directory: '$msg'"
	# The daemon alone, too: not "already running".
	msg=$(as_nobody "$B/bin/pvkit-simd" --foreground \
		--dir "$PVKIT_SIM_DIR/rootdir" 2>&1)
	echo "$msg" | grep -q "cannot write the state directory" ||
		t_fail "pvkit-simd as nobody in root's directory: '$msg'"
	t_start
	msg=$(as_nobody "$PVKIT" domain list 2>&1)
	[ $? = 1 ] && echo "$msg" | grep -q "belongs to uid 0" ||
		t_fail "nobody using root's simulator: '$msg'"
	# The daemon enforces it: a raw connection is hung up on.
	out=$(as_nobody "$CLIENT" garbage 2>&1) &&
		t_fail "nobody's raw connection was served: '$out'"
	grep -q "of uid .*: this simulator belongs to uid 0: refused" \
		"$PVKIT_SIM_DIR/simd.log" || t_fail "no log line for the refusal"
	"$PVKIT" domain list >/dev/null || t_fail "root after nobody"
else
	echo "(not root, or no setpriv/nobody: other-user checks skipped)"
fi
echo "service: start/stop twice, stale socket, CLI errors: ok"
