# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Sourced by tests/sim/hvm*.sh after lib.sh: HVM domains and pvkit-dm.
GUEST="$B/tests/hvm-guest"
DM="$B/bin/pvkit-dm"
for f in "$GUEST" "$DM"; do
	[ -x "$f" ] || t_fail "$f is not built (run make)"
done

# t_hvm NAME [OPTION...] -- CMD...: an HVM domain in the background.
t_hvm() {
	local name=$1
	shift
	"$PVKIT" domain create "$name" --hvm --detach "$@" >/dev/null ||
		t_fail "domain create --hvm $name"
}

# t_dm NAME LOG DEVICE-OPTION...: pvkit-dm for NAME in the background;
# waits until it serves; sets DM_PID.
t_dm() {
	local _ name=$1 log=$2
	shift 2
	"$DM" --domain "$name" "$@" >"$log" 2>&1 &
	DM_PID=$!
	for _ in $(seq 200); do
		grep -qs "serving domain" "$log" && return 0
		kill -0 $DM_PID 2>/dev/null || break
		sleep 0.05
	done
	cat "$log"
	t_fail "pvkit-dm for $name did not start serving"
}

# t_wait_exit PID SECONDS: its exit status (124 if it is still running).
t_wait_exit() {
	local _
	for _ in $(seq $(($2 * 20))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$1" 2>/dev/null && return 124
	wait "$1"
}

# t_wait_file FILE SECONDS
t_wait_file() {
	local _
	for _ in $(seq $(($2 * 20))); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	t_fail "$1 did not appear within $2 s"
}
