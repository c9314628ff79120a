#!/bin/bash
# SPDX-License-Identifier: MIT
# A domain is a VM: a guest runs in a network namespace of its own, with
# only a loopback device, up; two guests do not share one; dom0 (this
# shell) keeps the host's.  Skips where namespaces cannot be made.
. "$(dirname "$0")/lib.sh"

unshare -n true 2>/dev/null || {
	echo "SKIP: cannot create network namespaces here (needs root)"
	exit 77
}
t_start
# na stays alive while nb starts: a namespace's number is reused once it
# is gone.
F=$PVKIT_SIM_DIR/na.out
t_detach na sh -c "{ readlink /proc/self/ns/net; cat /proc/net/dev; } \
	>$F.tmp && mv $F.tmp $F && exec sleep 600" >/dev/null
for i in $(seq 100); do
	[ -s "$F" ] && break
	sleep 0.05
done
a=$(cat "$F") || t_fail "guest na wrote nothing"
b=$("$PVKIT" domain create nb -- readlink /proc/self/ns/net) ||
	t_fail "domain create nb"
host=$(readlink /proc/self/ns/net)
na=$(echo "$a" | head -n 1)
echo "dom0 $host, na $na, nb $b"
[ "$na" != "$host" ] || t_fail "guest na shares dom0's network namespace"
[ "$b" != "$host" ] && [ "$b" != "$na" ] ||
	t_fail "guest nb shares another's network namespace"
devs=$(echo "$a" | tail -n +4 | sed -n 's/^ *\([^ :]*\):.*/\1/p' | tr '\n' ' ')
[ "$devs" = "lo " ] || t_fail "guest na sees devices '$devs', wanted only lo"
echo "$a" | grep -q "^ *lo:" || t_fail "no loopback in the guest"
echo "ok: each guest has a network of its own (devices: $devs)"
