/* SPDX-License-Identifier: MIT */
/*
 * bench/bench-lab.c -- the PV-vs-emulated lab (`make lab`, `pvkit lab`).
 *
 * One image file, driven the same way over five paths, measured in the
 * same run on the same machine:
 *   native    io_uring on the image: the baseline;
 *   pv        blkfront -> blkback (grant pages, a ring, event channels),
 *             event-driven: the frontend sleeps on its event channel;
 *   pv-poll   the same image as a second PV disk whose frontend polls its
 *             ring (pvk_blkfront_opts.poll_us) before it sleeps;
 *   ide-pio   the guest IDE driver (pvkit/ide_guest.h) with real in/out
 *             and rep insw instructions that trap (pvkit/hvm_trap.h) to
 *             the emulated PIIX IDE disk in a device model;
 *   ide-dma   the same driver, bus-master DMA.
 * Workloads: 4 KiB random read and write and 512 B random read at queue
 * depth 1; 4 KiB random read and write at QD32 (native and PV: the IDE
 * disk takes one command at a time); 1 MiB sequential read and write.
 * With --net (sim, set up by bench/lab.sh as root) the NIC too: 64-byte
 * UDP round trips and a one-way stream of 1472-byte datagrams to a peer
 * (bench/lab-echo.c) on a bridge, over the host's own sockets (native),
 * the PV NIC (netfront -> pvkit-backd's netback -> TAP) and an emulated
 * e1000 (pvkit/e1000_guest.h -> pvkit-dm -> TAP); the guest builds its
 * Ethernet/IPv4/UDP frames itself, the peer echoes or counts and checks.
 * Within a workload the paths alternate in rounds and address the same
 * offsets.  Per case: latency percentiles, ops/s and MB/s, CPU per
 * operation on the guest's side and on the serving side (blkback, the
 * device model, io_uring's workers), and counts that do not depend on
 * load: traps (VM exits), ioreqs, event-channel notifications,
 * interrupts.  Every read is checked against the pattern the lab wrote;
 * every write is read back natively and checked.
 *
 * --hv loop: the in-process hypervisor; guest vCPU, device model and
 * blkback are threads of this process.  --hv sim: this process is the
 * guest, in an HVM domain (bench/lab.sh sets it up); pvkit-backd and
 * pvkit-dm serve it from domain 0.
 *
 * Writes to --out DIR (default $PVK_BUILD/lab): lab.json, samples/<case>.txt
 * (one latency in ns per line, in the order measured), bars.dat and
 * REPORT.md; bench/lab.sh draws the plots REPORT.md shows.  The harness
 * file $PVK_BUILD/bench/lab.json has the ratios against native.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <liburing.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/blkback.h>
#include <pvkit/blkfront.h>
#include <pvkit/dm_ide.h>
#include <pvkit/dmodel.h>
#include <pvkit/e1000_guest.h>
#include <pvkit/gio.h>
#include <pvkit/hvm_trap.h>
#include <pvkit/ide_guest.h>
#include <pvkit/netfront.h>

#include "../tests/blk/back_tfront.h"
#include "../tests/common/t_dmodel.h"
#include "bench.h"
#include "lab-net.h"

#define ROUNDS 4u
#define DEF_SAMPLES 20000u
#define QUICK_SAMPLES 400u
#define SEQ_DIV 300u /* 1 MiB workloads: samples / SEQ_DIV, at least 8 */
#define SEQ_MIN 8u
#define SPAN_MIB 64u /* read region */
#define WSPAN (32u << 20) /* after it: the write region */
#define SCRATCH (1u << 20) /* after that: each path's write check */
#define MAXBS (1u << 20)
#define MAXQD 32u
#define CHKBS 4096u
#define BM_BASE 0xc000
#define PRD_GPA 0x1000ull
#define BUF_GPA 0x100000ull
#define DEVID 51712u /* xvda */
#define DEVID_POLL 51728u /* xvdb: the same image, polled */
#define DEF_POLL_US 200u
#define LOW_EMU 10.0 /* "emulation is 10-100x slower than PV" */
#define HIGH_EMU 100.0
#define LOW_PV 0.10 /* "PV I/O overhead is 10-20% over native" */
#define HIGH_PV 0.20

enum path { P_NATIVE, P_PV, P_PVPOLL, P_PIO, P_DMA, P_E1000, NPATH };

static const char *const path_name[NPATH] = { "native",	 "pv",	    "pv-poll",
					      "ide-pio", "ide-dma", "e1000" };
static const char *const path_label[NPATH] = {
	"native io_uring on the image",
	"PV: blkfront -> blkback, event-driven",
	"PV: blkfront -> blkback, the frontend polls",
	"emulated IDE, PIO",
	"emulated IDE, bus-master DMA",
	"emulated e1000 NIC",
};

#define ALLP ((1u << P_E1000) - 1) /* the disk's */
#define NOIDE ((1u << P_NATIVE) | (1u << P_PV) | (1u << P_PVPOLL))
#define NETP ((1u << P_NATIVE) | (1u << P_PV) | (1u << P_E1000))

struct workload {
	const char *name, *what;
	uint32_t bytes;
	bool write, seq;
	unsigned int qd;
	unsigned int paths; /* 1 << enum path */
	bool net, stream; /* NIC: request/response, or one-way stream */
};

enum {
	W_R4K,
	W_W4K,
	W_R512,
	W_R4K32,
	W_W4K32,
	W_SR1M,
	W_SW1M,
	W_RR64,
	W_STREAM,
	NWL
};

#define DISK(n, w, b, wr, sq, q, ps)                                      \
	{                                                                 \
		.name = n, .what = w, .bytes = b, .write = wr, .seq = sq, \
		.qd = q, .paths = ps                                      \
	}
static const struct workload wls[NWL] = {
	DISK("disk.read4k", "4 KiB random read, QD1", 4096, false, false, 1,
	     ALLP),
	DISK("disk.write4k", "4 KiB random write, QD1", 4096, true, false, 1,
	     ALLP),
	DISK("disk.read512", "512 B random read, QD1", 512, false, false, 1,
	     ALLP),
	DISK("disk.read4k-qd32", "4 KiB random read, QD32", 4096, false, false,
	     32, NOIDE),
	DISK("disk.write4k-qd32", "4 KiB random write, QD32", 4096, true, false,
	     32, NOIDE),
	DISK("disk.seqread1m", "1 MiB sequential read, QD1", 1u << 20, false,
	     true, 1, ALLP),
	DISK("disk.seqwrite1m", "1 MiB sequential write, QD1", 1u << 20, true,
	     true, 1, ALLP),
	{ .name = "net.rr64",
	  .what = "64-byte UDP request/response (round trip)",
	  .bytes = 64,
	  .qd = 1,
	  .paths = NETP,
	  .net = true },
	{ .name = "net.stream1472",
	  .what = "UDP stream, 1472-byte datagrams, one way",
	  .bytes = 1472,
	  .write = true,
	  .qd = 1,
	  .paths = NETP,
	  .net = true,
	  .stream = true },
};
#undef DISK

/* Counters that do not depend on load; -1: not available on this path. */
struct ctr {
	int64_t traps, real_traps, ioreqs, notifies, irqs;
};

/* CPU time so far: the guest's side and the serving side, ns. */
struct cpu {
	uint64_t guest, serve;
	bool serve_ok;
};

struct lab_case {
	char name[64];
	const struct workload *wl;
	enum path p;
	bool on; /* the path runs this workload */
	unsigned int want; /* operations planned */
	uint64_t *lat;
	size_t n;
	uint64_t ns; /* QD1: time in the operations; QDn: wall time */
	double load_cpu_s, load_s; /* others' CPU x seconds, seconds */
	struct ctr sum; /* over the measured operations */
	uint64_t cpu_guest, cpu_serve; /* ns, over the measured operations */
	bool cpu_serve_ok;
	uint64_t csum, csum_want, verified, mismatches;
	uint64_t sent, received, lost; /* NIC: datagrams; lost: timed out */
	int write_ok; /* 1, 0, or -1: not tried */
	struct pvk_bench_stats st;
	uint64_t p90;
	double others_cpu;
};

/* Writes not yet read back: offsets are unique within a batch. */
struct wbatch {
	unsigned int n, cap;
	uint64_t off[8192], seed[8192];
};

struct lab {
	const char *hv_mode;
	/* loop: the hypervisor, dom0's side, the guest */
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *tool, *ghv, *ghv2;
	uint32_t guest;
	struct pvk_dmodel *dm;
	struct pvk_ide *ide;
	struct t_dmthread dmt;
	bool dmt_on;
	struct pvk_blkback *bb;
	pthread_t ctl;
	bool ctl_on;
	int stop_fd;
	/* sim: the serving processes, and pvkit-dm's --stats file */
	pid_t peers[4];
	unsigned int npeers;
	pid_t dm_pid;
	const char *dm_stats;
	/* the guest's drivers */
	struct pvk_gio *g;
	struct pvk_ideg d;
	struct pvk_blkfront *bf, *bfp;
	unsigned int poll_us;
	/* the NIC cases (sim, --net): the peer, PV and e1000, native */
	bool net;
	const char *net_why; /* why not, for the report */
	uint32_t peer_ip, pv_ip, e1000_ip; /* network order */
	uint8_t peer_mac[6], pv_mac[6], e1000_mac[6];
	struct pvk_hv *ghv3;
	struct pvk_netfront *nf;
	struct pvk_e1000g *e1k;
	int sock_echo, sock_sink;
	const char *host_ns; /* domain 0's network namespace */
	uint64_t net_seq;
	uint16_t ip_id;
	uint8_t *frame, *rx;
	/* native */
	char image[512];
	bool own_image;
	int fd;
	bool direct;
	struct io_uring ring;
	bool ring_on;
	uint64_t span;
	uint8_t *buf, *want, *chk;
	struct wbatch wb;
	uint64_t wseq; /* writes so far: each gets its own pattern */
	uint64_t aside_ns; /* this thread's CPU in checks, not the path's */
	/* the run */
	unsigned int samples;
	bool quick, plots;
	const char *out;
	double idle_cpu;
	struct lab_case cases[NWL][NPATH];
};

static int net_up(struct lab *L);
static void net_down(struct lab *L);

/* ---- the pattern: every 8-byte word says where it is ------------------ */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static void pattern(uint8_t *p, uint64_t off, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = mix64((off + i) ^ seed);

		memcpy(p + i, &v, 8);
	}
}

/* FNV-1a over a buffer, folded into a running sum per case. */
static uint64_t csum(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ---- CPU time ------------------------------------------------------------ */

static uint64_t clk_ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of every thread of @pid in ns (the scheduler's runtime, from
 * /proc/PID/task/TID/schedstat), or -1. */
static int64_t proc_cpu_ns(pid_t pid)
{
	char path[96];
	struct dirent *e;
	unsigned long long v;
	int64_t sum = 0;
	bool any = false;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/schedstat",
			 (int)pid, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &v) == 1) {
			sum += (int64_t)v;
			any = true;
		}
		fclose(f);
	}
	closedir(d);
	return any ? sum : -1;
}

/* loop: the guest is this thread, the rest of the process serves (blkback,
 * the device model, io_uring's workers); sim: the guest is this process,
 * pvkit-backd and pvkit-dm serve. */
static void cpu_snap(struct lab *L, struct cpu *s)
{
	uint64_t self = clk_ns(CLOCK_THREAD_CPUTIME_ID);
	int64_t v;

	s->serve_ok = true;
	if (!L->npeers && !strcmp(L->hv_mode, "loop")) {
		s->guest = self;
		s->serve = clk_ns(CLOCK_PROCESS_CPUTIME_ID) - self;
		return;
	}
	s->guest = clk_ns(CLOCK_PROCESS_CPUTIME_ID);
	s->serve = 0;
	for (unsigned int i = 0; i < L->npeers; i++) {
		v = proc_cpu_ns(L->peers[i]);
		if (v < 0)
			s->serve_ok = false;
		else
			s->serve += (uint64_t)v;
	}
	s->serve_ok = s->serve_ok && L->npeers;
}

/* ---- the image and the native path ------------------------------------ */

/* A new image in @dir, or (@image) an existing file of at least the
 * lab's size, which is overwritten. */
