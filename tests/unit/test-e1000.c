/* SPDX-License-Identifier: MIT */
/*
 * test-e1000: the emulated e1000 (pvkit/dm_e1000.h) served by a device
 * model on the loop hypervisor, driven by the guest driver
 * (pvkit/e1000_guest.h) and by raw register accesses from the guest's
 * vCPU (this thread), its wire a real TAP in a network namespace of our
 * own with a packet socket at the other end.  Register semantics after
 * Intel's 8254x manual, frames both ways, the interrupt line, hostile
 * guests.  Exits 77 (skipped) where no network namespace can be made.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvkit/dm_e1000.h>
#include <pvkit/dmodel.h>
#include <pvkit/e1000_guest.h>
#include <pvkit/gio.h>
#include <pvkit/net.h>

#include "../common/t_dmodel.h"

#define MMIO 0xfebc0000ull
#define IRQ 11
#define DRV_MEM 0x100000ull /* the driver's rings and buffers */
#define RAW 0x300000ull /* rings of the raw tests */
#define RAW_BUF 0x310000ull
#define FAR (1ull << 40) /* not guest memory */
#define ETHERTYPE 0x88b5 /* IEEE local experimental */

/* Registers (8254x manual, table 13-2). */
#define CTRL 0x0000
#define STATUS 0x0008
#define EECD 0x0010
#define EERD 0x0014
#define MDIC 0x0020
#define ICR 0x00c0
#define ICS 0x00c8
#define IMS 0x00d0
#define IMC 0x00d8
#define RCTL 0x0100
#define TCTL 0x0400
#define RDBAL 0x2800
#define RDBAH 0x2804
#define RDLEN 0x2808
#define RDH 0x2810
#define RDT 0x2818
#define TDBAL 0x3800
#define TDBAH 0x3804
#define TDLEN 0x3808
#define TDH 0x3810
#define TDT 0x3818
#define MPC 0x4010
#define GPRC 0x4074
#define GPTC 0x4080
#define TPR 0x40d0
#define TPT 0x40d4
#define RAL0 0x5400
#define RAH0 0x5404

#define TXDW (1u << 0)
#define LSC (1u << 2)
#define RXO (1u << 6)
#define RXT0 (1u << 7)

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct env {
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *ghv;
	uint32_t guest;
	struct pvk_dmodel *dm;
	struct pvk_e1000 *nic;
	struct pvk_gio *g;
	struct t_dmthread dmt;
	int ps;
	pthread_mutex_t log_lock;
	unsigned int log_lines;
	char log[1024];
};

static void log_line(void *arg, const char *line)
{
	struct env *e = arg;
	size_t n;

	pthread_mutex_lock(&e->log_lock);
	e->log_lines++;
	n = strlen(e->log);
	snprintf(e->log + n, sizeof(e->log) - n, "%s\n", line);
	pthread_mutex_unlock(&e->log_lock);
}

static unsigned int log_count(struct env *e)
{
	unsigned int n;

	pthread_mutex_lock(&e->log_lock);
	n = e->log_lines;
	pthread_mutex_unlock(&e->log_lock);
	return n;
}

