// SPDX-License-Identifier: MIT
/*
 * fuzz-emu: pvkit's device model core (backend/dmodel.c) with the PIIX IDE
 * disk and the e1000 NIC against a hostile HVM guest on the loop
 * hypervisor.  The guest's vCPU is the input: register reads and writes
 * (ports, MMIO, 1 to 8 bytes), whole ATA task files aimed at the disk's
 * last sectors (LBA28, LBA48, CHS), rep ins/outs and rep movs with any
 * count, direction and guest address (out of RAM too), bytes written in
 * its RAM (PRD tables, descriptor rings, buffers), frames sent to the NIC
 * from the TAP's other end, and bounded waits for the devices' own events
 * (DMA completions, frames).
 *
 * No device-model thread: the target is vCPU and device model at once.  A
 * guest access is posted with pvk_dm_guest_io and a timeout of 0, which
 * returns -ETIMEDOUT with the request left posted (pvkit/dm.h); the target
 * then runs pvk_dmodel_handle, which must have answered it (its request
 * count goes up by one), and the vCPU's next access takes that answer
 * first.  Reads' values are not seen, but everything the model does is
 * done in this thread, in the input's order, so runs repeat.  A model that
 * never returns is libFuzzer's timeout; one that does not answer fails the
 * count.
 *
 * Each input gets a fresh loop hypervisor, guest (16 MiB of zeroed RAM),
 * device model and devices; the 4 MiB sparse disk image is emptied; the
 * TAP (persistent, in a network namespace of our own, made once) and the
 * packet socket at its other end are kept.  Without a namespace (not
 * root) the target runs without the NIC and says so once.
 *
 * Checked: every access that reached the model was answered, once (the
 * model's request count is the number posted); no access the guest side
 * takes is refused but a malformed one; the image never grows (no write
 * beyond the disk); the disk's counters add up (errors, bus-master bytes
 * within the model's DMA bytes, PIO in whole words); the NIC's counters
 * add up against the wire (every frame it sent is on the wire or in the
 * socket's drop count; it never takes more frames or bytes than were sent
 * to it).  ASan and UBSan see the rest (a DMA outside the RAM's mapping, a
 * write beyond a buffer).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvkit/dm_e1000.h>
#include <pvkit/dm_ide.h>
#include <pvkit/dmodel.h>
#include <pvkit/e1000_regs.h>
#include <pvkit/net.h>

#include "../common/t_wire.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IMG_BYTES (4u << 20)
#define BM 0xc000 /* the bus master's ports */
#define MMIO 0xfebc0000ull /* the e1000's BAR */
#define NIC_IRQ 11
#define TAP "pvkfz0"
#define MAX_OPS 512
#define TAP_MTU 17000 /* frames beyond the e1000's 16 KiB too */
#define FRAME_MAX (TAP_MTU + 14)

enum op {
	OP_PIO, /* u8 port, u8 flags, u32 value */
	OP_MMIO, /* u8 register, u8 index, u8 flags, u64 value */
	OP_REP, /* u8 flags, u8 port or register, u32 count, u64 gpa */
	OP_RAM, /* u32 gpa, u16 length, the bytes */
	OP_FRAME, /* u8 destination, u16 length, the bytes */
	OP_WAIT, /* u8 how long: the devices' events */
	OP_PIO2, /* register accesses twice as often */
	OP_MMIO2,
	OP_ATA, /* u8 command, u8 mode, u32 LBA, u16 count: a task file */
	NR_OPS,
};

/* Access flags: bit 0 read, bits 1-2 the size (1 << n). */
#define F_READ 0x01
#define F_SIZE(f) (1u << (((f) >> 1) & 3))
/* OP_REP: bit 3 DF, bit 4 MMIO (rep movs), bit 5 raw count, bit 6 raw
 * gpa (else in or near RAM). */
#define F_DF 0x08
#define F_MMIO 0x10
#define F_RAWCOUNT 0x20
#define F_RAWGPA 0x40
/* OP_ATA modes: LBA48, CHS, the LBA counted back from the disk's end. */
#define A_EXT 0x01
#define A_CHS 0x02
#define A_FROM_END 0x04
#define IMG_SECTORS (IMG_BYTES / 512)

/* A port or register selector from here up takes the address from the
 * input instead of the devices' tables (0xff: any MMIO address). */
#define SEL_RAW 0xf0

static const uint16_t ports[] = {
	0x1f0,	0x1f1,	0x1f2,	 0x1f3,	  0x1f4,   0x1f5,  0x1f6,  0x1f7,
	0x3f6,	BM + 0, BM + 1,	 BM + 2,  BM + 3,  BM + 4, BM + 5, BM + 6,
	BM + 7, BM + 8, BM + 10, BM + 12, BM + 15, 0x1ef,  0x3f7,  0x170,
};

