#!/bin/bash
# SPDX-License-Identifier: MIT
#
# mkpatches.sh -- pvkit's guest kernel modules as a patch series against
# Linux v6.1 (Debian's linux-source-6.1) that adds them in-tree.
#
#   mkpatches.sh [--cache DIR] [--deb FILE] [--out DIR]
#       write the series (git format-patch) into DIR (default v6.1/ next to
#       this script): 0001 the shared wire headers, then one per module
#   mkpatches.sh --check [--cache DIR] [--deb FILE] [--out DIR] [--kdir DIR]
#       check the series in DIR: it is what the sources generate now, it
#       applies to a pristine linux-source-6.1 (git apply --check), and the
#       patched drivers compile with the tree's include paths as external
#       modules against the kernel build tree DIR (default: the newest
#       /usr/src/linux-headers-6.1*; without one that step says SKIP)
#
# The modules are every obj-m of linux/Kbuild; each needs a placement in
# place_module below.  In the tree:
#   include/xen/interface/io/pvkit/*.h  pvkit's include/pvkit headers the
#       modules include (transitively), copied with their C library
#       includes replaced by what linux/compat/<name> includes, and
#       <pvkit/x.h> by <xen/interface/io/pvkit/x.h>
#   include/xen/<name>  a local "..." header more than one module includes
#       (pvkit-front.h), in a patch of its own; the drivers include it as
#       <xen/<name>>
#   drivers/<subsys>/<module>.c and its other local "..." headers, with the
#       same include rewriting; a Kconfig entry (default n) and a Makefile line
# The pristine files come from linux-source-6.1 (apt-get download, never
# installed), cached in --cache DIR (default $B/kpatch, B defaulting to
# build/ of the checkout).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
src=$here/linux
pvkinc=$top/include

mode=gen
out=$here/v6.1
cache=
deb=
kdir=

die() {
	echo "mkpatches: error: $*" >&2
	exit 1
}
say() { echo "mkpatches: $*"; }

while [ $# -gt 0 ]; do
	case $1 in
	--check) mode=check ;;
	--cache) cache=${2:?--cache needs a directory}; shift ;;
	--deb) deb=${2:?--deb needs a file}; shift ;;
	--out) out=${2:?--out needs a directory}; shift ;;
	--kdir) kdir=${2:?--kdir needs a directory}; shift ;;
	-h | --help) sed -n '3,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[ -n "$cache" ] || cache=${B:-$top/build}/kpatch
for t in git tar xz dpkg-deb awk sed; do
	command -v $t >/dev/null || die "'$t' is needed and not installed"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkpatches.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The pristine v6.1 files each patch touches (or must not find).
PRISTINE="drivers/block/Kconfig drivers/block/Makefile \
drivers/net/Kconfig drivers/net/Makefile"

# Where a module goes in the tree: sets subsys (drivers/<subsys>), deps
# (Kconfig depends on), prompt, help, kc_after (the Kconfig entry ours
# follows), mk_after (the Makefile line ours follows), subject, body.
place_module() {
	case $1 in
	*blkfront)
		subsys=block
		deps="XEN && BLOCK"
		prompt="pvkit block device frontend (xenbus type pvkvbd)"
		help="A blk-mq disk on a Xen blkif ring, bound to pvkit's own xenbus
device type \"pvkvbd\" (device/pvkvbd/<devid>), so it never races
xen-blkfront for a vbd.  It copies all I/O through pages granted
once per connection and treats the backend as hostile: a response
that breaks the protocol disables the device.

If unsure, say N.  The module is called $1."
		kc_after="config XEN_BLKDEV_BACKEND"
		mk_after='obj-$(CONFIG_XEN_BLKDEV_BACKEND)'
		subject="block: add $1, a frontend for pvkit's pvkvbd disks"
		;;
	*netfront)
		subsys=net
		deps="XEN && NETDEVICES"
		prompt="pvkit network device frontend (xenbus type pvkvif)"
		help="A network device on Xen netif rings (tx, rx and the control
ring), bound to pvkit's own xenbus device type \"pvkvif\"
(device/pvkvif/<devid>), so it never races xen-netfront for a
vif.  It copies every packet through pages granted once per
connection and treats the backend as hostile: a response that
breaks the protocol disables the device.

