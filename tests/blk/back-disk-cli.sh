#!/bin/sh
# SPDX-License-Identifier: MIT
#
# pvkit disk attach|detach|list and pvkit stats on the simulator, as an
# operator meets them:
#  1. attach writes libxl's node set with libxl's permissions on every
#     node: the guest owns its device directory, reads the backend's and
#     cannot write it;
#  2. bad input -- an unknown domain, a missing image, an image that is not
#     a multiple of 512 bytes, a malformed vdev, a vdev already taken, an
#     image attached read-write elsewhere (--ro or not), an unknown
#     device to detach -- fails with a non-zero exit, a message naming
#     the value and what to do, and leaves xenstore exactly as it was;
#  3. detach removes both directories;
#  4. pvkit stats show lists the devices; `pvkit stats` alone is show;
#  5. a frontend device type of its own (--frontend-type, what pvkit's
#     guest kernel blkfront binds) served by pvkit-backd's
#     --driver vbd=TYPE,frontend=TYPE, listed and detached.
set -u
# shellcheck disable=SC2034 # B is read by blk-env.sh
B=${PVK_BUILD:-build}
. "$(dirname "$0")/../../bench/blk-env.sh"
if [ ! -x /usr/lib/xen-4.17/bin/xenstored ]; then
	echo "SKIP: xenstored (Debian xen-utils-4.17) is not installed"
	exit 77
fi
if ! command -v xenstore-ls >/dev/null 2>&1; then
	echo "SKIP: xenstore-ls (xenstore-utils) is not installed"
	exit 77
fi
blk_env_start || exit 1
XENSTORED_PATH=$PVKIT_SIM_DIR/xenstored/socket
export XENSTORED_PATH
W=$BLK_WORK
fail=0

ok() { echo "ok    $*"; }
bad() {
	echo "FAIL  $*"
	fail=1
}

snapshot() {
	xenstore-ls -p /local/domain 2>/dev/null |
		grep -v -e '^ *name = ' -e '^ *domid = ' >"$1"
}

# expect_fail LABEL PATTERN CMD...: CMD exits non-zero, says PATTERN on
# stderr, and xenstore is unchanged.
expect_fail() {
	label=$1 pat=$2
	shift 2
	snapshot "$W/before"
	"$@" >"$W/out" 2>"$W/err"
	rc=$?
	snapshot "$W/after"
	if [ "$rc" -ne 0 ] && grep -q -- "$pat" "$W/err" &&
		cmp -s "$W/before" "$W/after"; then
		ok "$label: exit $rc, \"$(head -c 150 "$W/err")\""
	else
		bad "$label: exit $rc"
		cat "$W/err"
		diff "$W/before" "$W/after"
	fi
}

blk_backd_start --driver vbd --driver vbd=pvkvbd,frontend=pvkvbd || exit 1
for g in g1 g2; do
	"$PVKIT" domain create $g -- sleep 120 >"$W/$g.out" 2>&1 &
	BLK_GUESTS="$BLK_GUESTS $!"
done
i=0
until [ "$("$PVKIT" domain list 2>/dev/null | grep -c ' g[12] ')" = 2 ]; do
	i=$((i + 1))
	[ $i -lt 200 ] || {
		bad "guests did not start"
		exit 1
	}
	sleep 0.05
done
g1=$("$PVKIT" domain list | awk '$2 == "g1" { print $1 }')
g2=$("$PVKIT" domain list | awk '$2 == "g2" { print $1 }')
blk_image "$W/a.img" 4
blk_image "$W/b.img" 4
head -c 1000 /dev/zero >"$W/odd.img"

# 1. attach and permissions
i=0
until "$PVKIT" disk attach g1 "$W/a.img" >"$W/attach.out" 2>&1; do
	i=$((i + 1))
	[ $i -lt 40 ] || break
	sleep 0.05
done
be=/local/domain/0/backend/vbd/$g1/51712
fe=/local/domain/$g1/device/vbd/51712
xenstore-ls -p "$be" >"$W/be.ls"
xenstore-ls -p "$fe" >"$W/fe.ls"
missing=
lx=/libxl/$g1/device/vbd/51712
xenstore-ls -p "$lx" >"$W/lx.ls" 2>&1
# libxl 4.17's nodes (the real-Xen lane's cell 19 compares them with xl's
# own), and what its block hotplug script adds.
for n in frontend params script frontend-id online removable bootable state \
	dev type mode device-type discard-enable specification \
	physical-device-path hotplug-status; do
	grep -q "^$n = " "$W/be.ls" || missing="$missing be:$n"
