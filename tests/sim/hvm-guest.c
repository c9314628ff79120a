// SPDX-License-Identifier: MIT
/*
 * hvm-guest: the programs tests/sim/hvm.sh runs in an HVM domain of the
 * simulator (`pvkit domain create --hvm`), against pvkit-dm in domain 0.
 * This thread becomes vCPU 0 (pvkit/hvm_trap.h): its in/out instructions
 * trap and go to the device model in the other process.
 *
 *   hvm-guest ide DIR       the IDE guest driver over real traps: writes
 *                           (PIO, DMA), reads back, compares; the trap
 *                           counts must be test-trap's on loop, and the
 *                           direct backend's; DIR/pio.bin and DIR/dma.bin
 *                           get what was written (the host compares them
 *                           with the image)
 *   hvm-guest bench DIR N   N trapped `in`s of the IDE status port: ns each
 *   hvm-guest bench-loop N  the same on the loop hypervisor, in-process
 *   hvm-guest spin DIR      reads the IDE status until it reads all-ones
 *                           (the device model gone): DIR/spinning once it
 *                           reads a real one
 *   hvm-guest hold DIR      one access, DIR/held, then sleeps
 *   hvm-guest timeout DIR   an access to a stopped device model times
 *                           out (DIR/ready, DIR/stopped, DIR/timedout,
 *                           DIR/resumed pace it); the next completes
 *   hvm-guest eperm         a guest may not create ioreq servers (EPERM)
 *   hvm-guest vcpus DIR N   two threads, vCPUs 0 and 1, each N times: its
 *                           own IDE register and (if the e1000 answers) its
 *                           own e1000 register written and read back, the
 *                           IDE status read; every answer its own, the
 *                           trap counts exact per vCPU
 *   hvm-guest net DIR N     the e1000 guest driver over MMIO traps (BAR
 *                           0xfebc0000, IRQ 11, MAC 52:54:00:06:00:01):
 *                           N frames out (one trap each), N frames in one
 *                           at a time (each acknowledged by a frame out;
 *                           every other one sent late, so the guest sleeps
 *                           until the interrupt line wakes it), a burst of 24
 *                           (found in RAM) and a 5000-byte frame each way
 *   hvm-guest wire DIR IF N the other end (not in a domain): a packet
 *                           socket on the TAP IF checks what `net` sends
 *                           and sends what it expects (after DIR/wire-go)
 *
 * Without arguments: bench-loop 20000 (what the test runner runs).
 * Every mode with a DIR first waits for DIR/go, which the test creates
 * once pvkit-dm serves.  Exit 0: as expected.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sys/socket.h>

#include <pvkit/dm_ide.h>
#include <pvkit/dmodel.h>
#include <pvkit/e1000_guest.h>
#include <pvkit/e1000_regs.h>
#include <pvkit/gio.h>
#include <pvkit/hv.h>
#include <pvkit/hvm_trap.h>
#include <pvkit/ide_guest.h>

#include "../common/t_dmodel.h"

#define BM 0xc000
#define PRD_PAGE 0x1000ull
#define BUF_A 0x100000ull
#define BUF_B 0x400000ull
#define BUF_C 0x81fe00ull
#define STATUS (PVK_IDE_CMD_BASE + PVK_ATA_STATUS)
/* pvkit-dm's e1000 (tests/sim/hvm-net.sh gives it NET_MAC). */
#define NIC_MMIO 0xfebc0000ull
#define NIC_IRQ 11
#define NIC_MEM 0x100000ull /* the driver's rings and buffers */
#define ETHERTYPE 0x88b5 /* IEEE local experimental */
#define BURST 24
#define BIG 5000

static const uint8_t NET_MAC[6] = { 0x52, 0x54, 0x00, 0x06, 0x00, 0x01 };
static const uint8_t WIRE_MAC[6] = { 0x02, 0x00, 0x00, 0x06, 0x00, 0x02 };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("hvm-guest: FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	exit(1);
}

static void touch(const char *dir, const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	close(fd);
}