static int packet_socket(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETHERTYPE) };
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETHERTYPE));

	assert_true(s >= 0);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	assert_true(sll.sll_ifindex > 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct pvk_e1000_config cfg = {
		.base = MMIO, .irq = IRQ, .tap = "pvke%d", .log = log_line
	};
	struct pvk_nl *nl;

	assert_non_null(e);
	pthread_mutex_init(&e->log_lock, NULL);
	cfg.log_arg = e;
	memcpy(cfg.mac, mac, 6);
	assert_int_equal(pvk_loop_create(&e->loop), 0);
	assert_int_equal(pvk_hv_open_loop(&e->hv0, e->loop, 0), 0);
	assert_int_equal(pvk_loop_domain_create(e->loop, "hvm", &e->guest), 0);
	assert_int_equal(pvk_hv_open_loop(&e->ghv, e->loop, e->guest), 0);
	assert_int_equal(pvk_dmodel_create(&e->dm, e->hv0, e->guest), 0);
	cfg.irq = 16;
	assert_int_equal(pvk_e1000_create(&e->nic, e->dm, &cfg), -EINVAL);
	cfg.irq = IRQ;
	cfg.base = MMIO + 0x1000;
	assert_int_equal(pvk_e1000_create(&e->nic, e->dm, &cfg), -EINVAL);
	cfg.base = MMIO;
	assert_int_equal(pvk_e1000_create(&e->nic, e->dm, &cfg), 0);
	assert_int_equal(pvk_nl_open(&nl), 0);
	assert_int_equal(
		pvk_nl_link_set_mtu(nl, pvk_e1000_ifname(e->nic), 9000), 0);
	assert_int_equal(pvk_nl_link_set_up(nl, pvk_e1000_ifname(e->nic), true),
			 0);
	pvk_nl_close(nl);
	e->ps = packet_socket(pvk_e1000_ifname(e->nic));
	assert_int_equal(pvk_dmodel_enable(e->dm), 0);
	assert_int_equal(t_dmthread_start(&e->dmt, e->dm), 0);
	assert_int_equal(pvk_gio_open(&e->g, e->ghv, 0), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	pvk_gio_close(e->g);
	t_dmthread_stop(&e->dmt);
	assert_int_equal(e->dmt.err, 0);
	pvk_dmodel_destroy(e->dm);
	pvk_e1000_destroy(e->nic);
	close(e->ps);
	pvk_hv_close(e->ghv);
	pvk_hv_close(e->hv0);
	pvk_loop_destroy(e->loop);
	pthread_mutex_destroy(&e->log_lock);
	free(e);
	return 0;
}

static uint32_t r32(struct env *e, uint32_t off)
{
	return pvk_mmio_read32(e->g, MMIO + off);
}

static void w32(struct env *e, uint32_t off, uint32_t v)
{
	pvk_mmio_write32(e->g, MMIO + off, v);
}

static uint16_t lines(struct env *e)
{
	uint16_t l = 0xffff;

	assert_int_equal(pvk_gio_irqs(e->g, &l), 0);
	return l;
}

static struct pvk_e1000_stats stats(struct env *e)
{
	struct pvk_e1000_stats st;

	pvk_e1000_stats(e->nic, &st);
	return st;
}

/* Wait (the device model runs in its own thread) until @field of the
 * device's statistics reaches @want. */
#define WAIT_STAT(e, field, want)                                           \
	do {                                                                \
		for (int i_ = 0; i_ < 200 && stats(e).field < (want); i_++) \
			usleep(10000);                                      \
		assert_int_equal(stats(e).field, (want));                   \
		(void)r32(e, STATUS); /* the model's thread is done */      \
	} while (0)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t make_frame(uint8_t *f, const uint8_t *dst, size_t len,
			 unsigned int seed)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, "\x02\x00\x00\xaa\xbb\xcc", 6);
	f[12] = ETHERTYPE >> 8;
	f[13] = ETHERTYPE & 0xff;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(seed + i * 7);
	return len;
}

/* A frame from the wire's other end, or -ETIMEDOUT. */
static ssize_t wire_recv(struct env *e, uint8_t *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = e->ps, .events = POLLIN };
	struct sockaddr_ll sll;
	socklen_t sl;
	ssize_t n;

	for (;;) {
		if (poll(&p, 1, ms) != 1)
			return -ETIMEDOUT;
		sl = sizeof(sll);
		n = recvfrom(e->ps, buf, len, 0, (struct sockaddr *)&sll, &sl);
		if (n < 0 || sll.sll_pkttype != PACKET_OUTGOING)
			return n;
	}
}

static void wire_send(struct env *e, const uint8_t *f, size_t len)
{
	assert_int_equal(send(e->ps, f, len, 0), (ssize_t)len);
}

/* The EEPROM through EECD, as Linux's e1000 reads a Microwire part. */
static uint16_t eecd_read_word(struct env *e, unsigned int addr)
{
	uint32_t cs = 0x40 | 0x2, in = 6u << 6 | addr, di;
	uint16_t w = 0;

	w32(e, EECD, 0x40); /* REQ */
	assert_true(r32(e, EECD) & 0x80); /* GNT */
	assert_true(r32(e, EECD) & 0x100); /* PRES */
	w32(e, EECD, cs);
	for (int i = 8; i >= 0; i--) {
		di = (in >> i) & 1 ? 0x4 : 0;
		w32(e, EECD, cs | di);
		w32(e, EECD, cs | di | 0x1);
		w32(e, EECD, cs | di);
	}
	for (int i = 0; i < 16; i++) {
		w32(e, EECD, cs | 0x1);
		w = (uint16_t)(w << 1 | !!(r32(e, EECD) & 0x8));
		w32(e, EECD, cs);
	}
	w32(e, EECD, 0);
	return w;
}