static int image_create(struct lab *L, const char *dir, const char *image)
{
	const size_t chunk = 1u << 20;
	uint64_t off, size = L->span + WSPAN + SCRATCH;
	uint8_t *p = NULL;
	struct stat st;
	int fd, rc = 0;

	if (image) {
		snprintf(L->image, sizeof(L->image), "%s", image);
		fd = open(image, O_RDWR | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			rc = -errno;
			fprintf(stderr, "bench-lab: --image %s: %s\n", image,
				strerror(errno));
			goto close_fd;
		}
		if ((uint64_t)st.st_size < size) {
			fprintf(stderr,
				"bench-lab: --image %s: %lld bytes; the lab "
				"needs %" PRIu64 " (truncate -s %" PRIu64
				"M it)\n",
				image, (long long)st.st_size, size, size >> 20);
			rc = -EINVAL;
			goto close_fd;
		}
	} else {
		snprintf(L->image, sizeof(L->image), "%s/pvk-lab-XXXXXX", dir);
		fd = mkstemp(L->image);
		if (fd < 0) {
			rc = -errno;
			fprintf(stderr,
				"bench-lab: cannot create an image in %s: %s "
				"(--dir DIR: a writable directory)\n",
				dir, strerror(errno));
			return rc;
		}
		L->own_image = true;
	}
	if (posix_memalign((void **)&p, 4096, chunk)) {
		rc = -ENOMEM;
		goto close_fd;
	}
	for (off = 0; off < size && !rc; off += chunk) {
		pattern(p, off, chunk, 0);
		if (pwrite(fd, p, chunk, (off_t)off) != (ssize_t)chunk)
			rc = -EIO;
	}
	if (!rc && fdatasync(fd) < 0)
		rc = -errno;
	if (rc)
		fprintf(stderr, "bench-lab: writing %s: %s\n", L->image,
			strerror(-rc));
	free(p);
close_fd:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* As blkback and the IDE disk open it: O_DIRECT where the file system
 * takes it, so that every path reaches the same storage. */
static int native_open(struct lab *L)
{
	int rc;

	L->fd = open(L->image, O_RDWR | O_DIRECT | O_CLOEXEC);
	L->direct = L->fd >= 0;
	if (L->fd < 0 && errno == EINVAL)
		L->fd = open(L->image, O_RDWR | O_CLOEXEC);
	if (L->fd < 0)
		return -errno;
	rc = io_uring_queue_init(2 * MAXQD, &L->ring, 0);
	if (rc < 0)
		return rc;
	L->ring_on = true;
	return 0;
}

static int native_io(struct lab *L, void *buf, uint32_t len, uint64_t off,
		     bool write)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&L->ring);
	struct io_uring_cqe *cqe;
	int rc;

	if (write)
		io_uring_prep_write(sqe, L->fd, buf, len, off);
	else
		io_uring_prep_read(sqe, L->fd, buf, len, off);
	rc = io_uring_submit_and_wait(&L->ring, 1);
	if (rc < 0)
		return rc;
	rc = io_uring_wait_cqe(&L->ring, &cqe);
	if (rc < 0)
		return rc;
	rc = cqe->res == (int)len ? 0 : cqe->res < 0 ? cqe->res : -EIO;
	io_uring_cqe_seen(&L->ring, cqe);
	return rc;
}

/* ---- loop: the guest, its device model, blkback, in this process ------ */

static void backd_log(void *arg, const char *line)
{
	if (getenv("LAB_VERBOSE"))
		fprintf(stderr, "blkback: %s\n", line);
}

static void front_log(void *arg, const char *line)
{
	fprintf(stderr, "blkfront: %s\n", line);
}

static void ide_log(void *arg, const char *line)
{
	fprintf(stderr, "ide: %s\n", line);
}

static void *control(void *arg)
{
	struct lab *L = arg;
	struct pollfd p[2];

	for (;;) {
		p[0] = (struct pollfd){ .fd = pvk_blkback_fd(L->bb),
					.events = POLLIN };
		p[1] = (struct pollfd){ .fd = L->stop_fd, .events = POLLIN };
		if (poll(p, 2, 1000) < 0)
			continue;
		if (p[1].revents)
			return NULL;
		pvk_blkback_handle_events(L->bb);
	}
}

#define STEP(what, call)                                             \
	do {                                                         \
		rc = (call);                                         \
		if (rc < 0) {                                        \
			fprintf(stderr, "bench-lab: %s: %s\n", what, \
				strerror(-rc));                      \
			return rc;                                   \
		}                                                    \
	} while (0)

static int loop_up(struct lab *L)
{
	struct pvk_blkback_config bcfg = { .log = backd_log };
	struct pvk_ide_config icfg = { .path = L->image,
				       .bm_base = BM_BASE,
				       .log = ide_log };
	struct pvk_blkfront_opts fo = { .queue_depth = 2 * MAXQD,
					.connect_timeout_ms = 10000,
					.log = front_log };
	int rc;

	STEP("loop", pvk_loop_create(&L->loop));
	STEP("dom0 handle", pvk_hv_open_loop(&L->hv0, L->loop, 0));
	STEP("toolstack handle", pvk_hv_open_loop(&L->tool, L->loop, 0));
	STEP("guest domain", pvk_loop_domain_create(L->loop, "lab", &L->guest));
	STEP("guest handle", pvk_hv_open_loop(&L->ghv, L->loop, L->guest));
	/* The PV disk: blkback in dom0, the disk attached as libxl does. */
	L->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (L->stop_fd < 0)
		return -errno;
	STEP("blkback", pvk_blkback_create(&L->bb, L->hv0, &bcfg));
	STEP("blkback thread", -pthread_create(&L->ctl, NULL, control, L));
	L->ctl_on = true;
	STEP("attach", t_attach(L->tool, 0, L->guest, DEVID, L->image, false));
	STEP("attach xvdb",
	     t_attach(L->tool, 0, L->guest, DEVID_POLL, L->image, false));
	/* The emulated disk: a device model in dom0 serving the guest. */
	STEP("device model", pvk_dmodel_create(&L->dm, L->hv0, L->guest));
	STEP("IDE disk", pvk_ide_create(&L->ide, L->dm, &icfg));
	STEP("IDE ports", pvk_ide_attach(L->ide));
	STEP("device model", pvk_dmodel_enable(L->dm));
	STEP("device-model thread", t_dmthread_start(&L->dmt, L->dm));
	L->dmt_on = true;
	/* This thread is the guest: PV frontend, and vCPU 0 for traps. */
	STEP("blkfront", pvk_blkfront_open(&L->bf, L->ghv, "xvda", &fo));
	/* Each device its own handle (pvkit/blkfront.h, Threading). */
	STEP("guest handle", pvk_hv_open_loop(&L->ghv2, L->loop, L->guest));
	fo.poll_us = L->poll_us;
	STEP("blkfront xvdb", pvk_blkfront_open(&L->bfp, L->ghv2, "xvdb", &fo));
	STEP("vCPU", pvk_gio_open_trap(&L->g, L->ghv, 0));
	STEP("IDE probe", pvk_ideg_probe(&L->d, L->g, BM_BASE, PRD_GPA));
	return 0;
}

