/* SPDX-License-Identifier: MIT */
/*
 * test-trap: the HVM trap runtime (pvkit/hvm_trap.h) on the loop
 * hypervisor.  This thread is the vCPU: its real in/out/ins/outs and MMIO
 * loads and stores trap, become ioreqs, and a device model in another
 * thread (t_dmthread) answers.
 *  - register accesses of each width, ports and MMIO, by hand-written
 *    instructions and through the trap gio; one trap each;
 *  - rep insw/outsw of more than a page's worth (one trap per page, RIP
 *    held until rCX is 0), DF set, rCX 0; movs and stos on MMIO;
 *  - guest faults in forked children: a string operand outside RAM
 *    (SIGSEGV and a line), an instruction on MMIO the decoder refuses
 *    (SIGABRT and a line); a NULL dereference is not ours (the default
 *    action, or the handler installed before);
 *  - the IDE guest driver unchanged over the trap gio: PIO and DMA data,
 *    and the same trap counts as the direct backend.
 * Under valgrind (which does not deliver in/out faults as the CPU does)
 * every test is skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvkit/dm_ide.h>
#include <pvkit/dmodel.h>
#include <pvkit/gio.h>
#include <pvkit/hvm_trap.h>
#include <pvkit/ide_guest.h>

#include "../common/t_dmodel.h"

#define PORT0 0x500 /* toy ports 0x500-0x5ff */
#define FIFO (PORT0 + 0x40) /* reads count up, writes are logged */
#define MMIO 0xfe000000ull /* toy MMIO, a page */
#define LOGN 8192

/* A toy device: byte registers; FIFO as above (any width). */
struct toy {
	uint64_t base;
	uint8_t regs[4096];
	unsigned int accesses;
	uint32_t seq;
	uint32_t log[LOGN];
	unsigned int nlog;
};

static uint64_t toy_read(void *dev, enum pvk_dm_space space, uint64_t addr,
			 unsigned int size)
{
	struct toy *t = dev;
	uint64_t v = 0, off = addr - t->base;

	t->accesses++;
	if (space == PVK_DM_PORT && addr == FIFO)
		return t->seq++;
	for (unsigned int i = 0; i < size && off + i < sizeof(t->regs); i++)
		v |= (uint64_t)t->regs[off + i] << (8 * i);
	return v;
}

static void toy_write(void *dev, enum pvk_dm_space space, uint64_t addr,
		      unsigned int size, uint64_t val)
{
	struct toy *t = dev;
	uint64_t off = addr - t->base;

	t->accesses++;
	if (space == PVK_DM_PORT && addr == FIFO) {
		if (t->nlog < LOGN)
			t->log[t->nlog++] = (uint32_t)val;
		return;
	}
	for (unsigned int i = 0; i < size && off + i < sizeof(t->regs); i++)
		t->regs[off + i] = (uint8_t)(val >> (8 * i));
}

static const struct pvk_dmodel_dev_ops toy_ops = {
	.name = "toy",
	.read = toy_read,
	.write = toy_write,
};

struct env {
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *ghv;
	uint32_t guest;
	struct pvk_dmodel *dm;
	struct toy port_dev, mmio_dev;
	struct pvk_ide *ide;
	struct t_dmthread dmt;
	struct pvk_gio *g;
	uint8_t *ram;
	uint64_t ram_size;
	char img[256];
	int img_fd;
};

static struct env E;

static bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

/* The guest, its device model (toys, and an IDE disk if @ide_bytes), and
 * this thread as vCPU 0 through the trap gio.  In the test body: cmocka
 * replaces SIGSEGV's handler around each test. */