static const uint32_t regs[] = {
	PVK_E1000_CTRL,	 PVK_E1000_STATUS, PVK_E1000_EECD,  PVK_E1000_EERD,
	PVK_E1000_MDIC,	 PVK_E1000_ICR,	   PVK_E1000_ICS,   PVK_E1000_IMS,
	PVK_E1000_IMC,	 PVK_E1000_RCTL,   PVK_E1000_TCTL,  PVK_E1000_TIPG,
	PVK_E1000_RDBAL, PVK_E1000_RDBAH,  PVK_E1000_RDLEN, PVK_E1000_RDH,
	PVK_E1000_RDT,	 PVK_E1000_TDBAL,  PVK_E1000_TDBAH, PVK_E1000_TDLEN,
	PVK_E1000_TDH,	 PVK_E1000_TDT,	   PVK_E1000_STATS, PVK_E1000_MTA,
	PVK_E1000_RAL,	 PVK_E1000_RAH0,   0x5800,	    0x1fffc,
};

static const uint8_t nic_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static struct {
	bool ready, net;
	int img_fd, ps;
	char img[64];
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *ghv;
	uint32_t dom;
	struct pvk_dmodel *dm;
	struct pvk_ide *ide;
	struct pvk_e1000 *nic;
	uint8_t *ram;
	uint64_t ram_size;
	uint64_t posted; /* accesses that reached the model */
	uint64_t sent_frames, sent_bytes; /* to the NIC */
	uint64_t wire_frames, wire_bytes; /* from the NIC */
	uint64_t seen_tx, seen_sent; /* the counters at the last drain */
	int uring; /* the disk's io_uring (its fd), or -1: unknown */
} fx;

static void quiet(void *arg, const char *line)
{
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "%s\n", line);
}

/* A persistent TAP, up, and a packet socket on it: each input's e1000
 * attaches to it by name (no device made and removed per input). */
static int net_setup(void)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	struct pvk_nl *nl;
	int fd, one = 1;

	if (t_net_isolate() < 0)
		return -1;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	FZ_CHECK(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP);
	FZ_CHECK(ioctl(fd, TUNSETIFF, &ifr) == 0);
	FZ_CHECK(ioctl(fd, TUNSETPERSIST, 1) == 0);
	close(fd);
	FZ_CHECK(pvk_nl_open(&nl) == 0);
	FZ_CHECK(pvk_nl_link_set_mtu(nl, TAP, TAP_MTU) == 0);
	FZ_CHECK(pvk_nl_link_set_up(nl, TAP, true) == 0);
	pvk_nl_close(nl);
	fx.ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
		       htons(ETH_P_ALL));
	FZ_CHECK(fx.ps >= 0);
	sll.sll_ifindex = (int)if_nametoindex(TAP);
	FZ_CHECK(sll.sll_ifindex > 0);
	FZ_CHECK(bind(fx.ps, (struct sockaddr *)&sll, sizeof(sll)) == 0);
	/* Straight to the TAP's queue, not through a qdisc: a frame sent
	 * is readable by the e1000 when send() returns. */
	FZ_CHECK(setsockopt(fx.ps, SOL_PACKET, PACKET_QDISC_BYPASS, &one,
			    sizeof(one)) == 0);
	return 0;
}