static void wait_go(const char *dir)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/go", dir);
	for (int i = 0; i < 6000; i++) {
		if (access(path, F_OK) == 0)
			return;
		usleep(10000);
	}
	die("%s did not appear within 60 s", path);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void fill(uint8_t *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + seed + (i >> 9));
}

static void save(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die("%s: cannot write", path);
}

/* test-trap's IDE sequence; each step's trap count into @traps. */
static void ide_ops(struct pvk_gio *g, uint8_t *ram, unsigned int seed,
		    uint64_t traps[7])
{
	struct pvk_ideg d;
	uint64_t t;
	int k = 0, rc;

#define STEP(call)                                                    \
	do {                                                          \
		t = g->traps;                                         \
		rc = (call);                                          \
		if (rc != 0)                                          \
			die("%s: %d (%s)", #call, rc, strerror(-rc)); \
		traps[k++] = g->traps - t;                            \
	} while (0)
	memset(&d, 0, sizeof(d));
	STEP(pvk_ideg_probe(&d, g, BM, PRD_PAGE));
	fill(ram + BUF_A, 37 * 512, seed);
	STEP(pvk_ideg_write_pio(&d, 100, 37, BUF_A));
	memset(ram + BUF_B, 0, 37 * 512);
	STEP(pvk_ideg_read_dma(&d, 100, 37, BUF_B));
	if (memcmp(ram + BUF_B, ram + BUF_A, 37 * 512))
		die("DMA read of LBA 100 differs from the PIO write");
	fill(ram + BUF_C, 300 * 512, seed + 1);
	STEP(pvk_ideg_write_dma(&d, 1000, 300, BUF_C));
	memset(ram + BUF_A, 0, 300 * 512);
	STEP(pvk_ideg_read_pio(&d, 1000, 300, BUF_A));
	if (memcmp(ram + BUF_A, ram + BUF_C, 300 * 512))
		die("PIO read of LBA 1000 differs from the DMA write");
	STEP(pvk_ideg_read_pio(&d, 8, 8, BUF_A));
	STEP(pvk_ideg_flush(&d));
	if (g->err)
		die("gio error %d", g->err);
#undef STEP
}

static struct pvk_hv *open_guest(void)
{
	struct pvk_hv *hv;
	int rc = pvk_hv_open(&hv, 0);

	if (rc < 0)
		die("pvk_hv_open: %s", strerror(-rc));
	return hv;
}

static struct pvk_gio *trap_gio(struct pvk_hv *hv)
{
	struct pvk_gio *g;
	int rc = pvk_gio_open_trap(&g, hv, 0);

	if (rc < 0)
		die("pvk_gio_open_trap: %s", strerror(-rc));
	return g;
}

static int mode_ide(const char *dir)
{
	/* test-trap's counts on loop, step by step. */
	static const uint64_t loop[7] = { 8, 81, 12, 15, 611, 23, 3 };
	uint64_t direct[7], trap[7], t0;
	struct pvk_gio *g, *dg;
	struct pvk_hv *hv;
	int rc;

	wait_go(dir);
	hv = open_guest();
	g = trap_gio(hv);
	rc = pvk_gio_open(&dg, hv, 0);
	if (rc < 0)
		die("pvk_gio_open: %s", strerror(-rc));
	ide_ops(dg, g->ram, 1, direct);
	t0 = pvk_trap_count();
	ide_ops(g, g->ram, 7, trap);
	/* What the host finds in the image: the last writes. */
	fill(g->ram + BUF_A, 37 * 512, 7);
	save(dir, "pio.bin", g->ram + BUF_A, 37 * 512);
	save(dir, "dma.bin", g->ram + BUF_C, 300 * 512);
	for (int i = 0; i < 7; i++) {
		printf("hvm-guest: op %d: traps %llu (direct %llu, loop %llu)\n",
		       i, (unsigned long long)trap[i],
		       (unsigned long long)direct[i],
		       (unsigned long long)loop[i]);
		if (trap[i] != loop[i] || direct[i] != loop[i])
			die("op %d: trap counts differ from loop's", i);
	}
	if (pvk_trap_count() - t0 != 8 + 81 + 12 + 15 + 611 + 23 + 3)
		die("%llu real traps, not as many as counted",
		    (unsigned long long)(pvk_trap_count() - t0));
	pvk_gio_close(dg);
	pvk_gio_close(g);
	pvk_hv_close(hv);
	printf("hvm-guest: ide ok\n");
	return 0;
}

static void bench(struct pvk_gio *g, unsigned long n, const char *where)
{
	double t0, t1;
	uint64_t tr;
	uint8_t st;

	/* The trap alone: a port nobody claims answers at once. */
	t0 = now_ns();
	for (unsigned long i = 0; i < n; i++)
		if (pvk_inb(g, 0x80) != 0xff)
			die("port 0x80 is claimed");
	t1 = now_ns();
	printf("hvm-guest: %s: %lu trapped in of an unclaimed port: %.0f "
	       "ns/access\n",
	       where, n, (t1 - t0) / (double)n);
	tr = g->traps;

	for (int i = 0; i < 1000; i++) /* warm */
		pvk_inb(g, STATUS);
	t0 = now_ns();
	for (unsigned long i = 0; i < n; i++) {
		st = pvk_inb(g, STATUS);
		if (st == 0xff)
			die("status read all-ones: no device model");
	}
	t1 = now_ns();
	printf("hvm-guest: %s: %lu trapped in: %.0f ns/access (%llu traps)\n",
	       where, n, (t1 - t0) / (double)n,
	       (unsigned long long)(g->traps - tr - 1000));
}

static int mode_bench(const char *dir, unsigned long n)
{
	struct pvk_hv *hv;
	struct pvk_gio *g;

	wait_go(dir);
	hv = open_guest();
	g = trap_gio(hv);
	bench(g, n, "sim");
	pvk_gio_close(g);
	pvk_hv_close(hv);
	return 0;
}

/* The same accesses on loop: guest and device model in this process. */
static int mode_bench_loop(unsigned long n)
{
	struct pvk_ide_config cfg = { .bm_base = BM };
	struct pvk_hv *hv0, *ghv;
	struct t_dmthread dmt;
	struct pvk_dmodel *dm;
	struct pvk_loop *loop;
	struct pvk_ide *ide;
	struct pvk_gio *g;
	const char *dir = getenv("TMPDIR");
	char img[4096];
	uint32_t guest;
	int fd;

	snprintf(img, sizeof(img), "%s/pvk-hvmguest-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(img);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		die("image: %s", strerror(errno));
	cfg.path = img;
	if (pvk_loop_create(&loop) < 0 || pvk_hv_open_loop(&hv0, loop, 0) < 0 ||
	    pvk_loop_domain_create(loop, "hvm", &guest) < 0 ||
	    pvk_hv_open_loop(&ghv, loop, guest) < 0 ||
	    pvk_dmodel_create(&dm, hv0, guest) < 0 ||
	    pvk_ide_create(&ide, dm, &cfg) < 0 || pvk_ide_attach(ide) < 0 ||
	    pvk_dmodel_enable(dm) < 0 || t_dmthread_start(&dmt, dm) < 0)
		die("loop set-up");
	unlink(img);
	close(fd);
	g = trap_gio(ghv);
	bench(g, n, "loop");
	pvk_gio_close(g);
	t_dmthread_stop(&dmt);
	pvk_dmodel_destroy(dm);
	pvk_ide_destroy(ide);
	pvk_hv_close(ghv);
	pvk_hv_close(hv0);
	pvk_loop_destroy(loop);
	return 0;
}

static int mode_spin(const char *dir)
{
	struct pvk_hv *hv;
	struct pvk_gio *g;
	unsigned long n = 0;
	double t0;

	wait_go(dir);
	hv = open_guest();
	g = trap_gio(hv);
	if (pvk_inb(g, STATUS) == 0xff)
		die("status all-ones before the device model went");
	touch(dir, "spinning");
	t0 = now_ns();
	while (pvk_inb(g, STATUS) != 0xff) {
		if (++n % 1024 == 0 && now_ns() - t0 > 60e9)
			die("still served after 60 s");
	}
	/* Gone for good: no server claims the port any more. */
	if (pvk_inb(g, STATUS) != 0xff ||
	    pvk_inw(g, PVK_IDE_CMD_BASE) != 0xffff)
		die("a read after the device model went is not all-ones");
	printf("hvm-guest: all-ones after %lu reads\n", n);
	pvk_gio_close(g);
	pvk_hv_close(hv);
	return 0;
}

static int __attribute__((noreturn)) mode_hold(const char *dir)
{
	struct pvk_hv *hv;
	struct pvk_gio *g;

	wait_go(dir);
	hv = open_guest();
	g = trap_gio(hv);
	if (pvk_inb(g, STATUS) == 0xff)
		die("status all-ones: not served");
	touch(dir, "held");
	for (;;)
		pause();
}

static void wait_file(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (int i = 0; i < 6000; i++) {
		if (access(path, F_OK) == 0)
			return;
		usleep(10000);
	}
	die("%s did not appear within 60 s", path);
}

/* A device model stopped (SIGSTOP) times an access out; resumed, the
 * next access waits for that one's answer first, then gets its own. */
static int mode_timeout(const char *dir)
{
	struct pvk_ioreq r = { .addr = STATUS,
			       .size = 1,
			       .count = 1,
			       .type = PVK_IOREQ_TYPE_PIO,
			       .flags = PVK_IOREQ_F_DIR_READ };
	struct pvk_ioreq r2 = r;
	struct pvk_hv *hv;
	int rc;

	wait_go(dir);
	hv = open_guest();
	rc = pvk_dm_guest_io(hv, 0, &r, 5000);
	if (rc != 0 || r.data == 0xff)
		die("first access: %d, 0x%llx", rc, (unsigned long long)r.data);
	touch(dir, "ready");
	wait_file(dir, "stopped");
	rc = pvk_dm_guest_io(hv, 0, &r, 300);
	if (rc != -ETIMEDOUT)
		die("an access to a stopped device model: %d, not -ETIMEDOUT",
		    rc);
	touch(dir, "timedout");
	wait_file(dir, "resumed");
	rc = pvk_dm_guest_io(hv, 0, &r2, 5000);
	if (rc != 0 || r2.data == 0xff)
		die("after the time-out: %d, 0x%llx", rc,
		    (unsigned long long)r2.data);
	pvk_hv_close(hv);
	printf("hvm-guest: timeout ok\n");
	return 0;
}

static int mode_eperm(void)
{
	struct pvk_hv *hv = open_guest();
	uint32_t self = pvk_hv_domid(hv);
	uint64_t gfn = 0;
	pvk_ioservid_t id;
	void *p;
	int rc;

	rc = pvk_dm_server_create(hv, self, 0, &id);
	if (rc != -EPERM)
		die("a guest's pvk_dm_server_create: %d, not -EPERM", rc);
	rc = pvk_dm_foreign_map(hv, self, &gfn, 1, true, &p);
	if (rc != -EPERM)
		die("a guest's pvk_dm_foreign_map: %d, not -EPERM", rc);
	rc = pvk_dm_set_isa_irq(hv, self, 1, 1);
	if (rc != -EPERM)
		die("a guest's pvk_dm_set_isa_irq: %d, not -EPERM", rc);
	pvk_hv_close(hv);
	printf("hvm-guest: eperm ok\n");
	return 0;
}

/* --- two vCPUs at once ---------------------------------------------------- */

struct vc {
	struct pvk_hv *hv;
	unsigned int id;
	unsigned long n;
	bool nic;
	pthread_barrier_t *bar;
	uint64_t traps, real;
	char err[256];
};

/* vCPU @id's own IDE register and e1000 register, written and read back;
 * an answer meant for the other vCPU would differ. */
static void *vcpu_main(void *arg)
{
	struct vc *c = arg;
	uint16_t port =
		PVK_IDE_CMD_BASE + (c->id ? PVK_ATA_LBA_MID : PVK_ATA_LBA_LOW);
	uint64_t reg = NIC_MMIO + (c->id ? PVK_E1000_TDBAL : PVK_E1000_RDBAL);
	struct pvk_gio *g;
	uint32_t w, rw;
	uint8_t b, rb, st;
	int rc;

	rc = pvk_gio_open_trap(&g, c->hv, c->id);
	pthread_barrier_wait(c->bar);
	if (rc < 0) {
		snprintf(c->err, sizeof(c->err), "pvk_gio_open_trap: %s",
			 strerror(-rc));
		return NULL;
	}
	for (unsigned long i = 0; i < c->n && !c->err[0]; i++) {
		b = (uint8_t)(i * 7 + c->id * 101);
		w = (c->id + 1u) << 28 | (uint32_t)(i << 4 & 0x0ffffff0);
		pvk_outb(g, port, b);
		if (c->nic)
			pvk_mmio_write32(g, reg, w);
		st = pvk_inb(g, STATUS);
		rb = pvk_inb(g, port);
		rw = c->nic ? pvk_mmio_read32(g, reg) : w;
		if (st == 0xff || (st & PVK_ATA_ST_BSY))
			snprintf(c->err, sizeof(c->err),
				 "vCPU %u: access %lu: IDE status 0x%x", c->id,
				 i, st);
		else if (rb != b || rw != w)
			snprintf(c->err, sizeof(c->err),
				 "vCPU %u: access %lu: read 0x%x/0x%x, wrote "
				 "0x%x/0x%x",
				 c->id, i, rb, rw, b, w);
	}
	c->traps = g->traps;
	c->real = pvk_trap_count();
	if (g->err && !c->err[0])
		snprintf(c->err, sizeof(c->err), "vCPU %u: gio error %d", c->id,
			 g->err);
	pvk_gio_close(g);
	return NULL;
}

static int mode_vcpus(const char *dir, unsigned long n, bool nic)
{
	pthread_barrier_t bar;
	struct vc c[2];
	pthread_t t[2];
	uint64_t per = nic ? 5 : 3, total = 0;
	struct pvk_hv *hv;
	double t0, t1;

	wait_go(dir);
	hv = open_guest();
	pthread_barrier_init(&bar, NULL, 3);
	for (unsigned int k = 0; k < 2; k++) {
		c[k] = (struct vc){
			.hv = hv, .id = k, .n = n, .nic = nic, .bar = &bar
		};
		if (pthread_create(&t[k], NULL, vcpu_main, &c[k]))
			die("pthread_create");
	}
	pthread_barrier_wait(&bar);
	t0 = now_ns();
	for (unsigned int k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
	t1 = now_ns();
	pthread_barrier_destroy(&bar);
	for (unsigned int k = 0; k < 2; k++) {
		if (c[k].err[0])
			die("%s", c[k].err);
		printf("hvm-guest: vCPU %u: %llu traps (%llu taken)\n", k,
		       (unsigned long long)c[k].traps,
		       (unsigned long long)c[k].real);
		if (c[k].traps != n * per || c[k].real != n * per)
			die("vCPU %u: %llu traps counted, %llu taken, not %llu",
			    k, (unsigned long long)c[k].traps,
			    (unsigned long long)c[k].real,
			    (unsigned long long)(n * per));
		total += c[k].traps;
	}
	printf("hvm-guest: vcpus ok: 2 vCPUs, %llu accesses (%s), %.0f ns "
	       "per access\n",
	       (unsigned long long)total, nic ? "IDE and e1000" : "IDE",
	       (t1 - t0) / (double)total * 2);
	pvk_hv_close(hv);
	return 0;
}

/* --- the e1000 over MMIO traps, and its wire ------------------------------ */

/* Frame @seed: its id in bytes 14..17, then a pattern. */
static size_t make_frame(uint8_t *f, const uint8_t *dst, const uint8_t *src,
			 size_t len, uint32_t seed)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETHERTYPE >> 8;
	f[13] = ETHERTYPE & 0xff;
	for (int i = 0; i < 4; i++)
		f[14 + i] = (uint8_t)(seed >> (24 - 8 * i));
	for (size_t i = 18; i < len; i++)
		f[i] = (uint8_t)(seed * 13 + i * 7 + (i >> 8));
	return len;
}

static size_t tx_len(unsigned long i)
{
	return 60 + (i * 37) % 1400;
}

static size_t rx_len(unsigned long i)
{
	return 60 + (i * 53) % 1400;
}

/* The next frame of ours (others -- none expected -- are counted and
 * dropped); its bytes must be @want's. */
static void net_expect(struct pvk_e1000g *d, const uint8_t *want, size_t len,
		       unsigned long *others)
{
	uint8_t got[PVK_E1000G_FRAME_MAX];
	int rc;

	for (;;) {
		rc = pvk_e1000g_recv(d, got, sizeof(got), 5000);
		if (rc < 0)
			die("recv: %d (%s)", rc, strerror(-rc));
		if (rc < 14 || got[12] << 8 != (ETHERTYPE & 0xff00) ||
		    got[13] != (ETHERTYPE & 0xff)) {
			++*others;
			continue;
		}
		if ((size_t)rc != len || memcmp(got, want, len))
			die("received %d bytes (id 0x%02x%02x%02x%02x), not "
			    "frame 0x%02x%02x%02x%02x of %zu as sent",
			    rc, got[14], got[15], got[16], got[17], want[14],
			    want[15], want[16], want[17], len);
		return;
	}
}

static void net_send(struct pvk_e1000g *d, const uint8_t *f, size_t len)
{
	int rc = pvk_e1000g_send(d, f, len);

	if (rc != 0)
		die("send of %zu bytes: %d (%s)", len, rc, strerror(-rc));
}

static int mode_net(const char *dir, unsigned long n)
{
	uint8_t f[PVK_E1000G_FRAME_MAX], m[6];
	struct pvk_e1000g_stats st;
	unsigned long others = 0;
	uint64_t t, open_traps, rx_traps = 0, burst_traps;
	uint32_t gprc = 0;
	struct pvk_e1000g *d;
	struct pvk_gio *g;
	struct pvk_hv *hv;
	double t0, t1;
	int rc;

	wait_go(dir);
	hv = open_guest();
	g = trap_gio(hv);
	rc = pvk_e1000g_open(&d, g, NIC_MMIO, NIC_MEM, NIC_IRQ);
	if (rc < 0)
		die("pvk_e1000g_open: %d (%s)", rc, strerror(-rc));
	/* Reset, 64 EEPROM words (a write and a read each), the rings: as
	 * test-e1000 counts on loop. */
	open_traps = g->traps;
	if (open_traps != 151)
		die("pvk_e1000g_open took %llu traps, not 151 as on loop",
		    (unsigned long long)open_traps);
	pvk_e1000g_mac(d, m);
	if (memcmp(m, NET_MAC, 6))
		die("MAC from the EEPROM %02x:%02x:%02x:%02x:%02x:%02x", m[0],
		    m[1], m[2], m[3], m[4], m[5]);

	/* Out: one trap (TDT) per frame, as test-e1000. */
	t = g->traps;
	for (unsigned long i = 0; i < n; i++)
		net_send(d, f, make_frame(f, BCAST, NET_MAC, tx_len(i), i));
	if (g->traps - t != n)
		die("%lu frames sent with %llu traps, not one each", n,
		    (unsigned long long)(g->traps - t));
	t = g->traps;
	net_send(d, f, make_frame(f, BCAST, NET_MAC, BIG, 0x10000));
	if (g->traps - t != 1)
		die("a %d-byte frame sent with %llu traps, not 1", BIG,
		    (unsigned long long)(g->traps - t));

	/* In, one at a time: the wire sends the next once we answer. */
	t0 = now_ns();
	for (unsigned long i = 0; i < n; i++) {
		uint8_t want[1500];

		make_frame(want, NET_MAC, WIRE_MAC, rx_len(i), 0x20000 + i);
		t = g->traps;
		net_expect(d, want, rx_len(i), &others);
		rx_traps += g->traps - t;
		t = g->traps;
		net_send(d, f, make_frame(f, BCAST, NET_MAC, 60, 0x30000 + i));
		if (g->traps - t != 1)
			die("an answer sent with %llu traps",
			    (unsigned long long)(g->traps - t));
	}
	t1 = now_ns();
	pvk_e1000g_stats(d, &st);
	if (rx_traps > 3 * n)
		die("%lu frames received with %llu traps, more than 3 each", n,
		    (unsigned long long)rx_traps);
	if (st.waits < n / 4 || !(st.icr & PVK_E1000_ICR_RXT0))
		die("never woken by the interrupt line (waits %llu, ICR "
		    "0x%x)",
		    (unsigned long long)st.waits, st.icr);

	/* A burst, already in the ring when we look. */
	(void)pvk_e1000g_recv(d, f, sizeof(f), 0); /* RDT given back */
	(void)pvk_mmio_read32(g, NIC_MMIO + PVK_E1000_GPRC); /* cleared */
	net_send(d, f, make_frame(f, BCAST, NET_MAC, 60, 0x40000));
	for (int k = 0; gprc < BURST + 1; k++) {
		if (k == 5000)
			die("%u of %d frames arrived within 5 s", gprc,
			    BURST + 1);
		usleep(1000);
		gprc += pvk_mmio_read32(g, NIC_MMIO + PVK_E1000_GPRC);
	}
	t = g->traps;
	for (unsigned int i = 0; i < BURST; i++) {
		uint8_t want[300];

		make_frame(want, NET_MAC, WIRE_MAC, 200 + i, 0x50000 + i);
		net_expect(d, want, 200 + i, &others);
	}
	burst_traps = g->traps - t;
	if (burst_traps > BURST / PVK_E1000G_RX_BATCH + 1)
		die("a burst of %d received with %llu traps", BURST,
		    (unsigned long long)burst_traps);
	make_frame(f, NET_MAC, WIRE_MAC, BIG, 0x60000);
	net_expect(d, f, BIG, &others);

	pvk_e1000g_stats(d, &st);
	if (st.rx_errors || others || st.rx_frames != n + BURST + 1 ||
	    st.tx_frames != 2 * n + 2)
		die("stats: rx %llu, tx %llu, errors %llu, others %lu",
		    (unsigned long long)st.rx_frames,
		    (unsigned long long)st.tx_frames,
		    (unsigned long long)st.rx_errors, others);
	printf("hvm-guest: net: open %llu traps; %lu frames out, 1 trap "
	       "each; %lu in one at a time: %.2f traps and %.0f us each "
	       "(slept on the line %llu times); a burst of %d: %llu traps; "
	       "%d bytes each way\n",
	       (unsigned long long)open_traps, n, n, (double)rx_traps / n,
	       (t1 - t0) / 1e3 / n, (unsigned long long)st.waits, BURST,
	       (unsigned long long)burst_traps, BIG);
	t = pvk_trap_count();
	pvk_e1000g_close(d);
	pvk_gio_close(g);
	pvk_hv_close(hv);
	printf("hvm-guest: net ok (%llu traps)\n", (unsigned long long)t);
	return 0;
}

static int wire_socket(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETHERTYPE) };
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETHERTYPE));
	int rcvbuf = 8 << 20;

	if (s < 0)
		die("packet socket: %s", strerror(errno));
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex)
		die("no interface %s here", ifname);
	if (bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		die("bind to %s: %s", ifname, strerror(errno));
	/* The guest sends 200 frames back to back; a wire process that a
	 * loaded machine keeps off the CPU must not lose any to a full
	 * socket buffer. */
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) <
	    0)
		die("SO_RCVBUFFORCE: %s", strerror(errno));
	return s;
}

