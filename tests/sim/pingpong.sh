#!/bin/bash
# SPDX-License-Identifier: MIT
# Two guest domains share a page by grant and exchange 100k event
# notifications, each side waiting for the other; nothing is lost.
. "$(dirname "$0")/lib.sh"

t_start
back=$(t_detach back "$CLIENT" pp-back)
"$PVKIT" domain create front -- "$CLIENT" pp-front "$back" 100000 ||
	t_fail "front"
for i in $(seq 100); do
	grep -q "answered" "$PVKIT_SIM_DIR/domain-back.log" && break
	sleep 0.1
done
cat "$PVKIT_SIM_DIR/domain-back.log"
grep -q "answered 100000 pings, 100001 events" \
	"$PVKIT_SIM_DIR/domain-back.log" || t_fail "back's count"