done
for n in backend backend-id state virtual-device device-type trusted \
	protocol; do
	grep -q "^$n = " "$W/fe.ls" || missing="$missing fe:$n"
done
# libxl's record: frontend, backend and the backend's nodes as written,
# owned by the toolstack (domain 0), readable by no guest.
for n in frontend backend params script frontend-id online removable \
	bootable state dev type mode device-type discard-enable specification; do
	grep -q "^$n = .*(n0)$" "$W/lx.ls" || missing="$missing libxl:$n"
done
grep -q "^type = \"phy\"" "$W/be.ls" || missing="$missing be:type=phy"
[ -z "$missing" ] && ok "attach: libxl's node set, and its /libxl record" ||
	{ bad "attach: nodes missing:$missing"; cat "$W/be.ls" "$W/fe.ls" "$W/lx.ls"; }
# Every node: owned by the backend domain (0), readable by the guest;
# the guest's: owned by the guest, readable by domain 0.
if [ "$(xenstore-ls -p "$(dirname "$be")" | grep -c "(n0,r$g1)")" -eq \
	"$(($(wc -l <"$W/be.ls") + 1))" ] &&
	[ "$(xenstore-ls -p "$(dirname "$fe")" | grep -c "(n$g1,r0)")" -eq \
		"$(($(wc -l <"$W/fe.ls") + 1))" ]; then
	ok "attach: permissions n0,r$g1 on every backend node, n$g1,r0 on every frontend node"
else
	bad "attach: permissions"
	xenstore-ls -p "$(dirname "$be")"
	xenstore-ls -p "$(dirname "$fe")"
fi

# 2. bad input
expect_fail "unknown domain" "no guest domain '57'.*pvkit domain list" \
	"$PVKIT" disk attach 57 "$W/b.img"
expect_fail "unknown domain name" "no guest domain 'nosuch'" \
	"$PVKIT" disk attach nosuch "$W/b.img"
expect_fail "missing image" "image '$W/none.img'.*No such file" \
	"$PVKIT" disk attach g2 "$W/none.img"
expect_fail "image not a multiple of 512" "1000 bytes.*512" \
	"$PVKIT" disk attach g2 "$W/odd.img"
expect_fail "malformed vdev" "bad virtual device 'xvda1'.*xvdX" \
	"$PVKIT" disk attach g2 "$W/b.img" --vdev xvda1
# Not raw: refused by its header, unless --format raw says it is raw
# (then pvkit-backd serves it and says what it saw).
blk_image "$W/q.img" 4
printf 'QFI\373\000\000\000\003' | dd of="$W/q.img" conv=notrunc status=none
expect_fail "qcow2 image" "is a qcow2 (or qcow) image.*qemu-img convert -O raw.*--format raw" \
	"$PVKIT" disk attach g2 "$W/q.img" --vdev xvdd
expect_fail "--format qcow2" "pvkit serves raw images only" \
	"$PVKIT" disk attach g2 "$W/q.img" --vdev xvdd --format qcow2
warned() {
	i=0
	until grep -q "51760: warning: .*q.img starts with a qcow2 (or qcow) header; served as a raw disk" "$W/backd.out"; do
		i=$((i + 1))
		[ $i -lt 50 ] || return 1
		sleep 0.1
	done
}
if "$PVKIT" disk attach g2 "$W/q.img" --vdev xvdd --format raw >"$W/out" 2>"$W/err" && warned &&
	"$PVKIT" disk detach g2 xvdd --force >/dev/null 2>>"$W/err"; then
	ok "--format raw: attached, pvkit-backd warns"
else
	bad "--format raw"
	cat "$W/out" "$W/err"
	tail -n 5 "$W/backd.log"
fi