static void up(struct env *e, uint64_t ide_bytes)
{
	struct pvk_ide_config cfg = { .bm_base = 0xc000 };
	const char *dir = getenv("TMPDIR");
	void *ram;

	if (under_valgrind())
		skip();
	pvk_trap_vcpu_leave(); /* a failed test's */
	memset(e, 0, sizeof(*e));
	e->img_fd = -1;
	assert_int_equal(pvk_loop_create(&e->loop), 0);
	assert_int_equal(pvk_hv_open_loop(&e->hv0, e->loop, 0), 0);
	assert_int_equal(pvk_loop_domain_create(e->loop, "hvm", &e->guest), 0);
	assert_int_equal(pvk_hv_open_loop(&e->ghv, e->loop, e->guest), 0);
	assert_int_equal(pvk_dm_guest_memory(e->ghv, &ram, &e->ram_size), 0);
	e->ram = ram;
	assert_int_equal(pvk_dmodel_create(&e->dm, e->hv0, e->guest), 0);
	e->port_dev.base = PORT0;
	e->mmio_dev.base = MMIO;
	assert_int_equal(pvk_dmodel_add(e->dm, &toy_ops, &e->port_dev,
					PVK_DM_PORT, PORT0, PORT0 + 0xff),
			 0);
	assert_int_equal(pvk_dmodel_add(e->dm, &toy_ops, &e->mmio_dev,
					PVK_DM_MMIO, MMIO, MMIO + 4095),
			 0);
	if (ide_bytes) {
		snprintf(e->img, sizeof(e->img), "%s/pvk-trap-XXXXXX",
			 dir && *dir ? dir : "/tmp");
		e->img_fd = mkstemp(e->img);
		assert_true(e->img_fd >= 0);
		assert_int_equal(ftruncate(e->img_fd, (off_t)ide_bytes), 0);
		cfg.path = e->img;
		assert_int_equal(pvk_ide_create(&e->ide, e->dm, &cfg), 0);
		assert_int_equal(pvk_ide_attach(e->ide), 0);
	}
	assert_int_equal(pvk_dmodel_enable(e->dm), 0);
	assert_int_equal(t_dmthread_start(&e->dmt, e->dm), 0);
	assert_int_equal(pvk_gio_open_trap(&e->g, e->ghv, 0), 0);
	assert_int_equal(e->g->ram_size, e->ram_size);
}

static void down(struct env *e)
{
	pvk_gio_close(e->g);
	assert_int_equal(pvk_trap_count(), 0); /* left */
	t_dmthread_stop(&e->dmt);
	assert_int_equal(e->dmt.err, 0);
	pvk_dmodel_destroy(e->dm);
	if (e->ide)
		pvk_ide_destroy(e->ide);
	pvk_hv_close(e->ghv);
	pvk_hv_close(e->hv0);
	pvk_loop_destroy(e->loop);
	if (e->img_fd >= 0) {
		close(e->img_fd);
		unlink(e->img);
	}
}

#define ALL1 0xffffffffffffffffull
#define PAT 0x1122334455667788ull