static void setup(void)
{
	const char *dir = getenv("TMPDIR");
	char path[128];

	snprintf(path, sizeof(path), "%s/pvk-fuzz-emu-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fx.img_fd = mkstemp(path);
	FZ_CHECK(fx.img_fd >= 0);
	unlink(path); /* nothing left behind, even after a crash */
	snprintf(fx.img, sizeof(fx.img), "/proc/self/fd/%d", fx.img_fd);
	fx.net = net_setup() == 0;
	if (!fx.net)
		fprintf(stderr, "fuzz-emu: no network namespace: fuzzing the "
				"IDE disk and the core only, not the e1000\n");
	fx.ready = true;
}

/* The wire: frames the NIC sent (the kernel's view of what the TAP
 * received), never the ones we sent it. */
static void wire_drain(void)
{
	struct sockaddr_ll sll;
	static uint8_t buf[65536];
	socklen_t sl;
	ssize_t n;

	if (!fx.net)
		return;
	for (;;) {
		sl = sizeof(sll);
		n = recvfrom(fx.ps, buf, sizeof(buf), MSG_TRUNC,
			     (struct sockaddr *)&sll, &sl);
		if (n < 0)
			return;
		if (sll.sll_pkttype == PACKET_OUTGOING)
			continue;
		fx.wire_frames++;
		fx.wire_bytes += (uint64_t)n;
	}
}

/* After an op: only if something can have reached the socket since the
 * last look (a frame the NIC sent or one we sent, which the socket sees
 * as outgoing), so the queue never fills between looks; a look at an
 * empty queue is a syscall per op for nothing. */
static void wire_drain_new(void)
{
	struct pvk_e1000_stats st;

	if (!fx.nic)
		return;
	pvk_e1000_stats(fx.nic, &st);
	if (st.tx_frames == fx.seen_tx && fx.sent_frames == fx.seen_sent)
		return;
	fx.seen_tx = st.tx_frames;
	fx.seen_sent = fx.sent_frames;
	wire_drain();
}

static unsigned int wire_drops(void)
{
	struct tpacket_stats st;
	socklen_t len = sizeof(st);

	FZ_CHECK(getsockopt(fx.ps, SOL_PACKET, PACKET_STATISTICS, &st, &len) ==
		 0);
	return st.tp_drops; /* since the last call */
}

static bool is_uring(int fd)
{
	char p[64], l[64];
	ssize_t len;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	len = readlink(p, l, sizeof(l) - 1);
	if (len < 0)
		return false;
	l[len] = '\0';
	return !strcmp(l, "anon_inode:[io_uring]");
}

/* The disk's io_uring: the one in the process (this is the only user).
 * The last input's was closed with its disk and descriptors are handed
 * out lowest first, so it is almost always at the same number: only a
 * miss scans every descriptor. */
static int find_uring(void)
{
	static int last = -1;
	DIR *d;
	struct dirent *e;
	char p[64], l[64];
	int fd = -1, n = 0;
	ssize_t len;

	if (last >= 0 && is_uring(last))
		return last;
	d = opendir("/proc/self/fd");
	FZ_CHECK(d);
	while ((e = readdir(d))) {
		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		len = readlink(p, l, sizeof(l) - 1);
		if (len < 0)
			continue;
		l[len] = '\0';
		if (!strcmp(l, "anon_inode:[io_uring]")) {
			fd = atoi(e->d_name);
			n++;
		}
	}
	closedir(d);
	last = n == 1 ? fd : -1;
	return last;
}

/* Is a disk I/O in flight (submitted, its completion not yet posted)?
 * The kernel's view of the ring (fdinfo: SqHead consumed, CqTail
 * posted); one CQE per SQE here.  Unknown: yes. */
static bool disk_busy(void)
{
	char p[64], buf[1024], *sq, *cq;
	unsigned long sqh, cqt;
	ssize_t n;
	int fd;

	if (fx.uring < 0)
		return true;
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fx.uring);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	sq = strstr(buf, "\nSqHead:");
	cq = strstr(buf, "\nCqTail:");
	if (!sq || !cq)
		return true;
	sqh = strtoul(sq + 8, NULL, 10);
	cqt = strtoul(cq + 8, NULL, 10);
	return sqh != cqt;
}

static void up(void)
{
	struct pvk_ide_config ic = {
		.path = fx.img, .no_direct = true, .bm_base = BM, .log = quiet
	};
	struct pvk_e1000_config nc = {
		.base = MMIO, .irq = NIC_IRQ, .tap = TAP, .log = quiet
	};
	void *ram;

	FZ_CHECK(ftruncate(fx.img_fd, 0) == 0);
	FZ_CHECK(ftruncate(fx.img_fd, IMG_BYTES) == 0);
	FZ_CHECK(pvk_loop_create(&fx.loop) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.hv0, fx.loop, 0) == 0);
	FZ_CHECK(pvk_loop_domain_create(fx.loop, "hvm", &fx.dom) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.ghv, fx.loop, fx.dom) == 0);
	FZ_CHECK(pvk_dmodel_create(&fx.dm, fx.hv0, fx.dom) == 0);
	FZ_CHECK(pvk_ide_create(&fx.ide, fx.dm, &ic) == 0);
	FZ_CHECK(pvk_ide_attach(fx.ide) == 0);
	fx.uring = find_uring();
	if (fx.net) {
		memcpy(nc.mac, nic_mac, 6);
		FZ_CHECK(pvk_e1000_create(&fx.nic, fx.dm, &nc) == 0);
	}
	FZ_CHECK(pvk_dmodel_enable(fx.dm) == 0);
	FZ_CHECK(pvk_dm_guest_memory(fx.ghv, &ram, &fx.ram_size) == 0);
	fx.ram = ram;
	fx.posted = fx.sent_frames = fx.sent_bytes = 0;
	wire_drain();
	if (fx.net)
		(void)wire_drops();
	fx.wire_frames = fx.wire_bytes = 0;
	fx.seen_tx = fx.seen_sent = 0;
}

static void down(void)
{
	pvk_dmodel_destroy(fx.dm);
	pvk_ide_destroy(fx.ide);
	pvk_e1000_destroy(fx.nic);
	fx.nic = NULL;
	pvk_hv_close(fx.ghv);
	pvk_hv_close(fx.hv0);
	pvk_loop_destroy(fx.loop);
}

static void handle(void)
{
	struct pvk_dmodel_stats st;

	FZ_CHECK(pvk_dmodel_handle(fx.dm) == 0);
	pvk_dmodel_stats(fx.dm, &st);
	/* Everything posted was answered, once. */
	FZ_CHECK(st.requests == fx.posted);
}

