#!/bin/sh
# SPDX-License-Identifier: MIT
#
# blkfront against pvkit-backd on the simulator: a data-integrity run
# (random offsets and sizes, every byte verified) for each feature
# combination -- ring order 0 and 4, 1 and 4 queues, indirect on/off,
# persistent grants on/off.  Half the combinations are capped by what
# pvkit-backd offers, half by what the frontend asks for, and the
# negotiated result is checked in each.  Then grants ended after every
# request (PVK_BLKFRONT_GRANT_PER_REQUEST) with a discard check, and
# both ends polling.
set -u
B=${PVK_BUILD:-build}
. "$(dirname "$0")/../../bench/blk-env.sh"
if ! "${PVKIT:-$B/bin/pvkit}" --help 2>&1 | grep -q 'pvkit disk attach'; then
	echo "SKIP: pvkit has no 'disk' commands in this build"
	exit 77
fi
blk_env_start || exit 1
blk_image "$BLK_WORK/disk.img" 32
IO=$B/tests/front-sim-io

n=0 fail=0

# one_case "BACKD-OPTS" LABEL FRONT-ARGS...: pvkit-backd with BACKD-OPTS,
# then front-sim-io in a new guest; prints ok/FAIL LABEL.
one_case() {
	c_bopts=$1 c_label=$2
	shift 2
	# shellcheck disable=SC2086
	blk_backd_start $c_bopts || exit 1
	if blk_guest "m$n" "$BLK_WORK/disk.img" "" "$IO" "$@" \
		>"$BLK_WORK/m$n.log" 2>&1; then
		echo "ok    $c_label"
	else
		echo "FAIL  $c_label"
		cat "$BLK_WORK/m$n.log"
		fail=$((fail + 1))
	fi
	blk_backd_stop TERM
	n=$((n + 1))
}

for order in 0 4; do
	for q in 1 4; do
		for ind in 0 1; do
			for per in 0 1; do
				bopts="" fopts=""
				if [ $((n % 2)) -eq 0 ]; then
					bopts="--max-ring-order $order --max-queues $q"
					fopts="--max-queues 4"
					[ $ind = 1 ] || bopts="$bopts --no-indirect"
					[ $per = 1 ] || bopts="$bopts --no-persistent"
				else
					fopts="--max-ring-order $order --max-queues $q"
					[ $ind = 1 ] || fopts="$fopts --no-indirect"
					[ $per = 1 ] || fopts="$fopts --no-persistent"
				fi
				by=backend
				[ -n "$bopts" ] || by=frontend
				what="order=$order,queues=$q,indirect=$ind,persistent=$per"
				# shellcheck disable=SC2086
				one_case "$bopts" "$what (caps by $by)" --ops 120 \
					--seed $((n + 1)) --expect "$what" $fopts
			done
		done
	done
done

# Grants ended after every request (as Linux's blkfront without
# persistent grants), and discard trimmed to pvkit-backd's granularity.
what="persistent=0,pool=0"
one_case --no-persistent "$what (grants per request), discard" --ops 120 \
	--seed 99 --grant-per-request --discard-check --expect "$what"
grep discard: "$BLK_WORK/m$((n - 1)).log"

# Both ends polling before they sleep (blkfront poll_us, pvkit-backd
# --poll-us): completions found by polling, not by events, lose nothing.
what="order=4,queues=4,indirect=1,persistent=1"
one_case "--poll-us 200" "$what, both ends polling" --ops 400 --seed 77 \
	--poll-us 300 --max-queues 4 --expect "$what"

echo "$((n - fail)) of $n combinations passed"
[ $fail -eq 0 ]
