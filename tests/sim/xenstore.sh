#!/bin/bash
# SPDX-License-Identifier: MIT
# Xen's own xenstored on the simulator: the stock tools see every domain,
# a guest gets EACCES on others' nodes, transaction conflicts are EAGAIN.
. "$(dirname "$0")/lib.sh"

t_start
a=$(t_detach alpha sleep 60)
b=$(t_detach beta sleep 60)
ls=$(XENSTORED_PATH=$DOM0_XS xenstore-ls /local/domain) ||
	t_fail "xenstore-ls"
echo "$ls"
for id in 0 "$a" "$b"; do
	echo "$ls" | grep -q "^$id = " || t_fail "xenstore-ls lacks domain $id"
done
echo "$ls" | grep -q 'name = "alpha"' || t_fail "alpha's name"
[ "$(XENSTORED_PATH=$DOM0_XS xenstore-read /local/domain/$b/domid)" = "$b" ] ||
	t_fail "beta's domid node"

"$PVKIT" domain create guest -- "$CLIENT" eacces || t_fail "eacces"
"$PVKIT" domain create guest -- "$CLIENT" txn || t_fail "guest txn"
XENSTORED_PATH=$DOM0_XS "$CLIENT" txn || t_fail "dom0 txn"
# Several clients of one guest share its ring; watches are routed back.
"$PVKIT" domain create watcher -- sh -c '
	xenstore-watch -n 2 data/w > "$PVKIT_SIM_DIR/watch.out" &
	sleep 0.5; xenstore-write data/w hello; wait' ||
	t_fail "watch in a guest"
grep -q "data/w" "$PVKIT_SIM_DIR/watch.out" || t_fail "watch event"