static uint16_t eerd_read_word(struct env *e, unsigned int addr)
{
	uint32_t v;

	w32(e, EERD, addr << 8 | 1);
	v = r32(e, EERD);
	assert_true(v & 0x10); /* DONE */
	assert_int_equal((v >> 8) & 0xff, addr);
	return (uint16_t)(v >> 16);
}

static void t_registers(void **state)
{
	struct env *e = *state;
	uint16_t sum = 0, w;

	/* STATUS: full duplex, link up, 1000 Mb/s. */
	assert_int_equal(r32(e, STATUS) & 0xc3, 0x83);
	/* EEPROM: the MAC in words 0..2, the words sum to 0xBABA. */
	for (unsigned int i = 0; i < 64; i++) {
		w = eerd_read_word(e, i);
		if (i < 3)
			assert_int_equal(w, mac[2 * i] | mac[2 * i + 1] << 8);
		sum = (uint16_t)(sum + w);
	}
	assert_int_equal(sum, 0xbaba);
	assert_int_equal(eecd_read_word(e, 1), mac[2] | mac[3] << 8);
	assert_int_equal(eecd_read_word(e, 63), eerd_read_word(e, 63));
	/* The receive address is loaded from the EEPROM, valid. */
	assert_int_equal(r32(e, RAL0), 0x12005452);
	assert_int_equal(r32(e, RAH0), 0x80005634);
	/* The PHY: status register with link up. */
	w32(e, MDIC, 2u << 26 | 1u << 21 | 1u << 16);
	assert_true(r32(e, MDIC) & (1u << 28));
	assert_true(r32(e, MDIC) & 0x4);

	/* ICR: read clears; masked causes leave the line low. */
	assert_int_equal(r32(e, ICR), 0);
	assert_int_equal(lines(e), 0);
	w32(e, ICS, TXDW);
	assert_int_equal(lines(e), 0);
	assert_int_equal(r32(e, ICR), TXDW);
	assert_int_equal(r32(e, ICR), 0);
	/* Unmasked: the line goes high, and low when ICR is read. */
	w32(e, IMS, LSC | RXT0);
	assert_int_equal(r32(e, IMS), LSC | RXT0);
	w32(e, ICS, LSC);
	assert_int_equal(lines(e), 1u << IRQ);
	assert_int_equal(r32(e, ICR), LSC);
	assert_int_equal(lines(e), 0);
	/* IMC masks (the cause stays); writing ones to ICR clears. */
	w32(e, ICS, RXT0);
	assert_int_equal(lines(e), 1u << IRQ);
	w32(e, IMC, RXT0);
	assert_int_equal(r32(e, IMS), LSC);
	assert_int_equal(lines(e), 0);
	w32(e, ICS, TXDW);
	w32(e, ICR, TXDW);
	assert_int_equal(r32(e, ICR), RXT0);
	/* Setting CTRL.SLU is a link status change. */
	w32(e, CTRL, 1u << 6);
	assert_int_equal(lines(e), 1u << IRQ);
	assert_int_equal(r32(e, ICR), LSC);
	assert_int_equal(lines(e), 0);
	assert_int_equal(stats(e).irq_raised, 3);
	assert_int_equal(stats(e).irq_lowered, 3);
	/* CTRL.RST: registers back to their defaults, RST self-clears. */
	w32(e, RAL0, 0xdeadbeef);
	w32(e, IMS, TXDW);
	w32(e, CTRL, 1u << 26);
	assert_int_equal(r32(e, CTRL) & (1u << 26), 0);
	assert_int_equal(r32(e, RAL0), 0x12005452);
	assert_int_equal(r32(e, IMS), 0);
	/* A ring length not a multiple of 128 is refused, logged once. */
	w32(e, TDLEN, 256);
	w32(e, TDLEN, 100);
	assert_int_equal(r32(e, TDLEN), 256);
	w32(e, RDLEN, PVK_E1000_RING_MAX + 128);
	assert_int_equal(r32(e, RDLEN), 0);
	assert_int_equal(stats(e).bad_ring, 2);
	assert_int_equal(log_count(e), 1);
	/* 2-byte accesses are not the NIC's. */
	e->g->ops->write(e->g, PVK_DM_MMIO, MMIO + TDLEN, 2, 128);
	assert_int_equal(r32(e, TDLEN), 256);
	assert_int_equal(stats(e).bad_access, 1);
	assert_int_equal(e->g->err, 0);
}