/* One trapped access: posted, then served here. */
static void guest_io(struct pvk_ioreq *r)
{
	bool bad = pvk_ioreq_check(r) < 0;
	int ret = pvk_dm_guest_io(fx.ghv, 0, r, 0);

	if (ret == -EINVAL) {
		FZ_CHECK(bad);
		return;
	}
	FZ_CHECK(!bad);
	if (ret == 1)
		return; /* no server claims it */
	FZ_CHECK(ret == -ETIMEDOUT);
	fx.posted++;
	handle();
}

/* Device events (io_uring completions, frames): each within @ms of the
 * last, at most @rounds -- waiting only while a disk I/O is in flight:
 * nothing else comes later (a frame sent is there when send() returns),
 * so an idle wait would end at its timeout having seen nothing. */
static void wait_events(int ms, int rounds)
{
	struct pollfd p = { .fd = pvk_dmodel_fd(fx.dm), .events = POLLIN };

	for (int i = 0; i < rounds; i++) {
		if (poll(&p, 1, ms && disk_busy() ? ms : 0) <= 0)
			break;
		handle();
	}
}

static void op_pio(struct fz *f)
{
	uint8_t sel = fz_u8(f), fl = fz_u8(f);
	struct pvk_ioreq r = { .type = PVK_IOREQ_TYPE_PIO, .count = 1 };

	r.addr = sel < SEL_RAW ?
			 ports[sel % (sizeof(ports) / sizeof(ports[0]))] :
			 fz_u16(f);
	r.size = F_SIZE(fl);
	r.flags = fl & F_READ ? PVK_IOREQ_F_DIR_READ : 0;
	r.data = fz_u32(f);
	guest_io(&r);
}

static void outb(uint16_t port, uint8_t v)
{
	struct pvk_ioreq r = { .type = PVK_IOREQ_TYPE_PIO,
			       .count = 1,
			       .size = 1,
			       .addr = port,
			       .data = v };

	guest_io(&r);
}

/* A command with its task file, as a driver writes it: the disk's last
 * sectors and its CHS geometry are where range checks go wrong. */
static void op_ata(struct fz *f)
{
	uint8_t cmd = fz_u8(f), mode = fz_u8(f);
	uint64_t lba = fz_u32(f);
	uint16_t n = fz_u16(f);
	unsigned int cyl, head, sec;

	if (mode & A_FROM_END)
		lba = IMG_SECTORS - lba % 512;
	if (mode & A_EXT) {
		outb(0x1f6, 0x40);
		outb(0x1f2, (uint8_t)(n >> 8));
		outb(0x1f3, (uint8_t)(lba >> 24));
		outb(0x1f4, (uint8_t)(lba >> 32));
		outb(0x1f5, (uint8_t)(lba >> 40));
		outb(0x1f2, (uint8_t)n);
		outb(0x1f3, (uint8_t)lba);
		outb(0x1f4, (uint8_t)(lba >> 8));
		outb(0x1f5, (uint8_t)(lba >> 16));
	} else if (mode & A_CHS) {
		cyl = (unsigned int)(lba / (16 * 63));
		head = (unsigned int)(lba / 63 % 16);
		sec = (unsigned int)(lba % 63 + 1);
		outb(0x1f6, (uint8_t)(0xa0 | head));
		outb(0x1f2, (uint8_t)n);
		outb(0x1f3, (uint8_t)sec);
		outb(0x1f4, (uint8_t)cyl);
		outb(0x1f5, (uint8_t)(cyl >> 8));
	} else {
		outb(0x1f6, (uint8_t)(0xe0 | ((lba >> 24) & 0x0f)));
		outb(0x1f2, (uint8_t)n);
		outb(0x1f3, (uint8_t)lba);
		outb(0x1f4, (uint8_t)(lba >> 8));
		outb(0x1f5, (uint8_t)(lba >> 16));
	}
	outb(0x1f7, cmd);
}

static uint64_t mmio_addr(struct fz *f, uint8_t sel)
{
	uint8_t idx = fz_u8(f);

	if (sel == 0xff)
		return fz_u64(f); /* anywhere */
	if (sel >= SEL_RAW)
		return MMIO + fz_u32(f) % (PVK_E1000_BAR_SIZE + 16);
	return MMIO + regs[sel % (sizeof(regs) / sizeof(regs[0]))] +
	       4u * (idx & 0x3f);
}

static void op_mmio(struct fz *f)
{
	uint8_t sel = fz_u8(f);
	struct pvk_ioreq r = { .type = PVK_IOREQ_TYPE_COPY, .count = 1 };
	uint8_t fl;

	r.addr = mmio_addr(f, sel);
	fl = fz_u8(f);
	r.size = F_SIZE(fl);
	r.flags = fl & F_READ ? PVK_IOREQ_F_DIR_READ : 0;
	r.data = fz_u64(f);
	guest_io(&r);
}

