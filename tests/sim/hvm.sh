#!/bin/bash
# SPDX-License-Identifier: MIT
# HVM guests on the simulator: a guest process whose vCPU's in/out
# instructions trap (hvm-guest), served by pvkit-dm in domain 0 through an
# ioreq server held by pvkit-simd.
#  - bad --hvm/--memory/--vcpus values, a guest's ioreq calls (EPERM),
#    pvkit-dm on a PV domain;
#  - the IDE guest driver writes and reads back through real traps, with
#    test-trap's trap counts; the image file then holds what it wrote;
#  - a trapped `in`'s round trip, on the simulator and on loop (ns);
#  - pvkit-dm killed (SIGKILL): the guest's reads complete with all-ones;
#    stopped (SIGSTOP): a timed access times out, the next one completes;
#  - pvkit-dm stopped (SIGTERM) exits 0, a second one serves the guest
#    again, and the guest's destruction ends it cleanly.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/hvm-lib.sh"
IMG="$PVKIT_SIM_DIR/disk.img"
truncate -s 8M "$IMG"
t_start

# --- bad input ------------------------------------------------------------
for args in "--memory 0" "--memory 65537" "--memory 12x" "--vcpus 0" \
	"--vcpus 33" "--vcpus"; do
	# shellcheck disable=SC2086
	out=$("$PVKIT" domain create bad --hvm $args -- true 2>&1) &&
		t_fail "domain create --hvm $args succeeded"
	echo "$out" | grep -q "give a whole number\|needs a value" ||
		t_fail "domain create --hvm $args: unclear error: $out"
done
out=$("$PVKIT" domain create bad --memory 32 -- true 2>&1) &&
	t_fail "--memory without --hvm succeeded"
echo "$out" | grep -q "add --hvm" || t_fail "--memory without --hvm: $out"
out=$("$DM" --ide "$IMG" 2>&1)
[ $? = 2 ] || t_fail "pvkit-dm without --domain: not exit 2"
out=$("$DM" --domain nosuch --ide "$IMG" 2>&1) &&
	t_fail "pvkit-dm for a missing domain succeeded"
echo "$out" | grep -q "no domain 'nosuch'" || t_fail "pvkit-dm: $out"
out=$("$DM" --domain 1 --e1000 mac=01:00:00:00:00:01 2>&1)
[ $? = 2 ] || t_fail "pvkit-dm --e1000 with a multicast MAC: not exit 2"

# --- a guest may not be a device model; a PV domain has no ioreq servers --
"$PVKIT" domain create eperm --hvm -- "$GUEST" eperm || t_fail "eperm"
pv=$(t_detach pv sleep 600)
out=$("$DM" --domain pv --ide "$IMG" 2>&1) &&
	t_fail "pvkit-dm served a PV domain"
echo "$out" | grep -q "not an HVM guest" || t_fail "pvkit-dm on PV: $out"
"$PVKIT" domain destroy pv >/dev/null || t_fail "destroy pv"

# --- the IDE driver over real traps; the image holds what it wrote --------
T="$PVKIT_SIM_DIR/ide"
mkdir -p "$T"
t_hvm ide --memory 32 --vcpus 2 -- "$GUEST" ide "$T"
t_dm ide "$T/dm.log" --ide "$IMG"
touch "$T/go"
t_wait_exit $DM_PID 60
rc=$?
cat "$PVKIT_SIM_DIR/domain-ide.log" "$T/dm.log"
[ $rc = 0 ] || t_fail "pvkit-dm did not end cleanly with its guest ($rc)"
grep -q "hvm-guest: ide ok" "$PVKIT_SIM_DIR/domain-ide.log" ||
	t_fail "the IDE guest failed"
grep -q "domain [0-9]* is gone" "$T/dm.log" || t_fail "pvkit-dm: why it ended"
"$PVKIT" domain list | grep -q "ide" && t_fail "domain ide still listed"
dd if="$IMG" bs=512 skip=100 count=37 status=none | cmp - "$T/pio.bin" ||
	t_fail "the image does not hold the PIO write"
