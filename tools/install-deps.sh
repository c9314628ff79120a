#!/bin/sh
# SPDX-License-Identifier: MIT
#
# install-deps.sh PKG... -- make sure the named Debian packages are present.
# As root on Debian: install what is missing with apt-get.  Otherwise: list
# the missing packages and exit 1 so the build stops with a clear message.
set -u

missing=""
if command -v dpkg-query >/dev/null 2>&1; then
	for p in "$@"; do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
		[ "$st" = installed ] || missing="$missing $p"
	done
else
	echo "pvkit: not a Debian system; make sure these (Debian names) are installed:" >&2
	echo "      $*" >&2
	echo "pvkit: then run 'touch build/.deps-ok' to skip this check" >&2
	exit 1
fi

[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "pvkit: installing missing build dependencies:$missing"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1; then
		apt-get update -q >/dev/null 2>&1
		apt-get install -y -q --no-install-recommends $missing || {
			echo "pvkit: apt-get install failed for:$missing" >&2
			exit 1
		}
	fi
	exit 0
fi

echo "pvkit: missing build dependencies:$missing" >&2
echo "pvkit: install them with: sudo apt-get install$missing" >&2
exit 1