static void op_rep(struct fz *f)
{
	uint8_t fl = fz_u8(f), sel = fz_u8(f);
	struct pvk_ioreq r = { .flags = PVK_IOREQ_F_DATA_IS_PTR };
	uint32_t count;
	uint64_t gpa;

	if (fl & F_MMIO) {
		r.type = PVK_IOREQ_TYPE_COPY;
		r.addr = mmio_addr(f, sel);
	} else {
		r.type = PVK_IOREQ_TYPE_PIO;
		r.addr =
			sel < SEL_RAW ?
				ports[sel % (sizeof(ports) / sizeof(ports[0]))] :
				fz_u16(f);
	}
	count = fz_u32(f);
	gpa = fz_u64(f);
	r.size = F_SIZE(fl);
	r.count = fl & F_RAWCOUNT ? count : 1 + count % 1024;
	/* In RAM, or straddling its end. */
	r.data = fl & F_RAWGPA ? gpa : gpa % (fx.ram_size + 8192);
	r.flags |= (fl & F_READ ? PVK_IOREQ_F_DIR_READ : 0) |
		   (fl & F_DF ? PVK_IOREQ_F_DF : 0);
	guest_io(&r);
}

static void op_ram(struct fz *f)
{
	uint64_t gpa = fz_u32(f) % fx.ram_size;
	size_t len = fz_u16(f) % 4097;

	if (len > fx.ram_size - gpa)
		len = (size_t)(fx.ram_size - gpa);
	fz_bytes(f, fx.ram + gpa, len);
}

static void op_frame(struct fz *f)
{
	static uint8_t fr[FRAME_MAX];
	uint8_t dst = fz_u8(f);
	size_t len = fz_u16(f) % (FRAME_MAX + 1);

	fz_bytes(f, fr, len);
	if (!fx.net || len < 14)
		return; /* the packet socket takes whole headers */
	switch (dst & 3) {
	case 0:
		memcpy(fr, nic_mac, 6);
		break;
	case 1:
		memset(fr, 0xff, 6);
		break;
	case 2:
		fr[0] |= 1; /* some multicast group */
		break;
	}
	if (send(fx.ps, fr, len, 0) == (ssize_t)len) {
		fx.sent_frames++;
		fx.sent_bytes += len;
	}
	wait_events(0, 1);
}

/* The NIC's counters against the wire. */
static void check_nic(void)
{
	struct pollfd p = { .fd = fx.ps, .events = POLLIN };
	struct pvk_e1000_stats st;
	unsigned int drops;

	if (!fx.nic)
		return;
	pvk_e1000_stats(fx.nic, &st);
	FZ_CHECK(st.rx_frames + st.rx_missed + st.rx_filtered +
			 st.rx_oversize <=
		 fx.sent_frames);
	FZ_CHECK(st.rx_bytes <= fx.sent_bytes);
	wire_drain();
	drops = wire_drops();
	/* The kernel may deliver the last ones a little later. */
	for (int i = 0; i < 100 && fx.wire_frames + drops < st.tx_frames; i++) {
		poll(&p, 1, 10);
		wire_drain();
		drops += wire_drops();
	}
	FZ_CHECK(fx.wire_frames <= st.tx_frames);
	FZ_CHECK(fx.wire_frames + drops >= st.tx_frames);
	if (!drops)
		FZ_CHECK(fx.wire_bytes == st.tx_bytes);
}

/* FUZZ_VERBOSE: what an input did (for writing seeds). */
static void report(void)
{
	struct pvk_e1000_stats ns = { 0 };
	struct pvk_dmodel_stats ds;
	struct pvk_ide_stats is;

	pvk_dmodel_stats(fx.dm, &ds);
	pvk_ide_stats(fx.ide, &is);
	if (fx.nic)
		pvk_e1000_stats(fx.nic, &ns);
	fprintf(stderr,
		"model: %llu requests, %llu items, %llu unclaimed, %llu "
		"rejected, %llu DMA bytes\n"
		"ide: %llu commands, %llu errors, %llu DMA, %llu PIO bytes, "
		"%llu irqs\n"
		"e1000: tx %llu frames %llu bytes, rx %llu frames %llu bytes, "
		"%llu missed, %llu filtered; wire %llu frames\n",
		(unsigned long long)ds.requests, (unsigned long long)ds.items,
		(unsigned long long)ds.unclaimed,
		(unsigned long long)ds.rejected,
		(unsigned long long)ds.dma_bytes,
		(unsigned long long)is.commands, (unsigned long long)is.errors,
		(unsigned long long)is.dma_bytes,
		(unsigned long long)is.pio_bytes, (unsigned long long)is.irqs,
		(unsigned long long)ns.tx_frames,
		(unsigned long long)ns.tx_bytes,
		(unsigned long long)ns.rx_frames,
		(unsigned long long)ns.rx_bytes,
		(unsigned long long)ns.rx_missed,
		(unsigned long long)ns.rx_filtered,
		(unsigned long long)fx.wire_frames);
}

/* The disk's counters: the bus master moved nothing the model did not
 * (the model counts every DMA byte), PIO moves whole words. */