If unsure, say N.  The module is called $1."
		kc_after="config XEN_NETDEV_BACKEND"
		mk_after='obj-$(CONFIG_XEN_NETDEV_BACKEND)'
		subject="net: add $1, a frontend for pvkit's pvkvif devices"
		;;
	*)
		die "module '$1' (linux/Kbuild obj-m) has no in-tree placement:" \
			"add it to place_module in $0"
		;;
	esac
	body="Generated from pvkit's guest-kernel-patches/linux by
guest-kernel-patches/mkpatches.sh: $1.c as in pvkit, its
<pvkit/*.h> includes pointing at include/xen/interface/io/pvkit.
Kconfig PVKIT_${kopt}, default n."
}

# The modules: every obj-m of linux/Kbuild (kmods.mk's KMODS should agree).
modules=$(sed -n 's/^obj-m[[:space:]]*+\{0,1\}:\{0,1\}=//p' "$src/Kbuild" |
	tr ' \t' '\n\n' | sed -n 's/\.o$//p')
[ -n "$modules" ] || die "no obj-m in $src/Kbuild"
kmods=$(sed -n 's/^KMODS[[:space:]]*[:+]\{0,1\}=//p' "$here/kmods.mk" | xargs -n1 | sort)
if [ "$(echo "$modules" | sort)" != "$kmods" ]; then
	say "warning: linux/Kbuild obj-m ($(echo $modules)) and kmods.mk KMODS" \
		"($(echo $kmods)) differ; using linux/Kbuild"
fi

# The local ("...") headers a file includes, transitively.
local_headers() {
	local f h
	for f in "$@"; do
		sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$src/$f" |
			while read -r h; do
				[ -f "$src/$h" ] || die "$f includes \"$h\", not in $src"
				echo "$h"
				local_headers "$h"
			done
	done
}

# The local headers of module $1 that are its own (not shared).
own_headers() {
	local h
	for h in $(local_headers "$1.c" | sort -u); do
		case " $shared " in *" $h "*) ;; *) echo "$h" ;; esac
	done
}

# pvkit headers (names under include/pvkit) the given files include,
# transitively.
pvkit_headers() {
	local todo="$*" seen="" f h
	while [ -n "$todo" ]; do
		set -- $todo
		f=$1
		shift
		todo="$*"
		for h in $(sed -n 's|^#[[:space:]]*include[[:space:]]*<pvkit/\([^>]*\)>.*|\1|p' "$f"); do
			[ -f "$pvkinc/pvkit/$h" ] || die "$f includes <pvkit/$h>, not in $pvkinc/pvkit"
			case " $seen " in *" $h "*) continue ;; esac
			seen="$seen $h"
			todo="$todo $pvkinc/pvkit/$h"
		done
	done
	echo $seen | tr ' ' '\n' | sort
}

# A local header more than one module includes goes to include/xen.
shared=$(for m in $modules; do local_headers "$m.c" | sort -u; done |
	sort | uniq -d | xargs)

# Copy file $1 to $2 with its includes rewritten for the tree: <pvkit/x>
# -> <xen/interface/io/pvkit/x>, <c-header> -> the includes of
# linux/compat/<c-header>, "shared.h" -> <xen/shared.h>; any other <>
# include must be a kernel one.
# $3: a note put after the SPDX line (empty: none).
rewrite() {
	local in=$1 outf=$2 note=$3 map bad
	map=$tmp/compat.map
	if [ ! -f "$map" ]; then
		: >"$map"
		for c in "$src"/compat/*.h; do
			printf '%s\t%s\n' "$(basename "$c")" \
				"$(grep '^#include <' "$c" | tr '\n' '\001')" >>"$map"
		done
	fi
	mkdir -p "$(dirname "$outf")"
	awk -v note="$note" -v map="$map" -v shared="$shared" '
		BEGIN {
			FS = "\t"
			while ((getline l < map) > 0) {
				split(l, a, "\t")
				inc[a[1]] = a[2]
			}
			FS = " "
		}
		NR == 1 && note != "" { print; print note; next }
		/^#[ \t]*include[ \t]*<pvkit\// {
			sub(/<pvkit\//, "<xen/interface/io/pvkit/")
			print
			next
		}
		/^#[ \t]*include[ \t]*"/ {
			h = $0
			sub(/^#[ \t]*include[ \t]*"/, "", h)
			sub(/".*/, "", h)
			if (index(" " shared " ", " " h " ")) {
				print "#include <xen/" h ">"
				next
			}
		}
		/^#[ \t]*include[ \t]*<[^\/>]*>/ {
			h = $0
			sub(/^#[ \t]*include[ \t]*</, "", h)
			sub(/>.*/, "", h)
			if (h in inc) {
				n = split(inc[h], ls, "\001")
				for (i = 1; i <= n; i++)
					if (ls[i] != "" && !(ls[i] in emitted)) {
						print ls[i]
						emitted[ls[i]] = 1
					}
				next
			}
		}
		{ print }
	' "$in" >"$outf"
	bad=$(grep -n '^#[[:space:]]*include[[:space:]]*<' "$outf" |
		grep -Ev '<(linux|xen|asm|asm-generic|uapi|net|crypto|trace)/' || true)
	[ -z "$bad" ] || die "$in: no kernel mapping for (add linux/compat/<name>):" \
		"$(echo "$bad" | tr '\n' ' ')"
}

