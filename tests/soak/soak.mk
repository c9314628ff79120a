# SPDX-License-Identifier: MIT
# make soak: 8 guests, block and network I/O, random chaos, for
# SOAK_SECONDS (default 600); not part of make test (tests/soak/soak.sh).
SOAK_SECONDS ?= 600
.PHONY: soak
soak: all
	@PVK_BUILD=$(abspath $(B)) tests/soak/soak.sh $(SOAK_SECONDS)
