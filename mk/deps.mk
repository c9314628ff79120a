# SPDX-License-Identifier: MIT
#
# Build dependencies.  On Debian, as root, missing packages are installed;
# anywhere else the build stops and names the exact packages to install.
# The check runs once per build directory (a stamp file), so it costs
# nothing on an incremental build.

DEB_BUILD_DEPS := gcc make pkg-config libxen-dev libcmocka-dev liburing-dev \
		  xen-utils-4.17 xenstore-utils libnbd-bin qemu-utils \
		  libmnl-dev iputils-ping iproute2 clang libclang-rt-14-dev help2man man-db \
		  nbdkit nbdkit-plugin-dev
DEPS_STAMP := $(B)/.deps-ok

.PHONY: deps
deps:
	@rm -f $(DEPS_STAMP)
	@$(MAKE) --no-print-directory $(DEPS_STAMP)

$(DEPS_STAMP): mk/deps.mk
	@tools/install-deps.sh $(DEB_BUILD_DEPS)
	@mkdir -p $(@D) && touch $@
