# SPDX-License-Identifier: MIT
#
# net-env.sh -- sourced after blk-env.sh by the scripts that put guests
# on a simulated network (tests/net/netfront-sim.sh, tools/demo-net.sh,
# bench/net-tcp.sh): a guest running `pvkit nic serve-tap`, commands in a
# guest's network namespace, and a TCP transfer checked by sha256.
# Needs $PVKIT, $BLK_WORK, pvkit-backd serving vifs, and $NET_TCP (the
# pvk-tcp helper).

# net_gexec DOMAIN CMD...: CMD in the domain's network namespace.
# net_isolate "$0" "$@": re-run the calling script in network and mount
# namespaces of its own (exit 77 where that is not possible), then mount
# that namespace's /sys.  First thing in a script, right after sourcing.
net_isolate() {
	if [ "${PVK_IN_NETNS:-}" != 1 ]; then
		if [ ! -w /dev/net/tun ] || ! unshare -n -m true 2>/dev/null; then
			echo "SKIP: needs /dev/net/tun and network namespaces (root)"
			exit 77
		fi
		PVK_IN_NETNS=1 exec unshare -n -m "$@"
	fi
	mount -t sysfs sysfs /sys || exit 1
}

net_gexec() {
	_dom=$1
	shift
	"$PVKIT" domain exec "$_dom" -- "$@"
}

# net_guest NAME IP [serve-tap options] [-- nic attach options]: a domain
# running serve-tap on a new vif (bridge pvkbr unless the attach options
# name one), its eth0 up with IP/24.
net_guest() {
	_name=$1 _ip=$2 _st=
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		_st="$_st $1"
		shift
	done
	[ $# -gt 0 ] && shift
	# shellcheck disable=SC2086 # word splitting wanted
	"$PVKIT" domain create "$_name" --detach -- \
		"$PVKIT" nic serve-tap 0 $_st >/dev/null || return 1
	"$PVKIT" nic attach "$_name" --bridge pvkbr "$@" >/dev/null || return 1
	_i=0
	until net_gexec "$_name" ip link show eth0 2>/dev/null | grep -q UP; do
		_i=$((_i + 1))
		[ $_i -lt 100 ] || {
			cat "$PVKIT_SIM_DIR/domain-$_name.log" >&2
			return 1
		}
		sleep 0.1
	done
	net_gexec "$_name" ip addr add "$_ip/24" dev eth0
}

# net_xfer FROM TO TO_IP MIB [PORT]: MIB MiB of random data over TCP from
# the namespace of FROM to TO (a domain name, or "-" for dom0's own
# namespace).  Returns 0 if what arrived has the same sha256; sets
# NET_MBS (MB/s at the sender) and NET_SHA.
net_xfer() {
	_from=$1 _to=$2 _toip=$3 _mib=$4 _port=${5:-5001}
	_pat=$BLK_WORK/pat.$_port _in=$BLK_WORK/in.$_port
	rm -f "$_in" "$_in.rc"
	head -c $((_mib << 20)) /dev/urandom >"$_pat"
	if [ "$_to" = - ]; then
		"$NET_TCP" recv "$_port" "$_in" 120 || return 1
	else
		net_gexec "$_to" "$NET_TCP" recv "$_port" "$_in" 120 || return 1
	fi
	if [ "$_from" = - ]; then
		_out=$("$NET_TCP" send "$_toip" "$_port" 120 <"$_pat") || return 1
	else
		_out=$(net_gexec "$_from" "$NET_TCP" send "$_toip" "$_port" 120 \
			<"$_pat") || return 1
	fi
	_i=0
	until [ -s "$_in.rc" ] || [ $_i -ge 300 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	NET_SHA=$(sha256sum <"$_pat" | cut -c1-16)
	_got=$(sha256sum <"$_in" | cut -c1-16)
	rm -f "$_pat" "$_in"
	NET_MBS=$(echo "$_out" | awk '{ printf "%.0f", $1 / $2 }')
	[ "$NET_SHA" = "$_got" ]
}

# net_veth_xfer MIB: the same transfer over a veth pair between two
# network namespaces of ip netns (made and removed here; /run/netns must
# be writable): the baseline.  Sets NET_MBS; returns 0 if intact.
net_veth_xfer() {
	ip netns add pvkvetha && ip netns add pvkvethb &&
		ip link add va netns pvkvetha type veth peer vb netns pvkvethb &&
		ip -n pvkvetha addr add 10.254.0.1/24 dev va &&
		ip -n pvkvethb addr add 10.254.0.2/24 dev vb &&
		ip -n pvkvetha link set va up && ip -n pvkvethb link set vb up &&
		ip -n pvkvetha link set lo up && ip -n pvkvethb link set lo up ||
		return 1
	_pat=$BLK_WORK/pat.veth _in=$BLK_WORK/in.veth
	rm -f "$_in" "$_in.rc"
	head -c $(($1 << 20)) /dev/urandom >"$_pat"
	_rc=1
	if ip netns exec pvkvethb "$NET_TCP" recv 5001 "$_in" 120 &&
		_out=$(ip netns exec pvkvetha "$NET_TCP" send 10.254.0.2 5001 \
			120 <"$_pat"); then
		_i=0
		until [ -s "$_in.rc" ] || [ $_i -ge 300 ]; do
			sleep 0.1
			_i=$((_i + 1))
		done
		NET_MBS=$(echo "$_out" | awk '{ printf "%.0f", $1 / $2 }')
		cmp -s "$_pat" "$_in" && _rc=0
	fi
	rm -f "$_pat" "$_in"
	ip netns del pvkvetha
	ip netns del pvkvethb
	return $_rc
}
