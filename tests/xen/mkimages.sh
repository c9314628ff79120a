#!/bin/bash
# SPDX-License-Identifier: MIT
#
# mkimages.sh CACHE XENDIR BUILD -- build the two initramfs images the
# lane boots, from what fetch.sh unpacked into CACHE/boot, the host's Xen
# tools (xen-utils-4.17, xenstore-utils) and pvkit's programs in BUILD
# (build/bin, build/tests), each with the shared libraries ldd names.
#
#   XENDIR/domu.cpio   busybox, xenstore tools, pvkit (/pvkit/{bin,tests}),
#                      the lane's programs (XENDIR/bin -> /xen/bin), the
#                      cells and guest/lib.sh (/xen), guest/domu-init
#   XENDIR/dom0.cpio   the same plus xenstored, xl, xenconsoled, and the
#                      domU's kernel and initramfs under /boot
#
# Kernel modules: the base set below, plus what cells ask for with lines
#   # xen-dom0-kmods: NAME...      # xen-domu-kmods: NAME...
# (loaded by the cell with `modload NAME`).  The images are uncompressed:
# under TCG, decompressing costs more than copying.
set -euo pipefail

usage="usage: mkimages.sh CACHE XENDIR BUILD"
cache=$(realpath "${1:?$usage}")
xendir=$(realpath "${2:?$usage}")
build=$(realpath "${3:?$usage}")
src=$(dirname "$(realpath "$0")")
boot=$cache/boot
mods=$boot/modules
xenbin=/usr/lib/xen-4.17/bin

DOM0_BOOT_KMODS="xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs"
DOMU_BOOT_KMODS="xen-evtchn xen-gntdev xen-gntalloc xen-privcmd"

die() { echo "mkimages.sh: $*" >&2; exit 1; }

