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

t_cleanup() {
	"$PVKIT" sim stop >/dev/null 2>&1
	rm -rf "$PVKIT_SIM_DIR"
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