static void t_registers(void **state)
{
	struct env *e = &E;
	volatile uint8_t *m;
	uint64_t t0, rax, rdx;
	uint16_t port;
	void *va;

	up(e, 0);
	assert_int_equal(pvk_trap_mmio_map(MMIO, 4096, &va), 0);
	m = va;
	t0 = pvk_trap_count();

	/* Ports, by hand: each width, DX and immediate forms. */
	rax = PAT;
	port = PORT0 + 4;
	asm volatile("outb %%al, %%dx" ::"a"(rax), "d"(port));
	asm volatile("outw %%ax, %%dx" ::"a"(rax), "d"(port + 2));
	asm volatile("outl %%eax, %%dx" ::"a"(rax), "d"(port + 8));
	assert_int_equal(e->port_dev.regs[4], 0x88);
	assert_int_equal(e->port_dev.regs[5], 0);
	assert_memory_equal(&e->port_dev.regs[6], "\x88\x77", 2);
	assert_memory_equal(&e->port_dev.regs[12], "\x88\x77\x66\x55", 4);
	e->port_dev.regs[0x10] = 0xab;
	e->port_dev.regs[0x11] = 0xcd;
	rax = ALL1;
	asm volatile("inb %%dx, %%al" : "+a"(rax) : "d"(PORT0 + 0x10));
	assert_int_equal(rax, 0xffffffffffffffabull);
	rax = ALL1;
	asm volatile("inw %%dx, %%ax" : "+a"(rax) : "d"(PORT0 + 0x10));
	assert_int_equal(rax, 0xffffffffffffcdabull);
	rax = ALL1;
	asm volatile("inl %%dx, %%eax" : "+a"(rax) : "d"(PORT0 + 0x10));
	assert_int_equal(rax, 0xcdab); /* 32-bit writes clear 32-63 */
	e->port_dev.regs[0x80] = 0x5a;
	rax = 0;
	asm volatile("inb $0x80, %%al" : "+a"(rax)); /* unclaimed: all-ones */
	assert_int_equal(rax, 0xff);
	asm volatile("outb %%al, $0x80" ::"a"(0)); /* dropped */
	assert_int_equal(pvk_trap_count() - t0, 8);

	/* MMIO: loads and stores of each width, movzx/movsx, immediates. */
	t0 = pvk_trap_count();
	m[0x10] = 0x80;
	*(volatile uint16_t *)(m + 0x12) = 0x9001;
	*(volatile uint32_t *)(m + 0x14) = 0xdeadbeef;
	*(volatile uint64_t *)(m + 0x18) = PAT;
	assert_int_equal(e->mmio_dev.regs[0x10], 0x80);
	assert_memory_equal(&e->mmio_dev.regs[0x12],
			    "\x01\x90\xef\xbe\xad\xde\x88\x77\x66\x55\x44\x33"
			    "\x22\x11",
			    14);
	assert_int_equal(m[0x10], 0x80);
	assert_int_equal(*(volatile uint16_t *)(m + 0x12), 0x9001);
	assert_int_equal(*(volatile uint32_t *)(m + 0x14), 0xdeadbeef);
	assert_int_equal(*(volatile uint64_t *)(m + 0x18), PAT);
	asm volatile("movsbq 0x10(%1), %0" : "=r"(rdx) : "r"(m) : "memory");
	assert_int_equal(rdx, 0xffffffffffffff80ull);
	asm volatile("movzwl 0x12(%1), %k0" : "=r"(rdx) : "r"(m) : "memory");
	assert_int_equal(rdx, 0x9001);
	asm volatile("movl $0x12345678, 0x20(%0)" ::"r"(m) : "memory");
	asm volatile("movq $-2, 0x28(%0)" ::"r"(m) : "memory");
	assert_memory_equal(&e->mmio_dev.regs[0x20], "\x78\x56\x34\x12", 4);
	assert_memory_equal(&e->mmio_dev.regs[0x28],
			    "\xfe\xff\xff\xff\xff\xff\xff\xff", 8);
	assert_int_equal(pvk_trap_count() - t0, 12);
	assert_int_equal(e->mmio_dev.accesses, 12);

	/* The same through the trap gio: one trap per access. */
	t0 = e->g->traps;
	pvk_outw(e->g, PORT0 + 0x30, 0x1234);
	assert_int_equal(pvk_inw(e->g, PORT0 + 0x30), 0x1234);
	pvk_outl(e->g, PORT0 + 0x34, 0xcafef00d);
	assert_int_equal(pvk_inl(e->g, PORT0 + 0x34), 0xcafef00d);
	assert_int_equal(pvk_inb(e->g, PORT0 + 0x35), 0xf0);
	pvk_mmio_write32(e->g, MMIO + 0x40, 0xfeedface);
	assert_int_equal(pvk_mmio_read32(e->g, MMIO + 0x40), 0xfeedface);
	e->g->ops->write(e->g, PVK_DM_MMIO, MMIO + 0x48, 8, PAT);
	assert_int_equal(e->g->ops->read(e->g, PVK_DM_MMIO, MMIO + 0x48, 8),
			 PAT);
	assert_int_equal(e->g->ops->read(e->g, PVK_DM_MMIO, MMIO + 0x49, 1),
			 0x77);
	assert_int_equal(e->g->traps - t0, 10);
	assert_int_equal(e->g->err, 0);
	assert_int_equal(pvk_trap_mmio_unmap(va), 0);
	assert_int_equal(pvk_trap_mmio_unmap(va), -ENOENT);
	down(e);
}

