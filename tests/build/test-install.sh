#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test-install: `make install prefix=TMP` installs headers, static and
# versioned shared libraries and pkg-config files that an outside program
# can build and run against; `make uninstall` removes all of it.  Also runs
# `make headers-check ring-freestanding` (each public header alone; the
# ring library freestanding).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${PVK_BUILD:-$top/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$top"

make -s --no-print-directory B="$B" headers-check ring-freestanding

make -s --no-print-directory B="$B" install prefix="$tmp/usr" >/dev/null
# Libraries in Debian's multiarch directory (lib/x86_64-linux-gnu).
ma=$(${CC:-cc} -print-multiarch 2>/dev/null || true)
lib=$tmp/usr/lib${ma:+/$ma}
for f in include/pvkit/ring.h "${lib#"$tmp/usr/"}"/libpvkit-ring.a \
	 "${lib#"$tmp/usr/"}"/libpvkit-ring.so.1 "${lib#"$tmp/usr/"}"/pkgconfig/pvkit-ring.pc \
	 share/man/man1/pvkit.1 share/man/man8/pvkit-backd.8 share/man/man8/pvkit-simd.8 \
	 share/man/man8/pvkit-dm.8 bin/pvkit-dm \
	 lib/systemd/system/pvkit-backd.service bin/pvkit bin/pvkit-backd \
	 "${lib#"$tmp/usr/"}"/nbdkit/plugins/nbdkit-pvkit-plugin.so; do
	[ -e "$tmp/usr/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
# The unit runs the installed daemon; the man pages render without a
# warning and name every option --help does.
grep -q "^ExecStart=$tmp/usr/bin/pvkit-backd " "$tmp/usr/lib/systemd/system/pvkit-backd.service" ||
	{ echo "FAIL: the unit's ExecStart is not the installed pvkit-backd"; exit 1; }
for m in man1/pvkit.1 man8/pvkit-backd.8 man8/pvkit-simd.8 man8/pvkit-dm.8; do
	warn=$(man --warnings -l -Tutf8 "$tmp/usr/share/man/$m" 2>&1 >/dev/null)
	[ -z "$warn" ] || { echo "FAIL: $m: $warn"; exit 1; }
done
page=$(man -l -Tutf8 "$tmp/usr/share/man/man8/pvkit-backd.8" 2>/dev/null | col -b)
for o in $("$tmp/usr/bin/pvkit-backd" --help | grep -o -- '--[a-z-]*' | sort -u); do
	grep -q -- "$o" <<<"$page" || { echo "FAIL: pvkit-backd.8 lacks $o"; exit 1; }
done

# The shared library exports only the versioned API.
# Outputs are captured whole before grep -q looks at them: under pipefail
# a producer killed by SIGPIPE (grep -q stops at its first match) would
# fail the pipeline.
syms=$(nm -D --defined-only "$lib/libpvkit-ring.so")
bad=$(grep -v ' pvk_' <<<"$syms" | grep ' T ' || true)
if [ -n "$bad" ]; then
	echo "FAIL: libpvkit-ring.so exports non-pvk_ text symbols:"
	nm -D --defined-only "$lib/libpvkit-ring.so" | grep ' T ' | grep -v ' pvk_'
	exit 1
fi
grep -q 'PVKIT_RING_0.1' <<<"$(objdump -T "$lib/libpvkit-ring.so")" ||
	{ echo "FAIL: no PVKIT_RING_0.1 symbol version"; exit 1; }

cat >"$tmp/consumer.c" <<'C'
#include <pvkit/blkif.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	static unsigned char page[4096] __attribute__((aligned(4096)));
	struct pvk_ring f, b;
	struct pvk_blkif_request req = { .operation = PVK_BLKIF_OP_READ, .id = 42 };
	struct pvk_blkif_request got;

	/* The back end through the library's exported pvk_ring_attach (the
	 * typed initialisers are inline and need no library). */
	if (pvk_blkif_front_init(&f, (void *)page, sizeof(page)) ||
	    pvk_ring_attach(&b, PVK_RING_BACK, page, sizeof(page),
			    sizeof(union pvk_blkif_sring_entry),
			    sizeof(struct pvk_blkif_request),
			    sizeof(struct pvk_blkif_response), 0, false))
		return 1;
	if (pvk_blkif_put_request(&f, &req) || !pvk_ring_push(&f))
		return 2;
	if (pvk_blkif_get_request(&b, &got) != 1 || got.id != 42)
		return 3;
	printf("ring of %u entries ok\n", f.nr_ents);
	return f.nr_ents == 32 ? 0 : 4;
}
C
export PKG_CONFIG_PATH="$lib/pkgconfig"
# A sanitizer build (make check-asan) installs libraries that need their
# runtime first in the program: build the consumer the same way.
san=""
case "$(ldd "$lib/libpvkit-ring.so")" in
*libasan*) san="-fsanitize=address,undefined" ;;
esac
# shellcheck disable=SC2046
cc $san -o "$tmp/consumer" "$tmp/consumer.c" $(pkg-config --cflags --libs pvkit-ring)
LD_LIBRARY_PATH="$lib" "$tmp/consumer"
grep -q "$lib/libpvkit-ring.so.1" <<<"$(LD_LIBRARY_PATH="$lib" ldd "$tmp/consumer")" ||
	{ echo "FAIL: consumer not linked against the installed .so"; exit 1; }
