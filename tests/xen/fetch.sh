#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fetch.sh XENDIR -- bring the Debian packages the real-Xen lane boots into
# XENDIR (build/xen): the hypervisor, the Linux kernel (dom0 and domU use
# the same one) and a static busybox, fetched with `apt-get download` and
# unpacked with `dpkg-deb -x`, so nothing is installed on the build machine.
# Everything is cached; a second run does no network access.
#
# Produces:
#   XENDIR/boot/xen         Xen, uncompressed (QEMU's multiboot loader
#                           wants the ELF32 image, not the .gz)
#   XENDIR/boot/vmlinux     the kernel as an ELF extracted from the bzImage:
#                           under TCG, decompressing xz costs seconds per boot
#   XENDIR/boot/modules/    the kernel's modules tree (lib/modules/<ver>)
#   XENDIR/boot/busybox     static busybox
#   XENDIR/boot/VERSIONS    which packages these came from
#
# Exit status: 0 ready, 77 this host cannot provide them (no apt, no
# network and nothing cached), 1 anything else.
set -euo pipefail

xendir=$(realpath -m "${1:?usage: fetch.sh XENDIR}")
debs=$xendir/debs
pkgs=$xendir/pkgs
boot=$xendir/boot
mkdir -p "$debs" "$pkgs" "$boot"

skip() { echo "SKIP: $*" >&2; exit 77; }
die() { echo "fetch.sh: $*" >&2; exit 1; }

# The kernel: linux-image-amd64 is a metapackage; what boots is the
# versioned package it depends on.  XEN_KERNEL_PKG overrides.
kernel_pkg() {
	local p
	if [ -n "${XEN_KERNEL_PKG:-}" ]; then
		echo "$XEN_KERNEL_PKG"
		return
	fi
	p=$(apt-cache depends linux-image-amd64 2>/dev/null |
	    sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
	if [ -z "$p" ] && [ -s "$xendir/kernel-pkg" ]; then
		p=$(cat "$xendir/kernel-pkg") # offline: use what is cached
	fi
	[ -n "$p" ] || skip "cannot resolve linux-image-amd64 (no apt metadata and nothing cached)"
	echo "$p"
}

# fetch_unpack PKG -> prints the unpacked tree; cached by package name.
fetch_unpack() {
	local pkg=$1 deb tree=$pkgs/$1
	if [ ! -e "$tree/.unpacked" ]; then
		deb=$(ls "$debs/${pkg}_"*.deb 2>/dev/null | head -n1 || true)
		if [ -z "$deb" ]; then
			command -v apt-get >/dev/null ||
				skip "no apt-get to fetch $pkg (needs a Debian 12 host)"
			echo "  FETCH   $pkg" >&2
			(cd "$debs" && apt-get download -q "$pkg" >/dev/null 2>"$debs/$pkg.err") ||
				skip "cannot download $pkg from the Debian mirrors: $(tail -n1 "$debs/$pkg.err")"
			rm -f "$debs/$pkg.err"
			deb=$(ls "$debs/${pkg}_"*.deb | head -n1)
		fi
		echo "  UNPACK  $(basename "$deb")" >&2
		rm -rf "$tree" "$tree.tmp"
		dpkg-deb -x "$deb" "$tree.tmp" || die "dpkg-deb -x $deb failed"
		basename "$deb" >"$tree.tmp/.unpacked"
		mv "$tree.tmp" "$tree"
	fi
	echo "$tree"
}

command -v dpkg-deb >/dev/null || skip "dpkg-deb not found (needs a Debian host)"

kpkg=$(kernel_pkg)
echo "$kpkg" >"$xendir/kernel-pkg"
xen_tree=$(fetch_unpack xen-hypervisor-4.17-amd64)
k_tree=$(fetch_unpack "$kpkg")
bb_tree=$(fetch_unpack busybox-static)

versions="$(cat "$xen_tree/.unpacked") $(cat "$k_tree/.unpacked") $(cat "$bb_tree/.unpacked")"
if [ -e "$boot/.done" ] && [ "$(cat "$boot/.done")" = "$versions" ]; then
	exit 0
fi

rm -rf "$boot" && mkdir -p "$boot"

xen_gz=$(ls "$xen_tree"/boot/xen-4.17-amd64.gz)
gzip -dc "$xen_gz" >"$boot/xen"

# The bzImage carries the kernel as one xz stream after the setup code;
# find its magic and decompress that stream alone (the bzImage has
# trailing data after it).
vmlinuz=$(ls "$k_tree"/boot/vmlinuz-* | head -n1)
off=$(LC_ALL=C grep -m1 -obUaP '\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1)
[ -n "$off" ] || die "no xz stream in $vmlinuz"
xz -dc --single-stream <(tail -c +$((off + 1)) "$vmlinuz") >"$boot/vmlinux" ||
	die "cannot decompress the kernel in $vmlinuz"
[ "$(head -c4 "$boot/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] ||
	die "$vmlinuz did not hold an ELF kernel"

ln -s "$(realpath "$(ls -d "$k_tree"/lib/modules/* | head -n1)")" "$boot/modules"
cp "$bb_tree/bin/busybox" "$boot/busybox"
echo "$versions" | tr ' ' '\n' >"$boot/VERSIONS"
echo "$versions" >"$boot/.done"