/* The next frame the guest sent, which must be @want. */
static void wire_expect(int s, const uint8_t *want, size_t len)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	uint8_t got[PVK_E1000G_FRAME_MAX];
	struct sockaddr_ll sll;
	socklen_t sl;
	ssize_t n;

	for (;;) {
		if (poll(&p, 1, 5000) != 1) {
			struct {
				unsigned int tp_packets, tp_drops;
			} ps = { 0, 0 }; /* linux/if_packet.h's tpacket_stats */
			socklen_t pl = sizeof(ps);

			(void)getsockopt(s, SOL_PACKET, PACKET_STATISTICS, &ps,
					 &pl);
			die("wire: frame 0x%02x%02x%02x%02x not seen within 5 s "
			    "(%u frames dropped by the socket)",
			    want[14], want[15], want[16], want[17],
			    ps.tp_drops);
		}
		sl = sizeof(sll);
		n = recvfrom(s, got, sizeof(got), 0, (struct sockaddr *)&sll,
			     &sl);
		if (n < 0)
			die("wire: recv: %s", strerror(errno));
		if (sll.sll_pkttype == PACKET_OUTGOING)
			continue; /* ours */
		if ((size_t)n != len || memcmp(got, want, len))
			die("wire: got %zd bytes (id 0x%02x%02x%02x%02x), not "
			    "frame 0x%02x%02x%02x%02x of %zu",
			    n, got[14], got[15], got[16], got[17], want[14],
			    want[15], want[16], want[17], len);
		return;
	}
}