dd if="$IMG" bs=512 skip=1000 count=300 status=none | cmp - "$T/dma.bin" ||
	t_fail "the image does not hold the DMA write"
echo "image: PIO $(sha256sum <"$T/pio.bin" | cut -c1-16) DMA" \
	"$(sha256sum <"$T/dma.bin" | cut -c1-16): as written"

# --- one trapped in's round trip -------------------------------------------
for spin in 20 0; do
	T="$PVKIT_SIM_DIR/bench$spin"
	mkdir -p "$T"
	PVKIT_HVM_SPIN_US=$spin t_hvm bench$spin -- "$GUEST" bench "$T" 100000
	t_dm bench$spin "$T/dm.log" --ide "$IMG"
	touch "$T/go"
	t_wait_exit $DM_PID 120 || t_fail "pvkit-dm (bench) did not end cleanly"
	echo "PVKIT_HVM_SPIN_US=$spin:"
	grep "ns/access" "$PVKIT_SIM_DIR/domain-bench$spin.log" ||
		t_fail "bench: $(cat "$PVKIT_SIM_DIR/domain-bench$spin.log")"
done
"$GUEST" bench-loop 100000 || t_fail "bench on loop"

# --- the device model killed: reads complete with all-ones ----------------
T="$PVKIT_SIM_DIR/spin"
mkdir -p "$T"
t_hvm spin -- "$GUEST" spin "$T"
t_dm spin "$T/dm.log" --ide "$IMG"
touch "$T/go"
t_wait_file "$T/spinning" 30
kill -KILL $DM_PID
wait $DM_PID 2>/dev/null
for i in $(seq 200); do
	grep -q "all-ones after" "$PVKIT_SIM_DIR/domain-spin.log" && break
	sleep 0.05
done
cat "$PVKIT_SIM_DIR/domain-spin.log"
grep -q "all-ones after" "$PVKIT_SIM_DIR/domain-spin.log" ||
	t_fail "the guest did not see its device model go"

# --- a stopped device model: a timed access times out, the next waits ----
T="$PVKIT_SIM_DIR/timeout"
mkdir -p "$T"
t_hvm timeout -- "$GUEST" timeout "$T"
t_dm timeout "$T/dm.log" --ide "$IMG"
touch "$T/go"
t_wait_file "$T/ready" 30
kill -STOP $DM_PID
touch "$T/stopped"
t_wait_file "$T/timedout" 30
kill -CONT $DM_PID
touch "$T/resumed"
t_wait_exit $DM_PID 30 || t_fail "pvkit-dm (timeout) did not end cleanly"
cat "$PVKIT_SIM_DIR/domain-timeout.log"
grep -q "timeout ok" "$PVKIT_SIM_DIR/domain-timeout.log" ||
	t_fail "the time-out case failed"

# --- SIGTERM, a second device model, the guest destroyed ------------------
T="$PVKIT_SIM_DIR/hold"
mkdir -p "$T"
t_hvm hold -- "$GUEST" hold "$T"
t_dm hold "$T/dm1.log" --ide "$IMG"
touch "$T/go"
t_wait_file "$T/held" 30
kill -TERM $DM_PID
t_wait_exit $DM_PID 10 || t_fail "pvkit-dm did not exit 0 on SIGTERM"
# The second one with an e1000 too, where a TAP can be made.
if [ "$(id -u)" = 0 ] && [ -c /dev/net/tun ]; then
	t_dm hold "$T/dm2.log" --ide "$IMG" --e1000 tap=pvkdm%d
	grep -q "e1000 pvkdm" "$T/dm2.log" || t_fail "no e1000: $(cat "$T/dm2.log")"
else
	echo "(not root: no e1000)"
	t_dm hold "$T/dm2.log" --ide "$IMG"
fi
"$PVKIT" domain destroy hold >/dev/null || t_fail "destroy hold"
t_wait_exit $DM_PID 10 || t_fail "pvkit-dm did not end with its guest"
grep -q "is gone" "$T/dm2.log" || t_fail "pvkit-dm: $(cat "$T/dm2.log")"
grep "ioreq server" "$PVKIT_SIM_DIR/simd.log"
echo "PASS"
