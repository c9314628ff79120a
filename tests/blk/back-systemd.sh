#!/bin/sh
# SPDX-License-Identifier: MIT
#
# pvkit-backd as systemd runs it (contrib/systemd/pvkit-backd.service,
# Type=notify), with pvk-sd-notify-recv as systemd's end of the socket:
#  1. READY=1 (with a STATUS=) once it serves, STOPPING=1 on SIGTERM;
#  2. stderr as the journal's stream ($JOURNAL_STREAM = its device and
#     inode): bus log lines carry a <N> syslog priority and no timestamp
#     of their own; otherwise (a terminal, a file) timestamps, no prefix.
# The unit file passes systemd-analyze verify where that exists.
set -u
B=${PVK_BUILD:-build}
. "$(dirname "$0")/../../bench/blk-env.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
if [ ! -x /usr/lib/xen-4.17/bin/xenstored ]; then
	echo "SKIP: xenstored (Debian xen-utils-4.17) is not installed"
	exit 77
fi
blk_env_start || exit 1
W=$BLK_WORK
fail=0
ok() { echo "ok    $*"; }
bad() {
	echo "FAIL  $*"
	fail=1
}

# Attach a.img to g1 and wait (5 s at most) for pvkit-backd's InitWait.
attach_a() {
	"$PVKIT" disk attach g1 "$W/a.img" --no-wait >/dev/null 2>&1
	i=0
	until grep -q "InitWait" "$W/backd.out" || [ $i -ge 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}

"$B/tests/pvk-sd-notify-recv" "$W/notify" 8 >"$W/notified" &
rpid=$!
i=0
until [ -S "$W/notify" ] || [ $i -ge 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
# blk_backd_start sends stderr to backd.out (truncated, the same inode):
# that file plays the journal's stream.
: >"$W/backd.out"
js=$(stat -c '%d:%i' "$W/backd.out")
NOTIFY_SOCKET=$W/notify JOURNAL_STREAM=$js blk_backd_start || exit 1
"$PVKIT" domain create g1 -d -- sleep 60 >/dev/null 2>&1
blk_image "$W/a.img" 4
attach_a
blk_backd_stop TERM
wait "$rpid"

if grep -q "^READY=1|STATUS=serving on sim as domain 0$" "$W/notified" &&
	grep -q "^STOPPING=1$" "$W/notified"; then
	ok "sd_notify: $(tr '\n' ' ' <"$W/notified")"
else
	bad "sd_notify"
	cat "$W/notified"
fi
if grep -q "^<6>vbd 1/51712: InitWait$" "$W/backd.log" &&
	! grep -q "^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]* pvkit-backd: vbd" "$W/backd.log"; then
	ok "journal: $(grep -m1 '^<6>vbd' "$W/backd.log")"
else
	bad "journal: no <6> lines without timestamps"
	cat "$W/backd.log"
fi

# Not the journal's stream: timestamps, no priority.
: >"$W/backd.log"
JOURNAL_STREAM=1:1 blk_backd_start || exit 1
"$PVKIT" disk detach g1 xvda --force >/dev/null 2>&1
attach_a
blk_backd_stop TERM
if grep -q "^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]* pvkit-backd: vbd 1/51712: InitWait$" "$W/backd.log" &&
	! grep -q "^<" "$W/backd.log"; then
	ok "not the journal: timestamped lines"
else
	bad "not the journal"
	cat "$W/backd.log"
fi

unit=$top/contrib/systemd/pvkit-backd.service.in
if command -v systemd-analyze >/dev/null 2>&1; then
	sed "s|@bindir@|$B/bin|" "$unit" >"$W/pvkit-backd.service"
	# --man=no: the man page is installed with the unit, not here.
	if systemd-analyze verify --man=no "$W/pvkit-backd.service" >"$W/verify" 2>&1; then
		ok "systemd-analyze verify pvkit-backd.service"
	else
		bad "systemd-analyze verify"
		cat "$W/verify"
	fi
else
	echo "(no systemd-analyze: the unit file is not verified)"
fi
exit $fail