static void loop_down(struct lab *L)
{
	uint64_t one = 1;

	net_down(L);
	pvk_gio_close(L->g);
	pvk_blkfront_close(L->bf);
	pvk_blkfront_close(L->bfp);
	if (L->dmt_on)
		t_dmthread_stop(&L->dmt);
	pvk_dmodel_destroy(L->dm);
	if (L->ide)
		pvk_ide_destroy(L->ide);
	if (L->ctl_on && write(L->stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(L->ctl, NULL);
	pvk_blkback_destroy(L->bb);
	if (L->stop_fd > 0)
		close(L->stop_fd);
	pvk_hv_close(L->ghv);
	pvk_hv_close(L->ghv2);
	pvk_hv_close(L->tool);
	pvk_hv_close(L->hv0);
	if (L->loop)
		pvk_loop_destroy(L->loop);
}

/* ---- sim: this process is the guest, in an HVM domain ------------------- */

/* "BACKD_PID DM_PID [PEER_PID]": the serving processes, whose CPU the
 * cases count; the second is pvkit-dm, asked for its counters
 * (--dm-stats); the third, the NIC's peer. */
static void parse_peers(struct lab *L, char *buf)
{
	char *save = NULL, *t;
	unsigned int n = 0;
	long v;

	for (t = strtok_r(buf, " ", &save); t && L->npeers < 4;
	     t = strtok_r(NULL, " ", &save)) {
		v = strtol(t, NULL, 10);
		if (v <= 0)
			continue;
		if (L->npeers == 1)
			L->dm_pid = (pid_t)v;
		/* After those two: not serving (the NIC's peer), only not
		 * others' load (PVK_BENCH_PEERS). */
		if (n++ < 2)
			L->peers[L->npeers++] = (pid_t)v;
	}
}

/* bench/lab.sh starts the domain, then attaches the PV disk, starts
 * pvkit-dm and pvkit-backd, and writes their pids to the --go file. */
static int wait_go(struct lab *L, const char *go)
{
	char buf[256] = "";
	FILE *f;
	int i;

	for (i = 0; i < 600; i++) {
		f = fopen(go, "r");
		if (f) {
			if (!fgets(buf, sizeof(buf), f))
				buf[0] = 0;
			fclose(f);
			buf[strcspn(buf, "\n")] = 0;
			/* Their CPU is the cases' own, not others' load. */
			if (*buf)
				setenv("PVK_BENCH_PEERS", buf, 1);
			parse_peers(L, buf);
			return 0;
		}
		usleep(100000);
	}
	fprintf(stderr, "bench-lab: %s did not appear in 60 s\n", go);
	return -ETIMEDOUT;
}

static int sim_up(struct lab *L, const char *go)
{
	struct pvk_blkfront_opts fo = { .queue_depth = 2 * MAXQD,
					.connect_timeout_ms = 10000,
					.log = front_log };
	int rc, i;

	if (go && wait_go(L, go) < 0)
		return -ETIMEDOUT;
	STEP("hypervisor (run me in a domain: bench/lab.sh --hv sim)",
	     pvk_hv_open(&L->ghv, 0));
	for (i = 0; i < 100; i++) {
		rc = pvk_blkfront_open(&L->bf, L->ghv, "xvda", &fo);
		if (rc != -ENOENT)
			break;
		usleep(100000);
	}
	STEP("blkfront xvda", rc);
	STEP("second hypervisor handle", pvk_hv_open(&L->ghv2, 0));
	fo.poll_us = L->poll_us;
	for (i = 0; i < 100; i++) {
		rc = pvk_blkfront_open(&L->bfp, L->ghv2, "xvdb", &fo);
		if (rc != -ENOENT)
			break;
		usleep(100000);
	}
	STEP("blkfront xvdb (the polled PV disk)", rc);
	STEP("vCPU (an HVM domain: pvkit domain create --hvm)",
	     pvk_gio_open_trap(&L->g, L->ghv, 0));
	STEP("IDE probe (is pvkit-dm --ide serving this domain?)",
	     pvk_ideg_probe(&L->d, L->g, BM_BASE, PRD_GPA));
	return L->net ? net_up(L) : 0;
}

/* ---- one operation on a path ------------------------------------------- */

static int path_io(struct lab *L, enum path p, void *buf, uint64_t off,
		   uint32_t len, bool write)
{
	struct pvk_blkfront *bf = p == P_PVPOLL ? L->bfp : L->bf;
	uint64_t lba = off / 512;
	uint32_t n = len / 512;
	ssize_t k;

	switch (p) {
	case P_NATIVE:
		return native_io(L, buf, len, off, write);
	case P_PV:
	case P_PVPOLL:
		k = write ? pvk_blkfront_pwrite(bf, buf, len, off) :
			    pvk_blkfront_pread(bf, buf, len, off);
		return k == (ssize_t)len ? 0 : k < 0 ? (int)k : -EIO;
	case P_PIO:
		return write ? pvk_ideg_write_pio(&L->d, lba, n, BUF_GPA) :
			       pvk_ideg_read_pio(&L->d, lba, n, BUF_GPA);
	case P_DMA:
		return write ? pvk_ideg_write_dma(&L->d, lba, n, BUF_GPA) :
			       pvk_ideg_read_dma(&L->d, lba, n, BUF_GPA);
	default:
		return -EINVAL;
	}
}

/* Where a path's data is: the emulated disk moves it in guest RAM. */
static uint8_t *path_buf(struct lab *L, enum path p)
{
	return p == P_PIO || p == P_DMA ? L->g->ram + BUF_GPA : L->buf;
}

/* sim: pvkit-dm --stats FILE rewrites FILE on SIGUSR1; ask, and wait for
 * the new generation.  0 with its ioreqs and the IDE's (@nic: the
 * e1000's) interrupts, or -1. */
static int dm_remote(struct lab *L, bool nic, int64_t *ioreqs, int64_t *irqs)
{
	unsigned long long gen0 = 0, gen, req, irq, cmds, nirq;
	FILE *f;
	int i;

	if (!L->dm_stats || L->dm_pid <= 0)
		return -1;
	f = fopen(L->dm_stats, "r");
	if (f) {
		if (fscanf(f, "pvkit-dm-stats %llu", &gen0) != 1)
			gen0 = 0;
		fclose(f);
	}
	if (kill(L->dm_pid, SIGUSR1) < 0)
		return -1;
	for (i = 0; i < 2000; i++) {
		f = fopen(L->dm_stats, "r");
		if (f) {
			int k = fscanf(f,
				       "pvkit-dm-stats %llu ioreqs %llu "
				       "ide_irqs %llu ide_commands %llu "
				       "e1000_irqs %llu",
				       &gen, &req, &irq, &cmds, &nirq);

			fclose(f);
			if (k == 5 && gen > gen0) {
				*ioreqs = (int64_t)req;
				*irqs = (int64_t)(nic ? nirq : irq);
				return 0;
			}
		}
		usleep(1000);
	}
	fprintf(stderr, "bench-lab: %s: pvkit-dm did not answer SIGUSR1\n",
		L->dm_stats);
	L->dm_stats = NULL;
	return -1;
}

static void snap(struct lab *L, const struct lab_case *lc, struct ctr *c)
{
	enum path p = lc->p;
	struct pvk_netfront_stats ns;
	struct pvk_dmodel_stats ds;
	struct pvk_ide_stats is;
	struct pvk_blkfront_stats fs;

	*c = (struct ctr){ -1, -1, -1, -1, -1 };
	if (p == P_NATIVE)
		return;
	c->real_traps = (int64_t)pvk_trap_count();
	if (lc->wl->net && p == P_PV) {
		pvk_netfront_stats(L->nf, &ns);
		c->traps = c->real_traps;
		c->notifies = (int64_t)(ns.notifies + ns.events);
		c->irqs = (int64_t)ns.events;
		return;
	}
	if (p == P_PV || p == P_PVPOLL) {
		pvk_blkfront_stats(p == P_PV ? L->bf : L->bfp, &fs);
		c->traps = c->real_traps;
		c->notifies = (int64_t)(fs.notifies + fs.events);
		c->irqs = (int64_t)fs.events;
		return;
	}
	c->traps = (int64_t)L->g->traps;
	if (L->dm) {
		pvk_dmodel_stats(L->dm, &ds);
		pvk_ide_stats(L->ide, &is);
		c->ioreqs = (int64_t)ds.requests;
		c->irqs = (int64_t)is.irqs;
	} else if (dm_remote(L, p == P_E1000, &c->ioreqs, &c->irqs) < 0) {
		return;
	}
	/* Each ioreq: the post notifies the device model, the answer
	 * notifies the vCPU. */
	c->notifies = 2 * c->ioreqs;
}

static void ctr_add(struct ctr *sum, const struct ctr *a, const struct ctr *b)
{
	int64_t *s = &sum->traps;
	const int64_t *x = &a->traps, *y = &b->traps;

	for (unsigned int i = 0; i < sizeof(*sum) / sizeof(int64_t); i++)
		s[i] = x[i] < 0 || y[i] < 0 || s[i] < 0 ? -1 :
							  s[i] + (y[i] - x[i]);
}

/* ---- offsets and checks ---------------------------------------------------- */

/* Where the operations of a segment go: reads at random (or in sequence)
 * in the read region; writes in the write region, a permutation of its
 * blocks so that the offsets of a batch never repeat. */
struct gen {
	uint64_t seed, base, i;
};

static uint64_t wblocks(const struct workload *wl)
{
	return WSPAN / wl->bytes; /* a power of two */
}

static uint64_t next_off(struct lab *L, const struct workload *wl,
			 struct gen *g)
{
	uint64_t nblk, idx, i = g->i++;

	if (!wl->write) {
		nblk = L->span / wl->bytes;
		idx = wl->seq ? (g->base + i) % nblk :
				xorshift(&g->seed) % nblk;
		return idx * wl->bytes;
	}
	nblk = wblocks(wl);
	idx = wl->seq ? g->base + i : (g->base + i) * 0x9e3779b1u;
	return L->span + (idx & (nblk - 1)) * wl->bytes;
}

/* Outside the timing and the path's CPU: is @data what the lab wrote at
 * @off?  Reads only. */
static void check_read(struct lab *L, struct lab_case *c, const uint8_t *data,
		       uint64_t off)
{
	uint32_t len = c->wl->bytes;
	uint64_t t0 = clk_ns(CLOCK_THREAD_CPUTIME_ID);

	pattern(L->want, off, len, 0);
	c->csum += csum(data, len);
	c->csum_want += csum(L->want, len);
	if (memcmp(data, L->want, len))
		c->mismatches++;
	else
		c->verified++;
	L->aside_ns += clk_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
}

/* The data of the next write, at @off, into @data; remembered for the
 * read-back. */
static void fill_write(struct lab *L, struct lab_case *c, uint8_t *data,
		       uint64_t off)
{
	uint64_t t0 = clk_ns(CLOCK_THREAD_CPUTIME_ID),
		 seed = mix64(++L->wseq) | 1;

	pattern(data, off, c->wl->bytes, seed);
	L->wb.off[L->wb.n] = off;
	L->wb.seed[L->wb.n++] = seed;
	L->aside_ns += clk_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
}

/* Read the batch's writes back natively and compare; put the lab's own
 * pattern back is not needed: the write region is only ever written. */
static int check_writes(struct lab *L, struct lab_case *c)
{
	uint32_t len = c->wl->bytes;
	uint64_t t0 = clk_ns(CLOCK_THREAD_CPUTIME_ID);
	int rc = 0;

	for (unsigned int i = 0; i < L->wb.n && !rc; i++) {
		rc = native_io(L, L->chk, len, L->wb.off[i], false);
		if (rc < 0) {
			fprintf(stderr,
				"bench-lab: %s: reading back %" PRIu64 ": %s\n",
				c->name, L->wb.off[i], strerror(-rc));
			break;
		}
		pattern(L->want, L->wb.off[i], len, L->wb.seed[i]);
		c->csum += csum(L->chk, len);
		c->csum_want += csum(L->want, len);
		if (memcmp(L->chk, L->want, len))
			c->mismatches++;
		else
			c->verified++;
	}
	L->wb.n = 0;
	L->aside_ns += clk_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
	return rc;
}

static int io_failed(struct lab_case *c, uint64_t off, int rc)
{
	fprintf(stderr, "bench-lab: %s at %" PRIu64 ": %s\n", c->name, off,
		strerror(-rc));
	return rc;
}

/* @n operations at QD1. */
static int run_qd1(struct lab *L, struct lab_case *c, unsigned int n,
		   struct gen *g)
{
	const struct workload *wl = c->wl;
	uint8_t *data = path_buf(L, c->p);
	uint64_t off, t0, dt;
	int rc;

	for (unsigned int i = 0; i < n; i++) {
		off = next_off(L, wl, g);
		if (wl->write)
			fill_write(L, c, data, off);
		t0 = pvk_bench_now_ns();
		rc = path_io(L, c->p, data, off, wl->bytes, wl->write);
		dt = pvk_bench_now_ns() - t0;
		if (rc < 0)
			return io_failed(c, off, rc);
		c->lat[c->n++] = dt;
		c->ns += dt;
		if (!wl->write)
			check_read(L, c, data, off);
		else if (L->wb.n == L->wb.cap && (rc = check_writes(L, c)) < 0)
			return rc;
	}
	return wl->write ? check_writes(L, c) : 0;
}

/* @n operations with up to wl->qd in flight (native and PV): each
 * operation's latency from its submission to its completion; the case's
 * time is the wall time. */
static int run_qdn(struct lab *L, struct lab_case *c, unsigned int n,
		   struct gen *g)
{
	const struct workload *wl = c->wl;
	struct pvk_blkfront *bf = c->p == P_PVPOLL ? L->bfp : L->bf;
	struct pvk_blkfront_io ios[MAXQD], *done[MAXQD];
	uint64_t t_sub[MAXQD], off_s[MAXQD], start = pvk_bench_now_ns(), off;
	unsigned int freel[MAXQD], nfree = 0, issued = 0, fin = 0, inflight = 0;
	unsigned int qd = wl->qd < MAXQD ? wl->qd : MAXQD, s;
	int rc = 0, k;

	for (s = 0; s < qd; s++)
		freel[nfree++] = s;
	while (fin < n) {
		bool added = false;

		/* Batch full: let it drain, then read it back. */
		while (issued < n && nfree &&
		       (!wl->write || L->wb.n < L->wb.cap)) {
			uint8_t *data;

			s = freel[--nfree];
			data = L->buf + (size_t)s * wl->bytes;
			off = next_off(L, wl, g);
			if (wl->write)
				fill_write(L, c, data, off);
			off_s[s] = off;
			t_sub[s] = pvk_bench_now_ns();
			if (c->p == P_NATIVE) {
				struct io_uring_sqe *sqe =
					io_uring_get_sqe(&L->ring);

				if (wl->write)
					io_uring_prep_write(sqe, L->fd, data,
							    wl->bytes, off);
				else
					io_uring_prep_read(sqe, L->fd, data,
							   wl->bytes, off);
				io_uring_sqe_set_data64(sqe, s);
			} else {
				ios[s] = (struct pvk_blkfront_io){
					.op = wl->write ? PVK_BLKFRONT_WRITE :
							  PVK_BLKFRONT_READ,
					.offset = off,
					.len = wl->bytes,
					.buf = data,
					.user = (void *)(uintptr_t)s,
				};
				rc = pvk_blkfront_submit(bf, &ios[s]);
				if (rc < 0)
					return io_failed(c, off, rc);
			}
			issued++;
			inflight++;
			added = true;
		}
		if (!inflight) {
			rc = check_writes(L, c);
			if (rc < 0)
				return rc;
			continue;
		}
		if (c->p == P_NATIVE) {
			struct io_uring_cqe *cqe;
			unsigned int head, got = 0;

			rc = io_uring_submit_and_wait(&L->ring, 1);
			if (rc < 0)
				return io_failed(c, 0, rc);
			io_uring_for_each_cqe(&L->ring, head, cqe)
			{
				uint64_t now = pvk_bench_now_ns();

				s = (unsigned int)cqe->user_data;
				rc = cqe->res == (int)wl->bytes ? 0 :
				     cqe->res < 0		? cqe->res :
								  -EIO;
				if (rc < 0 || s >= qd)
					return io_failed(c, off_s[s % qd],
							 rc ?: -EIO);
				c->lat[c->n++] = now - t_sub[s];
				if (!wl->write)
					check_read(L, c,
						   L->buf + (size_t)s *
								    wl->bytes,
						   off_s[s]);
				freel[nfree++] = s;
				got++;
			}
			io_uring_cq_advance(&L->ring, got);
			fin += got;
			inflight -= got;
			continue;
		}
		if (added && (rc = pvk_blkfront_kick(bf)) < 0)
			return io_failed(c, 0, rc);
		k = pvk_blkfront_reap(bf, done, 1, MAXQD, 30000);
		if (k <= 0)
			return io_failed(c, 0, k ?: -ETIMEDOUT);
		for (int j = 0; j < k; j++) {
			uint64_t now = pvk_bench_now_ns();

			s = (unsigned int)(uintptr_t)done[j]->user;
			if (s >= qd || done[j]->result < 0)
				return io_failed(c, off_s[s % qd],
						 done[j]->result ?: -EIO);
			c->lat[c->n++] = now - t_sub[s];
			if (!wl->write)
				check_read(L, c, done[j]->buf, off_s[s]);
			freel[nfree++] = s;
		}
		fin += (unsigned int)k;
		inflight -= (unsigned int)k;
	}
	c->ns += pvk_bench_now_ns() - start;
	return wl->write ? check_writes(L, c) : 0;
}

/* ---- the NIC: UDP to the peer, over the host's sockets, PV, e1000 -------- */

#define E1K_MMIO 0xfebc0000ull /* pvkit-dm's e1000 BAR */
#define E1K_IRQ 11
#define E1K_MEM 0x400000ull /* the driver's rings and buffers */
#define NET_RX_MAX 65536u
#define NET_TIMEOUT_MS 1000
#define NET_TRIES 3
#define STREAM_PER_SAMPLE 10u /* datagrams per --samples */
#define STREAM_MAX 200000u

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += get16(p + i);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* An Ethernet/IPv4/UDP frame from @p's address to the peer's @dport. */
static size_t net_frame(struct lab *L, enum path p, uint16_t dport,
			const void *pl, size_t plen)
{
	uint8_t *f = L->frame, *ip = f + 14, *u = ip + 20;
	uint32_t sip = p == P_PV ? L->pv_ip : L->e1000_ip;
	size_t len = 14 + 20 + 8 + plen;

	memcpy(f, L->peer_mac, 6);
	memcpy(f + 6, p == P_PV ? L->pv_mac : L->e1000_mac, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + 8 + plen));
	put16(ip + 4, L->ip_id++);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &sip, 4);
	memcpy(ip + 16, &L->peer_ip, 4);
	put16(ip + 10, ip_csum(ip, 20));
	put16(u, (uint16_t)(40000 + p));
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + plen));
	put16(u + 6, 0); /* no checksum: IPv4 allows it */
	memcpy(u + 8, pl, plen);
	if (len < 60) {
		memset(f + len, 0, 60 - len);
		len = 60;
	}
	return len;
}

/* The UDP payload of frame @f if it is the peer's port @sport answering
 * @p's address; else -1 (not ours: another frame on the bridge). */
static ssize_t net_parse(struct lab *L, enum path p, const uint8_t *f,
			 size_t len, uint16_t sport, const uint8_t **pl)
{
	const uint8_t *ip = f + 14, *u;
	uint32_t dip = p == P_PV ? L->pv_ip : L->e1000_ip;
	size_t ihl, ulen;

	if (len < 14 + 20 + 8 || get16(f + 12) != 0x0800 || ip[0] >> 4 != 4)
		return -1;
	ihl = (size_t)(ip[0] & 15) * 4;
	if (ihl < 20 || len < 14 + ihl + 8 || ip[9] != 17 ||
	    memcmp(ip + 12, &L->peer_ip, 4) || memcmp(ip + 16, &dip, 4))
		return -1;
	u = ip + ihl;
	ulen = get16(u + 4);
	if (get16(u) != sport || get16(u + 2) != 40000 + p || ulen < 8 ||
	    14 + ihl + ulen > len)
		return -1;
	*pl = u + 8;
	return (ssize_t)(ulen - 8);
}