# The Debian linux-source-6.1 package: --deb, else the cache, else download.
get_deb() {
	if [ -n "$deb" ]; then
		[ -f "$deb" ] || die "--deb $deb: no such file"
		return
	fi
	mkdir -p "$cache"
	deb=$(ls "$cache"/linux-source-6.1_*_all.deb 2>/dev/null | sort -V | tail -n1 || true)
	if [ -z "$deb" ]; then
		say "downloading linux-source-6.1 into $cache (apt-get download)"
		(cd "$cache" && apt-get download linux-source-6.1 >"$tmp/apt.log" 2>&1) || {
			cat "$tmp/apt.log" >&2
			die "apt-get download linux-source-6.1 failed: give --deb FILE" \
				"(Debian's linux-source-6.1 .deb) or fix apt sources"
		}
		deb=$(ls "$cache"/linux-source-6.1_*_all.deb 2>/dev/null | sort -V | tail -n1 || true)
		[ -n "$deb" ] || die "apt-get download left no linux-source-6.1_*_all.deb in $cache"
	fi
}

# Extract the pristine files ($PRISTINE plus "$@") into $1/linux-source-6.1.
extract_pristine() {
	local dest=$1
	shift
	get_deb
	mkdir -p "$dest"
	say "pristine files from $(basename "$deb")"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/src/linux-source-6.1.tar.xz |
		tar -xJ -C "$dest" $(for f in Makefile $PRISTINE "$@"; do echo "linux-source-6.1/$f"; done) ||
		die "cannot extract $PRISTINE $* from $deb"
	grep -q '^PATCHLEVEL = 1$' "$dest/linux-source-6.1/Makefile" 2>/dev/null ||
		die "$deb is not Linux 6.1"
}

# Insert file $3 into file $1 before the first "config " line following the
# line $2 (a Kconfig entry's header), followed by a blank line.
kconfig_insert() {
	awk -v after="$2" -v ins="$3" '
		$0 == after { found = 1; print; next }
		found == 1 && /^config / {
			while ((getline l < ins) > 0) print l
			print ""
			found = 2
		}
		{ print }
		END { exit found != 2 }
	' "$1" >"$1.new" || die "$1: no entry after '$2' to insert before"
	mv "$1.new" "$1"
}

# Append line $3 after the line of file $1 beginning with $2.
makefile_insert() {
	awk -v after="$2" -v line="$3" '
		{ print }
		index($0, after) == 1 && !done { print line; done = 1 }
		END { exit !done }
	' "$1" >"$1.new" || die "$1: no line beginning '$2'"
	mv "$1.new" "$1"
}