static void t_tx(void **state)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct env *e = *state;
	struct pvk_e1000g *d;
	uint8_t f[6000], got[9100], m[6];
	uint64_t traps;
	size_t len;

	assert_int_equal(pvk_e1000g_open(&d, e->g, MMIO, DRV_MEM + 1, IRQ),
			 -EINVAL);
	assert_int_equal(pvk_e1000g_open(&d, e->g, MMIO, DRV_MEM, IRQ), 0);
	pvk_e1000g_mac(d, m);
	assert_memory_equal(m, mac, 6);
	print_message("open: %llu traps\n", (unsigned long long)e->g->traps);
	/* Small frames, one descriptor each. */
	traps = e->g->traps;
	for (unsigned int i = 0; i < 40; i++) {
		len = make_frame(f, bcast, 60 + i, i);
		assert_int_equal(pvk_e1000g_send(d, f, len), 0);
		assert_int_equal(wire_recv(e, got, sizeof(got), 2000),
				 (ssize_t)len);
		assert_memory_equal(got, f, len);
	}
	print_message("send: %.2f traps per frame\n",
		      (double)(e->g->traps - traps) / 40);
	assert_int_equal(e->g->traps - traps, 40);
	/* 5000 bytes: three descriptors, one frame. */
	len = make_frame(f, bcast, 5000, 99);
	assert_int_equal(pvk_e1000g_send(d, f, len), 0);
	assert_int_equal(wire_recv(e, got, sizeof(got), 2000), (ssize_t)len);
	assert_memory_equal(got, f, len);
	assert_int_equal(pvk_e1000g_send(d, f, 13), -EMSGSIZE);
	assert_int_equal(pvk_e1000g_send(d, f, PVK_E1000G_FRAME_MAX + 1),
			 -EMSGSIZE);
	/* The statistics registers count, and reading clears them. */
	assert_int_equal(r32(e, GPTC), 41);
	assert_int_equal(r32(e, GPTC), 0);
	assert_int_equal(r32(e, TPT), 41);
	assert_int_equal(stats(e).tx_frames, 41);
	assert_int_equal(stats(e).tx_dma_faults + stats(e).tx_oversize, 0);
	assert_int_equal(log_count(e), 0);
	pvk_e1000g_close(d);
}

