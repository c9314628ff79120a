/* SPDX-License-Identifier: MIT */
/*
 * pvkit/hvm_trap.h -- the guest side of a simulated HVM vCPU: real port
 * and MMIO instructions that trap.  Part of libpvkit-front (pkg-config
 * pvkit-front; it uses libpvkit-emu's decoder, pvkit/x86dec.h).
 *
 * A thread becomes vCPU @vcpu of a domain (pvk_trap_vcpu_enter).  From
 * then on its in/out/ins/outs instructions (no ioperm: a general
 * protection fault) and its loads and stores to regions reserved by
 * pvk_trap_mmio_map (PROT_NONE) raise SIGSEGV; the handler does what Xen
 * does for an HVM guest: decode the instruction at RIP, post an ioreq to
 * the device model (pvk_dm_guest_io, waiting for ever), complete the
 * instruction (registers, RIP) and resume the thread.
 *
 * What the handler takes (pvkit/x86dec.h's forms):
 *   in/out                 one ioreq (PIO)
 *   [rep] ins/outs         data_is_ptr, the guest-physical address of
 *                          rDI/rSI in the guest's RAM (pvk_dm_guest_memory);
 *                          at most a page's worth of items per ioreq: RIP
 *                          stays (rCX counts down) and the instruction
 *                          traps again for the rest; rCX 0 just retires
 *   mov/movzx/movsx/mov-imm  one ioreq (COPY) at region gpa + (fault
 *                          address - region va)
 *   [rep] movs             one side MMIO, the other RAM: data_is_ptr, as
 *                          ins/outs (MMIO on both sides is a guest fault)
 *   [rep] stos             one item per ioreq (and per trap)
 * Direction flag honoured (the ioreq's df).  The MMIO address is taken
 * from the fault address, so an access must start inside its region (one
 * straddling into it from ordinary memory is not supported).  A string
 * operand outside the guest's RAM is a guest fault: a clear line on
 * stderr, then the thread re-faults with SIGSEGV's default action (the
 * process dies, as Xen would crash the domain).  An instruction on MMIO the decoder refuses, and a
 * device model that breaks the ioreq protocol (-EPROTO), print a line and
 * abort().  A fault that is not ours (no vCPU on this thread, an address
 * in no region, a port instruction that did not fault as one) goes to the
 * handler installed before ours, or SIGSEGV's default action.
 *
 * The handler posts from signal context: the trapping code must not hold
 * a lock the posting path takes (guest code and the gio backend below
 * never do).
 */
#ifndef PVKIT_HVM_TRAP_H
#define PVKIT_HVM_TRAP_H

#include <stdint.h>

#include <pvkit/dm.h>
#include <pvkit/gio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The calling thread becomes vCPU @vcpu of @hv's domain (@hv must stay
 * open until pvk_trap_vcpu_leave).  Gives the thread a signal stack and
 * puts the SIGSEGV handler in place if SIGSEGV is not already ours (once
 * per process; again only if someone replaced it since -- theirs is then
 * the one chained to).  -EBUSY if the thread is a vCPU already, -errno
 * from pvk_dm_guest_memory (-EOPNOTSUPP: no HVM guest on @hv), sigaction
 * or mmap.
 */
int pvk_trap_vcpu_enter(struct pvk_hv *hv, unsigned int vcpu);
/* The thread is no longer a vCPU; frees its signal stack.  No-op if it
 * was not one.  The handler stays installed. */
void pvk_trap_vcpu_leave(void);
/* Traps the calling thread took as a vCPU (0 if it is none). */
uint64_t pvk_trap_count(void);

/*
 * Reserve @len bytes of address space (rounded up to pages) standing for
 * guest-physical MMIO @gpa.. (page-aligned) and return it in *@va: every
 * access there traps.  At most 64 regions per process.  -EINVAL (gpa not
 * aligned, len 0, wraps), -ENOSPC, -ENOMEM.
 */
int pvk_trap_mmio_map(uint64_t gpa, uint64_t len, void **va);
/* Release a region returned by pvk_trap_mmio_map; no vCPU may be
 * accessing it.  -ENOENT if @va is not one. */
int pvk_trap_mmio_unmap(void *va);

/*
 * pvkit/gio.h over real instructions: ->read/->write for ports execute
 * in/out on the calling thread, for MMIO a volatile load or store of the
 * width at the region standing for the address (regions of 1 MiB are
 * mapped on first use; an access crossing a 1 MiB boundary sets ->err
 * -EINVAL and reads all-ones); ->rep executes rep insX/outsX on g->ram.
 * ->traps counts the traps the accesses took (one per access; a rep of
 * more than a page's worth takes one per page).  The calling thread
 * enters as vCPU @vcpu unless it is that vCPU of @hv already (-EBUSY if
 * it is another), and leaves on close if it entered here; the gio is that
 * thread's alone.  Failures of the device model end the process (above),
 * so ->err reports only the gio's own checks.
 */
int pvk_gio_open_trap(struct pvk_gio **g, struct pvk_hv *hv, unsigned int vcpu);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_HVM_TRAP_H */