static void wire_send(int s, const uint8_t *f, size_t len)
{
	if (send(s, f, len, 0) != (ssize_t)len)
		die("wire: send of %zu bytes: %s", len, strerror(errno));
}

static int mode_wire(const char *dir, const char *ifname, unsigned long n)
{
	uint8_t f[PVK_E1000G_FRAME_MAX];
	int s;

	wait_file(dir, "wire-go");
	s = wire_socket(ifname);
	touch(dir, "wire-ready");
	for (unsigned long i = 0; i < n; i++)
		wire_expect(s, f, make_frame(f, BCAST, NET_MAC, tx_len(i), i));
	wire_expect(s, f, make_frame(f, BCAST, NET_MAC, BIG, 0x10000));
	printf("hvm-guest: wire: %lu frames and one of %d bytes from the "
	       "guest, as sent\n",
	       n, BIG);
	for (unsigned long i = 0; i < n; i++) {
		/* Every other one late: the guest sleeps on its line. */
		if (i % 2)
			usleep(2000);
		wire_send(s, f,
			  make_frame(f, NET_MAC, WIRE_MAC, rx_len(i),
				     0x20000 + i));
		wire_expect(s, f,
			    make_frame(f, BCAST, NET_MAC, 60, 0x30000 + i));
	}
	wire_expect(s, f, make_frame(f, BCAST, NET_MAC, 60, 0x40000));
	for (unsigned int i = 0; i < BURST; i++)
		wire_send(s, f,
			  make_frame(f, NET_MAC, WIRE_MAC, 200 + i,
				     0x50000 + i));
	wire_send(s, f, make_frame(f, NET_MAC, WIRE_MAC, BIG, 0x60000));
	printf("hvm-guest: wire: %lu frames answered one by one, a burst "
	       "of %d and one of %d bytes sent\n",
	       n, BURST, BIG);
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	const char *arg = argc > 2 ? argv[2] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Alone (as the test runner starts it): the loop's half. */
	if (argc == 1) {
		const char *p = getenv("LD_PRELOAD");

		if (p && strstr(p, "vgpreload"))
			return 77; /* valgrind does not fault in/out */
		return mode_bench_loop(20000);
	}
	if (!strcmp(mode, "ide") && argc == 3)
		return mode_ide(arg);
	if (!strcmp(mode, "bench") && argc == 4)
		return mode_bench(arg, strtoul(argv[3], NULL, 10));
	if (!strcmp(mode, "bench-loop") && argc == 3)
		return mode_bench_loop(strtoul(arg, NULL, 10));
	if (!strcmp(mode, "spin") && argc == 3)
		return mode_spin(arg);
	if (!strcmp(mode, "hold") && argc == 3)
		return mode_hold(arg);
	if (!strcmp(mode, "timeout") && argc == 3)
		return mode_timeout(arg);
	if (!strcmp(mode, "eperm") && argc == 2)
		return mode_eperm();
	if (!strcmp(mode, "vcpus") && argc == 5)
		return mode_vcpus(arg, strtoul(argv[3], NULL, 10),
				  !strcmp(argv[4], "nic"));
	if (!strcmp(mode, "net") && argc == 4)
		return mode_net(arg, strtoul(argv[3], NULL, 10));
	if (!strcmp(mode, "wire") && argc == 5)
		return mode_wire(arg, argv[3], strtoul(argv[4], NULL, 10));
	fprintf(stderr, "usage: hvm-guest ide|spin|hold|timeout DIR | bench "
			"DIR N | bench-loop N | eperm | vcpus DIR N nic|ide | "
			"net DIR N | wire DIR IFNAME N\n");
	return 2;
}
