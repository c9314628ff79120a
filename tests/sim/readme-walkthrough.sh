#!/bin/bash
# SPDX-License-Identifier: MIT
#
# README's "Using the simulator by hand", run as written: the lines between
# its walkthrough markers, in one shell, one at a time (half a second
# apart, as a person pastes them), in a fresh directory whose build/ is
# this build, with a simulator directory of its own.  Every line must
# succeed; pvkit-backd must end by itself once the simulator stops.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${PVK_BUILD:-$top/build}
for t in nbdinfo xenstore-ls truncate; do
	command -v $t >/dev/null || { echo "SKIP: no $t"; exit 77; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/pvk-walk.XXXXXX")
cleanup() {
	PVKIT_SIM_DIR=$W/sim "$B/bin/pvkit" sim stop >/dev/null 2>&1
	pkill -f "^$W/build/bin/pvkit-backd" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
ln -s "$B" "$W/build"

sed -n '/^<!-- walkthrough:begin -->$/,/^<!-- walkthrough:end -->$/p' \
	"$top/README.md" | sed '1d;$d;s/^    //' >"$W/lines"
n=$(wc -l <"$W/lines")
[ "$n" -ge 5 ] || { echo "FAIL: no walk-through found in README.md"; exit 1; }

# The script: each line as written, then its status checked.
{
	echo 'cd "$1" || exit 1'
	i=0
	while IFS= read -r line; do
		i=$((i + 1))
		printf 'echo "+ %s"\n' "$(printf '%s' "$line" | sed 's/[\\"$`]/\\&/g')"
		printf '%s\n' "$line"
		printf 'rc=$?; [ $rc = 0 ] || { echo "FAIL: README walk-through line %d exited $rc"; exit 1; }\n' "$i"
		echo 'sleep 0.5'
	done <"$W/lines"
	# pvkit-backd (the walk-through's background job) ends by itself.
	echo 'for i in $(seq 150); do [ -z "$(jobs -pr)" ] && break; sleep 0.1; done'
	echo '[ -z "$(jobs -pr)" ] || { echo "FAIL: pvkit-backd still runs 15 s after pvkit sim stop"; exit 1; }'
	echo 'echo "ok    README walk-through: all '"$n"' lines, and pvkit-backd ended with the simulator"'
} >"$W/walk.sh"

env -u XENSTORED_PATH PVKIT_SIM_DIR="$W/sim" bash "$W/walk.sh" "$W" 2>&1