#define NW 3000 /* words: 6000 bytes, more than a page */

static void t_strings(void **state)
{
	struct env *e = &E;
	uint64_t t0, rdi, rsi, rcx, gpa = 0x10000;
	uint16_t *w;
	uint32_t *l;
	uint8_t *m;
	void *va;

	up(e, 0);
	w = (uint16_t *)(e->ram + gpa);
	/* rep insw: 2048 + 952 items, two traps; RIP held in between. */
	t0 = pvk_trap_count();
	rdi = (uintptr_t)w;
	rcx = NW;
	asm volatile("rep insw" : "+D"(rdi), "+c"(rcx) : "d"(FIFO) : "memory");
	assert_int_equal(rcx, 0);
	assert_int_equal(rdi, (uintptr_t)(w + NW));
	assert_int_equal(pvk_trap_count() - t0, 2);
	for (unsigned int i = 0; i < NW; i++)
		assert_int_equal(w[i], i);
	assert_int_equal(w[NW], 0);
	/* rep outsw back: the device sees them in order. */
	t0 = pvk_trap_count();
	rsi = (uintptr_t)w;
	rcx = NW;
	asm volatile("rep outsw" : "+S"(rsi), "+c"(rcx) : "d"(FIFO) : "memory");
	assert_int_equal(rcx, 0);
	assert_int_equal(rsi, (uintptr_t)(w + NW));
	assert_int_equal(pvk_trap_count() - t0, 2);
	assert_int_equal(e->port_dev.nlog, NW);
	for (unsigned int i = 0; i < NW; i++)
		assert_int_equal(e->port_dev.log[i], i);
	/* DF: rep insw walks down from RDI. */
	memset(w, 0, 16);
	rdi = (uintptr_t)&w[4];
	rcx = 5;
	asm volatile("std; rep insw; cld"
		     : "+D"(rdi), "+c"(rcx)
		     : "d"(FIFO)
		     : "memory", "cc");
	assert_int_equal(rdi, (uintptr_t)&w[-1]);
	for (unsigned int i = 0; i < 5; i++)
		assert_int_equal(w[4 - i], NW + i);
	/* rCX 0: a trap, no access, retired. */
	t0 = pvk_trap_count();
	rcx = 0;
	asm volatile("rep insb" : "+D"(rdi), "+c"(rcx) : "d"(FIFO) : "memory");
	assert_int_equal(pvk_trap_count() - t0, 1);
	assert_int_equal(e->port_dev.seq, NW + 5);
	/* Through gio->rep: the same split. */
	t0 = e->g->traps;
	assert_int_equal(e->g->ops->rep(e->g, FIFO, 1, 5000, gpa, true), 0);
	assert_int_equal(e->g->traps - t0, 2);
	assert_int_equal(e->ram[gpa + 4999], (uint8_t)(NW + 5 + 4999));
	assert_int_equal(e->g->ops->rep(e->g, FIFO, 2, 4, e->ram_size - 6,
					true),
			 -EFAULT);

	/* movs and stos with MMIO on one side. */
	assert_int_equal(pvk_trap_mmio_map(MMIO, 4096, &va), 0);
	m = va;
	l = (uint32_t *)(e->ram + gpa);
	for (unsigned int i = 0; i < 8; i++)
		l[i] = 0xa0a0a000u + i;
	t0 = pvk_trap_count();
	rsi = (uintptr_t)l;
	rdi = (uintptr_t)(m + 0x100);
	rcx = 8;
	asm volatile("rep movsl"
		     : "+S"(rsi), "+D"(rdi), "+c"(rcx)
		     :
		     : "memory");
	assert_int_equal(rdi, (uintptr_t)(m + 0x120));
	assert_memory_equal(&e->mmio_dev.regs[0x100], l, 32);
	assert_int_equal(pvk_trap_count() - t0, 1);
	memset(l, 0, 64);
	rsi = (uintptr_t)(m + 0x11c);
	rdi = (uintptr_t)&l[7];
	rcx = 8;
	asm volatile("std; rep movsl; cld"
		     : "+S"(rsi), "+D"(rdi), "+c"(rcx)
		     :
		     : "memory", "cc");
	assert_int_equal(rsi, (uintptr_t)(m + 0xfc));
	assert_memory_equal(l, &e->mmio_dev.regs[0x100], 32);
	assert_int_equal(l[8], 0);
	t0 = pvk_trap_count();
	rdi = (uintptr_t)(m + 0x200);
	rcx = 3;
	asm volatile("rep stosl"
		     : "+D"(rdi), "+c"(rcx)
		     : "a"(0x5a5a5a5au)
		     : "memory");
	assert_int_equal(rcx, 0);
	assert_int_equal(pvk_trap_count() - t0, 3); /* one item per trap */
	assert_memory_equal(&e->mmio_dev.regs[0x200], "ZZZZZZZZZZZZ\x00", 13);
	assert_int_equal(pvk_trap_mmio_unmap(va), 0);
	down(e);
}

