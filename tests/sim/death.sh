#!/bin/bash
# SPDX-License-Identifier: MIT
# Killing a domain whose page is mapped: the mapping survives, the grant
# stays in use, @releaseDomain fires, its xenstore subtree is gone, and
# notifies to it are dropped.
. "$(dirname "$0")/lib.sh"

t_start
t_detach holder "$CLIENT" grant-hold >/dev/null
XENSTORED_PATH=$DOM0_XS "$CLIENT" survive holder || t_fail "survive"
