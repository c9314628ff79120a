# SPDX-License-Identifier: MIT
# Sourced by the simulator tests: a private simulator state directory,
# stopped and removed at exit whatever happens.
set -u
B=${PVK_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
PVKIT="$B/bin/pvkit"
CLIENT="$B/tests/test-sim-client"

if [ ! -x /usr/lib/xen-4.17/bin/xenstored ]; then
	echo "SKIP: xenstored (Debian xen-utils-4.17) is not installed"
	exit 77
fi
for f in "$PVKIT" "$CLIENT" "$B/bin/pvkit-simd"; do
	[ -x "$f" ] || { echo "FAIL: $f is not built (run make)"; exit 1; }
done

PVKIT_SIM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pvk-simtest.XXXXXX")
export PVKIT_SIM_DIR
unset PVKIT_DOMID XENSTORED_PATH XENSTORED_RUNDIR
DOM0_XS="$PVKIT_SIM_DIR/xenstored/socket"

# Processes of this test still alive: everything it starts (pvkit-simd,
# xenstored, supervisors, guests) carries PVKIT_SIM_DIR -- ours, or a
# directory below it -- in its environment; this shell and its subshells
# do not (they got it after exec).
t_leftovers() {
	local f pid
	for f in /proc/[0-9]*/environ; do
		pid=${f#/proc/}
		pid=${pid%/environ}
		[ "$pid" = $$ ] && continue
		{ tr '\0' '\n' <"$f"; } 2>/dev/null |
			grep -qxE "PVKIT_SIM_DIR=$PVKIT_SIM_DIR(/.*)?" && echo "$pid"
	done
}

# Stop the simulator and check that nothing is left behind, on every exit
# path: a leftover process fails the test (and is killed).
t_cleanup() {
	local rc=$? left i
	trap - EXIT
	"$PVKIT" sim stop >/dev/null 2>&1
	for i in $(seq 50); do
		left=$(t_leftovers)
		[ -z "$left" ] && break
		sleep 0.1
	done
	if [ -n "$left" ]; then
		echo "FAIL: processes left behind:"
		ps -o pid,ppid,stat,args -p "$(echo $left | tr ' ' ,)"
		kill -9 $left 2>/dev/null
		rc=1
	fi
	rm -rf "$PVKIT_SIM_DIR"
	exit $rc
}
trap t_cleanup EXIT
trap 'exit 1' INT TERM

t_fail() {
	echo "FAIL: $*"
	for f in "$PVKIT_SIM_DIR"/simd.log "$PVKIT_SIM_DIR"/domain-*.log; do
		[ -f "$f" ] || continue
		echo "--- $f"
		tail -n 15 "$f"
	done
	exit 1
}

t_start() {
	"$PVKIT" sim start || t_fail "pvkit sim start"
}

# t_detach NAME CMD...: create a background domain, print its id.
t_detach() {
	local name=$1 out
	shift
	out=$("$PVKIT" domain create "$name" --detach -- "$@") ||
		t_fail "domain create $name"
	echo "${out##*id }"
}