static void t_rx(void **state)
{
	static const uint8_t other[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	struct env *e = *state;
	struct pollfd p = { .fd = e->g->irq_fd, .events = POLLIN };
	struct pvk_e1000g_stats ds;
	struct pvk_e1000g *d;
	uint8_t f[6000], got[6000];
	uint64_t traps;
	size_t len;
	double t0;

	assert_int_equal(pvk_e1000g_open(&d, e->g, MMIO, DRV_MEM, IRQ), 0);
	assert_int_equal(lines(e), 0);
	/* A frame for us raises the line (RXT0) ... */
	len = make_frame(f, mac, 100, 1);
	wire_send(e, f, len);
	assert_int_equal(poll(&p, 1, 2000), 1);
	assert_int_equal(lines(e), 1u << IRQ);
	traps = e->g->traps;
	assert_int_equal(pvk_e1000g_recv(d, got, sizeof(got), 2000), (int)len);
	assert_memory_equal(got, f, len);
	assert_int_equal(e->g->traps, traps); /* found in RAM */
	/* ... and reading ICR lowers it. */
	assert_true(r32(e, ICR) & RXT0);
	assert_int_equal(lines(e), 0);

	/* Waiting for each frame: woken by the line, not by the timeout. */
	traps = e->g->traps;
	t0 = now_s();
	for (unsigned int i = 0; i < 40; i++) {
		len = make_frame(f, mac, 60 + i * 30, i);
		wire_send(e, f, len);
		assert_int_equal(pvk_e1000g_recv(d, got, sizeof(got), 2000),
				 (int)len);
		assert_memory_equal(got, f, len);
	}
	print_message("recv, one at a time: %.2f traps per frame\n",
		      (double)(e->g->traps - traps) / 40);
	assert_true(now_s() - t0 < 10.0); /* 40 timeouts would be 80 s */
	assert_true(e->g->traps - traps <= 40 * 3);
	/* A burst already in the ring. */
	for (unsigned int i = 0; i < 24; i++)
		wire_send(e, f, make_frame(f, mac, 200, i));
	WAIT_STAT(e, rx_frames, 1 + 40 + 24);
	traps = e->g->traps;
	for (unsigned int i = 0; i < 24; i++) {
		assert_int_equal(pvk_e1000g_recv(d, got, sizeof(got), 2000),
				 200);
		make_frame(f, mac, 200, i);
		assert_memory_equal(got, f, 200);
	}
	print_message("recv, a burst of 24: %.2f traps per frame\n",
		      (double)(e->g->traps - traps) / 24);
	assert_true(e->g->traps - traps <= 24 / PVK_E1000G_RX_BATCH + 1);
	/* 5000 bytes over three descriptors. */
	len = make_frame(f, mac, 5000, 77);
	wire_send(e, f, len);
	assert_int_equal(pvk_e1000g_recv(d, got, sizeof(got), 2000), (int)len);
	assert_memory_equal(got, f, len);
	/* Too long for the caller: dropped, the next one comes. */
	wire_send(e, f, len);
	wire_send(e, f, make_frame(f, mac, 64, 5));
	assert_int_equal(pvk_e1000g_recv(d, got, 1000, 2000), -EMSGSIZE);
	assert_int_equal(pvk_e1000g_recv(d, got, 1000, 2000), 64);
	/* Not for our address: filtered. */
	wire_send(e, f, make_frame(f, other, 64, 6));
	WAIT_STAT(e, rx_filtered, 1);
	assert_int_equal(pvk_e1000g_recv(d, got, sizeof(got), 100), -ETIMEDOUT);
	assert_int_equal(pvk_e1000g_recv(d, got, sizeof(got), 0), -ETIMEDOUT);
	assert_int_equal(r32(e, GPRC), 1 + 40 + 24 + 3);
	assert_int_equal(r32(e, GPRC), 0);
	assert_int_equal(r32(e, TPR), 1 + 40 + 24 + 4);
	assert_int_equal(stats(e).rx_missed, 0);
	pvk_e1000g_stats(d, &ds);
	assert_int_equal(ds.rx_frames, 1 + 40 + 24 + 2);
	assert_int_equal(ds.rx_errors, 1);
	assert_true(ds.icr & RXT0);
	assert_int_equal(log_count(e), 0);
	pvk_e1000g_close(d);
}

static void put_txd(struct env *e, unsigned int i, uint64_t addr, uint16_t len,
		    uint8_t cmd)
{
	uint8_t *d = e->g->ram + RAW + i * 16;

	memset(d, 0, 16);
	for (int k = 0; k < 8; k++)
		d[k] = (uint8_t)(addr >> (8 * k));
	d[8] = (uint8_t)len;
	d[9] = (uint8_t)(len >> 8);
	d[11] = cmd;
}

static bool wire_quiet(struct env *e)
{
	uint8_t got[2048];

	return wire_recv(e, got, sizeof(got), 150) == -ETIMEDOUT;
}

static void t_hostile_tx(void **state)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct env *e = *state;
	uint8_t *f = e->g->ram + RAW_BUF, got[2048];
	uint32_t sum;

	make_frame(f, bcast, 60, 3);
	w32(e, TDBAL, (uint32_t)RAW);
	w32(e, TDBAH, 0);
	w32(e, TDLEN, 130); /* not a multiple of 128 */
	assert_int_equal(r32(e, TDLEN), 0);
	w32(e, TDLEN, 128); /* 8 descriptors */
	w32(e, TCTL, 2);
	/* A tail beyond the ring is ignored. */
	w32(e, TDT, 8);
	w32(e, TDT, 0x12345);
	assert_int_equal(r32(e, TDT), 0);
	assert_int_equal(stats(e).bad_index, 2);
	/* A buffer outside guest memory: dropped, still written back. */
	put_txd(e, 0, FAR, 60, 0x1 | 0x8);
	w32(e, TDT, 1);
	assert_int_equal(r32(e, TDH), 1);
	assert_int_equal(e->g->ram[RAW + 12] & 1, 1);
	assert_int_equal(stats(e).tx_dma_faults, 1);
	assert_true(wire_quiet(e));
	/* A chain without EOP past 16 KiB: dropped up to its EOP. */
	for (unsigned int i = 1; i < 8; i++)
		put_txd(e, i, RAW_BUF, 4096, 0);
	w32(e, TDT, 0); /* descriptors 1..7 */
	assert_int_equal(r32(e, TDH), 0);
	assert_int_equal(stats(e).tx_oversize, 1);
	put_txd(e, 0, RAW_BUF, 60, 0x1); /* its end */
	put_txd(e, 1, RAW_BUF, 60, 0x1); /* a good frame */
	w32(e, TDT, 1);
	assert_true(wire_quiet(e));
	w32(e, TDT, 2);
	assert_int_equal(wire_recv(e, got, sizeof(got), 2000), 60);
	assert_memory_equal(got, f, 60);
	assert_int_equal(stats(e).tx_frames, 1);
	/* A chain of empty descriptors without EOP all round the ring:
	 * one ring's worth, then the next TDT write. */
	for (unsigned int i = 0; i < 8; i++)
		put_txd(e, i, RAW_BUF, 0, 0);
	w32(e, TDT, 1);
	assert_int_equal(r32(e, TDH), 1);
	/* The ring itself outside guest memory. */
	w32(e, TDBAH, 0x100);
	w32(e, TDT, 5);
	assert_int_equal(r32(e, TDH), 5);
	assert_int_equal(stats(e).tx_dma_faults, 5);
	/* A checksum offset outside the frame. */
	w32(e, TDBAH, 0);
	put_txd(e, 5, RAW_BUF, 60, 0x1 | 0x4);
	e->g->ram[RAW + 5 * 16 + 10] = 200; /* CSO */
	e->g->ram[RAW + 5 * 16 + 13] = 14; /* CSS */
	w32(e, TDT, 6);
	assert_int_equal(stats(e).tx_unsupported, 1);
	assert_int_equal(wire_recv(e, got, sizeof(got), 2000), 60);
	/* CMD.IC done right: the ones' complement sum from CSS on, with
	 * the field, is then all ones. */
	f[14] = f[15] = 0;
	put_txd(e, 6, RAW_BUF, 60, 0x1 | 0x4);
	e->g->ram[RAW + 6 * 16 + 10] = 14;
	e->g->ram[RAW + 6 * 16 + 13] = 14;
	w32(e, TDT, 7);
	assert_int_equal(wire_recv(e, got, sizeof(got), 2000), 60);
	assert_memory_equal(got + 16, f + 16, 44);
	sum = 0;
	for (unsigned int i = 14; i < 60; i += 2)
		sum += (uint32_t)(got[i] << 8 | got[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff);
	assert_int_equal(stats(e).tx_unsupported, 1);
	assert_int_equal(e->g->err, 0);
	/* bad_ring, bad_index, tx_dma, tx_long, tx_unsup: once each. */
	assert_int_equal(log_count(e), 5);
}

static void t_hostile_rx(void **state)
{
	struct env *e = *state;
	uint8_t f[128], *d = e->g->ram + RAW;

	/* RX on with RDLEN 0: frames are missed. */
	w32(e, IMS, RXO | RXT0);
	w32(e, RCTL, 2 | (1u << 26));
	wire_send(e, f, make_frame(f, mac, 64, 1));
	WAIT_STAT(e, rx_missed, 1);
	assert_int_equal(r32(e, MPC), 1);
	assert_int_equal(r32(e, MPC), 0);
	assert_int_equal(lines(e), 1u << IRQ);
	assert_int_equal(r32(e, ICR), RXO);
	/* A head beyond the ring is ignored. */
	w32(e, RDBAL, (uint32_t)RAW);
	w32(e, RDBAH, 0);
	w32(e, RDLEN, 128);
	w32(e, RDT, 9);
	assert_int_equal(r32(e, RDT), 0);
	assert_int_equal(stats(e).bad_index, 1);
	/* A buffer outside guest memory: the frame is dropped, the
	 * descriptor done with an error. */
	memset(d, 0, 128);
	for (int k = 0; k < 8; k++)
		d[k] = (uint8_t)(FAR >> (8 * k));
	w32(e, RDT, 4);
	wire_send(e, f, make_frame(f, mac, 64, 2));
	WAIT_STAT(e, rx_dma_faults, 1);
	assert_int_equal(d[12], 0x3); /* DD | EOP */
	assert_int_equal(d[13], 0x80); /* RXE */
	assert_int_equal(r32(e, RDH), 1);
	assert_int_equal(r32(e, GPRC), 0);
	/* The ring outside guest memory. */
	w32(e, RDBAH, 0x100);
	wire_send(e, f, make_frame(f, mac, 64, 3));
	WAIT_STAT(e, rx_dma_faults, 2);
	/* Then a good one, with its FCS (RCTL.SECRC clear): the CRC-32
	 * of the frame, as zlib computes it, least significant byte first. */
	w32(e, RDBAH, 0);
	w32(e, RCTL, 2);
	for (int k = 0; k < 8; k++)
		d[16 + k] = (uint8_t)((RAW_BUF) >> (8 * k));
	wire_send(e, f, make_frame(f, mac, 64, 4));
	WAIT_STAT(e, rx_frames, 1);
	assert_int_equal(d[16 + 12], 0x3);
	assert_int_equal(d[16 + 8], 68);
	assert_memory_equal(e->g->ram + RAW_BUF, f, 64);
	assert_memory_equal(e->g->ram + RAW_BUF + 64, "\x24\xce\xef\xb8", 4);
	assert_int_equal(r32(e, GPRC), 1);
	/* A frame longer than the legacy maximum without RCTL.LPE. */
	w32(e, RCTL, 2 | (1u << 26));
	{
		static uint8_t big[3000];

		wire_send(e, big, make_frame(big, mac, 3000, 5));
	}
	WAIT_STAT(e, rx_oversize, 1);
	assert_int_equal(e->g->err, 0);
	assert_int_equal(log_count(e), 2); /* bad_index, rx_dma */
}

/* The guest's driver on a NIC whose EEPROM checksum is right but whose
 * guest has already left it in a mess: open resets it. */
static void t_driver_after_mess(void **state)
{
	struct env *e = *state;
	struct pvk_e1000g *d;
	uint8_t f[100], got[100];

	w32(e, RDLEN, 128);
	w32(e, RDT, 3);
	w32(e, RCTL, 2);
	w32(e, IMS, ~0u);
	w32(e, ICS, ~0u);
	assert_int_equal(lines(e), 1u << IRQ);
	assert_int_equal(pvk_e1000g_open(&d, e->g, MMIO, DRV_MEM, IRQ), 0);
	assert_int_equal(lines(e), 0);
	wire_send(e, f, make_frame(f, mac, 100, 9));
	assert_int_equal(pvk_e1000g_recv(d, got, sizeof(got), 2000), 100);
	assert_memory_equal(got, f, 100);
	pvk_e1000g_close(d);
}

static int netns(void)
{
	int fd;

	if (access("/dev/net/tun", R_OK | W_OK) < 0) {
		fprintf(stderr, "SKIP: /dev/net/tun is not available\n");
		return -1;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "SKIP: cannot create a network namespace: %s\n",
			strerror(errno));
		return -1;
	}
	fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);
	if (fd >= 0) {
		(void)!write(fd, "1", 1); /* no IPv6 chatter on the TAP */
		close(fd);
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(t_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(t_rx, setup, teardown),
		cmocka_unit_test_setup_teardown(t_hostile_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(t_hostile_rx, setup, teardown),
		cmocka_unit_test_setup_teardown(t_driver_after_mess, setup,
						teardown),
	};

	if (netns() < 0)
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