static int net_send(struct lab *L, enum path p, uint16_t dport, const void *pl,
		    size_t plen)
{
	struct pvk_netfront_pkt pkt = { 0 };
	size_t len;
	int rc, i;

	if (p == P_NATIVE) {
		int fd = dport == LAB_ECHO_PORT ? L->sock_echo : L->sock_sink;

		return send(fd, pl, plen, 0) == (ssize_t)plen ? 0 : -errno;
	}
	len = net_frame(L, p, dport, pl, plen);
	for (i = 0; i < 100000; i++) {
		if (p == P_PV) {
			pkt.data = L->frame;
			pkt.len = (uint32_t)len;
			rc = pvk_netfront_send(L->nf, 0, &pkt, 1);
			if (rc == -EAGAIN) {
				pvk_netfront_wait(L->nf, 10);
				continue;
			}
			return rc < 0 ? rc : 0;
		}
		/* e1000: a full ring frees as the NIC sends. */
		rc = pvk_e1000g_send(L->e1k, L->frame, len);
		if (rc != -EAGAIN)
			return rc;
		usleep(10);
	}
	return -ETIMEDOUT;
}

/* The next datagram the peer's port @sport sends @p, into @out: its
 * length, or -ETIMEDOUT after @ms. */
static ssize_t net_recv(struct lab *L, enum path p, uint16_t sport,
			uint8_t *out, size_t cap, int ms)
{
	uint64_t end = pvk_bench_now_ns() + (uint64_t)ms * 1000000u;
	struct pvk_netfront_pkt pkt;
	const uint8_t *pl;
	ssize_t k, n;
	int left;

	for (;;) {
		uint64_t now = pvk_bench_now_ns();

		left = now >= end ? 0 : (int)((end - now + 999999) / 1000000);
		if (p == P_NATIVE) {
			int fd = sport == LAB_ECHO_PORT ? L->sock_echo :
							  L->sock_sink;
			struct pollfd pf = { .fd = fd, .events = POLLIN };

			k = recv(fd, out, cap, MSG_DONTWAIT);
			if (k >= 0)
				return k;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			if (!left || poll(&pf, 1, left) == 0)
				return -ETIMEDOUT;
			continue;
		}
		if (p == P_PV) {
			pkt = (struct pvk_netfront_pkt){ .data = L->rx,
							 .len = NET_RX_MAX };
			k = pvk_netfront_recv(L->nf, 0, &pkt, 1);
			if (k < 0)
				return k;
			if (k == 0) {
				if (!left)
					return -ETIMEDOUT;
				pvk_netfront_wait(L->nf, left);
				continue;
			}
			k = pkt.len;
		} else {
			k = pvk_e1000g_recv(L->e1k, L->rx, NET_RX_MAX, left);
			if (k == -EMSGSIZE || k == -EIO)
				continue;
			if (k < 0)
				return k;
		}
		n = net_parse(L, p, L->rx, (size_t)k, sport, &pl);
		if (n < 0)
			continue;
		if ((size_t)n > cap)
			n = (ssize_t)cap;
		memcpy(out, pl, (size_t)n);
		return n;
	}
}

/* @n round trips of 64 bytes to the echo port, each checked. */
static int net_rr(struct lab *L, struct lab_case *c, unsigned int n)
{
	uint8_t pl[64], back[128];
	uint64_t t0, dt;
	ssize_t k;
	int rc, tries;

	for (unsigned int i = 0; i < n; i++) {
		lab_fill(pl, sizeof(pl), ++L->net_seq);
		for (tries = 0;; tries++) {
			t0 = pvk_bench_now_ns();
			rc = net_send(L, c->p, LAB_ECHO_PORT, pl, sizeof(pl));
			if (rc < 0)
				return io_failed(c, i, rc);
			c->sent++;
			/* Answers to a request given up on come late: skip. */
			do {
				k = net_recv(L, c->p, LAB_ECHO_PORT, back,
					     sizeof(back), NET_TIMEOUT_MS);
			} while (k >= 8 && memcmp(back, pl, 8));
			dt = pvk_bench_now_ns() - t0;
			if (k != -ETIMEDOUT)
				break;
			c->lost++;
			if (tries + 1 >= NET_TRIES)
				return io_failed(c, i, -ETIMEDOUT);
		}
		if (k < 0)
			return io_failed(c, i, (int)k);
		c->received++;
		c->lat[c->n++] = dt;
		c->ns += dt;
		c->csum += csum(back, (size_t)k);
		c->csum_want += csum(pl, sizeof(pl));
		if (k == sizeof(pl) && !memcmp(back, pl, sizeof(pl)))
			c->verified++;
		else
			c->mismatches++;
	}
	return 0;
}

/* Ask the sink what it counted since the last question (and reset). */
static int net_count(struct lab *L, enum path p, unsigned long long *frames,
		     unsigned long long *good, unsigned long long *bytes)
{
	char ans[128];
	ssize_t k;
	int rc;

	/* What came back meanwhile is not the answer. */
	while (net_recv(L, p, LAB_SINK_PORT, (uint8_t *)ans, sizeof(ans) - 1,
			0) >= 0)
		;
	for (int t = 0; t < NET_TRIES; t++) {
		rc = net_send(L, p, LAB_SINK_PORT, LAB_COUNT_ASK,
			      strlen(LAB_COUNT_ASK));
		if (rc < 0)
			return rc;
		k = net_recv(L, p, LAB_SINK_PORT, (uint8_t *)ans,
			     sizeof(ans) - 1, NET_TIMEOUT_MS);
		if (k == -ETIMEDOUT)
			continue;
		if (k < 0)
			return (int)k;
		ans[k] = 0;
		if (sscanf(ans, LAB_COUNT_ASK " %llu %llu %llu", frames, good,
			   bytes) == 3)
			return 0;
	}
	return -ETIMEDOUT;
}

/* @n datagrams of 1472 bytes to the sink as fast as they go; the peer
 * counts and checks what arrived. */
static int net_stream(struct lab *L, struct lab_case *c, unsigned int n)
{
	unsigned long long frames, good, bytes;
	uint8_t *pl = L->want;
	uint64_t t0;
	int rc;

	rc = net_count(L, c->p, &frames, &good, &bytes); /* reset */
	if (rc < 0)
		return io_failed(c, 0, rc);
	t0 = pvk_bench_now_ns();
	for (unsigned int i = 0; i < n; i++) {
		lab_fill(pl, c->wl->bytes, ++L->net_seq);
		rc = net_send(L, c->p, LAB_SINK_PORT, pl, c->wl->bytes);
		if (rc < 0)
			return io_failed(c, i, rc);
	}
	c->ns += pvk_bench_now_ns() - t0;
	c->sent += n;
	usleep(20000); /* the last ones reach the peer */
	rc = net_count(L, c->p, &frames, &good, &bytes);
	if (rc < 0)
		return io_failed(c, 0, rc);
	c->received += frames;
	c->verified += good;
	c->mismatches += frames - good;
	return 0;
}

/* sim, --net: the PV NIC (vif 0), the e1000 and the sockets. */
static int net_up(struct lab *L)
{
	struct pvk_netfront_opts o = { .max_queues = 1,
				       .connect_timeout_ms = 10000 };
	struct pvk_netfront_info info;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = L->peer_ip };
	int rc, i, host = -1, self = -1;

	L->frame = malloc(NET_RX_MAX);
	L->rx = malloc(NET_RX_MAX);
	if (!L->frame || !L->rx)
		return -ENOMEM;
	STEP("hypervisor handle for the NIC", pvk_hv_open(&L->ghv3, 0));
	for (i = 0; i < 100; i++) {
		rc = pvk_netfront_open(&L->nf, L->ghv3, 0, &o);
		if (rc != -ENOENT)
			break;
		usleep(100000);
	}
	STEP("netfront vif 0 (pvkit nic attach, pvkit-backd --driver vif)", rc);
	pvk_netfront_info(L->nf, &info);
	memcpy(L->pv_mac, info.mac, 6);
	STEP("e1000 (is pvkit-dm --e1000 serving this domain?)",
	     pvk_e1000g_open(&L->e1k, L->g, E1K_MMIO, E1K_MEM, E1K_IRQ));
	pvk_e1000g_mac(L->e1k, L->e1000_mac);
	/* A domain's network is its own (pvkit domain create): the host's
	 * sockets are made in domain 0's namespace. */
	if (L->host_ns) {
		host = open(L->host_ns, O_RDONLY | O_CLOEXEC);
		self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (host < 0 || self < 0 || setns(host, CLONE_NEWNET) < 0) {
			rc = -errno;
			fprintf(stderr, "bench-lab: --net-host-ns %s: %s\n",
				L->host_ns, strerror(errno));
			goto close_ns;
		}
	}
	rc = 0;
	for (i = 0; i < 2; i++) {
		int *fd = i ? &L->sock_sink : &L->sock_echo;

		sa.sin_port = htons(i ? LAB_SINK_PORT : LAB_ECHO_PORT);
		*fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (*fd < 0 ||
		    connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			rc = -errno;
			fprintf(stderr,
				"bench-lab: a UDP socket to the peer: %s\n",
				strerror(errno));
			break;
		}
	}
	if (self >= 0 && setns(self, CLONE_NEWNET) < 0 && !rc)
		rc = -errno;
close_ns:
	if (host >= 0)
		close(host);
	if (self >= 0)
		close(self);
	return rc;
}

static void net_down(struct lab *L)
{
	if (L->e1k)
		pvk_e1000g_close(L->e1k);
	pvk_netfront_close(L->nf);
	pvk_hv_close(L->ghv3);
	if (L->sock_echo >= 0)
		close(L->sock_echo);
	if (L->sock_sink >= 0)
		close(L->sock_sink);
	free(L->frame);
	free(L->rx);
}

/* --net PEER_IP,PEER_MAC,PV_IP,E1000_IP */
static int net_opt(struct lab *L, char *arg)
{
	char *f[4], *save = NULL;
	unsigned int b[6], i;
	struct in_addr a[3];
	char tail;

	for (i = 0; i < 4; i++)
		f[i] = strtok_r(i ? NULL : arg, ",", &save);
	if (!f[3] || strtok_r(NULL, ",", &save) ||
	    !inet_pton(AF_INET, f[0], &a[0]) ||
	    !inet_pton(AF_INET, f[2], &a[1]) ||
	    !inet_pton(AF_INET, f[3], &a[2]) ||
	    sscanf(f[1], "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
		   &b[3], &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	L->peer_ip = a[0].s_addr;
	L->pv_ip = a[1].s_addr;
	L->e1000_ip = a[2].s_addr;
	for (i = 0; i < 6; i++)
		L->peer_mac[i] = (uint8_t)b[i];
	L->net = true;
	return 0;
}

/* One segment of @n operations of case @c: its counters, CPU and load. */
static int run_segment(struct lab *L, struct lab_case *c, unsigned int n,
		       struct gen *g)
{
	struct pvk_bench_load ld;
	struct ctr a, b;
	struct cpu ca, cb;
	uint64_t aside0, dt;
	int64_t d;
	double others;
	int rc;

	pvk_bench_load_begin(&ld);
	snap(L, c, &a);
	L->wb.n = 0;
	L->wb.cap = wblocks(c->wl) < 8192 ? (unsigned int)wblocks(c->wl) : 8192;
	aside0 = L->aside_ns;
	cpu_snap(L, &ca);
	rc = c->wl->stream ? net_stream(L, c, n) :
	     c->wl->net	   ? net_rr(L, c, n) :
	     c->wl->qd > 1 ? run_qdn(L, c, n, g) :
			     run_qd1(L, c, n, g);
	cpu_snap(L, &cb);
	if (rc < 0)
		return rc;
	/* Two clocks read one after the other: a difference may come out
	 * a little below zero when there was nothing to count. */
	d = (int64_t)(cb.guest - ca.guest) - (int64_t)(L->aside_ns - aside0);
	c->cpu_guest += d > 0 ? (uint64_t)d : 0;
	d = (int64_t)(cb.serve - ca.serve);
	c->cpu_serve += d > 0 ? (uint64_t)d : 0;
	c->cpu_serve_ok = ca.serve_ok && cb.serve_ok;
	snap(L, c, &b);
	ctr_add(&c->sum, &a, &b);
	others = pvk_bench_load_end(&ld);
	dt = pvk_bench_now_ns() - ld.wall_ns;
	if (others >= 0 && c->load_cpu_s >= 0) {
		c->load_cpu_s += others * (double)dt / 1e9;
		c->load_s += (double)dt / 1e9;
	} else {
		c->load_cpu_s = -1;
	}
	return 0;
}

/* Write a block of the path's own pattern past the write region, read it
 * back natively and through the path; put the lab's pattern back. */
static int write_check(struct lab *L, enum path p)
{
	uint64_t off = L->span + WSPAN + (uint64_t)p * CHKBS, seed = 0xabc0 + p;
	uint8_t *data = path_buf(L, p);
	int rc;

	pattern(data, off, CHKBS, seed);
	rc = path_io(L, p, data, off, CHKBS, true);
	if (rc < 0)
		return rc;
	pattern(L->want, off, CHKBS, seed);
	memset(L->chk, 0, CHKBS);
	rc = native_io(L, L->chk, CHKBS, off, false);
	if (rc < 0)
		return rc;
	if (memcmp(L->chk, L->want, CHKBS))
		return 0;
	memset(data, 0, CHKBS);
	rc = path_io(L, p, data, off, CHKBS, false);
	if (rc < 0)
		return rc;
	if (memcmp(data, L->want, CHKBS))
		return 0;
	pattern(L->chk, off, CHKBS, 0);
	rc = native_io(L, L->chk, CHKBS, off, true);
	return rc < 0 ? rc : 1;
}

static int run_all(struct lab *L)
{
	unsigned int w, r, per, n;
	int p, rc;

	for (p = P_PV; p <= P_DMA; p++) {
		rc = write_check(L, (enum path)p);
		if (rc < 0) {
			fprintf(stderr, "bench-lab: write check of %s: %s\n",
				path_name[p], strerror(-rc));
			return rc;
		}
		for (w = 0; w < NWL; w++)
			if (!wls[w].net)
				L->cases[w][p].write_ok = rc;
	}
	for (w = 0; w < NWL; w++) {
		/* One read per path first, not counted: the first DMA loads
		 * the PRD table's address, the first PV read maps. */
		for (p = 0; p < NPATH && wls[w].net && !wls[w].stream; p++) {
			struct lab_case tmp = L->cases[w][p];
			uint64_t one;

			/* The host's first datagram resolves the peer. */
			tmp.lat = &one;
			tmp.n = 0;
			if (tmp.on && (rc = net_rr(L, &tmp, 1)) < 0)
				return rc;
		}
		for (p = 0; p < NPATH && !wls[w].net; p++) {
			if (!L->cases[w][p].on)
				continue;
			rc = path_io(L, (enum path)p, path_buf(L, (enum path)p),
				     0, wls[w].bytes, false);
			if (rc < 0) {
				fprintf(stderr, "bench-lab: %s.%s: %s\n",
					wls[w].name, path_name[p],
					strerror(-rc));
				return rc;
			}
		}
		for (r = 0; r < ROUNDS; r++) {
			/* Each path addresses the same offsets. */
			for (p = 0; p < NPATH; p++) {
				struct lab_case *c = &L->cases[w][p];
				struct gen g = {
					.seed = 0x9e3779b97f4a7c15ull +
						w * 131 + r,
				};

				if (!c->on)
					continue;
				per = c->want / ROUNDS;
				n = r + 1 < ROUNDS ? per : c->want - per * r;
				g.base = mix64(g.seed) % 65536 +
					 (uint64_t)r * per;
				rc = run_segment(L, c, n, &g);
				if (rc < 0)
					return rc;
			}
		}
		if (wls[w].paths & ~ALLP && !L->net)
			continue;
		printf("%s: done\n", wls[w].name);
		fflush(stdout);
	}
	return 0;
}

/* ---- results ------------------------------------------------------------ */

static void machine(char *cpu, size_t cpulen, char *kernel, size_t klen)
{
	char line[512], *v;
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(cpu, cpulen, "unknown");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10))
			continue;
		v = strchr(line, ':');
		if (v) {
			v += 1 + (v[1] == ' ');
			v[strcspn(v, "\n")] = 0;
			snprintf(cpu, cpulen, "%s", v);
		}
		break;
	}
	if (f)
		fclose(f);
	snprintf(kernel, klen, "unknown");
	if (uname(&u) == 0)
		snprintf(kernel, klen, "%s %s %s", u.sysname, u.release,
			 u.machine);
}