/* Run @fn in a child; its exit status and what it wrote on stderr. */
static int in_child(void (*fn)(struct env *), struct env *e, char *out,
		    size_t outsz)
{
	int p[2], st = 0;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		alarm(10); /* never hang: SIGALRM is a failure too */
		fn(e);
		_exit(0); /* survived: a failure */
	}
	close(p[1]);
	while ((n = read(p[0], out + got, outsz - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void outside_ram(struct env *e)
{
	uint16_t buf[4];
	uint64_t rdi = (uintptr_t)buf, rcx = 4;

	asm volatile("rep insw" : "+D"(rdi), "+c"(rcx) : "d"(FIFO) : "memory");
}

static void undecodable(struct env *e)
{
	void *va;

	if (pvk_trap_mmio_map(MMIO, 4096, &va) == 0)
		asm volatile("addl $1, 0x10(%0)" ::"r"(va) : "memory", "cc");
}

static void null_deref(struct env *e)
{
	/* What a NULL dereference compiles to, without the UB. */
	asm volatile("movl (%0), %%eax" ::"r"(0L) : "rax", "memory");
}

static void prev_handler(int sig)
{
	static const char msg[] = "the previous handler\n";

	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(42);
}

/* Not ours, with a handler of the program's installed before. */
static void null_deref_chained(struct env *e)
{
	pvk_trap_vcpu_leave();
	signal(SIGSEGV, prev_handler);
	if (pvk_trap_vcpu_enter(e->ghv, 0) == 0)
		null_deref(e);
}

/* Not ours, SIGSEGV's default action before. */
static void null_deref_default(struct env *e)
{
	pvk_trap_vcpu_leave();
	signal(SIGSEGV, SIG_DFL);
	if (pvk_trap_vcpu_enter(e->ghv, 0) == 0)
		null_deref(e);
}

static void t_faults(void **state)
{
	struct env *e = &E;
	char out[1024];
	int st;

	up(e, 0);
	st = in_child(outside_ram, e, out, sizeof(out));
	print_message("child: %s", out);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);
	assert_non_null(strstr(out, "vCPU 0: string port I/O outside the "
				    "guest's RAM"));
	assert_non_null(strstr(out, "guest fault"));

	st = in_child(undecodable, e, out, sizeof(out));
	print_message("child: %s", out);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	assert_non_null(strstr(out, "instruction on MMIO not emulated"));
	assert_non_null(strstr(out, "address 0xfe000010"));

	st = in_child(null_deref_default, e, out, sizeof(out));
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);
	assert_string_equal(out, ""); /* not ours: nothing said */

	st = in_child(null_deref_chained, e, out, sizeof(out));
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 42);
	assert_string_equal(out, "the previous handler\n");
	/* The parent's vCPU goes on. */
	assert_int_equal(pvk_inb(e->g, PORT0), 0);
	down(e);
}

/* --- the IDE guest driver over both backends ------------------------- */

