# SPDX-License-Identifier: MIT
# bench-lab: the PV-vs-emulated lab.  One image driven the same way over
# native io_uring, PV (blkfront -> blkback, event-driven and polling) and
# emulated IDE PIO and DMA with real trapping instructions: 4 KiB random
# read/write at QD1 and (native, PV) QD32, 512 B reads, 1 MiB sequential
# read/write; percentiles, ops/s, MB/s, CPU per operation on both sides,
# traps, ioreqs and notifications per operation, the common claims checked.
# `make lab` and `pvkit lab` (bench/lab.sh) write $(B)/lab/: lab.json, raw
# samples, plots (PNG, SVG) and REPORT.md.
BENCHES += bench-lab
bench-lab_SRCS = bench/bench-lab.c tests/blk/back_tfront.c \
		 tests/common/t_dmodel.c $(bench_SRCS)
bench-lab_LIBS := back front emu hv ring net
bench-lab_LDLIBS = -luring $(bench_LDLIBS)
# lab-echo: the NIC cases' UDP peer, in a network namespace on the bridge.
BENCHES += lab-echo
lab-echo_SRCS = bench/lab-echo.c

# LAB_ARGS: options for bench-lab (e.g. LAB_ARGS="--quick", "--hv loop";
# the default is --hv sim when pvkit-dm is built).
LAB_ARGS ?=
.PHONY: lab
lab: libs progs $(B)/bench/bench-lab
	@bench/lab.sh $(B) $(LAB_ARGS)

# `pvkit lab` finds the lab's scripts beside its binary: in the build tree
# $(B)/libexec/pvkit/lab/ (bench-lab stays in $(B)/bench/), installed
# $(libexecdir)/pvkit/lab/ with bench-lab.
libexecdir ?= $(exec_prefix)/libexec
LAB_SCRIPTS := bench/lab.sh bench/blk-env.sh bench/lab-cdf.gp \
	       bench/lab-bars.gp
LAB_EXEC := $(addprefix $(B)/libexec/pvkit/lab/,$(notdir $(LAB_SCRIPTS)))
$(B)/libexec/pvkit/lab/%: bench/%
	@mkdir -p $(@D)
	@cp $< $@
progs: $(LAB_EXEC)
$(B)/obj/tools/cmd_lab.o: CPPFLAGS += \
	-DPVK_LAB_DIR='"$(libexecdir)/pvkit/lab"'

.PHONY: install-lab uninstall-lab
install: install-lab
install-lab: all
	install -d $(DESTDIR)$(libexecdir)/pvkit/lab
	install -m 0755 bench/lab.sh $(B)/bench/bench-lab $(B)/bench/lab-echo \
		$(DESTDIR)$(libexecdir)/pvkit/lab/
	install -m 0644 bench/blk-env.sh bench/lab-cdf.gp bench/lab-bars.gp \
		$(DESTDIR)$(libexecdir)/pvkit/lab/
uninstall: uninstall-lab
uninstall-lab:
	rm -rf $(DESTDIR)$(libexecdir)/pvkit/lab

# The smoke run in make test: few samples on loop and on the simulator;
# checks data, counts, JSON and REPORT.md, never times.
TEST_SCRIPTS += tests/lab/lab-smoke.sh