/* What a case's per-operation figures divide by: its operations; for a
 * stream, the datagrams sent. */
static size_t ops(const struct lab_case *c)
{
	return c->wl->stream ? (size_t)c->sent : c->n;
}

static double per_op(int64_t v, size_t n)
{
	return v < 0 || !n ? NAN : (double)v / (double)n;
}

static void json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

/* Operations per second; a stream: datagrams the peer received. */
static double ops_s(const struct lab_case *c)
{
	double n = c->wl->stream ? (double)c->received : (double)c->n;

	return c->ns ? n * 1e9 / (double)c->ns : NAN;
}

static double mb_s(const struct lab_case *c)
{
	return ops_s(c) * c->wl->bytes / 1e6;
}

/* CPU per operation in us; NAN when not measured. */
static double cpu_us(uint64_t ns, bool ok, size_t n)
{
	return ok && n ? (double)ns / 1e3 / (double)n : NAN;
}

static void finish_case(struct lab_case *c)
{
	pvk_bench_stats(c->lat, c->n, &c->st);
	c->p90 = pvk_bench_percentile(c->lat, c->n, 90);
	c->others_cpu = c->load_cpu_s >= 0 && c->load_s > 0 ?
				c->load_cpu_s / c->load_s :
				-1;
}

static int write_samples(struct lab *L, const struct lab_case *c)
{
	char path[1024];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/samples/%s.txt", L->out, c->name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	for (size_t i = 0; i < c->n; i++)
		fprintf(f, "%" PRIu64 "\n", c->lat[i]);
	if (ferror(f))
		rc = -EIO;
	if (fclose(f) && !rc)
		rc = -errno;
	return rc;
}

static FILE *out_open(struct lab *L, const char *name, char *tmp, size_t len)
{
	snprintf(tmp, len, "%s/%s.tmp", L->out, name);
	return fopen(tmp, "w");
}

static int out_close(struct lab *L, FILE *f, const char *name, const char *tmp)
{
	char path[1024];
	int rc = ferror(f) ? -EIO : 0;

	if (fclose(f) && !rc)
		rc = -errno;
	snprintf(path, sizeof(path), "%s/%s", L->out, name);
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		fprintf(stderr, "bench-lab: cannot write %s: %s\n", path,
			strerror(-rc));
		unlink(tmp);
	}
	return rc;
}

static double us(uint64_t ns)
{
	return (double)ns / 1e3;
}

/* A latency of @c in us; a stream has none. */
static double lat_us(const struct lab_case *c, uint64_t ns)
{
	return c->wl->stream ? NAN : us(ns);
}

/* Times: three significant digits. */
static const char *fmt_us(char *b, size_t len, double v)
{
	if (!isfinite(v))
		snprintf(b, len, "-");
	else if (v >= 100)
		snprintf(b, len, "%.0f", v);
	else if (v >= 10)
		snprintf(b, len, "%.1f", v);
	else
		snprintf(b, len, "%.2f", v);
	return b;
}

static const char *fmt_cnt(char *b, size_t len, double v)
{
	if (!isfinite(v))
		snprintf(b, len, "-");
	else if (v == floor(v))
		snprintf(b, len, "%.0f", v);
	else
		snprintf(b, len, "%.2f", v);
	return b;
}

static double ratio(double a, double b)
{
	return b > 0 && isfinite(a) && isfinite(b) ? a / b : NAN;
}

static bool loaded(const struct lab_case *c)
{
	return c->others_cpu > PVK_BENCH_LOADED_CPUS;
}

/* ---- the common claims, checked against this run ---------------------- */

enum { CL_EMU, CL_PV, NCLAIM };

static const char *const claim_text[NCLAIM] = {
	"emulation is 10-100x slower than PV",
	"PV I/O overhead is 10-20% over native",
};
static const double claim_lo[NCLAIM] = { LOW_EMU, 1 + LOW_PV };
static const double claim_hi[NCLAIM] = { HIGH_EMU, 1 + HIGH_PV };

struct claim {
	unsigned int kind, w;
	enum path slow, fast;
	bool tput; /* throughput (fast ops/s / slow ops/s), else p50 */
	double ratio; /* how many times slower: > 1 slower */
	bool holds, loaded;
};

#define MAXCLAIMS (NWL * 3 * 2 * 2)

/* Emulated (IDE PIO and DMA, e1000) against PV, PV (event, poll) against
 * native, by p50 and by throughput (a stream: throughput only), for every
 * workload both paths ran. */
static unsigned int claims_compute(struct lab *L, struct claim *cl)
{
	static const enum path emu[] = { P_PIO, P_DMA, P_E1000 },
			       pv[] = { P_PV, P_PVPOLL };
	unsigned int n = 0, w, k, i, t;

	for (k = 0; k < NCLAIM; k++) {
		for (w = 0; w < NWL; w++) {
			for (i = 0; i < (k == CL_EMU ? 3u : 2u); i++) {
				enum path s = k == CL_EMU ? emu[i] : pv[i],
					  f = k == CL_EMU ? P_PV : P_NATIVE;
				const struct lab_case *a = &L->cases[w][s],
						      *b = &L->cases[w][f];

				if (!a->on || !b->on || !ops(a) || !ops(b))
					continue;
				/* A stream has no latency: throughput only. */
				for (t = a->wl->stream; t < 2; t++) {
					struct claim *c = &cl[n++];

					c->kind = k;
					c->w = w;
					c->slow = s;
					c->fast = f;
					c->tput = t;
					c->ratio =
						t ? ratio(ops_s(b), ops_s(a)) :
						    ratio((double)a->st.p50,
							  (double)b->st.p50);
					c->holds = c->ratio >= claim_lo[k] &&
						   c->ratio <= claim_hi[k];
					c->loaded = loaded(a) || loaded(b);
				}
			}
		}
	}
	return n;
}

static const char *claim_measured(char *b, size_t len, const struct claim *c)
{
	if (!isfinite(c->ratio))
		snprintf(b, len, "-");
	else if (c->kind == CL_PV)
		snprintf(b, len, "%.2fx (%+.0f%%)", c->ratio,
			 (c->ratio - 1) * 100);
	else
		snprintf(b, len, "%.1fx", c->ratio);
	return b;
}

static const char *claim_verdict(const struct claim *c)
{
	if (!isfinite(c->ratio))
		return "-";
	if (c->holds)
		return "yes";
	return c->ratio < claim_lo[c->kind] ? "no: less" : "no: more";
}

