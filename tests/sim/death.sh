#!/bin/bash
# SPDX-License-Identifier: MIT
# Killing a domain whose page is mapped: the mapping survives, the grant
# stays in use, @releaseDomain fires, its xenstore subtree is gone, and
# notifies to it are dropped.
. "$(dirname "$0")/lib.sh"

t_start
t_detach holder "$CLIENT" grant-hold >/dev/null
XENSTORED_PATH=$DOM0_XS "$CLIENT" survive holder || t_fail "survive"

# A guest process that outlives its SIGKILLed supervisor leaves the
# domain's process tree; with PVKIT_DOMID cleared it must still not pass
# for domain 0.
id=$(t_detach esc "$CLIENT" escapee "$PVKIT_SIM_DIR/esc.out")
pid=$("$PVKIT" domain list | awk -v id="$id" '$1 == id { print $4 }')
[ -n "$pid" ] || t_fail "no supervisor pid for domain $id"
for i in $(seq 100); do
	grep -q ready "$PVKIT_SIM_DIR/esc.out" 2>/dev/null && break
	sleep 0.05
done
kill -9 "$pid"
for i in $(seq 100); do
	grep -q pvk_sim_open "$PVKIT_SIM_DIR/esc.out" && break
	sleep 0.1
done
cat "$PVKIT_SIM_DIR/esc.out"
grep -q "pvk_sim_open: -13$" "$PVKIT_SIM_DIR/esc.out" ||
	t_fail "an escaped guest process was let in"
grep -q "no_new_privs outside any domain" "$PVKIT_SIM_DIR/simd.log" ||
	t_fail "no log line for the escapee"
