#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make demo, networking part.  In network namespaces of its own: start
# the simulated hypervisor and pvkit-backd serving vifs on a bridge,
# create two guest domains, each running `pvkit nic serve-tap` (pvkit's
# netfront, its NIC eth0 in the guest's own namespace), attach a vif to
# each (the nodes `xl network-attach` writes), then ping from one guest
# to the other through dom0's bridge and move 256 MiB over TCP each way,
# checked by sha256; the same TCP transfer over a veth pair between two
# namespaces is the baseline.  Stops everything on the way out.
set -u
B=${1:-build}
if [ "${PVK_IN_NETNS:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ] || [ ! -w /dev/net/tun ] ||
		! unshare -n -m true 2>/dev/null; then
		echo "== networking part skipped: it needs root, /dev/net/tun and network namespaces"
		exit 0
	fi
	PVK_IN_NETNS=1 exec unshare -n -m "$0" "$@"
fi
mount -t sysfs sysfs /sys 2>/dev/null
# ip netns's directory, private to this mount namespace
mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns || exit 1
. "$(dirname "$0")/../bench/blk-env.sh"
. "$(dirname "$0")/../bench/net-env.sh"
NET_TCP=$B/tests/pvk-tcp
MIB=256

echo "== pvkit demo: PV networking on the simulated hypervisor"
blk_env_start || exit 1
XENSTORED_PATH=$PVKIT_SIM_DIR/xenstored/socket
export XENSTORED_PATH
W=$BLK_WORK
blk_backd_start --driver vif || exit 1
ip link set lo up
for g in 1 2; do
	net_guest "web$g" "10.0.0.$g" --queues 1 -- --bridge xenbr0 \
		--mac "00:16:3e:00:00:0$g" || exit 1
	echo "== guest web$g (10.0.0.$g/24): $(head -n1 "$PVKIT_SIM_DIR/domain-web$g.log")"
done
echo "== dom0: bridge xenbr0 with the vifs pvkit-backd made"
ip -br link show master xenbr0 | sed 's/^/   /'
echo "== web1 pings web2 (10.0.0.2) through dom0's bridge"
net_gexec web1 ping -c 3 -i 0.2 10.0.0.2 | sed 's/^/   /' || exit 1

echo "== $MIB MiB over TCP each way, checked by sha256"
net_xfer web1 web2 10.0.0.2 $MIB || exit 1
pv1=$NET_MBS sha1=$NET_SHA
net_xfer web2 web1 10.0.0.1 $MIB || exit 1
pv2=$NET_MBS sha2=$NET_SHA

# The baseline: the same transfer over a veth pair between two namespaces.
net_veth_xfer $MIB || exit 1
v=$NET_MBS

row() {
	printf '   %-36s %6s MB/s  %5s  %s\n' "$1" "$2" \
		"$(awk "BEGIN { printf \"%.2fx\", $2 / $v }")" "$3"
}
row "web1 -> web2 (PV netfront/netback)" "$pv1" "sha256 $sha1 intact"
row "web2 -> web1 (PV netfront/netback)" "$pv2" "sha256 $sha2 intact"
row "veth pair (baseline, same run)" "$v" "intact"
echo "   (one TCP stream; the PV path crosses two TAPs, a bridge and two"
echo "   grant copies per frame, each end one thread)"
echo "== pvkit-backd's log"
grep -E "vif [0-9]+/" "$W/backd.out" | sed 's/^/   /'
for g in 1 2; do "$PVKIT" domain destroy "web$g" >/dev/null; done
echo "== networking demo passed: data intact every way"
