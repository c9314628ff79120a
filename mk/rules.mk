# SPDX-License-Identifier: MIT
#
# Build templates.  A module.mk fragment declares, for example:
#
#   LIBS += ring                      -> libpvkit-ring.{a,so.*}, pvkit-ring.pc
#   ring_SRCS   := ring/ring.c
#   ring_MAP    := ring/libpvkit-ring.map     (linker version script)
#   ring_LDLIBS :=                            (external libraries)
#   ring_PCLIBS :=                            (pvkit libraries it needs)
#   hv_PCREQ    := xenstore ...   (pkg-config modules of its _LDLIBS: the
#                 .pc file Requires.private them rather than listing the
#                 -l flags, so pkg-config --static adds their own deps)
#   ring_DESC   := one line for pkg-config
#   xensim_NOSAN := 1   never build with sanitizers (a library that is
#                       LD_PRELOADed into programs not built with them)
#
#   PROGS   += pvkit        -> $(B)/bin/pvkit
#   TESTS   += test-ring    -> $(B)/tests/test-ring (run by make test)
#   BENCHES += bench-ring   -> $(B)/bench/bench-ring
#   <name>_SRCS, <name>_LIBS (pvkit libraries, static), <name>_LDLIBS
#   TEST_SCRIPTS += tests/sim/foo.sh          (run by make test as well)
#   BENCH_TARGETS += ring   (and a rule for bench-ring)
#
# Programs link the static pvkit libraries so that they run from build/
# without LD_LIBRARY_PATH; the shared libraries are for installation.

$(B)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(PVK_CFLAGS) $(CFLAGS) $(CPPFLAGS) -c $< -o $@

# Objects of a _NOSAN library: same flags, minus the sanitizers.
$(B)/obj-nosan/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $< (no sanitizers)"
	@$(CC) $(filter-out $(SANFLAGS),$(PVK_CFLAGS)) $(CFLAGS) $(CPPFLAGS) -c $< -o $@

define pvk_library
$(1)_OBJDIR := $$(if $$($(1)_NOSAN),obj-nosan,obj)
$(1)_OBJS := $$(patsubst %.c,$$(B)/$$($(1)_OBJDIR)/%.o,$$($(1)_SRCS))

$$(B)/lib/libpvkit-$(1).a: $$($(1)_OBJS)
	@mkdir -p $$(@D)
	@echo "  AR      $$@"
	@rm -f $$@ && $$(AR) rcs $$@ $$^

$$(B)/lib/libpvkit-$(1).so.$$(VERSION): $$($(1)_OBJS) $$($(1)_MAP) \
		$$(foreach d,$$($(1)_PCLIBS),$$(B)/lib/libpvkit-$$(d).so.$$(VERSION))
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	@$$(CC) -shared $$(if $$($(1)_NOSAN),$$(filter-out $$(SANFLAGS),$$(PVK_LDFLAGS)),$$(PVK_LDFLAGS)) $$(LDFLAGS) \
		-Wl,-soname,libpvkit-$(1).so.$$(SOVERSION) \
		$$(if $$($(1)_MAP),-Wl$$(comma)--version-script=$$($(1)_MAP)) \
		-Wl,--no-undefined -o $$@ $$($(1)_OBJS) \
		-L$$(B)/lib $$(foreach d,$$($(1)_PCLIBS),-lpvkit-$$(d)) $$($(1)_LDLIBS)
	@ln -sf libpvkit-$(1).so.$$(VERSION) $$(B)/lib/libpvkit-$(1).so.$$(SOVERSION)
	@ln -sf libpvkit-$(1).so.$$(SOVERSION) $$(B)/lib/libpvkit-$(1).so

$$(B)/lib/pkgconfig/pvkit-$(1).pc.in: $$(MAKEFILE_LIST)
	@mkdir -p $$(@D)
	@printf '%s\n' 'prefix=@prefix@' 'libdir=@libdir@' 'includedir=@includedir@' '' \
		'Name: pvkit-$(1)' 'Description: $$(subst ','\'',$$($(1)_DESC))' 'Version: $$(VERSION)' \
		'Requires.private: $$(strip $$(foreach d,$$($(1)_PCLIBS),pvkit-$$(d)) $$($(1)_PCREQ))' \
		'Libs: -L$$$${libdir} -lpvkit-$(1)' \
		'Libs.private: $$(strip $$(if $$($(1)_PCREQ),,$$($(1)_LDLIBS)) -pthread)' \
		'Cflags: -I$$$${includedir}' > $$@

# The in-tree .pc points at build/, so programs outside pvkit can be
# compiled against an uninstalled tree with PKG_CONFIG_PATH=build/lib/pkgconfig.
$$(B)/lib/pkgconfig/pvkit-$(1).pc: $$(B)/lib/pkgconfig/pvkit-$(1).pc.in
	@sed -e 's|@prefix@|$$(abspath .)|;s|@libdir@|$$(abspath $$(B)/lib)|;s|@includedir@|$$(abspath include)|' $$< > $$@
endef

comma := ,

# $(1) = program name, $(2) = output subdirectory (bin, tests, bench)
define pvk_program
$(1)_OBJS := $$(patsubst %.c,$$(B)/obj/%.o,$$($(1)_SRCS))
$$(B)/$(2)/$(1): $$($(1)_OBJS) $$(foreach l,$$($(1)_LIBS),$$(B)/lib/libpvkit-$$(l).a)
	@mkdir -p $$(@D)
	@echo "  LINK    $$@"
	@$$(CC) $$(PVK_LDFLAGS) $$(LDFLAGS) -o $$@ $$($(1)_OBJS) \
		$$(foreach l,$$($(1)_LIBS),$$(B)/lib/libpvkit-$$(l).a) \
		$$(sort $$(foreach l,$$($(1)_LIBS),$$($$(l)_LDLIBS))) $$($(1)_LDLIBS)
endef
