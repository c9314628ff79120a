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
 *
 * Without arguments: bench-loop 20000 (what the test runner runs).
 * Every mode with a DIR first waits for DIR/go, which the test creates
 * once pvkit-dm serves.  Exit 0: as expected.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/dm_ide.h>
#include <pvkit/dmodel.h>
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
	fprintf(stderr, "usage: hvm-guest ide|spin|hold|timeout DIR | bench "
			"DIR N | "
			"bench-loop N | eperm\n");
	return 2;
}
