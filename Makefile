# SPDX-License-Identifier: MIT
#
# pvkit top-level Makefile.  Everything is built out of tree under $(B)/.
# Each directory declares what it builds in a module.mk fragment (see
# mk/rules.mk for the variables a fragment may set); this file only wires
# them together.
#
#   make                  libraries, programs, tests, benchmarks into build/
#   make demo             the main job on the simulated hypervisor
#   make test             build, then run every test (one summary line)
#   make check-asan       the same tests built with ASan+UBSan (build/asan/)
#   make fuzz             every libFuzzer target for FUZZ_SECONDS (build/fuzz/)
#   make bench            every benchmark; bench-<name> for one
#   make lab              PV vs emulated lab, disks and NICs (bench/lab.mk, build/lab/; pvkit lab)
#   make headers-check    compile each public header on its own
#   make install DESTDIR=... prefix=...   /  make uninstall
#   make deps             install (as root on Debian) or name missing packages

VERSION   := 0.2.0
# Bumped whenever a public struct changes layout (0.2.0: struct pvk_ring
# and struct pvk_ring_batch, which callers allocate).
SOVERSION := 1

prefix      ?= /usr/local
exec_prefix ?= $(prefix)
bindir      ?= $(exec_prefix)/bin
# Debian's multiarch directory (lib/x86_64-linux-gnu) where the compiler
# knows one, as Debian's own libraries and pkg-config's search path have.
MULTIARCH   ?= $(shell $(CC) -print-multiarch 2>/dev/null)
libdir      ?= $(exec_prefix)/lib$(if $(MULTIARCH),/$(MULTIARCH))
includedir  ?= $(prefix)/include
pkgconfigdir ?= $(libdir)/pkgconfig
mandir      ?= $(prefix)/share/man
unitdir     ?= $(prefix)/lib/systemd/system
DESTDIR     ?=

CC      ?= cc
AR      ?= ar
CFLAGS  ?= -O2 -g
SAN     ?= 0

ifeq ($(SAN),1)
B       ?= build/asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	    -fno-omit-frame-pointer
else ifeq ($(SAN),fuzz)
# libFuzzer targets (tests/fuzz/): everything built with clang, ASan,
# UBSan and coverage; the fuzzers themselves link libFuzzer's main.
B       ?= build/fuzz
SANFLAGS := -fsanitize=address,undefined,fuzzer-no-link \
	    -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
B       ?= build
SANFLAGS :=
endif

WARNFLAGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	     -Wpointer-arith -Wno-unused-parameter \
	     -Werror=implicit-function-declaration -Werror=return-type
PVK_CFLAGS := -std=gnu11 -fPIC -pthread $(WARNFLAGS) $(SANFLAGS) \
	      -Iinclude -D_GNU_SOURCE -DPVK_VERSION='"$(VERSION)"' \
	      -DPVK_SOVERSION='"$(SOVERSION)"' -MMD -MP
PVK_LDFLAGS := -pthread $(SANFLAGS)

.DEFAULT_GOAL := all