static void check_ide(void)
{
	struct pvk_dmodel_stats ds;
	struct pvk_ide_stats is;

	pvk_dmodel_stats(fx.dm, &ds);
	pvk_ide_stats(fx.ide, &is);
	FZ_CHECK(is.errors <= is.commands);
	FZ_CHECK(is.dma_bytes <= ds.dma_bytes);
	FZ_CHECK(is.pio_bytes % 2 == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct stat sb;

	if (!fx.ready)
		setup();
	up();
	for (int n = 0; n < MAX_OPS && fz_more(&f); n++) {
		switch (fz_u8(&f) % NR_OPS) {
		case OP_PIO:
		case OP_PIO2:
			op_pio(&f);
			break;
		case OP_MMIO:
		case OP_MMIO2:
			op_mmio(&f);
			break;
		case OP_REP:
			op_rep(&f);
			break;
		case OP_RAM:
			op_ram(&f);
			break;
		case OP_FRAME:
			op_frame(&f);
			break;
		case OP_ATA:
			op_ata(&f);
			break;
		case OP_WAIT:
			/* Mostly what is ready, sometimes a little more:
			 * time spent idle is time not fuzzing. */
			wait_events((fz_u8(&f) & 3) == 3 ? 2 : 0, 8);
			break;
		}
		wire_drain_new();
	}
	wait_events(0, 8);
	check_nic();
	check_ide();
	if (getenv("FUZZ_VERBOSE"))
		report();
	down();
	FZ_CHECK(fstat(fx.img_fd, &sb) == 0);
	FZ_CHECK(sb.st_size == IMG_BYTES);
	return 0;
}

/* ------------------------------------------------------------------ */
/* seeds                                                                */

static void s_out(struct fz_out *o, uint16_t port, uint32_t size, uint32_t v)
{
	uint8_t sel = SEL_RAW;

	for (unsigned int i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		if (ports[i] == port)
			sel = (uint8_t)i;
	fzo_u8(o, OP_PIO);
	fzo_u8(o, sel);
	fzo_u8(o, (uint8_t)((size == 4 ? 2 : size == 2 ? 1 : 0) << 1));
	if (sel == SEL_RAW)
		fzo_u16(o, port);
	fzo_u32(o, v);
}

static void s_in(struct fz_out *o, uint16_t port)
{
	s_out(o, port, 1, 0);
	o->buf[o->n - 5] |= F_READ; /* the flags byte (a port of the table) */
}

static void s_reg(struct fz_out *o, uint32_t reg, bool rd, uint32_t v)
{
	uint8_t sel = 0, idx = 0;

	for (unsigned int i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if (regs[i] == reg)
			sel = (uint8_t)i;
	if (reg > PVK_E1000_STATS && reg < PVK_E1000_STATS + 0x100) {
		sel = 22; /* the statistics, + 4 * idx */
		idx = (uint8_t)((reg - PVK_E1000_STATS) / 4);
	}
	fzo_u8(o, OP_MMIO);
	fzo_u8(o, sel);
	fzo_u8(o, idx);
	fzo_u8(o, (uint8_t)(2 << 1 | (rd ? F_READ : 0)));
	fzo_u64(o, v);
}

/* rep insw/outsw of @count words at the data port. */
static void s_rep_data(struct fz_out *o, bool in, uint32_t count, uint32_t gpa)
{
	fzo_u8(o, OP_REP);
	fzo_u8(o, (uint8_t)(F_RAWCOUNT | 1 << 1 | (in ? F_READ : 0)));
	fzo_u8(o, 0); /* 0x1f0 */
	fzo_u32(o, count);
	fzo_u64(o, gpa);
}

static void s_ram(struct fz_out *o, uint32_t gpa, const void *p, uint16_t len)
{
	fzo_u8(o, OP_RAM);
	fzo_u32(o, gpa);
	fzo_u16(o, len);
	fzo_bytes(o, p, len);
}

static void s_wait(struct fz_out *o)
{
	fzo_u8(o, OP_WAIT);
	fzo_u8(o, 3);
}

static void s_ata(struct fz_out *o, uint8_t cmd, uint8_t mode, uint32_t lba,
		  uint16_t n)
{
	fzo_u8(o, OP_ATA);
	fzo_u8(o, cmd);
	fzo_u8(o, mode);
	fzo_u32(o, lba);
	fzo_u16(o, n);
}

static void s_lba28(struct fz_out *o, uint32_t lba, uint8_t n, uint8_t cmd)
{
	s_out(o, 0x1f6, 1, 0xe0 | (lba >> 24));
	s_out(o, 0x1f2, 1, n);
	s_out(o, 0x1f3, 1, lba & 0xff);
	s_out(o, 0x1f4, 1, (lba >> 8) & 0xff);
	s_out(o, 0x1f5, 1, (lba >> 16) & 0xff);
	s_out(o, 0x1f7, 1, cmd);
}

static void s_dma(struct fz_out *o, bool write, uint8_t cmd, uint16_t sectors,
		  bool ext)
{
	uint32_t prd[4] = { 0x10000, 1024 | 0, 0x20000,
			    (uint32_t)(sectors * 512 - 1024) | PVK_BM_PRD_EOT };

	s_ram(o, 0x1000, prd, sizeof(prd));
	s_out(o, BM + 4, 4, 0x1000);
	s_out(o, BM + 2, 1, PVK_BM_ST_ERR | PVK_BM_ST_INTR);
	if (ext) {
		s_out(o, 0x1f6, 1, 0xe0);
		s_out(o, 0x1f2, 1, 0);
		s_out(o, 0x1f3, 1, 0);
		s_out(o, 0x1f4, 1, 0);
		s_out(o, 0x1f5, 1, 0);
		s_out(o, 0x1f2, 1, sectors);
		s_out(o, 0x1f3, 1, 40);
		s_out(o, 0x1f4, 1, 0);
		s_out(o, 0x1f5, 1, 0);
		s_out(o, 0x1f7, 1, cmd);
	} else {
		s_lba28(o, 40, (uint8_t)sectors, cmd);
	}
	s_out(o, BM, 1, PVK_BM_CMD_START | (write ? 0 : PVK_BM_CMD_READ));
	s_wait(o);
	s_in(o, BM + 2);
	s_out(o, BM, 1, 0);
	s_in(o, 0x1f7);
}

static void s_frame(struct fz_out *o, uint8_t dst, uint16_t len)
{
	uint8_t fr[256] = { 0 };

	memcpy(fr + 6, "\x02\x00\x00\xaa\xbb\xcc", 6);
	fr[12] = 0x88;
	fr[13] = 0xb5;
	for (unsigned int i = 14; i < len && i < sizeof(fr); i++)
		fr[i] = (uint8_t)(i * 7);
	fzo_u8(o, OP_FRAME);
	fzo_u8(o, dst);
	fzo_u16(o, len);
	fzo_bytes(o, fr, len);
}

static void s_e1000_init(struct fz_out *o)
{
	uint8_t d[16];

	s_reg(o, PVK_E1000_CTRL, false, PVK_E1000_CTRL_RST);
	s_reg(o, PVK_E1000_CTRL, false, PVK_E1000_CTRL_SLU);
	s_reg(o, PVK_E1000_EERD, false, 1u << 8 | 1);
	s_reg(o, PVK_E1000_EERD, true, 0);
	s_reg(o, PVK_E1000_IMS, false, 0xffff);
	/* RX: 8 descriptors of 2 KiB at 0x200000. */
	for (uint32_t i = 0; i < 8; i++) {
		uint64_t buf = 0x201000 + i * 2048ull;

		memset(d, 0, sizeof(d));
		memcpy(d, &buf, 8);
		s_ram(o, 0x200000 + 16 * i, d, 16);
	}
	s_reg(o, PVK_E1000_RDBAL, false, 0x200000);
	s_reg(o, PVK_E1000_RDBAH, false, 0);
	s_reg(o, PVK_E1000_RDLEN, false, 128);
	s_reg(o, PVK_E1000_RDH, false, 0);
	s_reg(o, PVK_E1000_RDT, false, 7);
	s_reg(o, PVK_E1000_RCTL, false, PVK_E1000_RCTL_EN | PVK_E1000_RCTL_BAM);
	/* TX: 8 descriptors at 0x100000. */
	s_reg(o, PVK_E1000_TDBAL, false, 0x100000);
	s_reg(o, PVK_E1000_TDBAH, false, 0);
	s_reg(o, PVK_E1000_TDLEN, false, 128);
	s_reg(o, PVK_E1000_TDH, false, 0);
	s_reg(o, PVK_E1000_TDT, false, 0);
	s_reg(o, PVK_E1000_TCTL, false, PVK_E1000_TCTL_EN);
}

static void s_e1000_send(struct fz_out *o, uint32_t slot, uint16_t len,
			 uint8_t cmd)
{
	uint8_t d[16] = { 0 }, fr[128] = { 0 };
	uint64_t buf = 0x110000 + slot * 0x1000ull;

	memset(fr, 0xff, 6);
	memcpy(fr + 6, nic_mac, 6);
	fr[12] = 0x88;
	fr[13] = 0xb5;
	s_ram(o, (uint32_t)buf, fr, sizeof(fr));
	memcpy(d, &buf, 8);
	d[8] = (uint8_t)len;
	d[9] = (uint8_t)(len >> 8);
	d[11] = cmd;
	d[13] = 14; /* CSS */
	d[10] = 20; /* CSO */
	s_ram(o, 0x100000 + 16 * slot, d, 16);
	s_reg(o, PVK_E1000_TDT, false, slot + 1);
}

void fuzz_seeds(void)
{
	struct fz_out o;
	uint8_t junk[64];

	/* IDENTIFY, then PIO reads and a write, LBA28 and LBA48. */
	o.n = 0;
	s_out(&o, 0x1f6, 1, 0xa0);
	s_out(&o, 0x1f7, 1, PVK_ATA_IDENTIFY);
	s_in(&o, 0x1f7);
	s_rep_data(&o, true, 256, 0x2000);
	s_lba28(&o, 5, 2, PVK_ATA_READ_SECTORS);
	s_rep_data(&o, true, 512, 0x3000);
	s_in(&o, 0x3f6);
	s_lba28(&o, 7, 1, PVK_ATA_WRITE_SECTORS);
	s_rep_data(&o, false, 256, 0x4000);
	s_in(&o, 0x1f7);
	s_out(&o, 0x1f6, 1, 0x40);
	s_out(&o, 0x1f2, 1, 0);
	s_out(&o, 0x1f3, 1, 0);
	s_out(&o, 0x1f2, 1, 1);
	s_out(&o, 0x1f3, 1, 9);
	s_out(&o, 0x1f7, 1, PVK_ATA_READ_SECTORS_EXT);
	s_rep_data(&o, true, 128, 0x5000);
	s_in(&o, 0x1f0);
	fz_seed_emit("seed-ide-identify-pio", &o);

	/* The disk's last sectors, LBA28, LBA48 and CHS, reads and writes
	 * (the fuzzer moves them one past the end). */
	o.n = 0;
	s_ata(&o, PVK_ATA_WRITE_SECTORS, A_FROM_END, 2, 2);
	s_rep_data(&o, false, 512, 0x4000);
	s_ata(&o, PVK_ATA_READ_SECTORS_EXT, A_EXT | A_FROM_END, 1, 1);
	s_rep_data(&o, true, 256, 0x5000);
	s_ata(&o, PVK_ATA_WRITE_SECTORS, A_CHS | A_FROM_END, 1, 1);
	s_rep_data(&o, false, 256, 0x4000);
	s_ata(&o, PVK_ATA_WRITE_DMA_EXT, A_EXT | A_FROM_END, 1, 2);
	fz_seed_emit("seed-ide-disk-end", &o);

	/* Bus-master DMA, read and write, with a two-entry PRD table. */
	o.n = 0;
	s_dma(&o, false, PVK_ATA_READ_DMA, 8, false);
	s_dma(&o, true, PVK_ATA_WRITE_DMA_EXT, 8, true);
	s_out(&o, 0x1f7, 1, PVK_ATA_FLUSH_CACHE);
	s_wait(&o);
	fz_seed_emit("seed-ide-dma", &o);

	/* Soft reset in the middle of a DMA, control register, SET
	 * FEATURES. */
	o.n = 0;
	s_out(&o, 0x1f1, 1, 0x03);
	s_out(&o, 0x1f2, 1, 0x45);
	s_out(&o, 0x1f7, 1, PVK_ATA_SET_FEATURES);
	s_out(&o, 0x3f6, 1, PVK_ATA_CTL_NIEN);
	s_dma(&o, false, PVK_ATA_READ_DMA_EXT, 4, true);
	s_out(&o, 0x3f6, 1, PVK_ATA_CTL_SRST);
	s_out(&o, 0x3f6, 1, 0);
	s_wait(&o);
	s_in(&o, 0x1f7);
	fz_seed_emit("seed-ide-reset", &o);

	/* e1000: reset, EEPROM, rings, a frame each way, ICR. */
	o.n = 0;
	s_e1000_init(&o);
	s_e1000_send(&o, 0, 60,
		     PVK_E1000_TXD_EOP | PVK_E1000_TXD_IFCS | PVK_E1000_TXD_RS |
			     PVK_E1000_TXD_IC);
	s_frame(&o, 0, 64);
	s_frame(&o, 1, 60);
	s_frame(&o, 3, 60);
	s_wait(&o);
	s_reg(&o, PVK_E1000_ICR, true, 0);
	s_reg(&o, PVK_E1000_RDH, true, 0);
	s_reg(&o, PVK_E1000_GPRC, true, 0);
	fz_seed_emit("seed-e1000-tx-rx", &o);

	/* e1000: a chain of two descriptors, then garbage in the ring. */
	o.n = 0;
	s_e1000_init(&o);
	s_e1000_send(&o, 0, 40, PVK_E1000_TXD_IFCS);
	s_e1000_send(&o, 1, 30, PVK_E1000_TXD_EOP | PVK_E1000_TXD_RS);
	memset(junk, 0xa5, sizeof(junk));
	s_ram(&o, 0x100020, junk, sizeof(junk));
	s_reg(&o, PVK_E1000_TDT, false, 6);
	s_frame(&o, 0, 200);
	fz_seed_emit("seed-e1000-chain", &o);

	/* Both, and string MMIO through the e1000's registers. */
	o.n = 0;
	s_e1000_init(&o);
	s_dma(&o, false, PVK_ATA_READ_DMA, 2, false);
	fzo_u8(&o, OP_REP);
	fzo_u8(&o, F_MMIO | 2 << 1 | F_READ);
	fzo_u8(&o, 22); /* the statistics */
	fzo_u8(&o, 0);
	fzo_u32(&o, 63);
	fzo_u64(&o, 0x300000);
	s_frame(&o, 0, 100);
	fz_seed_emit("seed-both", &o);
}
