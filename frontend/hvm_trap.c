/* SPDX-License-Identifier: MIT */
/*
 * pvkit/hvm_trap.h: a vCPU thread's port and MMIO instructions trap
 * (SIGSEGV), are decoded (pvkit/x86dec.h), posted as ioreqs and completed
 * in the signal handler, as Xen does for an HVM guest.
 */
#include <asm/prctl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include <pvkit/hvm_trap.h>
#include <pvkit/x86dec.h>

#define PAGE 4096ull
#define MAX_REGIONS 64
#define ALTSTACK_SIZE (256u << 10) /* pvk_dm_guest_io, ASan frames */
#define WIN (1ull << 20) /* gio: MMIO mapped per 1 MiB window */
#define MAX_WINS 16

struct region {
	uintptr_t va; /* 0: free; published last (release) */
	uint64_t len, gpa;
};

struct vcpu {
	struct pvk_hv *hv;
	unsigned int id;
	uintptr_t ram;
	uint64_t ram_size;
	uint64_t traps;
	void *stack;
	stack_t old_ss;
};

static struct region regions[MAX_REGIONS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction prev_segv;
static __thread struct vcpu *cur;

static const int greg_of[16] = {
	REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
	REG_R8,	 REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

/* --- messages (no stdio in the handler) --- */

static char *put_str(char *p, char *end, const char *s)
{
	while (*s && p < end)
		*p++ = *s++;
	return p;
}

static char *put_hex(char *p, char *end, uint64_t x)
{
	char d[16];
	int n = 0;

	do
		d[n++] = "0123456789abcdef"[x & 15];
	while ((x >>= 4) && n < 16);
	p = put_str(p, end, "0x");
	while (n && p < end)
		*p++ = d[--n];
	return p;
}

static char *put_dec(char *p, char *end, unsigned int x)
{
	char d[10];
	int n = 0;

	do
		d[n++] = (char)('0' + x % 10);
	while ((x /= 10) && n < 10);
	while (n && p < end)
		*p++ = d[--n];
	return p;
}

static void say(const struct vcpu *v, const char *what, uint64_t rip,
		uint64_t addr)
{
	char buf[256], *p = buf, *end = buf + sizeof(buf) - 1;

	p = put_str(p, end, "pvkit trap: vCPU ");
	p = put_dec(p, end, v->id);
	p = put_str(p, end, ": ");
	p = put_str(p, end, what);
	p = put_str(p, end, " (rip ");
	p = put_hex(p, end, rip);
	p = put_str(p, end, ", address ");
	p = put_hex(p, end, addr);
	p = put_str(p, end, ")\n");
	if (write(STDERR_FILENO, buf, (size_t)(p - buf)) < 0)
		return;
}

/* A guest fault: the vCPU re-faults with SIGSEGV's default action. */
static void guest_crash(const struct vcpu *v, const char *what, uint64_t rip,
			uint64_t addr)
{
	say(v, what, rip, addr);
	say(v, "guest fault: crashing the vCPU", rip, addr);
	signal(SIGSEGV, SIG_DFL);
	raise(SIGSEGV); /* pending until the handler returns */
}

static void __attribute__((noreturn))
die(const struct vcpu *v, const char *what, uint64_t rip, uint64_t addr)
{
	say(v, what, rip, addr);
	abort();
}

/* --- regions --- */

static const struct region *region_of(uint64_t a)
{
	for (int i = 0; i < MAX_REGIONS; i++) {
		uintptr_t va =
			__atomic_load_n(&regions[i].va, __ATOMIC_ACQUIRE);

		if (va && a >= va && a - va < regions[i].len)
			return &regions[i];
	}
	return NULL;
}

int pvk_trap_mmio_map(uint64_t gpa, uint64_t len, void **va)
{
	void *p;
	int i;

	*va = NULL;
	if (gpa % PAGE || !len || len > UINT64_MAX - PAGE)
		return -EINVAL;
	len = (len + PAGE - 1) & ~(PAGE - 1);
	if (gpa + len < gpa)
		return -EINVAL;
	p = mmap(NULL, len, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	pthread_mutex_lock(&lock);
	for (i = 0; i < MAX_REGIONS && regions[i].va; i++)
		;
	if (i < MAX_REGIONS) {
		regions[i].len = len;
		regions[i].gpa = gpa;
		__atomic_store_n(&regions[i].va, (uintptr_t)p,
				 __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&lock);
	if (i == MAX_REGIONS) {
		munmap(p, len);
		return -ENOSPC;
	}
	*va = p;
	return 0;
}

int pvk_trap_mmio_unmap(void *va)
{
	uint64_t len = 0;

	pthread_mutex_lock(&lock);
	for (int i = 0; i < MAX_REGIONS; i++) {
		if (va && regions[i].va == (uintptr_t)va) {
			len = regions[i].len;
			__atomic_store_n(&regions[i].va, 0, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&lock);
	if (!len)
		return -ENOENT;
	munmap(va, len);
	return 0;
}

/* --- the handler --- */

/* The instruction bytes at @rip: the rest of its page, then the next page
 * only if it is readable (process_vm_readv fails instead of faulting). */
static size_t fetch(uint64_t rip, uint64_t fault, uint8_t *buf)
{
	uint64_t end = (rip | (PAGE - 1)) + 1;
	size_t first = end - rip < PVK_X86_MAX_LEN ? end - rip :
						     PVK_X86_MAX_LEN;
	struct iovec local = { buf, PVK_X86_MAX_LEN };
	struct iovec remote[2] = {
		{ (void *)(uintptr_t)rip, first },
		{ (void *)(uintptr_t)end, PVK_X86_MAX_LEN - first },
	};
	ssize_t n;

	n = syscall(SYS_process_vm_readv, getpid(), &local, 1UL, remote,
		    first < PVK_X86_MAX_LEN ? 2UL : 1UL, 0UL);
	if (n >= 0)
		return (size_t)n;
	/* No process_vm_readv (seccomp): the code's own page is readable
	 * unless the fault was there. */
	if (errno != EFAULT && (fault & ~(PAGE - 1)) != (rip & ~(PAGE - 1))) {
		memcpy(buf, (const void *)(uintptr_t)rip, first);
		return first;
	}
	return 0;
}

static uint64_t seg_base(uint8_t seg)
{
	unsigned long base = 0;

	if (seg == PVK_X86_SEG_FS || seg == PVK_X86_SEG_GS)
		syscall(SYS_arch_prctl,
			seg == PVK_X86_SEG_FS ? ARCH_GET_FS : ARCH_GET_GS,
			&base);
	return base;
}

/* The RAM side of a string form: at most @n items from @va (down if @df)
 * that are in the guest's RAM and a page's worth; its gpa in *@gpa.  0 if
 * the first item is outside RAM. */
static uint64_t ram_items(const struct vcpu *v, uint64_t va, unsigned int size,
			  uint64_t n, bool df, uint64_t *gpa)
{
	uint64_t max;

	if (va < v->ram || va - v->ram > v->ram_size ||
	    v->ram_size - (va - v->ram) < size)
		return 0;
	max = df ? (va - v->ram) / size + 1 :
		   (v->ram_size - (va - v->ram)) / size;
	n = n < max ? n : max;
	n = n < PAGE / size ? n : PAGE / size;
	*gpa = va - v->ram;
	return n;
}

/* The MMIO side: items of @r from @va (down if @df). */
static uint64_t mmio_items(const struct region *r, uint64_t va,
			   unsigned int size, uint64_t n, bool df)
{
	uint64_t off = va - r->va, max;

	if (r->len - off < size)
		return 0;
	max = df ? off / size + 1 : (r->len - off) / size;
	return n < max ? n : max;
}

static void post(const struct vcpu *v, struct pvk_ioreq *req, uint64_t rip)
{
	int ret = pvk_dm_guest_io(v->hv, v->id, req, -1);

	if (ret == -EPROTO)
		die(v,
		    "the device model broke the ioreq protocol: crashing the domain",
		    rip, req->addr);
	if (ret == -EINVAL)
		die(v,
		    "ioreq refused (-EINVAL: a vCPU the domain does not have, "
		    "see `pvkit domain create --vcpus`, or a malformed request): "
		    "crashing the domain",
		    rip, req->addr);
	if (ret < 0)
		die(v, "ioreq refused by the hypervisor: crashing the domain",
		    rip, req->addr);
}

/* 1: emulated (or crashing), 0: not ours. */
static int emulate(struct vcpu *v, const siginfo_t *si, ucontext_t *uc)
{
	greg_t *gr = uc->uc_mcontext.gregs;
	uint64_t fa = (uint64_t)(uintptr_t)si->si_addr, n = 1, a, src, dst;
	const struct region *reg = region_of(fa), *sreg, *dreg;
	struct pvk_ioreq req = { .count = 1 };
	struct pvk_x86_insn in;
	struct pvk_x86_regs r;
	uint8_t code[PVK_X86_MAX_LEN];
	bool df, pio;
	int k;

	for (k = 0; k < 16; k++)
		r.gpr[k] = (uint64_t)gr[greg_of[k]];
	r.rip = (uint64_t)gr[REG_RIP];
	r.rflags = (uint64_t)gr[REG_EFL];
	if (pvk_x86_decode(code, fetch(r.rip, fa, code), &in) < 0) {
		if (reg)
			die(v, "instruction on MMIO not emulated: guest fault",
			    r.rip, reg->gpa + (fa - reg->va));
		return 0;
	}
	pio = in.kind <= PVK_X86_PIO_OUTS;
	/* Port instructions fault as #GP (SI_KERNEL, no address). */
	if (pio ? si->si_code != SI_KERNEL || fa : !reg)
		return 0;
	v->traps++;
	df = r.rflags & PVK_X86_RFLAGS_DF;
	req.size = in.size;
	switch (in.kind) {
	case PVK_X86_PIO_IN:
	case PVK_X86_PIO_OUT:
	case PVK_X86_PIO_INS:
	case PVK_X86_PIO_OUTS:
		req.type = PVK_IOREQ_TYPE_PIO;
		req.addr = pvk_x86_port(&in, &r);
		if (in.kind == PVK_X86_PIO_IN)
			req.flags = PVK_IOREQ_F_DIR_READ;
		else if (in.kind == PVK_X86_PIO_OUT)
			pvk_x86_store_value(&in, &r, &req.data);
		if (in.kind < PVK_X86_PIO_INS)
			break;
		n = pvk_x86_rep_count(&in, &r);
		if (!n)
			goto retire;
		dst = in.kind == PVK_X86_PIO_INS;
		a = pvk_x86_string_addr(&in, &r, dst) +
		    (dst ? 0 : seg_base(in.seg));
		n = ram_items(v, a, in.size, n, df, &req.data);
		if (!n) {
			guest_crash(v,
				    "string port I/O outside the guest's RAM",
				    r.rip, a);
			return 1;
		}
		req.count = (uint32_t)n;
		req.flags = PVK_IOREQ_F_DATA_IS_PTR |
			    (dst ? PVK_IOREQ_F_DIR_READ : 0) |
			    (df ? PVK_IOREQ_F_DF : 0);
		break;
	case PVK_X86_MMIO_READ:
	case PVK_X86_MMIO_WRITE:
	case PVK_X86_MMIO_STOS:
		if (!mmio_items(reg, fa, in.size, 1, false))
			die(v, "MMIO access runs past its region: guest fault",
			    r.rip, fa);
		req.type = PVK_IOREQ_TYPE_COPY;
		req.addr = reg->gpa + (fa - reg->va);
		if (in.kind == PVK_X86_MMIO_READ)
			req.flags = PVK_IOREQ_F_DIR_READ;
		else
			pvk_x86_store_value(&in, &r, &req.data);
		/* rep stos: one item per trap; RIP stays for the rest. */
		break;
	case PVK_X86_MMIO_MOVS:
		n = pvk_x86_rep_count(&in, &r);
		if (!n)
			goto retire;
		src = pvk_x86_string_addr(&in, &r, false) + seg_base(in.seg);
		dst = pvk_x86_string_addr(&in, &r, true);
		sreg = region_of(src);
		dreg = region_of(dst);
		if (sreg && dreg)
			die(v, "movs between two MMIO addresses: guest fault",
			    r.rip, fa);
		if (!sreg && !dreg)
			return 0;
		reg = sreg ? sreg : dreg;
		a = sreg ? src : dst;
		n = mmio_items(reg, a, in.size, n, df);
		if (n)
			n = ram_items(v, sreg ? dst : src, in.size, n, df,
				      &req.data);
		if (!n) {
			guest_crash(
				v,
				"movs to or from MMIO outside the guest's RAM",
				r.rip, sreg ? dst : src);
			return 1;
		}
		req.type = PVK_IOREQ_TYPE_COPY;
		req.addr = reg->gpa + (a - reg->va);
		req.count = (uint32_t)n;
		req.flags = PVK_IOREQ_F_DATA_IS_PTR |
			    (sreg ? PVK_IOREQ_F_DIR_READ : 0) |
			    (df ? PVK_IOREQ_F_DF : 0);
		break;
	default:
		return 0;
	}
	post(v, &req, r.rip);
	if (in.kind == PVK_X86_PIO_IN || in.kind == PVK_X86_MMIO_READ)
		pvk_x86_complete_read(&in, &r, req.data);
retire:
	pvk_x86_retire(&in, &r, n);
	for (k = 0; k < 16; k++)
		gr[greg_of[k]] = (greg_t)r.gpr[k];
	gr[REG_RIP] = (greg_t)r.rip;
	return 1;
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	struct sigaction p;
	int saved = errno;

	if (cur && emulate(cur, si, uc)) {
		errno = saved;
		return;
	}
	/* Not ours: whoever was there before, else the default action. */
	p = prev_segv;
	if (p.sa_handler == SIG_DFL || p.sa_handler == SIG_IGN) {
		signal(sig, SIG_DFL);
		raise(sig);
	} else if (p.sa_flags & SA_SIGINFO) {
		p.sa_sigaction(sig, si, uc);
	} else {
		p.sa_handler(sig);
	}
	errno = saved;
}

static int install(void)
{
	struct sigaction sa, old;
	int ret = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	pthread_mutex_lock(&lock);
	if (sigaction(SIGSEGV, NULL, &old) < 0)
		ret = -errno;
	else if (!(old.sa_flags & SA_SIGINFO) || old.sa_sigaction != on_segv) {
		if (sigaction(SIGSEGV, &sa, &old) < 0)
			ret = -errno;
		else
			prev_segv = old;
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

int pvk_trap_vcpu_enter(struct pvk_hv *hv, unsigned int vcpu)
{
	struct vcpu *v;
	stack_t ss;
	void *ram;
	int ret;

	if (cur)
		return -EBUSY;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	ret = pvk_dm_guest_memory(hv, &ram, &v->ram_size);
	if (ret < 0)
		goto free_vcpu;
	v->ram = (uintptr_t)ram;
	v->hv = hv;
	v->id = vcpu;
	v->stack = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (v->stack == MAP_FAILED) {
		ret = -errno;
		goto free_vcpu;
	}
	ss = (stack_t){ .ss_sp = v->stack, .ss_size = ALTSTACK_SIZE };
	if (sigaltstack(&ss, &v->old_ss) < 0) {
		ret = -errno;
		goto unmap_stack;
	}
	cur = v;
	ret = install();
	if (ret < 0)
		goto restore_stack;
	return 0;

restore_stack:
	cur = NULL;
	sigaltstack(&v->old_ss, NULL);
unmap_stack:
	munmap(v->stack, ALTSTACK_SIZE);
free_vcpu:
	free(v);
	return ret;
}

void pvk_trap_vcpu_leave(void)
{
	struct vcpu *v = cur;

	if (!v)
		return;
	cur = NULL;
	sigaltstack(&v->old_ss, NULL);
	munmap(v->stack, ALTSTACK_SIZE);
	free(v);
}

uint64_t pvk_trap_count(void)
{
	return cur ? cur->traps : 0;
}

/* --- pvkit/gio.h on it --- */

struct trap_gio {
	struct pvk_gio g;
	bool entered;
	unsigned int nwin;
	struct {
		uint64_t gpa;
		uint8_t *va;
	} win[MAX_WINS];
};

static void gio_fail(struct pvk_gio *g, int err)
{
	if (!g->err)
		g->err = err;
}

/* The va standing for MMIO @gpa..+@size, its window mapped on first use. */
static volatile void *mmio_va(struct trap_gio *t, uint64_t gpa,
			      unsigned int size)
{
	uint64_t base = gpa & ~(WIN - 1);
	void *va;

	if (((gpa + size - 1) & ~(WIN - 1)) != base || base + WIN < base) {
		gio_fail(&t->g, -EINVAL);
		return NULL;
	}
	for (unsigned int i = 0; i < t->nwin; i++)
		if (t->win[i].gpa == base)
			return t->win[i].va + (gpa - base);
	if (t->nwin == MAX_WINS) {
		gio_fail(&t->g, -ENOSPC);
		return NULL;
	}
	if (pvk_trap_mmio_map(base, WIN, &va) < 0) {
		gio_fail(&t->g, -ENOMEM);
		return NULL;
	}
	t->win[t->nwin].gpa = base;
	t->win[t->nwin++].va = va;
	return (uint8_t *)va + (gpa - base);
}

static uint64_t port_in(uint16_t port, unsigned int size)
{
	uint8_t b;
	uint16_t w;
	uint32_t l;

	switch (size) {
	case 1:
		asm volatile("inb %w1, %0" : "=a"(b) : "Nd"(port));
		return b;
	case 2:
		asm volatile("inw %w1, %0" : "=a"(w) : "Nd"(port));
		return w;
	default:
		asm volatile("inl %w1, %0" : "=a"(l) : "Nd"(port));
		return l;
	}
}

static void port_out(uint16_t port, unsigned int size, uint64_t val)
{
	switch (size) {
	case 1:
		asm volatile("outb %b0, %w1" ::"a"((uint8_t)val), "Nd"(port));
		break;
	case 2:
		asm volatile("outw %w0, %w1" ::"a"((uint16_t)val), "Nd"(port));
		break;
	default:
		asm volatile("outl %0, %w1" ::"a"((uint32_t)val), "Nd"(port));
		break;
	}
}

static bool size_ok(enum pvk_dm_space space, unsigned int size)
{
	return size == 1 || size == 2 || size == 4 ||
	       (size == 8 && space == PVK_DM_MMIO);
}

static uint64_t trap_read(struct pvk_gio *g, enum pvk_dm_space space,
			  uint64_t addr, unsigned int size)
{
	struct trap_gio *t = (struct trap_gio *)g;
	uint64_t before = pvk_trap_count(), v;
	volatile void *p;

	if (!size_ok(space, size) || (space == PVK_DM_PORT && addr > 0xffff)) {
		gio_fail(g, -EINVAL);
		return pvk_ioreq_size_mask(size);
	}
	if (space == PVK_DM_PORT) {
		v = port_in((uint16_t)addr, size);
	} else {
		p = mmio_va(t, addr, size);
		if (!p)
			return pvk_ioreq_size_mask(size);
		switch (size) {
		case 1:
			v = *(volatile uint8_t *)p;
			break;
		case 2:
			v = *(volatile uint16_t *)p;
			break;
		case 4:
			v = *(volatile uint32_t *)p;
			break;
		default:
			v = *(volatile uint64_t *)p;
			break;
		}
	}
	g->traps += pvk_trap_count() - before;
	return v;
}

static void trap_write(struct pvk_gio *g, enum pvk_dm_space space,
		       uint64_t addr, unsigned int size, uint64_t val)
{
	struct trap_gio *t = (struct trap_gio *)g;
	uint64_t before = pvk_trap_count();
	volatile void *p;

	if (!size_ok(space, size) || (space == PVK_DM_PORT && addr > 0xffff)) {
		gio_fail(g, -EINVAL);
		return;
	}
	if (space == PVK_DM_PORT) {
		port_out((uint16_t)addr, size, val);
	} else {
		p = mmio_va(t, addr, size);
		if (!p)
			return;
		switch (size) {
		case 1:
			*(volatile uint8_t *)p = (uint8_t)val;
			break;
		case 2:
			*(volatile uint16_t *)p = (uint16_t)val;
			break;
		case 4:
			*(volatile uint32_t *)p = (uint32_t)val;
			break;
		default:
			*(volatile uint64_t *)p = val;
			break;
		}
	}
	g->traps += pvk_trap_count() - before;
}

static int trap_rep(struct pvk_gio *g, uint16_t port, unsigned int size,
		    uint32_t count, uint64_t gpa, bool in)
{
	uint64_t before = pvk_trap_count(), cnt = count;
	uintptr_t p;

	if (size != 1 && size != 2 && size != 4)
		return -EINVAL;
	if (gpa > g->ram_size || (uint64_t)count * size > g->ram_size - gpa)
		return -EFAULT;
	p = (uintptr_t)g->ram + gpa;
	if (in && size == 1)
		asm volatile("rep insb"
			     : "+D"(p), "+c"(cnt)
			     : "d"(port)
			     : "memory");
	else if (in && size == 2)
		asm volatile("rep insw"
			     : "+D"(p), "+c"(cnt)
			     : "d"(port)
			     : "memory");
	else if (in)
		asm volatile("rep insl"
			     : "+D"(p), "+c"(cnt)
			     : "d"(port)
			     : "memory");
	else if (size == 1)
		asm volatile("rep outsb"
			     : "+S"(p), "+c"(cnt)
			     : "d"(port)
			     : "memory");
	else if (size == 2)
		asm volatile("rep outsw"
			     : "+S"(p), "+c"(cnt)
			     : "d"(port)
			     : "memory");
	else
		asm volatile("rep outsl"
			     : "+S"(p), "+c"(cnt)
			     : "d"(port)
			     : "memory");
	g->traps += pvk_trap_count() - before;
	return 0;
}

static void trap_close(struct pvk_gio *g)
{
	struct trap_gio *t = (struct trap_gio *)g;

	for (unsigned int i = 0; i < t->nwin; i++)
		pvk_trap_mmio_unmap(t->win[i].va);
	if (t->entered)
		pvk_trap_vcpu_leave();
	free(t);
}

static const struct pvk_gio_ops trap_ops = {
	.read = trap_read,
	.write = trap_write,
	.rep = trap_rep,
	.close = trap_close,
};

int pvk_gio_open_trap(struct pvk_gio **out, struct pvk_hv *hv,
		      unsigned int vcpu)
{
	struct trap_gio *t;
	bool was = cur;
	int ret;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (cur && (cur->hv != hv || cur->id != vcpu)) {
		ret = -EBUSY;
		goto free_gio;
	}
	ret = was ? install() : pvk_trap_vcpu_enter(hv, vcpu);
	if (ret < 0)
		goto free_gio;
	t->entered = !was;
	ret = pvk_dm_guest_irq_fd(hv);
	if (ret < 0)
		goto leave;
	t->g.irq_fd = ret;
	t->g.ram = (uint8_t *)cur->ram;
	t->g.ram_size = cur->ram_size;
	t->g.ops = &trap_ops;
	t->g.hv = hv;
	t->g.vcpu = vcpu;
	*out = &t->g;
	return 0;

leave:
	if (t->entered)
		pvk_trap_vcpu_leave();
free_gio:
	free(t);
	return ret;
}