# sdX and hdX, as libxl: sda is devid 2048 and is listed by its name.
blk_image "$W/c.img" 4
if "$PVKIT" disk attach g2 "$W/c.img" --vdev sda --no-wait >/dev/null 2>"$W/err" &&
	xenstore-read "/local/domain/$g2/device/vbd/2048/virtual-device" >"$W/vd" &&
	[ "$(cat "$W/vd")" = 2048 ] &&
	"$PVKIT" disk list >"$W/list.txt" 2>&1 &&
	grep -q "^$g2 .* sda .* 2048 " "$W/list.txt" &&
	"$PVKIT" disk detach g2 sda --force >/dev/null 2>>"$W/err" &&
	! xenstore-read "/local/domain/$g2/device/vbd/2048" 2>/dev/null &&
	! xenstore-read "/libxl/$g2/device/vbd/2048" 2>/dev/null; then
	ok "vdev sda: devid 2048, listed as sda, detached"
else
	bad "vdev sda"
	cat "$W/err" "$W/list.txt"
fi
expect_fail "vdev taken" "already has a disk xvda.*pvkit disk detach" \
	"$PVKIT" disk attach g1 "$W/b.img"
expect_fail "--ro on an image attached read-write" \
	"already attached read-write to domain $g1" \
	"$PVKIT" disk attach g2 "$W/a.img" --ro
expect_fail "read-write on an image attached read-write" \
	"already attached read-write" \
	"$PVKIT" disk attach g2 "$W/a.img" --vdev xvdb
expect_fail "detach an unknown vdev" "has no disk xvdc" \
	"$PVKIT" disk detach g1 xvdc
expect_fail "detach a malformed vdev" "bad virtual device 'hda0'" \
	"$PVKIT" disk detach g1 hda0
expect_fail "bad --timeout" "bad --timeout 'soon'" \
	"$PVKIT" disk detach g1 xvda --timeout soon

# Two read-only attachments of one image are fine.
if "$PVKIT" disk attach g2 "$W/b.img" --ro >/dev/null 2>"$W/err" &&
	"$PVKIT" disk attach g1 "$W/b.img" --ro --vdev xvdb >/dev/null \
		2>>"$W/err"; then
	ok "one image read-only in two domains"
else
	bad "read-only sharing"
	cat "$W/err"
fi
expect_fail "read-write on an image attached read-only" \
	"already attached read-only.*--ro" \
	"$PVKIT" disk attach g2 "$W/b.img" --vdev xvdc

# disk list: by domain, with names; --json.
"$PVKIT" disk list g1 >"$W/l1" 2>&1
"$PVKIT" disk list --json >"$W/lj" 2>&1
if grep -q "^$g1 *g1 *xvda *51712 *w " "$W/l1" && ! grep -q "^$g2 " "$W/l1" &&
	grep -q "\"domain\": $g1, \"domain_name\": \"g1\", \"vdev\": \"xvda\", \"devid\": 51712, \"mode\": \"w\"" "$W/lj" &&
	grep -q "\"domain\": $g2, " "$W/lj"; then
	ok "disk list DOMAIN, disk list --json"
else
	bad "disk list"
	cat "$W/l1" "$W/lj"
fi
expect_fail "disk list of an unknown domain" "no guest domain 'nosuch'" \
	"$PVKIT" disk list nosuch

# 3. detach
if "$PVKIT" disk detach g1 xvdb >/dev/null &&
	! xenstore-read "/local/domain/0/backend/vbd/$g1/51728" 2>/dev/null &&
	! xenstore-read "/local/domain/$g1/device/vbd/51728" 2>/dev/null &&
	! xenstore-read "/libxl/$g1/device/vbd/51728" 2>/dev/null; then
	ok "detach removes both directories and libxl's record"
else
	bad "detach"
fi

# 4. pvkit stats show: every device, and no histogram before any I/O;
# `pvkit stats` alone and `pvkit stats --raw` are `show`.
if "$PVKIT" stats show >"$W/stats.txt" 2>&1 &&
	grep -q "^vbd $g2/51712 " "$W/stats.txt" &&
	grep -q "no completed requests" "$W/stats.txt"; then
	ok "pvkit stats show lists the devices"
else
	bad "pvkit stats show"
	cat "$W/stats.txt"
fi
"$PVKIT" stats show --json >"$W/stats.json" 2>&1
if grep -q "{\"type\": \"vbd\", \"device\": \"$g2/51712\", \"domain\": $g2, \"devid\": 51712, \"domain_name\": \"g2\", \"state\": \"[A-Za-z]*\", .*\"mode\": \"w\", .*\"counters\": {\"reads\": [0-9]*, " "$W/stats.json" &&
	{ ! command -v python3 >/dev/null || python3 -m json.tool "$W/stats.json" >/dev/null; }; then
	ok "pvkit stats show --json"
