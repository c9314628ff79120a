# SPDX-License-Identifier: MIT
#
# make kmods: pvkit's guest kernel modules (guest-kernel-patches/linux/),
# built with kbuild against a kernel's headers into $(B)/kmods/*.ko.
#
#   KDIR   the kernel build tree; default: the headers of the kernel the
#          real-Xen lane boots (the version linux-image-amd64 depends on,
#          as tests/xen/fetch.sh picks it), /usr/src/linux-headers-<ver>
#
# Without the headers the target says which package to install and
# succeeds (exit 0): the modules are optional.  kbuild writes its objects
# next to the sources, so the sources are linked into $(B)/kmods/src and
# built there, leaving the tree clean.

KMODS := pvkit-blkfront pvkit-netfront
KMODS_SRC := guest-kernel-patches/linux
KMODS_FILES := Kbuild pvkit-front.h pvkit-blkfront.c blkfront-core.h pvkit-netfront.c \
	netfront-core.h
KVER ?=
KDIR ?=

.PHONY: kmods kmods-clean
kmods:
	@kver='$(KVER)'; kdir='$(KDIR)'; \
	if [ -z "$$kdir" ]; then \
		[ -n "$$kver" ] || kver=$$(apt-cache depends linux-image-amd64 2>/dev/null | \
			sed -n 's/^ *Depends: linux-image-\([0-9].*-amd64\)$$/\1/p' | head -n1); \
		[ -n "$$kver" ] || kver=$$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | \
			sed 's|.*/linux-headers-||' | sort -V | tail -n1); \
		[ -n "$$kver" ] || { echo "kmods: SKIP: cannot tell the kernel version" \
			"(no linux-image-amd64 in apt, no /usr/src/linux-headers-*);" \
			"set KDIR=<kernel build tree>"; exit 0; }; \
		kdir=/usr/src/linux-headers-$$kver; \
	fi; \
	if [ ! -f "$$kdir/Makefile" ]; then \
		echo "kmods: SKIP: no kernel headers in $$kdir:" \
			"install linux-headers-$${kver:-<version>} (apt-get install" \
			"linux-headers-$${kver:-<version>}) or set KDIR"; \
		exit 0; \
	fi; \
	mkdir -p $(B)/kmods/src/compat && \
	for f in $(KMODS_FILES); do \
		ln -sf $(abspath $(KMODS_SRC))/$$f $(B)/kmods/src/$$f || exit 1; \
	done && \
	for f in $(KMODS_SRC)/compat/*.h; do \
		ln -sf $(abspath $(KMODS_SRC))/compat/$$(basename $$f) \
			$(B)/kmods/src/compat/ || exit 1; \
	done && \
	echo "  KBUILD  $(KMODS) against $$kdir" && \
	$(MAKE) --no-print-directory -C "$$kdir" M=$(abspath $(B))/kmods/src \
		PVK_INCLUDE=$(abspath include) modules >$(B)/kmods/build.log 2>&1 || \
		{ cat $(B)/kmods/build.log; exit 1; }; \
	grep -E 'warning|error' $(B)/kmods/build.log || true; \
	for m in $(KMODS); do cp $(B)/kmods/src/$$m.ko $(B)/kmods/$$m.ko || exit 1; done; \
	echo "  KMOD    $(foreach m,$(KMODS),$(B)/kmods/$(m).ko)"

kmods-clean:
	rm -rf $(B)/kmods

# The real-Xen lane's domU carries the modules (cells 20-25).
test-xen: kmods

# make kpatches: the modules as a patch series against Linux v6.1 that adds
# them in-tree (guest-kernel-patches/v6.1/, written by mkpatches.sh from the
# sources above); make kpatches-check: the series is current, applies to
# Debian's linux-source-6.1 and its drivers compile in the patched layout
# (against KDIR, default the newest /usr/src/linux-headers-6.1*-amd64).
# Debian's linux-source-6.1 .deb is downloaded once into $(B)/kpatch.
.PHONY: kpatches kpatches-check
kpatches:
	guest-kernel-patches/mkpatches.sh --cache $(abspath $(B))/kpatch

kpatches-check:
	guest-kernel-patches/mkpatches.sh --check --cache $(abspath $(B))/kpatch \
		$(if $(KDIR),--kdir $(KDIR))
