#!/bin/bash
# SPDX-License-Identifier: MIT
# HVM guests on the simulator beyond the IDE path of hvm.sh:
#  - `pvkit domain list` (and --json) shows an HVM guest's type and vCPUs;
#  - two vCPUs trap at once (hvm-guest vcpus): each writes and reads back
#    its own IDE register (and, as root, its own e1000 register) while
#    both read the IDE status; every answer is the vCPU's own, the trap
#    counts are exact per vCPU; vCPU 1 of a 1-vCPU domain crashes it
#    with a line saying so;
#  - as root: the e1000 guest driver over real MMIO traps against
#    pvkit-dm's e1000 on a TAP that is moved into a network namespace of
#    its own, where a packet socket (hvm-guest wire) is the other end:
#    frames both ways with their bytes checked, the guest woken by IRQ 11,
#    test-e1000's trap counts.  Not root (or no /dev/net/tun, no network
#    namespaces): that part is skipped with a line saying so.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hvm-lib.sh"

N=${HVM_NET_FRAMES:-200}
VCPU_N=${HVM_VCPU_ACCESSES:-20000}
MAC=52:54:00:06:00:01 # hvm-guest's NET_MAC
IMG="$PVKIT_SIM_DIR/disk.img"
truncate -s 1M "$IMG"
nic=
if [ "$(id -u)" != 0 ]; then
	nic="not root"
elif [ ! -c /dev/net/tun ]; then
	nic="no /dev/net/tun"
elif ! unshare -n true 2>/dev/null; then
	nic="no network namespaces"
elif ! command -v ip >/dev/null || ! command -v nsenter >/dev/null; then
	nic="no ip(8) or nsenter(1)"
fi
t_start

# --- the domain list: type and vCPUs ---------------------------------------
T="$PVKIT_SIM_DIR/vcpus"
mkdir -p "$T"
pv=$(t_detach pv sleep 600)
if [ -z "$nic" ]; then
	t_hvm vcpus --vcpus 2 -- "$GUEST" vcpus "$T" "$VCPU_N" nic
else
	t_hvm vcpus --vcpus 2 -- "$GUEST" vcpus "$T" "$VCPU_N" ide
fi
"$PVKIT" domain list
"$PVKIT" domain list | grep -Eq "^ +ID +NAME +STATE +PID +TYPE +VCPUS$" ||
	t_fail "domain list: header"
"$PVKIT" domain list | grep -Eq "^ *$pv +pv +running +[0-9]+ +pv +-$" ||
	t_fail "domain list: pv is not a PV domain"
"$PVKIT" domain list | grep -Eq "^ *[0-9]+ +vcpus +running +[0-9]+ +hvm +2$" ||
	t_fail "domain list: vcpus is not HVM with 2 vCPUs"
json=$("$PVKIT" domain list --json)
echo "$json"
echo "$json" | grep -q "\"name\": \"vcpus\", \"state\": \"running\", \"pid\": [0-9]*, \"type\": \"hvm\", \"vcpus\": 2}" ||
	t_fail "domain list --json: vcpus"
echo "$json" | grep -q "\"name\": \"pv\", \"state\": \"running\", \"pid\": [0-9]*, \"type\": \"pv\", \"vcpus\": 0}" ||
	t_fail "domain list --json: pv"
"$PVKIT" domain destroy pv >/dev/null || t_fail "destroy pv"

# --- two vCPUs at once ------------------------------------------------------
if [ -z "$nic" ]; then
	t_dm vcpus "$T/dm.log" --ide "$IMG" --e1000 tap=pvkhv%d
else
	t_dm vcpus "$T/dm.log" --ide "$IMG"
fi
touch "$T/go"
t_wait_exit "$DM_PID" 120
rc=$?
cat "$PVKIT_SIM_DIR/domain-vcpus.log" "$T/dm.log"
[ $rc = 0 ] || t_fail "pvkit-dm (vcpus) did not end cleanly with its guest ($rc)"
grep -q "hvm-guest: vcpus ok" "$PVKIT_SIM_DIR/domain-vcpus.log" ||
	t_fail "two vCPUs"

# --- a vCPU the domain does not have: the domain crashes, saying why --------
T="$PVKIT_SIM_DIR/onevcpu"
mkdir -p "$T"
ulimit -c 0
t_hvm onevcpu --vcpus 1 -- "$GUEST" vcpus "$T" 10 ide
t_dm onevcpu "$T/dm.log" --ide "$IMG"
touch "$T/go"
t_wait_exit "$DM_PID" 60 || t_fail "pvkit-dm (onevcpu) did not end cleanly"
cat "$PVKIT_SIM_DIR/domain-onevcpu.log"
grep -q "vCPU 1: ioreq refused (-EINVAL: a vCPU the domain does not have" \
	"$PVKIT_SIM_DIR/domain-onevcpu.log" || t_fail "vCPU 1 of a 1-vCPU domain"

# --- the e1000 over MMIO traps ----------------------------------------------
if [ -n "$nic" ]; then
	echo "SKIP (the e1000 part): $nic -- run as root for it"
	echo "PASS"
	exit 0
fi
T="$PVKIT_SIM_DIR/net"
mkdir -p "$T"
t_hvm net -- "$GUEST" net "$T" "$N"
t_dm net "$T/dm.log" --e1000 "tap=pvkhn%d,mac=$MAC"
IF=$(sed -n 's/.* e1000 \([^ ]*\)$/\1/p' "$T/dm.log")
[ -n "$IF" ] || t_fail "no e1000: $(cat "$T/dm.log")"
# The wire: a packet socket in a network namespace of its own, with the
# TAP moved there (no other traffic; pvkit-dm keeps its descriptor).
unshare -n "$GUEST" wire "$T" "$IF" "$N" >"$T/wire.log" 2>&1 &
WIRE_PID=$!
for _ in $(seq 200); do
	[ "$(readlink /proc/$WIRE_PID/ns/net 2>/dev/null)" != \
		"$(readlink /proc/self/ns/net)" ] && break
	sleep 0.05
done
ip link set "$IF" netns $WIRE_PID || t_fail "cannot move $IF"
nsenter -t $WIRE_PID -n sysctl -qw "net.ipv6.conf.$IF.disable_ipv6=1" \
	2>/dev/null
nsenter -t $WIRE_PID -n ip link set "$IF" mtu 9000 up ||
	t_fail "cannot bring $IF up"
touch "$T/wire-go"
t_wait_file "$T/wire-ready" 30
touch "$T/go"
t_wait_exit "$WIRE_PID" 120
rc=$?
cat "$T/wire.log"
[ $rc = 0 ] || t_fail "the wire failed ($rc)"
t_wait_exit "$DM_PID" 60
rc=$?
cat "$PVKIT_SIM_DIR/domain-net.log" "$T/dm.log"
[ $rc = 0 ] || t_fail "pvkit-dm (net) did not end cleanly with its guest ($rc)"
grep -q "hvm-guest: net ok" "$PVKIT_SIM_DIR/domain-net.log" ||
	t_fail "the e1000 guest failed"
grep -q "e1000:" "$T/dm.log" && t_fail "pvkit-dm's e1000 logged a guest error"
echo "PASS"