# Generate the series into $1.
generate() {
	local dir=$1 repo=$tmp/repo m f h kopt hdrs files
	export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
	export GIT_AUTHOR_NAME=pvkit GIT_AUTHOR_EMAIL=pvkit@invalid
	export GIT_COMMITTER_NAME=pvkit GIT_COMMITTER_EMAIL=pvkit@invalid
	export GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z'

	[ -d "$tmp/pristine/linux-source-6.1" ] || extract_pristine "$tmp/pristine"
	mkdir -p "$repo"
	git -C "$repo" init -q -b pristine
	for f in $PRISTINE; do
		mkdir -p "$repo/$(dirname "$f")"
		cp "$tmp/pristine/linux-source-6.1/$f" "$repo/$f"
	done
	git -C "$repo" add -A
	git -C "$repo" commit -q -m "pristine linux-source-6.1 files"
	base=$(git -C "$repo" rev-parse HEAD)

	files=
	for m in $modules; do
		[ -f "$src/$m.c" ] || die "linux/Kbuild builds $m.o but $src/$m.c is missing"
		files="$files $src/$m.c $(local_headers "$m.c" | sed "s|^|$src/|")"
	done
	hdrs=$(pvkit_headers $files)
	[ -n "$hdrs" ] || die "the modules include no <pvkit/*.h>"

	for h in $hdrs; do
		rewrite "$pvkinc/pvkit/$h" "$repo/include/xen/interface/io/pvkit/$h" \
			"/* pvkit's include/pvkit/$h, generated by pvkit's mkpatches.sh. */"
	done
	git -C "$repo" add -A
	git -C "$repo" commit -q -F - <<-EOF
		xen/interface: add pvkit's ring and protocol headers

		pvkit's freestanding headers for Xen's shared rings ($(echo $hdrs | sed 's/ /, /g'))
		as the pvkit-* frontends use them: the same ring code as pvkit's
		userspace ends.  Generated by pvkit's guest-kernel-patches/mkpatches.sh:
		each is pvkit's include/pvkit/<name> with its C library includes
		replaced by the kernel headers pvkit's Linux compat shims map them to,
		and <pvkit/x.h> by <xen/interface/io/pvkit/x.h>.
	EOF

	if [ -n "$shared" ]; then
		for h in $shared; do
			rewrite "$src/$h" "$repo/include/xen/$h" ""
		done
		git -C "$repo" add -A
		git -C "$repo" commit -q -F - <<-EOF
			xen: add $(echo $shared | sed 's/ /, /g'), shared by the pvkit frontends

			The xenbus plumbing every pvkit frontend module uses (granted
			pages, late-EOI event channels, xenstore transactions and
			per-queue nodes, the broken latch, the backend state dispatch),
			static inline so that the modules may be built in together.
			Generated by pvkit's guest-kernel-patches/mkpatches.sh.
		EOF
	fi

	for m in $modules; do
		kopt=$(echo "${m#pvkit-}" | tr 'a-z-' 'A-Z_')
		place_module "$m"
		for f in $m.c $(own_headers "$m"); do
			rewrite "$src/$f" "$repo/drivers/$subsys/$f" ""
		done
		{
			echo "config PVKIT_$kopt"
			printf '\ttristate "%s"\n' "$prompt"
			printf '\tdepends on %s\n' "$deps"
			printf '\tselect XEN_XENBUS_FRONTEND\n'
			printf '\tdefault n\n'
			printf '\thelp\n'
			echo "$help" | sed 's/^\(.\)/\t  \1/'
		} >"$tmp/kconfig.$m"
		kconfig_insert "$repo/drivers/$subsys/Kconfig" "$kc_after" "$tmp/kconfig.$m"
		makefile_insert "$repo/drivers/$subsys/Makefile" "$mk_after" \
			"obj-\$(CONFIG_PVKIT_$kopt)	+= $m.o"
		git -C "$repo" add -A
		printf '%s\n\n%s\n' "$subject" "$body" | git -C "$repo" commit -q -F -
	done

	mkdir -p "$dir"
	git -C "$repo" -c core.abbrev=12 format-patch -q --numbered --zero-commit \
		--no-signature -o "$dir" "$base..HEAD" >/dev/null
}

if [ $mode = gen ]; then
	rm -f "$out"/[0-9][0-9][0-9][0-9]-*.patch
	generate "$out"
	say "wrote $(ls "$out"/*.patch | wc -l) patches into $out:"
	(cd "$out" && ls -1 [0-9][0-9][0-9][0-9]-*.patch | sed 's/^/  /')
	exit 0
fi