# Populated by the module fragments.
LIBS        :=
PROGS       :=
TESTS       :=
TEST_SCRIPTS :=
BENCHES     :=
FUZZERS     :=
# How a libFuzzer target links (tests/fuzz/fuzz.mk): libFuzzer's main.
FUZZ_LINK   := -fsanitize=fuzzer
HEADERS     := $(sort $(wildcard include/pvkit/*.h))

include mk/deps.mk
include mk/rules.mk
include $(sort $(filter-out mk/%,$(wildcard */*.mk */*/*.mk)))

$(foreach l,$(LIBS),$(eval $(call pvk_library,$(l))))
$(foreach p,$(PROGS),$(eval $(call pvk_program,$(p),bin)))
$(foreach t,$(TESTS),$(eval $(call pvk_program,$(t),tests)))
$(foreach b,$(BENCHES),$(eval $(call pvk_program,$(b),bench)))
$(foreach f,$(FUZZERS),$(eval $(call pvk_program,$(f),fuzz)))

ALL_LIB_FILES := $(foreach l,$(LIBS),$(B)/lib/libpvkit-$(l).a \
		   $(B)/lib/libpvkit-$(l).so.$(VERSION) $(B)/lib/pkgconfig/pvkit-$(l).pc)
ALL_PROG_FILES := $(foreach p,$(PROGS),$(B)/bin/$(p))
ALL_TEST_FILES := $(foreach t,$(TESTS),$(B)/tests/$(t))
ALL_BENCH_FILES := $(foreach b,$(BENCHES),$(B)/bench/$(b))
ALL_FUZZ_FILES := $(foreach f,$(FUZZERS),$(B)/fuzz/$(f))

.PHONY: all libs progs tests benches fuzzers
all: libs progs tests benches
libs: $(ALL_LIB_FILES)
progs: $(ALL_PROG_FILES)
tests: $(ALL_TEST_FILES) $(B)/tests/list
benches: $(ALL_BENCH_FILES)
# Only in a SAN=fuzz build (see tests/fuzz/fuzz.mk: make fuzz, fuzz-smoke).
fuzzers: $(ALL_FUZZ_FILES)

# The list of tests the runner executes: compiled programs, then scripts.
$(B)/tests/list: $(MAKEFILE_LIST) | $(B)/tests/
	@{ true; $(foreach t,$(TESTS),echo "$(B)/tests/$(t)";) \
	   $(foreach s,$(TEST_SCRIPTS),echo "$(s)";) } > $@.tmp && mv $@.tmp $@

TEST_TIMEOUT ?= 300
.PHONY: test check check-asan
test check: all fuzz-build
	@PVK_BUILD=$(abspath $(B)) tests/run-tests.sh --timeout $(TEST_TIMEOUT) $(B)/tests/list

check-asan:
	@$(MAKE) --no-print-directory SAN=1 CC=$(if $(filter cc,$(CC)),gcc,$(CC)) test

# headers-check: every public header must compile alone, in C11 and
# (for the ring headers) freestanding, as a guest kernel would use them.
FREESTANDING_HEADERS := include/pvkit/spin.h include/pvkit/ring.h include/pvkit/blkif.h include/pvkit/netif.h \
			include/pvkit/ioreq.h include/pvkit/x86dec.h
.PHONY: headers-check
headers-check: $(patsubst include/pvkit/%.h,$(B)/hdrchk/%.ok,$(HEADERS)) \
	       $(patsubst include/pvkit/%.h,$(B)/hdrchk/%.ffs.ok,$(filter $(HEADERS),$(FREESTANDING_HEADERS)))
$(B)/hdrchk/%.ok: include/pvkit/%.h | $(B)/hdrchk/
	@echo "  HDRCHK  $<"
	@printf '#include <pvkit/%s.h>\n#include <pvkit/%s.h>\n' $* $* | \
		$(CC) -std=c11 -Iinclude -Wall -Wextra -Werror -fsyntax-only -x c -
	@touch $@
$(B)/hdrchk/%.ffs.ok: include/pvkit/%.h | $(B)/hdrchk/
	@echo "  HDRCHK  $< (freestanding)"
	@printf '#include <pvkit/%s.h>\n' $* | \
		$(CC) -std=gnu11 -ffreestanding -nostdinc \
		-isystem $$($(CC) -print-file-name=include) \
		-Iinclude -Wall -Wextra -Werror -fsyntax-only -x c -
	@touch $@

# The ring library itself must build freestanding too.
.PHONY: ring-freestanding
ring-freestanding: | $(B)/hdrchk/
	@echo "  CC      ring/*.c (freestanding)"
	@for f in $(ring_SRCS); do \
		$(CC) -std=gnu11 -ffreestanding -nostdinc \
		-isystem $$($(CC) -print-file-name=include) -DPVK_FREESTANDING \
		-Iinclude -Wall -Wextra -Werror -c $$f -o $(B)/hdrchk/$$(basename $$f .c).ffs.o || exit 1; \
	done

.PHONY: bench
bench: $(addprefix bench-,$(BENCH_TARGETS))

.PHONY: demo
demo: all $(B)/tests/pvk-tcp
	@tools/demo.sh $(B)

# Man pages: made by help2man from each program's --help (the one source
# of its options) and man/<program>.h2m (the prose).
MAN_PAGES := $(B)/man/pvkit.1 $(B)/man/pvkit-backd.8 $(B)/man/pvkit-simd.8 \
	     $(B)/man/pvkit-dm.8
.PHONY: man
man: $(MAN_PAGES)
$(B)/man/%.1: $(B)/bin/% man/%.h2m
	@mkdir -p $(@D)
	@echo "  MAN     $@"
	@help2man -N -s 1 -i man/$*.h2m -o $@ $(B)/bin/$*
$(B)/man/%.8: $(B)/bin/% man/%.h2m
	@mkdir -p $(@D)
	@echo "  MAN     $@"
	@help2man -N -s 8 -i man/$*.h2m -o $@ $(B)/bin/$*

.PHONY: install uninstall
install: all man
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(libdir) \
		$(DESTDIR)$(includedir)/pvkit $(DESTDIR)$(pkgconfigdir)
	install -m 0644 $(HEADERS) $(DESTDIR)$(includedir)/pvkit/
	$(foreach l,$(LIBS),\
		install -m 0644 $(B)/lib/libpvkit-$(l).a $(DESTDIR)$(libdir)/ && \
		install -m 0755 $(B)/lib/libpvkit-$(l).so.$(VERSION) $(DESTDIR)$(libdir)/ && \
		ln -sf libpvkit-$(l).so.$(VERSION) $(DESTDIR)$(libdir)/libpvkit-$(l).so.$(SOVERSION) && \
		ln -sf libpvkit-$(l).so.$(SOVERSION) $(DESTDIR)$(libdir)/libpvkit-$(l).so && \
		sed -e 's|@prefix@|$(prefix)|;s|@libdir@|$(libdir)|;s|@includedir@|$(includedir)|' \
			$(B)/lib/pkgconfig/pvkit-$(l).pc.in > $(DESTDIR)$(pkgconfigdir)/pvkit-$(l).pc &&) true
	$(if $(PROGS),install -m 0755 $(ALL_PROG_FILES) $(DESTDIR)$(bindir)/)
	install -d $(DESTDIR)$(libdir)/nbdkit/plugins
	install -m 0755 $(NBDKIT_PLUGIN) $(DESTDIR)$(libdir)/nbdkit/plugins/
	install -d $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man8 $(DESTDIR)$(unitdir)
	install -m 0644 $(B)/man/pvkit.1 $(DESTDIR)$(mandir)/man1/
	install -m 0644 $(B)/man/pvkit-backd.8 $(B)/man/pvkit-simd.8 \
		$(B)/man/pvkit-dm.8 $(DESTDIR)$(mandir)/man8/
	sed 's|@bindir@|$(bindir)|g' contrib/systemd/pvkit-backd.service.in \
		> $(DESTDIR)$(unitdir)/pvkit-backd.service

uninstall:
	rm -f $(addprefix $(DESTDIR)$(includedir)/pvkit/,$(notdir $(HEADERS)))
	-rmdir $(DESTDIR)$(includedir)/pvkit 2>/dev/null
	$(foreach l,$(LIBS),rm -f $(DESTDIR)$(libdir)/libpvkit-$(l).a \
		$(DESTDIR)$(libdir)/libpvkit-$(l).so $(DESTDIR)$(libdir)/libpvkit-$(l).so.$(SOVERSION) \
		$(DESTDIR)$(libdir)/libpvkit-$(l).so.$(VERSION) $(DESTDIR)$(pkgconfigdir)/pvkit-$(l).pc;)
	rm -f $(addprefix $(DESTDIR)$(bindir)/,$(PROGS))
	rm -f $(DESTDIR)$(libdir)/nbdkit/plugins/nbdkit-pvkit-plugin.so
	-rmdir $(DESTDIR)$(libdir)/nbdkit/plugins $(DESTDIR)$(libdir)/nbdkit 2>/dev/null
	rm -f $(DESTDIR)$(mandir)/man1/pvkit.1 $(DESTDIR)$(mandir)/man8/pvkit-backd.8 \
		$(DESTDIR)$(mandir)/man8/pvkit-simd.8 $(DESTDIR)$(mandir)/man8/pvkit-dm.8 \
		$(DESTDIR)$(unitdir)/pvkit-backd.service

.PHONY: format format-check
format:
	clang-format -i $$(git ls-files '*.c' '*.h' | grep -v '^guest-kernel-patches/')
format-check:
	@bad=0; for f in $$(git ls-files '*.c' '*.h' | grep -v '^guest-kernel-patches/'); do \
		clang-format --dry-run --Werror $$f 2>/dev/null || { echo "format: $$f"; bad=1; }; \
	done; exit $$bad

.PHONY: clean
clean:
	rm -rf build

%/:
	@mkdir -p $@

-include $(shell find $(B)/obj $(B)/obj-nosan -name '*.d' 2>/dev/null)
