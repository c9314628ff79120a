#!/bin/sh
# SPDX-License-Identifier: MIT
#
# net-tcp.sh OUT: TCP throughput through pvkit's network split driver on
# the simulator, for bench-net: one stream of 256 MiB (best of 3), with
# GSO and checksum offload (serve-tap options from $NET_TCP_TAP_OPTS),
#   guest -> dom0    pvkit netfront (serve-tap) -> netback -> the bridge,
#                    where dom0 holds an address
#   guest -> guest   the same, then netback -> netfront into a second guest
# and the same transfer over a veth pair between two namespaces (the
# baseline, same run).  Writes "NAME MB/s" lines to OUT.  Runs in network
# namespaces of its own (root).
set -u
OUT=$1
if [ "${PVK_IN_NETNS:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ] || [ ! -w /dev/net/tun ] ||
		! unshare -n -m true 2>/dev/null; then
		echo "net-tcp: skipped: needs root, /dev/net/tun and network namespaces" >&2
		exit 77
	fi
	PVK_IN_NETNS=1 exec unshare -n -m "$0" "$@"
fi
B=${PVK_BUILD:-build}
mount -t sysfs sysfs /sys 2>/dev/null
mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns || exit 1
. "$(dirname "$0")/blk-env.sh"
. "$(dirname "$0")/net-env.sh"
NET_TCP=$B/tests/pvk-tcp
blk_env_start >/dev/null || exit 1
XENSTORED_PATH=$PVKIT_SIM_DIR/xenstored/socket
export XENSTORED_PATH
blk_backd_start --driver vif || exit 1
ip link set lo up
net_guest t1 10.7.0.1 --queues 1 ${NET_TCP_TAP_OPTS:-} || exit 1
net_guest t2 10.7.0.2 --queues 1 ${NET_TCP_TAP_OPTS:-} || exit 1
ip addr add 10.7.0.254/24 dev pvkbr && ip link set pvkbr up || exit 1

# Three rounds, each case once per round (so that all see the same
# machine), the best of each kept.
veth=0 g2d=0 g2g=0
keep() {
	"$@" || {
		echo "net-tcp: $* failed (data differ or no transfer)" >&2
		exit 1
	}
	echo "$NET_MBS"
}
for r in 1 2 3; do
	v=$(keep net_veth_xfer 256) || exit 1
	[ "$v" -gt "$veth" ] && veth=$v
	v=$(keep net_xfer t1 - 10.7.0.254 256) || exit 1
	[ "$v" -gt "$g2d" ] && g2d=$v
	v=$(keep net_xfer t1 t2 10.7.0.2 256) || exit 1
	[ "$v" -gt "$g2g" ] && g2g=$v
done
printf 'veth.tcp %s\npv.tcp.guest_to_dom0 %s\npv.tcp.guest_to_guest %s\n' \
	"$veth" "$g2d" "$g2g" >"$OUT"