# --check
series=$(ls "$out"/[0-9][0-9][0-9][0-9]-*.patch 2>/dev/null || true)
[ -n "$series" ] || die "no series in $out (make kpatches writes it)"

# 1. It applies to a pristine tree (the new files must not exist there).
extract_pristine "$tmp/pristine" include/xen/interface/io
tree=$tmp/pristine/linux-source-6.1
newfiles=$(sed -n 's|^+++ b/||p' $series | sort -u)
for f in $newfiles; do
	case " $PRISTINE " in *" $f "*) continue ;; esac
	[ ! -e "$tree/$f" ] || die "$f already exists in linux-source-6.1"
done
(cd "$tree" && git apply --check -v $series) >"$tmp/apply.log" 2>&1 || {
	cat "$tmp/apply.log" >&2
	die "the series does not apply to linux-source-6.1 (git apply --check)"
}
grep -E '^(Checking patch|Applied)' "$tmp/apply.log" | sed 's/^/  /' || true
say "git apply --check: the series applies to $(basename "$deb")"
cp -a "$tree" "$tmp/patched"
tree=$tmp/patched
(cd "$tree" && git apply $series) || die "git apply failed after --check passed"

# 2. The patched drivers compile with the tree's include paths: each
# module's Makefile line (its CONFIG_ set to m) and its sources, built as
# an external module against a 6.1 build tree, include/ of the patched
# tree first.
if [ -z "$kdir" ]; then
	kdir=$(ls -d /usr/src/linux-headers-6.1*-amd64 2>/dev/null | sort -V | tail -n1 || true)
fi
if [ -z "$kdir" ] || [ ! -f "$kdir/Makefile" ]; then
	say "compile: SKIP: no kernel build tree (install linux-headers-6.1.0-<n>-amd64" \
		"or give --kdir DIR)"
else
	for m in $modules; do
		kopt=$(echo "${m#pvkit-}" | tr 'a-z-' 'A-Z_')
		place_module "$m"
		mod=$tmp/build/$m
		mkdir -p "$mod"
		cp "$tree/drivers/$subsys/$m.c" "$mod/"
		for h in $(own_headers "$m"); do
			cp "$tree/drivers/$subsys/$h" "$mod/"
		done
		{
			echo "ccflags-y += -I$tree/include"
			grep -F "CONFIG_PVKIT_$kopt)" "$tree/drivers/$subsys/Makefile" ||
				die "drivers/$subsys/Makefile has no CONFIG_PVKIT_$kopt line"
		} >"$mod/Kbuild"
		grep -q "^config PVKIT_$kopt\$" "$tree/drivers/$subsys/Kconfig" ||
			die "drivers/$subsys/Kconfig has no PVKIT_$kopt entry"
		say "compile: drivers/$subsys/$m.c against $kdir"
		make -C "$kdir" M="$mod" "CONFIG_PVKIT_$kopt=m" modules >"$mod/build.log" 2>&1 || {
			cat "$mod/build.log" >&2
			die "drivers/$subsys/$m.c does not compile in-tree"
		}
		if grep -E 'warning:|error:' "$mod/build.log" >&2; then
			die "drivers/$subsys/$m.c compiles with warnings (above)"
		fi
		[ -f "$mod/$m.ko" ] || die "no $m.ko after the build"
		say "compile: $m.ko built ($(stat -c %s "$mod/$m.ko") bytes)"
	done
fi

# 3. The committed series is what the sources generate now (index lines
# aside: they name the pristine blobs of whichever Debian 6.1 was used).
generate "$tmp/fresh"
for p in $series; do
	[ -f "$tmp/fresh/$(basename "$p")" ] || die "stale series: $(basename "$p") is" \
		"no longer generated; run make kpatches"
done
for p in "$tmp"/fresh/*.patch; do
	[ -f "$out/$(basename "$p")" ] || die "stale series: $(basename "$p") is" \
		"missing from $out; run make kpatches"
	diff -u <(grep -v '^index ' "$out/$(basename "$p")") <(grep -v '^index ' "$p") \
		>"$tmp/stale.diff" || {
		head -n 40 "$tmp/stale.diff" >&2
		die "stale series: $(basename "$p") differs from what the sources" \
			"generate; run make kpatches"
	}
done
say "series up to date: $(echo "$series" | wc -l) patches"

say "check passed"