else
	bad "pvkit stats show --json"
	cat "$W/stats.json"
fi
if "$PVKIT" stats >"$W/stats2.txt" 2>&1 && cmp -s "$W/stats.txt" "$W/stats2.txt" &&
	"$PVKIT" stats --raw 2>&1 | grep -q "^device $g2/51712 "; then
	ok "pvkit stats (no command) and pvkit stats --raw"
else
	bad "pvkit stats without a command"
	cat "$W/stats2.txt"
fi

# 5. device/pvkvbd (pvkit-blkfront's type) served from backend/pvkvbd.
expect_fail "bad --frontend-type" "bad --frontend-type 'a/b'" \
	"$PVKIT" disk attach g2 "$W/b.img" --vdev xvdc --frontend-type a/b
blk_image "$W/c.img" 4
be=/local/domain/0/backend/pvkvbd/$g2/51744
fe=/local/domain/$g2/device/pvkvbd/51744
if "$PVKIT" disk attach g2 "$W/c.img" --vdev xvdc --type pvkvbd \
	--frontend-type pvkvbd >"$W/out" 2>&1 &&
	[ "$(xenstore-read "$be/frontend")" = "$fe" ] &&
	[ "$(xenstore-read "$fe/backend")" = "$be" ] &&
	[ "$(xenstore-read "$be/state")" = 2 ] &&
	"$PVKIT" disk list g2 --type pvkvbd | grep -q " xvdc .*Init"; then
	ok "attach --frontend-type pvkvbd: backend/pvkvbd reached InitWait"
else
	bad "attach --frontend-type pvkvbd"
	cat "$W/out"
	xenstore-ls -f "$be" "$fe" 2>&1 | head -20
fi
# The vbd driver (frontends in device/vbd) must not take it.
if "$PVKIT" disk attach g2 "$W/c.img" --ro --vdev xvdd \
	--frontend-type pvkvbd --no-wait >"$W/out" 2>&1; then
	sleep 0.5
	st=$(xenstore-read "/local/domain/0/backend/vbd/$g2/51760/state")
	if [ "$st" != 2 ] && [ "$st" != 4 ]; then
		ok "backend/vbd did not serve a device/pvkvbd frontend (state $st)"
	else
		bad "backend/vbd served a device/pvkvbd frontend (state $st)"
	fi
	"$PVKIT" disk detach g2 xvdd --force >/dev/null 2>&1
else
	bad "attach xvdd --frontend-type pvkvbd on backend/vbd"
	cat "$W/out"
fi
if "$PVKIT" disk detach g2 xvdc --type pvkvbd --timeout 2000 >"$W/out" 2>&1 &&
	! xenstore-read "$fe/state" 2>/dev/null &&
	! xenstore-read "$be/state" 2>/dev/null &&
	! xenstore-read "/local/domain/$g2/device/pvkvbd" 2>/dev/null; then
	ok "detach of a device/pvkvbd disk removes both directories"
else
	bad "detach of a device/pvkvbd disk"
	cat "$W/out"
	xenstore-ls -f "/local/domain/$g2/device" 2>&1 | head
fi

# The last disk of a domain gone: no empty directory is left behind (as
# libxl), in the guest's device/, /libxl/<id>/device/ or the backend's.
if "$PVKIT" disk detach g1 xvda >/dev/null 2>"$W/err" &&
	! xenstore-read "/local/domain/$g1/device/vbd" 2>/dev/null &&
	! xenstore-read "/libxl/$g1/device/vbd" 2>/dev/null &&
	! xenstore-read "/local/domain/0/backend/vbd/$g1" 2>/dev/null; then
	ok "last detach: no empty parent directories left"
else
	bad "last detach: empty directories left"
	cat "$W/err"
	xenstore-ls -f "/local/domain/$g1" | grep vbd
	xenstore-ls -f "/libxl/$g1"
fi

blk_backd_stop TERM
if grep -E "Sanitizer|runtime error" "$W/backd.log"; then
	bad "pvkit-backd: sanitizer report"
fi
exit $fail