# Copy an ELF (or script) to the same path under ROOT, or to DEST, with
# every shared library it needs.  pvkit's programs lose their debug
# sections on the way (not their symbols: sanitizer reports still name
# functions): the rootfs an initramfs unpacks into is a tmpfs of half of
# dom0's early memory, and an ASan build would not fit otherwise.
copy_prog() {
	local root=$1 f=$2 dest=${3:-$2} lib
	mkdir -p "$root$(dirname "$dest")"
	case $f in
	"$build"/* | "$xendir"/*)
		strip --strip-debug -o "$root$dest" "$f" 2>/dev/null ||
			cp -L "$f" "$root$dest"
		;;
	*) cp -L "$f" "$root$dest" ;;
	esac
	for lib in $(ldd "$f" 2>/dev/null |
		awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}

# Resolve each module's dependencies (from its .modinfo) and copy it flat
# into ROOT/lib/modules/NAME.ko, with ROOT/lib/modules/deps lines
# "NAME:DEP DEP".
copy_kmods() {
	local root=$1 m path
	shift
	mkdir -p "$root/lib/modules"
	for m in "$@"; do
		[ -e "$root/lib/modules/$m.ko" ] && continue
		path=$(grep -m1 -E "/$m\.ko$|/$(echo "$m" | tr - _)\.ko$" \
			"$mods/modules.order" || true)
		[ -n "$path" ] || die "kernel has no module $m"
		install_ko "$root" "$mods/$path" "$m"
	done
}

# install_ko ROOT FILE NAME: module FILE as ROOT/lib/modules/NAME.ko, its
# line in ROOT/lib/modules/deps, and the kernel's modules it depends on.
install_ko() {
	local root=$1 ko=$2 m=$3 deps d tmp
	cp "$ko" "$root/lib/modules/$m.ko"
	tmp=$(mktemp)
	objcopy -O binary --only-section=.modinfo "$ko" "$tmp"
	deps=$(tr '\0' '\n' <"$tmp" | sed -n 's/^depends=//p' | tr , ' ')
	rm -f "$tmp"
	echo "$m:$deps" >>"$root/lib/modules/deps"
	for d in $deps; do
		copy_kmods "$root" "$d"
	done
}

cell_kmods() {
	sed -n "s/^# xen-$1-kmods://p" "$src"/cells/*.sh | tr ' ' '\n' | sort -u
}

# pvkit's own guest modules (make kmods: BUILD/kmods/NAME.ko) that cells
# ask for with "# pvk-domu-kmods: NAME...", copied like the kernel's (with
# their dependencies); one not built is left out and the cell skips.
copy_pvk_kmods() {
	local root=$1 m
	mkdir -p "$root/lib/modules"
	for m in $(sed -n "s/^# pvk-$2-kmods://p" "$src"/cells/*.sh |
		tr ' ' '\n' | sort -u); do
		[ -f "$build/kmods/$m.ko" ] || {
			echo "mkimages.sh: $build/kmods/$m.ko not built (make kmods)" >&2
			continue
		}
		install_ko "$root" "$build/kmods/$m.ko" "$m"
	done
}

# The parts both guests share.
base_root() {
	local root=$1 init=$2 f
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,var,etc,xen,pvkit/bin,pvkit/tests}
	cp "$boot/busybox" "$root/bin/busybox"
	cp "$src/guest/$init" "$root/init"
	cp "$src/guest/lib.sh" "$root/xen/lib.sh"
	cp -r "$src/cells" "$root/xen/cells"
	copy_prog "$root" /usr/bin/xenstore
	for f in read write rm ls list exists chmod watch; do
		ln -sf xenstore "$root/usr/bin/xenstore-$f"
	done
	# glibc loads libgcc_s for pthread_cancel; xl aborts without it.
	copy_prog "$root" "$(gcc -print-file-name=libgcc_s.so.1)" \
		/lib/x86_64-linux-gnu/libgcc_s.so.1
	for f in "$build"/bin/* "$build"/tests/*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		copy_prog "$root" "$f" "/pvkit/$(basename "$(dirname "$f")")/$(basename "$f")"
	done
	# The lane's own programs (xen.mk).
	for f in "$xendir"/bin/*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		copy_prog "$root" "$f" "/xen/bin/$(basename "$f")"
	done
}

pack() {
	local root=$1 out=$2
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
		"$boot/busybox" cpio -o -H newc -R 0:0 2>/dev/null) >"$out.tmp"
	mv "$out.tmp" "$out"
}

[ -e "$boot/.done" ] || die "run fetch.sh first"
for f in "$xenbin/xenstored" "$xenbin/xl" "$xenbin/xen-init-dom0" \
	"$xenbin/xenconsoled" /usr/bin/xenstore; do
	[ -x "$f" ] || die "$f missing: install xen-utils-4.17 and xenstore-utils"
done

# domU
r=$xendir/root-domu
base_root "$r" domu-init
copy_kmods "$r" $DOMU_BOOT_KMODS $(cell_kmods domu)
copy_pvk_kmods "$r" domu
echo "$DOMU_BOOT_KMODS" >"$r/lib/modules/boot"
# ext4 made and checked in the domU on pvkit-blkfront's disk (cells 20, 21).
for f in mke2fs e2fsck; do
	[ -x "/usr/sbin/$f" ] && copy_prog "$r" "/usr/sbin/$f"
done
[ -f /etc/mke2fs.conf ] && mkdir -p "$r/etc" && cp /etc/mke2fs.conf "$r/etc/"
pack "$r" "$xendir/domu.cpio"

# dom0
r=$xendir/root-dom0
base_root "$r" dom0-init
for f in xenstored xl xen-init-dom0 xenconsoled; do
	copy_prog "$r" "$xenbin/$f"
done
# libxl's hotplug scripts, for xl block-attach and network-attach (cell
# 19): they are bash scripts.
if [ -x /etc/xen/scripts/block ] && [ -x /bin/bash ]; then
	copy_prog "$r" /bin/bash
	mkdir -p "$r/usr/share/pvk-xen"
	cp -a /etc/xen/scripts "$r/usr/share/pvk-xen/"
	# What they use that busybox lacks or does differently: flock, and
	# stat -L on /dev/stdin for their lock (util-linux, coreutils).  In
	# /usr/bin, which the scripts search first; the cells' PATH finds
	# busybox's in /bin.
	for f in flock stat; do
		[ -x "/usr/bin/$f" ] && copy_prog "$r" "/usr/bin/$f"
	done
fi
# ext4 images made and checked in dom0 (cell 18); util-linux losetup for
# loop devices with 4096-byte sectors (-b, cell 20), in /usr/sbin.
for f in mke2fs e2fsck losetup; do
	[ -x "/usr/sbin/$f" ] && copy_prog "$r" "/usr/sbin/$f"
done
[ -f /etc/mke2fs.conf ] && mkdir -p "$r/etc" && cp /etc/mke2fs.conf "$r/etc/"
copy_kmods "$r" $DOM0_BOOT_KMODS $(cell_kmods dom0)
echo "$DOM0_BOOT_KMODS" >"$r/lib/modules/boot"
mkdir -p "$r/boot"
ln "$boot/vmlinux" "$r/boot/domu-vmlinux" 2>/dev/null ||
	cp "$boot/vmlinux" "$r/boot/domu-vmlinux"
ln "$xendir/domu.cpio" "$r/boot/domu.cpio" 2>/dev/null ||
	cp "$xendir/domu.cpio" "$r/boot/domu.cpio"
pack "$r" "$xendir/dom0.cpio"