#define SECTORS 16384u /* 8 MiB */
#define BM 0xc000
#define PRD_PAGE 0x1000ull
#define BUF_A 0x100000ull
#define BUF_B 0x400000ull
#define BUF_C 0x81fe00ull

struct run {
	uint64_t traps[8];
};

static void fill(uint8_t *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + seed + (i >> 9));
}

static void expect_file(struct env *e, uint64_t lba, uint32_t n,
			const uint8_t *want)
{
	uint8_t *buf = malloc((size_t)n * 512);

	assert_int_equal(pread(e->img_fd, buf, (size_t)n * 512,
			       (off_t)(lba * 512)),
			 (ssize_t)n * 512);
	assert_memory_equal(buf, want, (size_t)n * 512);
	free(buf);
}

/* The same operations on @g; each one's trap count into @r. */
static void ide_ops(struct env *e, struct pvk_gio *g, unsigned int seed,
		    struct run *r)
{
	struct pvk_ideg d;
	uint64_t t;
	int k = 0;

#define STEP(call)                            \
	do {                                  \
		t = g->traps;                 \
		assert_int_equal(call, 0);    \
		r->traps[k++] = g->traps - t; \
	} while (0)
	memset(&d, 0, sizeof(d));
	STEP(pvk_ideg_probe(&d, g, BM, PRD_PAGE));
	fill(e->ram + BUF_A, 37 * 512, seed);
	STEP(pvk_ideg_write_pio(&d, 100, 37, BUF_A));
	expect_file(e, 100, 37, e->ram + BUF_A);
	memset(e->ram + BUF_B, 0, 37 * 512);
	STEP(pvk_ideg_read_dma(&d, 100, 37, BUF_B));
	assert_memory_equal(e->ram + BUF_B, e->ram + BUF_A, 37 * 512);
	fill(e->ram + BUF_C, 300 * 512, seed + 1);
	STEP(pvk_ideg_write_dma(&d, 1000, 300, BUF_C));
	expect_file(e, 1000, 300, e->ram + BUF_C);
	memset(e->ram + BUF_A, 0, 300 * 512);
	STEP(pvk_ideg_read_pio(&d, 1000, 300, BUF_A));
	assert_memory_equal(e->ram + BUF_A, e->ram + BUF_C, 300 * 512);
	STEP(pvk_ideg_read_pio(&d, 8, 8, BUF_A));
	STEP(pvk_ideg_flush(&d));
	assert_int_equal(g->err, 0);
#undef STEP
}

static void t_ide(void **state)
{
	struct env *e = &E;
	struct run direct = { { 0 } }, trap = { { 0 } };
	struct pvk_gio *dg;
	uint64_t t0;

	up(e, (uint64_t)SECTORS * 512);
	assert_int_equal(pvk_gio_open(&dg, e->ghv, 0), 0);
	ide_ops(e, dg, 1, &direct);
	t0 = pvk_trap_count();
	ide_ops(e, e->g, 7, &trap);
	/* Every access counted was a real trap, and as many as posted. */
	assert_int_equal(pvk_trap_count() - t0,
			 trap.traps[0] + trap.traps[1] + trap.traps[2] +
				 trap.traps[3] + trap.traps[4] + trap.traps[5] +
				 trap.traps[6]);
	for (int i = 0; i < 7; i++) {
		print_message("op %d: direct %llu trap %llu\n", i,
			      (unsigned long long)direct.traps[i],
			      (unsigned long long)trap.traps[i]);
		assert_true(trap.traps[i] > 0);
		assert_int_equal(trap.traps[i], direct.traps[i]);
	}
	/* test-ide's count: taskfile 6 + 8 x (status + rep insw) + alt. */
	assert_int_equal(trap.traps[5], 6 + 8 * 2 + 1);
	pvk_gio_close(dg);
	down(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_registers),
		cmocka_unit_test(t_strings),
		cmocka_unit_test(t_faults),
		cmocka_unit_test(t_ide),
	};

	if (under_valgrind())
		fprintf(stderr,
			"test-trap: under valgrind: skipped (valgrind "
			"does not fault in/out the way the CPU does)\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