static int write_json(struct lab *L, const char *cpu, const char *kernel,
		      const struct claim *cl, unsigned int ncl)
{
	char tmp[1024], date[64];
	time_t now = time(NULL);
	unsigned int w, p, i;
	bool first = true;
	FILE *f = out_open(L, "lab.json", tmp, sizeof(tmp));

	if (!f)
		return -errno;
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fprintf(f, "{\n  \"lab\": \"pvkit PV vs emulated\",\n");
	fprintf(f, "  \"version\": \"%s\",\n  \"date\": \"%s\",\n", PVK_VERSION,
		date);
	fprintf(f, "  \"hv\": ");
	pvk_bench_json_str(f, L->hv_mode);
	fprintf(f, ",\n  \"machine\": {\"cpu\": ");
	pvk_bench_json_str(f, cpu);
	fprintf(f, ", \"kernel\": ");
	pvk_bench_json_str(f, kernel);
	fprintf(f, ", \"cores\": %ld, \"others_cpu_idle\": ",
		sysconf(_SC_NPROCESSORS_ONLN));
	json_num(f, L->idle_cpu >= 0 ? L->idle_cpu : NAN);
	fprintf(f,
		"},\n  \"config\": {\"samples\": %u, \"rounds\": %u, "
		"\"span_bytes\": %" PRIu64 ", \"write_span_bytes\": %u, "
		"\"o_direct\": %s, \"poll_us\": %u, \"quick\": %s},\n",
		L->samples, ROUNDS, L->span, WSPAN,
		L->direct ? "true" : "false", L->poll_us,
		L->quick ? "true" : "false");
	fprintf(f, "  \"workloads\": [\n");
	for (w = 0; w < NWL; w++) {
		fprintf(f,
			"    {\"name\": \"%s\", \"what\": \"%s\", \"bytes\": "
			"%u, \"op\": \"%s\", \"pattern\": \"%s\", \"qd\": %u, "
			"\"paths\": [",
			wls[w].name, wls[w].what, wls[w].bytes,
			wls[w].write ? "write" : "read",
			wls[w].seq ? "sequential" : "random", wls[w].qd);
		for (p = 0, first = true; p < NPATH; p++) {
			if (!L->cases[w][p].on)
				continue;
			fprintf(f, "%s\"%s\"", first ? "" : ", ", path_name[p]);
			first = false;
		}
		fprintf(f, "], \"not_run\": [");
		for (p = 0, first = true; p < NPATH; p++) {
			bool ide = p == P_PIO || p == P_DMA;

			if (L->cases[w][p].on || !(wls[w].paths & (1u << p) ||
						   (ide && wls[w].qd > 1)))
				continue;
			fprintf(f, "%s{\"path\": \"%s\", \"why\": ",
				first ? "" : ", ", path_name[p]);
			pvk_bench_json_str(
				f, ide ? "the IDE disk takes one command at "
					 "a time (no queueing): QD1 only" :
					 L->net_why);
			fprintf(f, "}");
			first = false;
		}
		fprintf(f, "]}%s\n", w + 1 < NWL ? "," : "");
	}
	fprintf(f, "  ],\n  \"cases\": [\n");
	first = true;
	for (w = 0; w < NWL; w++) {
		for (p = 0; p < NPATH; p++) {
			const struct lab_case *c = &L->cases[w][p];
			const struct lab_case *nat = &L->cases[w][P_NATIVE];

			if (!c->on)
				continue;
			fprintf(f,
				"%s    {\"name\": \"%s\", \"workload\": \"%s\", "
				"\"path\": \"%s\", \"label\": ",
				first ? "" : ",\n", c->name, c->wl->name,
				path_name[p]);
			first = false;
			pvk_bench_json_str(f, path_label[p]);
			fprintf(f,
				", \"bytes\": %u, \"op\": \"%s\", \"qd\": %u, "
				"\"samples\": %zu,\n",
				c->wl->bytes, c->wl->write ? "write" : "read",
				c->wl->qd, ops(c));
			if (c->wl->stream) {
				fprintf(f,
					"     \"latency_ns\": null, "
					"\"stream\": {\"sent\": %" PRIu64
					", \"received\": %" PRIu64
					", \"mbit_per_s\": ",
					c->sent, c->received);
				json_num(f, mb_s(c) * 8);
				fprintf(f, "}, \"ops_per_s\": ");
				goto rates;
			}
			fprintf(f,
				"     \"latency_ns\": {\"min\": %" PRIu64
				", \"p50\": %" PRIu64 ", \"p90\": %" PRIu64
				", \"p99\": %" PRIu64 ", \"p99.9\": %" PRIu64
				", \"max\": %" PRIu64 ", \"mean\": ",
				c->st.min, c->st.p50, c->p90, c->st.p99,
				c->st.p999, c->st.max);
			json_num(f, c->st.mean);
			fprintf(f, "}, \"ops_per_s\": ");
rates:
			json_num(f, ops_s(c));
			fprintf(f, ", \"mb_per_s\": ");
			json_num(f, mb_s(c));
			fprintf(f, ",\n     \"cpu_us_per_op\": {\"guest\": ");
			json_num(f, cpu_us(c->cpu_guest, true, ops(c)));
			fprintf(f, ", \"serving\": ");
			json_num(f,
				 cpu_us(c->cpu_serve, c->cpu_serve_ok, ops(c)));
			fprintf(f, "},\n     \"per_op\": {\"traps\": ");
			json_num(f, per_op(c->sum.traps, ops(c)));
			fprintf(f, ", \"real_traps\": ");
			json_num(f, per_op(c->sum.real_traps, ops(c)));
			fprintf(f, ", \"ioreqs\": ");
			json_num(f, per_op(c->sum.ioreqs, ops(c)));
			fprintf(f, ", \"evtchn_notifications\": ");
			json_num(f, per_op(c->sum.notifies, ops(c)));
			fprintf(f, ", \"interrupts\": ");
			json_num(f, per_op(c->sum.irqs, ops(c)));
			fprintf(f, "}, \"notifications_counted\": %s,\n",
				c->sum.notifies < 0	   ? "null" :
				p == P_PV || p == P_PVPOLL ? "true" :
							     "false");
			fprintf(f, "     \"vs_native\": {\"p50\": ");
			json_num(f, p == P_NATIVE ? NAN :
						    ratio((double)c->st.p50,
							  (double)nat->st.p50));
			fprintf(f, ", \"p99\": ");
			json_num(f, p == P_NATIVE ? NAN :
						    ratio((double)c->st.p99,
							  (double)nat->st.p99));
			fprintf(f, ", \"ops_per_s\": ");
			json_num(f, p == P_NATIVE ?
					    NAN :
					    ratio(ops_s(c), ops_s(nat)));
			fprintf(f, "}, \"others_cpu\": ");
			json_num(f, c->others_cpu >= 0 ? c->others_cpu : NAN);
			fprintf(f, ", \"loaded\": %s,\n",
				loaded(c) ? "true" : "false");
			fprintf(f,
				"     \"check\": {\"verified\": %" PRIu64
				", \"mismatches\": %" PRIu64
				", \"checksum\": \"%016" PRIx64
				"\", \"checksum_expected\": \"%016" PRIx64
				"\", \"write_readback\": %s},\n",
				c->verified, c->mismatches, c->csum,
				c->csum_want,
				c->write_ok < 0	 ? "null" :
				c->write_ok == 1 ? "true" :
						   "false");
			if (c->wl->stream)
				fprintf(f, "     \"lost\": 0, "
					   "\"samples_file\": null}");
			else
				fprintf(f,
					"     \"lost\": %" PRIu64
					", \"samples_file\": "
					"\"samples/%s.txt\"}",
					c->lost, c->name);
		}
	}
	fprintf(f, "\n  ],\n  \"claims\": [\n");
	for (i = 0; i < ncl; i++) {
		const struct claim *c = &cl[i];

		fprintf(f,
			"    {\"claim\": \"%s\", \"workload\": \"%s\", "
			"\"path\": \"%s\", \"versus\": \"%s\", \"metric\": "
			"\"%s\", \"ratio\": ",
			claim_text[c->kind], wls[c->w].name, path_name[c->slow],
			path_name[c->fast], c->tput ? "ops_per_s" : "p50");
		json_num(f, c->ratio);
		fprintf(f,
			", \"range\": [%g, %g], \"holds\": %s, "
			"\"loaded\": %s}%s\n",
			claim_lo[c->kind], claim_hi[c->kind],
			c->holds ? "true" : "false",
			c->loaded ? "true" : "false", i + 1 < ncl ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	return out_close(L, f, "lab.json", tmp);
}

static int write_bars(struct lab *L)
{
	char tmp[1024];
	unsigned int w, p;
	FILE *f = out_open(L, "bars.dat", tmp, sizeof(tmp));

	if (!f)
		return -errno;
	fprintf(f, "# case p50_us p99_us\n");
	for (w = 0; w < NWL; w++)
		for (p = 0; p < NPATH; p++)
			if (L->cases[w][p].on && !wls[w].stream)
				fprintf(f, "%s %.3f %.3f\n",
					L->cases[w][p].name,
					L->cases[w][p].st.p50 / 1e3,
					L->cases[w][p].st.p99 / 1e3);
	return out_close(L, f, "bars.dat", tmp);
}

/* What the numbers of a QD1 workload say, each computed here. */
static void prose(FILE *f, struct lab *L, unsigned int w)
{
	const struct lab_case *c = L->cases[w];
	const struct lab_case *nat = &c[P_NATIVE], *pv = &c[P_PV],
			      *pp = &c[P_PVPOLL], *pio = &c[P_PIO],
			      *dma = &c[P_DMA];
	double tp = per_op(pio->sum.traps, ops(pio)),
	       td = per_op(dma->sum.traps, ops(dma)),
	       ip = per_op(pio->sum.ioreqs, ops(pio)),
	       np = per_op(pv->sum.notifies, ops(pv)), d;
	const char *op = c->wl->write ? "write" : "read";
	char a[32], b[32], x[32], y[32];

	fprintf(f, "\n**%s (%s):**\n\n", c->wl->what, c->wl->name);
	fprintf(f, "- Emulated IDE PIO takes %s traps (VM exits)",
		fmt_cnt(a, sizeof(a), tp));
	if (isfinite(ip))
		fprintf(f, " and %s ioreqs", fmt_cnt(b, sizeof(b), ip));
	fprintf(f,
		" per %s and %s us at p50: %.1fx PV's p50 and %.1fx "
		"native's.\n",
		op, fmt_us(x, sizeof(x), us(pio->st.p50)),
		ratio((double)pio->st.p50, (double)pv->st.p50),
		ratio((double)pio->st.p50, (double)nat->st.p50));
	fprintf(f,
		"- Emulated IDE DMA takes %s traps per %s and %s us at "
		"p50: %.1fx PV's p50; PIO is %.2fx DMA's p50.\n",
		fmt_cnt(a, sizeof(a), td), op,
		fmt_us(b, sizeof(b), us(dma->st.p50)),
		ratio((double)dma->st.p50, (double)pv->st.p50),
		ratio((double)pio->st.p50, (double)dma->st.p50));
	fprintf(f,
		"- PV takes %s traps and %s event-channel notifications "
		"(sent and taken) per %s, %s us at p50: %.2fx native's "
		"p50 (%+.1f us); with the frontend polling, %s us: %.2fx "
		"native's, %s notifications per %s.\n",
		fmt_cnt(a, sizeof(a), per_op(pv->sum.traps, ops(pv))),
		fmt_cnt(b, sizeof(b), np), op,
		fmt_us(x, sizeof(x), us(pv->st.p50)),
		ratio((double)pv->st.p50, (double)nat->st.p50),
		(double)((int64_t)pv->st.p50 - (int64_t)nat->st.p50) / 1e3,
		fmt_us(y, sizeof(y), us(pp->st.p50)),
		ratio((double)pp->st.p50, (double)nat->st.p50),
		fmt_cnt(a, sizeof(a), per_op(pp->sum.notifies, ops(pp))), op);
	fprintf(f,
		"- CPU per %s, guest + serving side (us): native %s + %s, PV "
		"%s + %s, PV polling %s + %s, IDE PIO %s + %s, IDE DMA %s + "
		"%s.\n",
		op,
		fmt_us(a, sizeof(a), cpu_us(nat->cpu_guest, true, ops(nat))),
		fmt_us(b, sizeof(b),
		       cpu_us(nat->cpu_serve, nat->cpu_serve_ok, ops(nat))),
		fmt_us(x, sizeof(x), cpu_us(pv->cpu_guest, true, ops(pv))),
		fmt_us(y, sizeof(y),
		       cpu_us(pv->cpu_serve, pv->cpu_serve_ok, ops(pv))),
		fmt_us((char[32]){ 0 }, 32,
		       cpu_us(pp->cpu_guest, true, ops(pp))),
		fmt_us((char[32]){ 0 }, 32,
		       cpu_us(pp->cpu_serve, pp->cpu_serve_ok, ops(pp))),
		fmt_us((char[32]){ 0 }, 32,
		       cpu_us(pio->cpu_guest, true, ops(pio))),
		fmt_us((char[32]){ 0 }, 32,
		       cpu_us(pio->cpu_serve, pio->cpu_serve_ok, ops(pio))),
		fmt_us((char[32]){ 0 }, 32,
		       cpu_us(dma->cpu_guest, true, ops(dma))),
		fmt_us((char[32]){ 0 }, 32,
		       cpu_us(dma->cpu_serve, dma->cpu_serve_ok, ops(dma))));
	if (isfinite(tp) && isfinite(td) && tp > td) {
		d = ((double)pio->st.p50 - (double)dma->st.p50) / (tp - td);
		fprintf(f,
			"- PIO minus DMA: %s more traps cost %s us at p50, "
			"%s us per trap (if the difference is the traps "
			"alone; PIO also copies the data through the "
			"device model).\n",
			fmt_cnt(a, sizeof(a), tp - td),
			fmt_us(b, sizeof(b),
			       ((double)pio->st.p50 - (double)dma->st.p50) /
				       1e3),
			fmt_us(x, sizeof(x), d / 1e3));
	}
	fprintf(f,
		"- Tail, p99.9 / p50: native %.1f, PV %.1f, PV polling %.1f, "
		"IDE PIO %.1f, IDE DMA %.1f.\n",
		ratio((double)nat->st.p999, (double)nat->st.p50),
		ratio((double)pv->st.p999, (double)pv->st.p50),
		ratio((double)pp->st.p999, (double)pp->st.p50),
		ratio((double)pio->st.p999, (double)pio->st.p50),
		ratio((double)dma->st.p999, (double)dma->st.p50));
}

/* QD32 and 1 MiB: what queueing and size do. */
static void prose_more(FILE *f, struct lab *L)
{
	const struct lab_case *q = L->cases[W_R4K32], *q1 = L->cases[W_R4K],
			      *s = L->cases[W_SR1M], *sw = L->cases[W_SW1M];
	const struct lab_case *big = L->cases[W_R4K], *small = L->cases[W_R512];
	double pb = per_op(big[P_PIO].sum.traps, ops(&big[P_PIO])),
	       ps = per_op(small[P_PIO].sum.traps, ops(&small[P_PIO])),
	       db = per_op(big[P_DMA].sum.traps, ops(&big[P_DMA])),
	       ds = per_op(small[P_DMA].sum.traps, ops(&small[P_DMA])),
	       sec = (double)(big->wl->bytes - small->wl->bytes) / 512;
	char a[32], b[32], c[32], d[32], e[32];

	fprintf(f,
		"\n**Queue depth 32 (4 KiB random read):** native %.0f ops/s "
		"(%.1fx its QD1), PV %.0f ops/s (%.1fx its QD1): PV's "
		"throughput is %.2fx native's at QD32 and %.2fx at QD1.  "
		"The emulated IDE disk is not measured at QD32: it takes one "
		"command at a time, so its throughput at any depth is its "
		"QD1 figure.\n",
		ops_s(&q[P_NATIVE]),
		ratio(ops_s(&q[P_NATIVE]), ops_s(&q1[P_NATIVE])),
		ops_s(&q[P_PV]), ratio(ops_s(&q[P_PV]), ops_s(&q1[P_PV])),
		ratio(ops_s(&q[P_PV]), ops_s(&q[P_NATIVE])),
		ratio(ops_s(&q1[P_PV]), ops_s(&q1[P_NATIVE])));
	fprintf(f,
		"\n**1 MiB sequential:** read MB/s: native %.0f, PV %.0f, PV "
		"polling %.0f, IDE PIO %.1f (%s traps per MiB), IDE DMA %.0f "
		"(%s traps per MiB); write MB/s: native %.0f, PV %.0f, IDE "
		"PIO %.1f, IDE DMA %.0f.\n",
		mb_s(&s[P_NATIVE]), mb_s(&s[P_PV]), mb_s(&s[P_PVPOLL]),
		mb_s(&s[P_PIO]),
		fmt_cnt(a, sizeof(a),
			per_op(s[P_PIO].sum.traps, ops(&s[P_PIO]))),
		mb_s(&s[P_DMA]),
		fmt_cnt(b, sizeof(b),
			per_op(s[P_DMA].sum.traps, ops(&s[P_DMA]))),
		mb_s(&sw[P_NATIVE]), mb_s(&sw[P_PV]), mb_s(&sw[P_PIO]),
		mb_s(&sw[P_DMA]));
	if (!isfinite(pb) || !isfinite(ps) || !isfinite(db) || !isfinite(ds))
		return;
	fprintf(f,
		"\n**Size:** PIO's traps grow with the sectors moved: %s "
		"for %u B, %s for %u B, %s per extra sector; DMA's are %s "
		"and %s: the bus master moves the data without a trap.\n",
		fmt_cnt(a, sizeof(a), ps), small->wl->bytes,
		fmt_cnt(b, sizeof(b), pb), big->wl->bytes,
		fmt_cnt(c, sizeof(c), (pb - ps) / sec),
		fmt_cnt(d, sizeof(d), ds), fmt_cnt(e, sizeof(e), db));
}

/* The NIC: a round trip and a stream, per path. */
static void prose_net(FILE *f, struct lab *L)
{
	const struct lab_case *r = L->cases[W_RR64], *st = L->cases[W_STREAM];
	char a[32], b[32], c[32], d[32], e[32];

	fprintf(f,
		"\n**NIC, 64-byte UDP round trip (net.rr64):** %s us at p50 "
		"over the host's sockets, %s us over PV (%s notifications "
		"per round trip), %s us over the emulated e1000 (%s traps, "
		"%s ioreqs, %s interrupts per round trip): the e1000 takes "
		"%.1fx PV's p50, PV %.2fx native's.\n",
		fmt_us(a, sizeof(a), us(r[P_NATIVE].st.p50)),
		fmt_us(b, sizeof(b), us(r[P_PV].st.p50)),
		fmt_cnt(c, sizeof(c),
			per_op(r[P_PV].sum.notifies, ops(&r[P_PV]))),
		fmt_us(d, sizeof(d), us(r[P_E1000].st.p50)),
		fmt_cnt(e, sizeof(e),
			per_op(r[P_E1000].sum.traps, ops(&r[P_E1000]))),
		fmt_cnt((char[32]){ 0 }, 32,
			per_op(r[P_E1000].sum.ioreqs, ops(&r[P_E1000]))),
		fmt_cnt((char[32]){ 0 }, 32,
			per_op(r[P_E1000].sum.irqs, ops(&r[P_E1000]))),
		ratio((double)r[P_E1000].st.p50, (double)r[P_PV].st.p50),
		ratio((double)r[P_PV].st.p50, (double)r[P_NATIVE].st.p50));
	fprintf(f,
		"\n**NIC, stream of 1472-byte UDP datagrams "
		"(net.stream1472):** received at the peer: native %.0f/s "
		"(%.0f Mbit/s of payload, %.1f%% of those sent), PV %.0f/s "
		"(%.0f Mbit/s, %.1f%%), e1000 %.0f/s (%.0f Mbit/s, %.1f%%; "
		"%s traps per datagram).\n",
		ops_s(&st[P_NATIVE]), mb_s(&st[P_NATIVE]) * 8,
		100.0 * ratio((double)st[P_NATIVE].received,
			      (double)st[P_NATIVE].sent),
		ops_s(&st[P_PV]), mb_s(&st[P_PV]) * 8,
		100.0 * ratio((double)st[P_PV].received, (double)st[P_PV].sent),
		ops_s(&st[P_E1000]), mb_s(&st[P_E1000]) * 8,
		100.0 * ratio((double)st[P_E1000].received,
			      (double)st[P_E1000].sent),
		fmt_cnt(a, sizeof(a),
			per_op(st[P_E1000].sum.traps, ops(&st[P_E1000]))));
}

static void report_claims(FILE *f, struct lab *L, const struct claim *cl,
			  unsigned int ncl)
{
	unsigned int i, held[NCLAIM] = { 0 }, all[NCLAIM] = { 0 }, nl = 0;
	char m[48];

	fprintf(f, "\n## Common claims, checked\n\n");
	fprintf(f, "Each row compares two paths of this run on one workload: "
		   "at p50, the slower path's p50 over the faster's; in "
		   "throughput, the faster path's ops/s over the slower's.  "
		   "\"holds here?\" is yes when the measured ratio is in the "
		   "claim's range (10x to 100x; 1.10x to 1.20x).\n\n");
	fprintf(f, "| claim | workload | compared | metric | measured ratio "
		   "| holds here? |\n|---|---|---|---|---:|---|\n");
	for (i = 0; i < ncl; i++) {
		const struct claim *c = &cl[i];

		all[c->kind]++;
		held[c->kind] += c->holds;
		nl += c->loaded;
		fprintf(f, "| %s | %s | %s / %s | %s | %s | %s%s |\n",
			claim_text[c->kind], wls[c->w].name, path_name[c->slow],
			path_name[c->fast], c->tput ? "throughput" : "p50",
			claim_measured(m, sizeof(m), c), claim_verdict(c),
			c->loaded ? " (loaded)" : "");
	}
	fprintf(f, "\n");
	for (i = 0; i < NCLAIM; i++)
		fprintf(f, "- \"%s\": holds in %u of %u comparisons here.\n",
			claim_text[i], held[i], all[i]);
	if (nl)
		fprintf(f,
			"\n**Loaded machine:** %u of these comparisons involve a "
			"case during which other processes used more than "
			"%.2f CPU (marked \"loaded\"); their times, and so "
			"their ratios, are not those of an idle machine.  The "
			"counts (traps, notifications) do not depend on load.\n",
			nl, PVK_BENCH_LOADED_CPUS);
}

static int write_report(struct lab *L, const char *cpu, const char *kernel,
			const struct claim *cl, unsigned int ncl)
{
	char tmp[1024], v[16][32];
	unsigned int w, p, nloaded = 0;
	FILE *f = out_open(L, "REPORT.md", tmp, sizeof(tmp));

	if (!f)
		return -errno;
	fprintf(f, "# PV vs emulated: what a disk operation costs\n\n");
	fprintf(f, "Generated by `make lab` (bench/bench-lab) from the "
		   "numbers in `lab.json`; every figure and claim below is "
		   "computed from this run's data.\n\n");
	fprintf(f, "- Machine: %s, %ld cores, %s\n", cpu,
		sysconf(_SC_NPROCESSORS_ONLN), kernel);
	fprintf(f, "- Hypervisor: %s%s%s\n", L->hv_mode,
		!strcmp(L->hv_mode, "loop") ?
			" (in-process: the guest's vCPU, the device model and "
			"blkback are threads of one process; traps are real "
			"SIGSEGVs of real in/out instructions, no TCG)" :
			" (the simulator: this lab is the guest, a process in "
			"an HVM domain; pvkit-dm serves its IDE disk and "
			"pvkit-backd its PV disks from domain 0, separate "
			"processes as on Xen; traps are real SIGSEGVs of real "
			"in/out instructions, no TCG",
		!strcmp(L->hv_mode, "loop") ? "" :
		L->dm_stats		    ? "; the device model's ioreqs and "
					      "interrupts come from pvkit-dm "
					      "--stats)" :
					      "; the device model's ioreqs and "
					      "interrupts are not visible from "
					      "the guest: '-')");
	fprintf(f,
		"- Workloads: %u operations per case (1 MiB: %u) in %u "
		"rounds with the paths alternating and addressing the same "
		"offsets; reads over a %" PRIu64
		" MiB region, writes over a %u MiB one (%s); every read "
		"checked against the data written, every write read back "
		"natively and checked\n",
		L->samples, L->cases[W_SR1M][0].want, ROUNDS, L->span >> 20,
		WSPAN >> 20,
		L->direct ? "O_DIRECT" : "buffered: no O_DIRECT here");
	fprintf(f,
		"- PV polling: a second PV disk on the same image whose "
		"frontend polls its ring for up to %u us before it sleeps "
		"(pvk_blkfront_opts.poll_us); the backend is the same, "
		"event-driven\n",
		L->poll_us);
	fprintf(f, "- QD32 runs native and PV only: the emulated IDE disk "
		   "takes one command at a time (no queueing), so it is QD1 "
		   "by nature\n");
	if (L->net)
		fprintf(f,
			"- NIC: UDP to a peer (lab-echo) in a network "
			"namespace on a bridge, from the host's own sockets "
			"(native), the PV NIC (netfront -> pvkit-backd's "
			"netback -> TAP) and the emulated e1000 (pvkit-dm -> "
			"TAP); the guest builds its Ethernet/IPv4/UDP frames; "
			"round trips are checked byte for byte, the stream "
			"is counted and checked at the peer\n");
	else
		fprintf(f, "- NIC cases: not run: %s\n", L->net_why);
	if (L->idle_cpu >= 0)
		fprintf(f, "- Other processes' CPU before the run: %.2f CPUs\n",
			L->idle_cpu);
	fprintf(f, "\n| case | samples | p50 us | p90 us | p99 us | p99.9 us "
		   "| max us | ops/s | MB/s | p50 vs native | guest CPU us/op "
		   "| serving CPU us/op | traps/op | ioreqs/op | "
		   "notifications/op | interrupts/op | others' CPU | data "
		   "|\n");
	fprintf(f, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		   "---:|---:|---:|---:|---:|---:|---|\n");
	for (w = 0; w < NWL; w++) {
		for (p = 0; p < NPATH; p++) {
			const struct lab_case *c = &L->cases[w][p];
			bool ok = ops(c) && !c->mismatches &&
				  c->csum == c->csum_want && c->write_ok != 0;

			if (!c->on)
				continue;
			nloaded += loaded(c);
			fprintf(f,
				"| %s | %zu | %s | %s | %s | %s | %s | %.0f | "
				"%s | %s | %s | %s | %s | %s | %s%s | %s | %s "
				"| %s |\n",
				c->name, ops(c),
				fmt_us(v[0], 32, lat_us(c, c->st.p50)),
				fmt_us(v[1], 32, lat_us(c, c->p90)),
				fmt_us(v[2], 32, lat_us(c, c->st.p99)),
				fmt_us(v[3], 32, lat_us(c, c->st.p999)),
				fmt_us(v[4], 32, lat_us(c, c->st.max)),
				ops_s(c), fmt_us(v[11], 32, mb_s(c)),
				p == P_NATIVE ?
					"1" :
					fmt_cnt(v[5], 32,
						ratio(lat_us(c, c->st.p50) * 1e3,
						      (double)L
							      ->cases[w]
								     [P_NATIVE]
							      .st.p50)),
				fmt_us(v[12], 32,
				       cpu_us(c->cpu_guest, true, ops(c))),
				fmt_us(v[13], 32,
				       cpu_us(c->cpu_serve, c->cpu_serve_ok,
					      ops(c))),
				fmt_cnt(v[6], 32, per_op(c->sum.traps, ops(c))),
				fmt_cnt(v[7], 32,
					per_op(c->sum.ioreqs, ops(c))),
				fmt_cnt(v[8], 32,
					per_op(c->sum.notifies, ops(c))),
				c->sum.notifies >= 0 && p != P_PV &&
						p != P_PVPOLL ?
					"*" :
					"",
				fmt_cnt(v[9], 32, per_op(c->sum.irqs, ops(c))),
				c->others_cpu >= 0 ?
					fmt_cnt(v[10], 32, c->others_cpu) :
					"-",
				ok ? "ok" : "MISMATCH");
		}
	}
	fprintf(f,
		"\nlatency: per operation, from its submission to its "
		"completion (at QD32 with 31 others in flight); ops/s: "
		"operations over the time spent in them (QD32: wall time).  "
		"CPU: user + system time per operation of the guest's "
		"side (the lab's own checks excluded) and of the serving "
		"side (%s).  notifications: PV, the frontend's "
		"event-channel notifications sent plus the events it took "
		"(counted); * emulated, two per ioreq (the post and the "
		"answer), by the ioreq protocol.  interrupts: PV, events "
		"taken; emulated, IRQ 14 raised by the disk, IRQ 11 by the "
		"e1000.  traps: SIGSEGVs the vCPU thread took (an in/out, a "
		"rep insw per sector, an MMIO access, ...), as a VM exit "
		"each.  NIC stream: samples are the datagrams sent, ops/s "
		"and MB/s what the peer received (UDP payload).\n",
		!strcmp(L->hv_mode, "loop") ?
			"the process's other threads: blkback, the device "
			"model, io_uring's workers" :
			"the pvkit-backd and pvkit-dm processes");
	if (nloaded)
		fprintf(f,
			"\n**%u case(s) ran while other processes used more "
			"than %.2f CPU: their times are not those of an "
			"idle machine** (the counts are).\n",
			nloaded, PVK_BENCH_LOADED_CPUS);
	report_claims(f, L, cl, ncl);
	fprintf(f, "\n## Plots\n\n");
	if (L->plots) {
		for (w = 0; w < NWL; w++)
			if (L->cases[w][P_NATIVE].on && !wls[w].stream)
				fprintf(f,
					"![latency CDF, %s](cdf-%s.png) "
					"([SVG](cdf-%s.svg))\n\n",
					wls[w].name, wls[w].name, wls[w].name);
		for (w = 0; w < NWL; w++)
			if (L->cases[w][P_NATIVE].on && !wls[w].stream)
				fprintf(f,
					"![p50 and p99, %s](bars-%s.png) "
					"([SVG](bars-%s.svg))\n\n",
					wls[w].name, wls[w].name, wls[w].name);
		fprintf(f,
			"The CDFs: x is the latency (log scale), y the "
			"fraction of operations that took at most that long; "
			"a curve further right is slower, a long flat top is "
			"a tail.  Raw samples (ns, in order) are in "
			"`samples/`.\n");
	} else {
		fprintf(f, "Not drawn: gnuplot is missing (Debian: apt-get "
			   "install gnuplot-nox, then `make lab` again).  Raw "
			   "samples (ns) are in `samples/`, p50/p99 in "
			   "`bars.dat`.\n");
	}
	fprintf(f, "\n## What the numbers say\n");
	for (w = 0; w < NWL; w++)
		if (wls[w].qd == 1 && (wls[w].paths & (1u << P_PIO)) &&
		    !wls[w].seq)
			prose(f, L, w);
	prose_more(f, L);
	if (L->net)
		prose_net(f, L);
	return out_close(L, f, "REPORT.md", tmp);
}

static void harness(struct lab *L)
{
	struct pvk_bench *b = pvk_bench_open(L->quick ? "lab-quick" : "lab");
	char name[96], base[96];
	unsigned int w, p;

	if (!b)
		return;
	for (w = 0; w < NWL; w++) {
		const struct lab_case *nat = &L->cases[w][P_NATIVE];

		for (p = 0; p < NPATH; p++) {
			const struct lab_case *c = &L->cases[w][p];
			const char *bn = p == P_NATIVE ? NULL : base;

			if (!c->on)
				continue;
			pvk_bench_set_load(b, c->others_cpu);
#define CASE(m, unit, v, bv)                                         \
	do {                                                         \
		snprintf(name, sizeof(name), "%s.%s", c->name, m);   \
		snprintf(base, sizeof(base), "%s.%s", nat->name, m); \
		pvk_bench_case(b, name, m, unit, v, bn, bv);         \
	} while (0)
			if (!c->wl->stream) {
				CASE("p50", "us", us(c->st.p50),
				     us(nat->st.p50));
				CASE("p99", "us", us(c->st.p99),
				     us(nat->st.p99));
			}
			CASE("ops", "ops/s", ops_s(c), ops_s(nat));
#undef CASE
		}
	}
	pvk_bench_close(b);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-lab [--hv loop|sim] [--samples N] [--quick] "
		"[--out DIR] [--dir DIR] [--image PATH] [--go FILE] "
		"[--no-plots] [--poll-us N] [--dm-stats FILE]\n"
		"  --hv loop    in-process (default); sim: run inside an HVM "
		"domain, see bench/lab.sh\n"
		"  --image PATH use (and overwrite) this image, at least %u "
		"MiB\n"
		"  --go FILE    wait for FILE (pids of the backends, for the "
		"load figure)\n"
		"  --samples N  operations per case (default %u; --quick: %u)\n"
		"  --out DIR    results (default $PVK_BUILD/lab)\n"
		"  --dir DIR    where the image is made (default $TMPDIR or "
		"/var/tmp)\n"
		"  --no-plots   REPORT.md says the plots were not drawn\n"
		"  --poll-us N  the polled PV disk's frontend polls up to N us "
		"(1..%u, default %u)\n"
		"  --dm-stats FILE  sim: pvkit-dm --stats FILE, asked with "
		"SIGUSR1 for its ioreqs and interrupts\n"
		"  --args-only  check the options and exit (bench/lab.sh, "
		"before it starts anything)\n"
		"  --net PEER_IP,PEER_MAC,PV_IP,E1000_IP  sim: the NIC cases "
		"against lab-echo at PEER_IP\n"
		"  --net-host-ns PATH  the network namespace of the host's "
		"(native) sockets\n"
		"Operations per case: N for 4 KiB and 512 B and NIC round "
		"trips, N/%u (at least %u)\nfor 1 MiB, %ux N datagrams "
		"streamed (at most %u).\n",
		SPAN_MIB + (WSPAN + SCRATCH) / (1u << 20), DEF_SAMPLES,
		QUICK_SAMPLES, PVK_BLKFRONT_MAX_POLL_US, DEF_POLL_US, SEQ_DIV,
		SEQ_MIN, STREAM_PER_SAMPLE, STREAM_MAX);
}

static int mkdirs(const char *out)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s", out);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0777) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, 0777) < 0 && errno != EEXIST)
		return -errno;
	snprintf(p, sizeof(p), "%s/samples", out);
	if (mkdir(p, 0777) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "hv", required_argument, NULL, 'H' },
		{ "samples", required_argument, NULL, 'n' },
		{ "quick", no_argument, NULL, 'q' },
		{ "out", required_argument, NULL, 'o' },
		{ "dir", required_argument, NULL, 'd' },
		{ "no-plots", no_argument, NULL, 'P' },
		{ "image", required_argument, NULL, 'i' },
		{ "go", required_argument, NULL, 'g' },
		{ "poll-us", required_argument, NULL, 'p' },
		{ "dm-stats", required_argument, NULL, 's' },
		{ "args-only", no_argument, NULL, 'A' },
		{ "net", required_argument, NULL, 'N' },
		{ "net-host-ns", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct lab lab;
	struct lab *L = &lab;
	const char *dir = getenv("TMPDIR"), *build = getenv("PVK_BUILD");
	const char *image = NULL, *go = NULL;
	char outbuf[1024], cpu[256], kernel[256], *end;
	static struct claim cl[MAXCLAIMS];
	bool args_only = false;
	unsigned int ncl;
	unsigned long v;
	unsigned int w, p;
	int c, rc, ret = 1;

	L->hv_mode = "loop";
	L->plots = true;
	L->fd = -1;
	L->sock_echo = L->sock_sink = -1;
	L->span = (uint64_t)SPAN_MIB << 20;
	L->poll_us = DEF_POLL_US;
	if (!dir || !*dir)
		dir = "/var/tmp";
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'H':
			L->hv_mode = optarg;
			break;
		case 'n':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || v < ROUNDS || v > 10000000) {
				fprintf(stderr,
					"bench-lab: --samples %s: a number "
					"from %u to 10000000\n",
					optarg, ROUNDS);
				return 2;
			}
			L->samples = (unsigned int)v;
			break;
		case 'q':
			L->quick = true;
			break;
		case 'o':
			L->out = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'P':
			L->plots = false;
			break;
		case 'i':
			image = optarg;
			break;
		case 'g':
			go = optarg;
			break;
		case 'p':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || v < 1 ||
			    v > PVK_BLKFRONT_MAX_POLL_US) {
				fprintf(stderr,
					"bench-lab: --poll-us %s: a number of "
					"microseconds from 1 to %u\n",
					optarg, PVK_BLKFRONT_MAX_POLL_US);
				return 2;
			}
			L->poll_us = (unsigned int)v;
			break;
		case 's':
			L->dm_stats = optarg;
			break;
		case 'A':
			args_only = true;
			break;
		case 'S':
			L->host_ns = optarg;
			break;
		case 'N':
			if (net_opt(L, optarg) < 0) {
				fprintf(stderr,
					"bench-lab: --net: give PEER_IP,PEER_MAC,"
					"PV_IP,E1000_IP (e.g. 10.77.0.9,"
					"02:00:00:00:00:09,10.77.0.2,10.77.0.3)"
					"\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench-lab: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	if (strcmp(L->hv_mode, "loop") && strcmp(L->hv_mode, "sim")) {
		fprintf(stderr,
			"bench-lab: --hv %s: 'loop' (in-process) or 'sim' (in "
			"an HVM domain of the simulator, as bench/lab.sh "
			"--hv sim runs it)\n",
			L->hv_mode);
		return 2;
	}
	if (L->net && strcmp(L->hv_mode, "sim")) {
		fprintf(stderr,
			"bench-lab: --net: the NIC cases run on --hv "
			"sim only (bench/lab.sh sets them up as root)\n");
		return 2;
	}
	if (args_only)
		return 0;
	if (!L->net)
		L->net_why =
			getenv("LAB_NET_WHY") && *getenv("LAB_NET_WHY") ?
				getenv("LAB_NET_WHY") :
				"no --net: the NIC cases need --hv sim and "
				"root (a network namespace, a bridge, TAPs; "
				"bench/lab.sh sets them up)";
	if (!strcmp(L->hv_mode, "sim") && !image) {
		fprintf(stderr, "bench-lab: --hv sim needs --image PATH, the "
				"file attached as xvda and served by pvkit-dm "
				"--ide (bench/lab.sh --hv sim sets that up)\n");
		return 2;
	}
	if (!L->samples)
		L->samples = L->quick ? QUICK_SAMPLES : DEF_SAMPLES;
	if (!L->out) {
		snprintf(outbuf, sizeof(outbuf), "%s/lab",
			 build && *build ? build : "build");
		L->out = outbuf;
	}
	rc = mkdirs(L->out);
	if (rc < 0) {
		fprintf(stderr, "bench-lab: --out %s: %s\n", L->out,
			strerror(-rc));
		return 1;
	}
	for (w = 0; w < NWL; w++) {
		for (p = 0; p < NPATH; p++) {
			struct lab_case *lc = &L->cases[w][p];

			snprintf(lc->name, sizeof(lc->name), "%s.%s",
				 wls[w].name, path_name[p]);
			lc->wl = &wls[w];
			lc->p = (enum path)p;
			lc->write_ok = -1;
			lc->on = wls[w].paths & (1u << p) &&
				 (!wls[w].net || L->net);
			lc->want = L->samples;
			if (wls[w].stream)
				lc->want =
					L->samples * STREAM_PER_SAMPLE <
							STREAM_MAX ?
						L->samples * STREAM_PER_SAMPLE :
						STREAM_MAX;
			if (wls[w].seq) {
				lc->want = L->samples / SEQ_DIV;
				if (lc->want < SEQ_MIN)
					lc->want = L->samples < SEQ_MIN ?
							   L->samples :
							   SEQ_MIN;
			}
			lc->lat = malloc(lc->want * sizeof(uint64_t));
			if (!lc->lat) {
				fprintf(stderr, "bench-lab: out of memory\n");
				goto free_cases;
			}
		}
	}
	if (posix_memalign((void **)&L->buf, 4096, MAXBS) ||
	    posix_memalign((void **)&L->want, 4096, MAXBS) ||
	    posix_memalign((void **)&L->chk, 4096, MAXBS))
		goto free_cases;
	machine(cpu, sizeof(cpu), kernel, sizeof(kernel));
	L->idle_cpu = pvk_bench_idle_check(500);
	printf("lab: %s, %ld cores, %s; hv %s; %u operations per case; others' "
	       "CPU before: %.2f\n",
	       cpu, sysconf(_SC_NPROCESSORS_ONLN), kernel, L->hv_mode,
	       L->samples, L->idle_cpu);
	if (image_create(L, dir, image) < 0)
		goto free_bufs;
	rc = native_open(L);
	if (rc < 0) {
		fprintf(stderr, "bench-lab: open %s: %s\n", L->image,
			strerror(-rc));
		goto down;
	}
	if (!strcmp(L->hv_mode, "sim") ? sim_up(L, go) < 0 : loop_up(L) < 0)
		goto down;
	if (run_all(L) < 0)
		goto down;
	for (w = 0; w < NWL; w++) {
		for (p = 0; p < NPATH; p++) {
			if (!L->cases[w][p].on)
				continue;
			if (wls[w].stream) {
				finish_case(&L->cases[w][p]);
				continue;
			}
			/* Raw, in the order measured, before sorting. */
			rc = write_samples(L, &L->cases[w][p]);
			if (rc < 0) {
				fprintf(stderr, "bench-lab: samples: %s\n",
					strerror(-rc));
				goto down;
			}
			finish_case(&L->cases[w][p]);
		}
	}
	ncl = claims_compute(L, cl);
	if (write_json(L, cpu, kernel, cl, ncl) || write_bars(L) ||
	    write_report(L, cpu, kernel, cl, ncl))
		goto down;
	harness(L);
	printf("lab: %s/lab.json, %s/REPORT.md\n", L->out, L->out);
	ret = 0;
	for (w = 0; w < NWL; w++)
		for (p = 0; p < NPATH; p++)
			if (L->cases[w][p].on && (L->cases[w][p].mismatches ||
						  !L->cases[w][p].write_ok)) {
				fprintf(stderr,
					"bench-lab: %s: data read differs "
					"from what was written\n",
					L->cases[w][p].name);
				ret = 1;
			}
down:
	loop_down(L);
	if (L->ring_on)
		io_uring_queue_exit(&L->ring);
	if (L->fd >= 0)
		close(L->fd);
	if (L->own_image)
		unlink(L->image);
free_bufs:
	free(L->buf);
	free(L->want);
	free(L->chk);
free_cases:
	for (w = 0; w < NWL; w++)
		for (p = 0; p < NPATH; p++)
			free(L->cases[w][p].lat);
	return ret;
}