cc $san -o "$tmp/consumer-static" "$tmp/consumer.c" $(pkg-config --cflags pvkit-ring) \
	"$lib/libpvkit-ring.a"
"$tmp/consumer-static"

# Static links from pkg-config --static alone: the .pc files name their
# dependencies, the external ones (libxen*, liburing, libmnl) through
# Requires.private, so the libraries those need in turn come too.  On
# pvkit-hv a fully static program (Debian ships libxen*.a); on pvkit-back
# and pvkit-front the pvkit archives (there is no libmnl.a).  Not with
# sanitizers: their runtimes do not link statically.
cat >"$tmp/consumer-hv.c" <<'C'
#include <pvkit/blkback.h>
#include <pvkit/blkfront.h>
#include <pvkit/hv.h>
#include <stdio.h>

int main(void)
{
	struct pvk_loop *loop;
	uint32_t d;
#ifdef WITH_BACK
	/* Referenced, so that the back and front archives are linked in. */
	void *volatile fns[] = { (void *)pvk_blkback_create,
				 (void *)pvk_blkfront_open };
	(void)fns;
#endif
	if (pvk_loop_create(&loop) || pvk_loop_domain_create(loop, "g", &d))
		return 1;
	pvk_loop_domain_destroy(loop, d);
	pvk_loop_destroy(loop);
	printf("static: domain %u came and went\n", d);
	return 0;
}
C
if [ -z "$san" ]; then
	# shellcheck disable=SC2046
	cc -static -o "$tmp/consumer-hv" "$tmp/consumer-hv.c" \
		$(pkg-config --static --cflags --libs pvkit-hv) 2>"$tmp/ld.err" ||
		{ cat "$tmp/ld.err"; echo "FAIL: static link of pvkit-hv from pkg-config --static"; exit 1; }
	"$tmp/consumer-hv"
	libs=$(pkg-config --static --libs pvkit-back pvkit-front)
	# shellcheck disable=SC2001,SC2046 # -lpvkit-X -> its archive
	cc -DWITH_BACK -o "$tmp/consumer-back" "$tmp/consumer-hv.c" \
		$(pkg-config --cflags pvkit-back) \
		$(sed "s|-lpvkit-\([a-z]*\)|$lib/libpvkit-\1.a|g" <<<"$libs") 2>"$tmp/ld.err" ||
		{ cat "$tmp/ld.err"; echo "FAIL: link of the pvkit-back and -front archives from pkg-config --static"; exit 1; }
	"$tmp/consumer-back"
	ldd "$tmp/consumer-back" >"$tmp/ldd.out"
	! grep -q libpvkit "$tmp/ldd.out" || { echo "FAIL: consumer-back uses a shared libpvkit"; exit 1; }
fi

make -s --no-print-directory B="$B" uninstall prefix="$tmp/usr" >/dev/null
left=$(find "$tmp/usr" -type f -o -type l)
[ -z "$left" ] || { echo "FAIL: left after uninstall:"; echo "$left"; exit 1; }
echo "install/uninstall ok"
