#!/bin/bash
# SPDX-License-Identifier: MIT
# pvkit-simd and descriptors: unwanted SCM_RIGHTS are closed, not leaked;
# out of descriptors, it refuses connections without spinning and serves
# again once they are freed.  Its limit is lowered for the test.
. "$(dirname "$0")/lib.sh"

(ulimit -n 96 && t_start) || t_fail "start with 96 descriptors"
simd=$(sed -n 1p "$PVKIT_SIM_DIR/simd.pid")
back=$(t_detach back "$CLIENT" pp-back)

# The back connects, then publishes its inbox and waits for the front:
# from then on its use of descriptors is stable, and its connection,
# made before the flood below, must keep working through it.
for i in $(seq 100); do
	XENSTORED_PATH=$DOM0_XS xenstore-read "/local/domain/$back/data/pp" \
		>/dev/null 2>&1 && break
	sleep 0.05
done
"$CLIENT" fdspam || t_fail "fdspam"

# Exhaust its descriptors; each connection costs it two (socket, pidfd).
"$CLIENT" connflood 200 "$PVKIT_SIM_DIR/flood.done" >"$PVKIT_SIM_DIR/flood.out" &
flood=$!
for i in $(seq 100); do
	grep -q "connections made" "$PVKIT_SIM_DIR/flood.out" && break
	sleep 0.05
done
cat "$PVKIT_SIM_DIR/flood.out"
for i in $(seq 100); do
	grep -q "refusing connections" "$PVKIT_SIM_DIR/simd.log" && break
	sleep 0.05
done
grep -q "refusing connections" "$PVKIT_SIM_DIR/simd.log" ||
	t_fail "descriptors never ran out (raise the flood)"
# Starved, it must wait, not spin: a spinning daemon burns a whole CPU
# second per second; an idle one next to nothing.
t0=$(awk '{ print $14 + $15 }' "/proc/$simd/stat")
sleep 1
t1=$(awk '{ print $14 + $15 }' "/proc/$simd/stat")
echo "pvkit-simd CPU while starved: $((t1 - t0)) ticks in 1 s"
[ $((t1 - t0)) -lt 50 ] || t_fail "pvkit-simd spins when out of descriptors"
touch "$PVKIT_SIM_DIR/flood.done"
wait $flood
"$PVKIT" domain create front -- "$CLIENT" pp-front "$back" 100 ||
	t_fail "not serving after the flood"
grep -q "descriptors available again" "$PVKIT_SIM_DIR/simd.log" ||
	t_fail "no recovery logged"
echo "fds: unwanted descriptors closed; starvation survived"
