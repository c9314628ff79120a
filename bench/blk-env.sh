# SPDX-License-Identifier: MIT
#
# bench/blk-env.sh -- sourced (POSIX sh) by tools/demo.sh, bench/blk-bench.sh
# and the blkfront simulator tests (tests/blk/front-sim-*.sh): a private
# simulator, pvkit-backd, and guest domains with a disk attached.
# blk_env_start installs an EXIT trap that stops everything it started,
# on success and on failure alike.
#
# Needs B, the build directory.  PVKIT overrides the pvkit binary.

blk_log() {
	printf '%s\n' "$*" >&2
}

blk_env_start() {
	B=$(cd "$B" && pwd)
	PVKIT=${PVKIT:-$B/bin/pvkit}
	for p in "$PVKIT" "$B/bin/pvkit-backd" "$B/bin/pvkit-simd"; do
		if [ ! -x "$p" ]; then
			blk_log "missing $p: run make first"
			return 1
		fi
	done
	if ! "$PVKIT" --help 2>&1 | grep -q 'pvkit disk attach'; then
		blk_log "$PVKIT has no 'disk' commands: tools/pvkit.mk must" \
			"link tools/cmd_disk.c and tools/cmd_disk_nbd.c"
		return 1
	fi
	BLK_WORK=$(mktemp -d "$B/blk-work.XXXXXX") || return 1
	PVKIT_SIM_DIR=$BLK_WORK/sim
	export PVKIT_SIM_DIR
	BACKD_PID=
	BLK_GUESTS=
	trap blk_env_stop EXIT
	trap 'exit 130' INT TERM HUP
	if ! "$PVKIT" sim start >"$BLK_WORK/sim-start.log" 2>&1; then
		blk_log "pvkit sim start failed:"
		cat "$BLK_WORK/sim-start.log" >&2
		return 1
	fi
}

# blk_backd_start [pvkit-backd options]: start it, wait until it serves.
blk_backd_start() {
	: >"$BLK_WORK/backd.out"
	"$B/bin/pvkit-backd" "$@" >>"$BLK_WORK/backd.out" 2>&1 &
	BACKD_PID=$!
	i=0
	while [ $i -lt 200 ]; do
		if grep -q "started on" "$BLK_WORK/backd.out" 2>/dev/null; then
			cat "$BLK_WORK/backd.out" >>"$BLK_WORK/backd.log"
			return 0
		fi
		if ! kill -0 "$BACKD_PID" 2>/dev/null; then
			blk_log "pvkit-backd exited:"
			cat "$BLK_WORK/backd.out" >&2
			BACKD_PID=
			return 1
		fi
		sleep 0.05
		i=$((i + 1))
	done
	blk_log "pvkit-backd did not start"
	return 1
}

# blk_backd_exited SECS: wait up to SECS for pvkit-backd to end by itself
# (after a signal, or a fault it reacts to).  Returns 0 once it has, with
# its exit status in BACKD_RC and its output appended to backd.log; 1 if
# it still runs.
blk_backd_exited() {
	_i=0
	while kill -0 "$BACKD_PID" 2>/dev/null && [ $_i -lt $(($1 * 20)) ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	kill -0 "$BACKD_PID" 2>/dev/null && return 1
	wait "$BACKD_PID"
	BACKD_RC=$?
	cat "$BLK_WORK/backd.out" >>"$BLK_WORK/backd.log"
	BACKD_PID=
	return 0
}

# blk_backd_stop [SIGNAL]: TERM (drain and close) by default, KILL for a crash.
blk_backd_stop() {
	[ -n "${BACKD_PID:-}" ] || return 0
	kill -"${1:-TERM}" "$BACKD_PID" 2>/dev/null
	wait "$BACKD_PID" 2>/dev/null
	cat "$BLK_WORK/backd.out" >>"$BLK_WORK/backd.log" 2>/dev/null
	BACKD_PID=
}

# blk_image PATH MIB: a fully allocated image of zeroes.
blk_image() {
	dd if=/dev/zero of="$1" bs=1M count="$2" status=none
}

# blk_guest_bg NAME IMAGE "ATTACH-OPTS" OUT CMD [ARGS...]: run CMD as a new
# guest domain NAME in the background (output to OUT), then attach IMAGE
# to it as its disk.  Sets GUEST_PID.
blk_guest_bg() {
	g_name=$1 g_img=$2 g_opts=$3 g_out=$4
	shift 4
	"$PVKIT" domain create "$g_name" -- "$@" >"$g_out" 2>&1 &
	GUEST_PID=$!
	BLK_GUESTS="$BLK_GUESTS $GUEST_PID"
	i=0
	while ! "$PVKIT" domain list 2>/dev/null | awk '{ print $2 }' |
		grep -qx "$g_name"; do
		i=$((i + 1))
		if [ $i -gt 200 ] || ! kill -0 "$GUEST_PID" 2>/dev/null; then
			blk_log "domain $g_name did not start:"
			cat "$g_out" >&2
			return 1
		fi
		sleep 0.05
	done
	# The domain's xenstore name may lag its listing: retry briefly.
	i=0
	# shellcheck disable=SC2086
	until "$PVKIT" disk attach "$g_name" "$g_img" $g_opts \
		>>"$BLK_WORK/attach.log" 2>&1; do
		i=$((i + 1))
		if [ $i -gt 40 ] || ! kill -0 "$GUEST_PID" 2>/dev/null; then
			blk_log "pvkit disk attach $g_name $g_img $g_opts failed:"
			tail -n 3 "$BLK_WORK/attach.log" >&2
			kill "$GUEST_PID" 2>/dev/null
			return 1
		fi
		sleep 0.05
	done
}

# blk_guest NAME IMAGE "ATTACH-OPTS" CMD [ARGS...]: the same, in the
# foreground, CMD's output on stdout; returns CMD's exit status.
blk_guest() {
	g_name=$1 g_img=$2 g_opts=$3
	shift 3
	blk_guest_bg "$g_name" "$g_img" "$g_opts" "$BLK_WORK/guest-$g_name.out" \
		"$@" || return 1
	wait "$GUEST_PID"
	g_rc=$?
	cat "$BLK_WORK/guest-$g_name.out"
	return $g_rc
}

blk_env_stop() {
	g_rc=$?
	trap - EXIT INT TERM HUP
	for p in $BLK_GUESTS; do
		kill "$p" 2>/dev/null
	done
	blk_backd_stop TERM
	if [ -n "${BLK_WORK:-}" ] && [ -d "$BLK_WORK" ]; then
		"$PVKIT" sim stop >/dev/null 2>&1
		if [ "$g_rc" -ne 0 ] && [ "$g_rc" -ne 77 ]; then
			for f in "$BLK_WORK"/backd.log "$BLK_WORK"/guest-*.out; do
				[ -f "$f" ] || continue
				echo "----- $f (last 20 lines) -----" >&2
				tail -n 20 "$f" >&2
			done
		fi
		rm -rf "$BLK_WORK"
	fi
	exit "$g_rc"
}
