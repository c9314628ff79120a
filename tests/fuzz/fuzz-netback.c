// SPDX-License-Identifier: MIT
/*
 * fuzz-netback: pvkit's netback against a hostile frontend, on the loop
 * hypervisor, with its real TAP on a real bridge in a network namespace
 * of the fuzzer's own (as test-netback: no root, no run).
 *
 * One fixture for the whole run (built at the first input): a guest with
 * one vif connected through the raw test frontend (tests/net/
 * back_tfront.c) with a control ring, and a packet socket on the vif's
 * TAP that sees every frame netback writes there and injects frames for
 * the guest.  Each input is a script:
 *
 *   ops            which of the parts below run (and, rarely, a producer
 *                  index thrown far beyond the tx ring)
 *   page writes    bytes into the frontend's granted pages (frames)
 *   tx             raw 12-byte slots -- requests and extra-info slots --
 *                  published at once; fix-up bits map grefs onto the
 *                  granted pages, give unique ids, fit offset and size to
 *                  the page (the first slot's size to its packet), and
 *                  make an extra-info slot's type and GSO fields valid
 *   rx             raw rx requests (grefs mapped or left raw), then frames
 *                  injected on the TAP for the guest
 *   ctrl           raw control requests (gref mapped, unique id)
 *
 * Checked: the tx slots are answered exactly once each, in order, with
 * their ids (an extra-info slot NULL with its packet's id) and OKAY or
 * ERROR -- or, for a packet netif.h makes fatal (modelled here from the
 * list in pvkit/netback.h), the vif is latched broken and nothing after
 * it is answered; a packet that is not fatal never breaks the vif.  No
 * frame reaches the TAP but one of the size of a packet answered OKAY.
 * Every rx response sits in the slot of the request it answers, with its
 * id, a length within the page or an error; extras are GSO or hash.
 * Control responses come in order with their request's id and type and a
 * known status.  Every wait is bounded: a hang fails the input.  After a
 * fatal input the frontend reconnects (Closing, Closed, Connected).
 *
 * No fixed sleeps: each wait ends at its event.  The latch is awaited on
 * netback's log line (it logs once it has latched); "nothing answered
 * after the violation" is checked once the backend says Closing, when
 * its queue threads are joined (so over all the time it could still
 * answer, not a fixed 1 ms), together with every rx response left; frames
 * injected for the guest are awaited on the event channel until each has
 * an answer or 200 us passed (the old fixed wait), and never when no rx
 * buffer is posted (nothing can answer; a stray answer is caught by the
 * next drain, as one later than 200 us always was).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>

#include <pvkit/net.h>
#include <pvkit/netback.h>
#include <pvkit/netif.h>
#include <pvkit/xenbus.h>

#include "../common/t_wire.h"
#include "../net/back_tfront.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TX_PAGES 48 /* pages 0..47 carry tx frames, 48..63 rx buffers */
#define RX_PAGES (T_NFE_PAGES - TX_PAGES)
#define MAX_TX 64
#define MAX_RX 32
#define MAX_CTRL 8
#define MAX_FRAMES 6
#define WAIT_MS 5000
#define RX_WAIT_NS 200000 /* at most, for injected frames' answers */

enum {
	OP_TX = 1,
	OP_RX = 2,
	OP_CTRL = 4,
	OP_PAGES = 8,
	OP_SCRIBBLE = 0xf0, /* all four bits: throw tx req_prod away */
};

enum {
	FIX_GREF = 1, /* request: gref onto a granted page */
	FIX_ID = 2, /* request: a unique id */
	FIX_FIT = 4, /* request: offset and size within the page (first
		      * slot: its size the packet's) */
	FIX_EXTRA = 8, /* extra-info: a valid type, GSO size and type */
};

/* A frame a packet makes, as the TAP must show it: its size and, when the
 * model knows them (all in the first slot, on a tx page), its first
 * bytes -- which tell frames of one size apart. */
struct frame {
	uint32_t len;
	bool maydrop; /* the kernel may drop it */
	bool known;
	uint8_t head[PVK_NET_ETH_HLEN];
};

static struct {
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *tool, *hvu;
	struct pvk_xenbus_bus *bus;
	struct pvk_netback *nb;
	uint32_t domu;
	struct t_nfe fe;
	int ps; /* packet socket on the TAP */
	uint16_t id;
	/* rx: the ids of the requests posted, by ring index. */
	uint16_t rx_ids[256];
	uint32_t rx_posted;
	bool rx_extra; /* the next rx response slot is an extra-info */
	/* Packets answered OKAY since the last drain: frames the TAP must
	 * see, but for those netback counted as dropped and (maydrop) those
	 * the kernel itself may drop. */
	struct frame okay[MAX_TX];
	uint32_t nokay, nmaydrop;
	/* Frames seen on the TAP, and dropped by the kernel; netback's
	 * tx_packets and tx_dropped at the last drain. */
	uint64_t seen, kdropped, sent, dropped;
	/* Drops the kernel counted (kernel_drops()) at the last drain. */
	uint64_t kcounted;
	char tap[IFNAMSIZ];
	char last_log[256];
	int log_fd; /* eventfd: netback logged a line (it latched broken) */
} fx;

static void log_line(void *arg, const char *line)
{
	uint64_t one = 1;

	snprintf(fx.last_log, sizeof(fx.last_log), "%s", line);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "netback: %s\n", line);
	if (fx.log_fd > 0)
		(void)!write(fx.log_fd, &one, sizeof(one));
}

static void pump(void *arg, int ms)
{
	struct pollfd p = { .fd = pvk_xenbus_bus_fd(fx.bus), .events = POLLIN };

	if (poll(&p, 1, ms) > 0)
		FZ_CHECK(pvk_xenbus_bus_handle_events(fx.bus) == 0);
}

static void rx_reset(void)
{
	fx.rx_posted = 0;
	fx.rx_extra = false;
}

static void setup(void)
{
	struct pvk_netback_config cfg = { .type = "vif",
					  .tap_fmt = "pvkt%u.%u" };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };
	int rcvbuf = 16 << 20, one = 1;

	if (t_net_isolate() < 0) {
		fprintf(stderr, "fuzz-netback: SKIP: no network namespace of "
				"its own (needs root and /dev/net/tun)\n");
		exit(0);
	}
	fx.log_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	FZ_CHECK(fx.log_fd > 0);
	FZ_CHECK(pvk_loop_create(&fx.loop) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.hv0, fx.loop, 0) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.tool, fx.loop, 0) == 0);
	FZ_CHECK(pvk_loop_domain_create(fx.loop, "fuzz", &fx.domu) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.hvu, fx.loop, fx.domu) == 0);
	FZ_CHECK(pvk_xenbus_bus_create(&fx.bus, fx.hv0, log_line, NULL) == 0);
	FZ_CHECK(pvk_netback_create_on(&fx.nb, fx.bus, &cfg) == 0);
	FZ_CHECK(t_nfe_connect(&fx.fe, fx.tool, fx.hvu, fx.domu, 0, true, pump,
			       NULL) == 0);
	snprintf(fx.tap, sizeof(fx.tap), "pvkt%u.0", fx.domu);
	sll.sll_ifindex = (int)if_nametoindex(fx.tap);
	FZ_CHECK(sll.sll_ifindex > 0);
	fx.ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
		       htons(ETH_P_ALL));
	FZ_CHECK(fx.ps >= 0);
	FZ_CHECK(bind(fx.ps, (struct sockaddr *)&sll, sizeof(sll)) == 0);
	FZ_CHECK(setsockopt(fx.ps, SOL_PACKET, PACKET_AUXDATA, &one,
			    sizeof(one)) == 0);
	/* Room for every frame of a batch: the socket must drop none. */
	FZ_CHECK(setsockopt(fx.ps, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
			    sizeof(rcvbuf)) == 0);
	FZ_CHECK(fx.fe.rx.nr_ents <= 256);
}

static uint32_t rx_drain(void);

/* Closing: once the backend says so its queue threads are joined, so the
 * rings hold every answer it will ever give.  @tx_done: nothing more may
 * be answered on tx (a violation latched the vif).  Then up again. */
static void reconnect(bool tx_done)
{
	struct pvk_netif_tx_response r;

	FZ_CHECK(t_nfe_close_wait(&fx.fe) == 0);
	if (tx_done)
		FZ_CHECK(pvk_ring_get(&fx.fe.tx, &r, sizeof(r)) == 0);
	rx_drain();
	FZ_CHECK(t_nfe_reopen(&fx.fe) == 0);
	FZ_CHECK(!t_nfe_be_broken(&fx.fe, fx.nb));
	rx_reset();
}

/* --- the TAP: frames netback wrote ---------------------------------------- */

/* netback's cumulative tx_packets and tx_dropped (its stats text). */
static void tx_counters(uint64_t *sent, uint64_t *dropped)
{
	static char buf[4096];
	const char *p, *q;
	FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");

	FZ_CHECK(f);
	FZ_CHECK(pvk_netback_stats(fx.nb, f) == 0);
	buf[ftell(f)] = 0;
	fclose(f);
	p = strstr(buf, " tx_packets=");
	q = strstr(buf, " tx_dropped=");
	FZ_CHECK(p && q);
	*sent = strtoull(p + 12, NULL, 10);
	*dropped = strtoull(q + 12, NULL, 10);
}

/* Frames the kernel counted as dropped on their way from the TAP to the
 * packet socket, cumulative: the TAP's rx drops (a full backlog on a
 * loaded machine) and the socket's (a full buffer). */
static uint64_t kernel_drops(void)
{
	static uint64_t sock;
	struct tpacket_stats st;
	socklen_t len = sizeof(st);
	unsigned long long dev = 0;
	char line[512], *p;
	size_t tl = strlen(fx.tap);
	FILE *f;

	FZ_CHECK(getsockopt(fx.ps, SOL_PACKET, PACKET_STATISTICS, &st, &len) ==
		 0);
	sock += st.tp_drops; /* reading resets them */
	f = fopen("/proc/net/dev", "r");
	FZ_CHECK(f);
	while (fgets(line, sizeof(line), f)) {
		for (p = line; *p == ' '; p++)
			;
		/* rx: bytes packets errs drop ... */
		if (!strncmp(p, fx.tap, tl) && p[tl] == ':') {
			FZ_CHECK(sscanf(p + tl + 1, "%*u %*u %*u %llu", &dev) ==
				 1);
			break;
		}
	}
	fclose(f);
	return sock + dev;
}

/* The packet answered OKAY that made a frame of @len bytes starting with
 * @head: the one of that size with those first bytes, else one of that
 * size whose bytes the model does not know; fx.nokay if none.  (By size
 * alone, a frame the kernel dropped and one it showed, of one size, would
 * be confused: the runt VLAN frame's leave to be dropped would be spent
 * on the other, which then looks lost.) */
static uint32_t okay_match(uint32_t len, const uint8_t *head)
{
	uint32_t i, any = fx.nokay;

	for (i = 0; i < fx.nokay; i++) {
		if (fx.okay[i].len != len)
			continue;
		if (fx.okay[i].known &&
		    !memcmp(fx.okay[i].head, head, PVK_NET_ETH_HLEN))
			return i;
		if (!fx.okay[i].known && any == fx.nokay)
			any = i;
	}
	return any;
}

/* Every frame netback wrote (counted in tx_packets, which it does before
 * answering) reaches the packet socket: wait for each, however late the
 * kernel is, and match it with a packet answered OKAY since the last
 * drain (okay_match()), or count it among the drops the kernel reports
 * (kernel_drops()).  Then the packets left unmatched are exactly those
 * netback counted as dropped (the TAP refused them), and some the kernel
 * may drop (frame_of()) or reported dropped. */
static void tap_drain(void)
{
	static uint8_t buf[65536 + 64];
	struct pollfd pfd = { .fd = fx.ps, .events = POLLIN };
	struct sockaddr_ll from;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	} cm;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_name = &from,
			     .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = &cm };
	const struct tpacket_auxdata *aux;
	uint8_t head[PVK_NET_ETH_HLEN];
	uint64_t sent, dropped, t0 = pvk_spin_clock_ms(), lost, kd = 0;
	uint32_t i, sure;
	ssize_t n;

	tx_counters(&sent, &dropped);
	FZ_CHECK(sent >= fx.sent && dropped >= fx.dropped);
	for (;;) {
		mh.msg_namelen = sizeof(from);
		mh.msg_controllen = sizeof(cm);
		n = recvmsg(fx.ps, &mh, MSG_TRUNC);
		if (n < 0) {
			FZ_CHECK(errno == EAGAIN || errno == EINTR);
			if (errno == EINTR)
				continue;
			if (fx.seen + fx.kdropped + fx.nmaydrop >= sent)
				break;
			kd = kernel_drops() - fx.kcounted;
			if (fx.seen + fx.kdropped + fx.nmaydrop + kd >= sent)
				break;
			if (pvk_spin_clock_ms() - t0 >= WAIT_MS)
				fprintf(stderr,
					"netback wrote %" PRIu64 " frames, the "
					"TAP showed %" PRIu64 ", the kernel "
					"dropped %" PRIu64
					" before and reported "
					"%" PRIu64 " now; %" PRIu64
					" missing, %u of them it may drop\n",
					sent, fx.seen, fx.kdropped, kd,
					sent - fx.seen - fx.kdropped - kd,
					fx.nmaydrop);
			FZ_CHECK(pvk_spin_clock_ms() - t0 < WAIT_MS);
			(void)poll(&pfd, 1, 10);
			continue;
		}
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue; /* to the guest: ours or the bridge's */
		fx.seen++;
		/* The kernel takes an outer 802.1Q/802.1ad tag off the frame
		 * (guest bytes may hold one): put it back. */
		FZ_CHECK(n >= PVK_NET_ETH_HLEN);
		memcpy(head, buf, sizeof(head));
		aux = CMSG_FIRSTHDR(&mh) ?
			      (const void *)CMSG_DATA(CMSG_FIRSTHDR(&mh)) :
			      NULL;
		if (aux && (aux->tp_status & TP_STATUS_VLAN_VALID)) {
			uint16_t tpid =
				aux->tp_status & TP_STATUS_VLAN_TPID_VALID ?
					aux->tp_vlan_tpid :
					ETH_P_8021Q;

			head[12] = (uint8_t)(tpid >> 8);
			head[13] = (uint8_t)tpid;
			n += 4;
		}
		i = okay_match((uint32_t)n, head);
		if (i == fx.nokay || fx.seen + fx.kdropped > sent)
			fprintf(stderr,
				"a %zd-byte frame from the guest that "
				"no packet answered OKAY had\n",
				n);
		FZ_CHECK(i < fx.nokay && fx.seen + fx.kdropped <= sent);
		fx.nmaydrop -= fx.okay[i].maydrop;
		fx.okay[i] = fx.okay[--fx.nokay];
	}
	/* Left: netback's drops, the kernel's among the maydrop ones and
	 * those it reported. */
	sure = fx.nokay - fx.nmaydrop;
	if (dropped - fx.dropped + kd < sure || dropped - fx.dropped > fx.nokay)
		fprintf(stderr,
			"%u packets answered OKAY never reached the TAP (%u "
			"the kernel may drop, %" PRIu64 " it reported "
			"dropped), netback counted %" PRIu64 " as dropped\n",
			fx.nokay, fx.nmaydrop, kd, dropped - fx.dropped);
	FZ_CHECK(dropped - fx.dropped + kd >= sure &&
		 dropped - fx.dropped <= fx.nokay);
	lost = fx.nokay - (dropped - fx.dropped);
	fx.kdropped += lost;
	FZ_CHECK(fx.seen + fx.kdropped == sent);
	fx.nokay = fx.nmaydrop = 0;
	fx.sent = sent;
	fx.dropped = dropped;
	fx.kcounted += kd;
}

/* --- tx --------------------------------------------------------------------- */

struct txs {
	union pvk_netif_tx_slot s;
	uint8_t fix;
	bool extra; /* as the frontend built it */
};

/* What netback must answer to one slot. */
struct want {
	uint16_t id;
	bool null; /* an extra-info slot: NULL */
	int pkt; /* index of its packet's first slot */
};

/*
 * Apply the fix-ups, reading the slots as a frontend lays them out: a
 * first request, its extra-info slots (NETTXF_extra_info, then while
 * XEN_NETIF_EXTRA_FLAG_MORE), its fragments (while NETTXF_more_data).
 */
static void tx_fix(struct txs *t, uint32_t n)
{
	uint32_t i, first = 0, total = 0;
	enum { FIRST, EXTRA, FRAG } at = FIRST;
	bool first_more = false;

	for (i = 0; i < n; i++) {
		struct pvk_netif_tx_request *r = &t[i].s.req;
		struct pvk_netif_extra_info *x = &t[i].s.extra;
		uint8_t fix = t[i].fix;

		t[i].extra = at == EXTRA;
		if (at == EXTRA) {
			if (fix & FIX_EXTRA) {
				x->type = (uint8_t)(1 + x->type % 3);
				x->flags &= PVK_NETIF_EXTRA_FLAG_MORE;
				if (x->type == PVK_NETIF_EXTRA_TYPE_GSO) {
					x->u.gso.size =
						(uint16_t)(1 + x->u.gso.size %
								       9000);
					x->u.gso.type =
						(uint8_t)(1 +
							  x->u.gso.type % 2);
				}
			}
			if (!(x->flags & PVK_NETIF_EXTRA_FLAG_MORE))
				at = first_more ? FRAG : FIRST;
			continue;
		}
		if (fix & FIX_GREF)
			r->gref = fx.fe.refs[r->gref % TX_PAGES];
		if (fix & FIX_ID)
			r->id = fx.id++;
		if (fix & FIX_FIT) {
			r->offset %= PVK_PAGE_SIZE;
			r->size = (uint16_t)(r->size %
					     (PVK_PAGE_SIZE - r->offset + 1));
		}
		if (at == FIRST) {
			first = i;
			total = 0;
			first_more = r->flags & PVK_NETTXF_more_data;
			at = r->flags & PVK_NETTXF_extra_info ? EXTRA :
			     first_more			      ? FRAG :
								FIRST;
		} else {
			total += r->size;
			at = r->flags & PVK_NETTXF_more_data ? FRAG : FIRST;
		}
		/* The packet ends here: its first slot's size is the sum. */
		if (at == FIRST && (t[first].fix & FIX_FIT) &&
		    total + t[first].s.req.size <= 0xffff)
			t[first].s.req.size =
				(uint16_t)(t[first].s.req.size + total);
	}
}

/*
 * netif.h's rules as pvkit/netback.h lists them: for each slot the answer
 * netback owes, and for each packet what its status may be.  Returns the
 * number of slots answered; *@fatal says whether the packet after them is
 * a protocol violation (then the vif must be latched broken).
 */
/* The frame of a packet whose first slot is @first, with @own bytes of
 * its own.  The kernel may drop it before the packet socket sees it if it
 * is too short for the VLAN tag its Ethernet type announces
 * (skb_vlan_untag() needs 4 + 2 bytes past the Ethernet header). */
static struct frame frame_of(const struct pvk_netif_tx_request *first,
			     uint32_t own)
{
	struct frame fr = { .len = first->size };
	uint16_t type;
	uint32_t i;

	for (i = 0; i < TX_PAGES && own >= PVK_NET_ETH_HLEN; i++)
		if (fx.fe.refs[i] == first->gref) {
			memcpy(fr.head, t_nfe_page(&fx.fe, i) + first->offset,
			       sizeof(fr.head));
			fr.known = true;
			break;
		}
	type = (uint16_t)(fr.head[12] << 8 | fr.head[13]);
	/* Unknown: its type may be a VLAN's. */
	fr.maydrop = first->size < PVK_NET_ETH_HLEN + 6 &&
		     (!fr.known || type == ETH_P_8021Q || type == ETH_P_8021AD);
	return fr;
}

static uint32_t tx_model(const struct txs *t, uint32_t n, struct want *w,
			 int8_t *st, struct frame *fr, bool *fatal)
{
	uint32_t p = 0, used, nfr, nx, remaining, k;
	const struct pvk_netif_tx_request *first;
	bool more, zero, mcast;

	*fatal = false;
	while (p < n) {
		first = &t[p].s.req;
		used = 1;
		nfr = nx = 0;
		zero = mcast = false;
		if (first->flags & PVK_NETTXF_extra_info) {
			const struct pvk_netif_extra_info *x;

			do {
				if (p + used >= n || ++nx > 4)
					goto violation;
				x = &t[p + used++].s.extra;
				if (x->type == PVK_NETIF_EXTRA_TYPE_NONE ||
				    x->type >= PVK_NETIF_EXTRA_TYPE_MAX)
					goto violation;
				if (x->type == PVK_NETIF_EXTRA_TYPE_GSO &&
				    (!x->u.gso.size ||
				     (x->u.gso.type !=
					      PVK_NETIF_GSO_TYPE_TCPV4 &&
				      x->u.gso.type !=
					      PVK_NETIF_GSO_TYPE_TCPV6)))
					goto violation;
				if (x->type == PVK_NETIF_EXTRA_TYPE_MCAST_ADD ||
				    x->type == PVK_NETIF_EXTRA_TYPE_MCAST_DEL)
					mcast = true;
			} while (x->flags & PVK_NETIF_EXTRA_FLAG_MORE);
		}
		remaining = first->size;
		more = first->flags & PVK_NETTXF_more_data;
		while (more) {
			const struct pvk_netif_tx_request *r;

			if (p + used >= n || nfr + 1 >= PVK_NETBACK_FATAL_SLOTS)
				goto violation;
			r = &t[p + used++].s.req;
			if (r->size > remaining ||
			    (uint32_t)r->offset + r->size > PVK_PAGE_SIZE)
				goto violation;
			zero |= !r->size;
			remaining -= r->size;
			more = r->flags & PVK_NETTXF_more_data;
			nfr++;
		}
		if ((uint32_t)first->offset + remaining > PVK_PAGE_SIZE)
			goto violation;
		/* -1: ERROR; 0: OKAY; 2: either (the grants, the headers) */
		st[p] = mcast ? 0 :
			1 + nfr > PVK_NETBACK_MAX_SLOTS || first->size < 14 ||
					zero || !remaining ?
				-1 :
				2;
		fr[p] = frame_of(first, remaining);
		if (mcast) /* answered, but no frame goes out */
			fr[p].len = 0;
		for (k = 0; k < used; k++) {
			const struct txs *s = &t[p + k];
			bool x = k >= 1 && k <= nx;

			w[p + k] = (struct want){
				.id = k && !x ? s->s.req.id : first->id,
				.null = x,
				.pkt = (int)p,
			};
		}
		p += used;
	}
	return p;
violation:
	*fatal = true;
	return p;
}

/* netback latches, then logs: wait for its lines, not a clock. */
static void wait_broken(void)
{
	struct pollfd p = { .fd = fx.log_fd, .events = POLLIN };
	uint64_t t0 = pvk_spin_clock_ms(), n;

	while (!t_nfe_be_broken(&fx.fe, fx.nb)) {
		FZ_CHECK(pvk_spin_clock_ms() - t0 < WAIT_MS);
		if (poll(&p, 1, 10) > 0)
			(void)!read(fx.log_fd, &n, sizeof(n));
	}
}

/* Put the slots, check each answer; false if the vif had to reconnect. */
static bool tx_batch(struct fz *f)
{
	static struct txs t[MAX_TX];
	static struct want w[MAX_TX];
	static int8_t st[MAX_TX];
	static struct frame fr[MAX_TX];
	struct pvk_netif_tx_response r;
	uint32_t n = 1 + fz_u8(f) % MAX_TX, i, answered;
	int8_t got = 0;
	bool fatal;
	int rc;

	for (i = 0; i < n; i++) {
		t[i].fix = fz_u8(f);
		fz_bytes(f, &t[i].s, sizeof(t[i].s.req));
	}
	tx_fix(t, n);
	answered = tx_model(t, n, w, st, fr, &fatal);
	for (i = 0; i < n && getenv("FUZZ_VERBOSE"); i++)
		fprintf(stderr,
			"tx %u: gref %u offset %u flags %#x id %u size %u%s\n",
			i, t[i].s.req.gref, t[i].s.req.offset, t[i].s.req.flags,
			t[i].s.req.id, t[i].s.req.size,
			t[i].extra ? " (extra)" : "");
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "tx: %u slots answered, then %s\n", answered,
			fatal ? "a violation" : "nothing");
	for (i = 0; i < n; i++)
		FZ_CHECK(pvk_ring_put(&fx.fe.tx, &t[i].s, sizeof(t[i].s.req)) ==
			 0);
	FZ_CHECK(t_nfe_kick(&fx.fe, &fx.fe.tx) == 0);
	for (i = 0; i < answered; i++) {
		rc = t_nfe_wait_rsp(&fx.fe, &fx.fe.tx, &r, sizeof(r), WAIT_MS);
		/* Answered, in time, on a ring kept sane. */
		FZ_CHECK(rc == 1);
		FZ_CHECK(r.id == w[i].id);
		if (w[i].null) {
			FZ_CHECK(r.status == PVK_NETIF_RSP_NULL);
			continue;
		}
		FZ_CHECK(r.status == PVK_NETIF_RSP_OKAY ||
			 r.status == PVK_NETIF_RSP_ERROR);
		if ((int)i == w[i].pkt) {
			FZ_CHECK(st[i] == 2 || st[i] == r.status);
			got = (int8_t)r.status;
			if (got == PVK_NETIF_RSP_OKAY && fr[i].len) {
				FZ_CHECK(fx.nokay < MAX_TX);
				fx.okay[fx.nokay++] = fr[i];
				fx.nmaydrop += fr[i].maydrop;
			}
		} else {
			/* A fragment: its packet's status. */
			FZ_CHECK(r.status == got);
		}
	}
	if (fatal) {
		/* A violation latches the vif; nothing more is answered
		 * (checked by reconnect(), once netback has stopped). */
		wait_broken();
	} else {
		/* Nothing more: every slot had exactly one answer. */
		FZ_CHECK(pvk_ring_get(&fx.fe.tx, &r, sizeof(r)) == 0);
		FZ_CHECK(!t_nfe_be_broken(&fx.fe, fx.nb));
	}
	tap_drain();
	if (fatal)
		reconnect(true);
	return !fatal;
}

/* A producer index far beyond the ring (XSA-39 class): latched broken. */
static void tx_scribble(struct fz *f)
{
	struct pvk_sring *s = fx.fe.tx_sring;
	uint32_t jump = fx.fe.tx.nr_ents + 1 + fz_u32(f) % 0x7fffffffu;

	__atomic_store_n(&s->req_prod, s->req_prod + jump, __ATOMIC_RELEASE);
	FZ_CHECK(pvk_evtchn_notify(fx.fe.ev, fx.fe.port) == 0);
	wait_broken();
	reconnect(false);
}

/* --- rx --------------------------------------------------------------------- */

static bool ring_ref(uint32_t ref)
{
	return ref == fx.fe.tx_ref || ref == fx.fe.rx_ref ||
	       ref == fx.fe.ctrl_ref;
}

/* A page tx frames are read from: netback copies received frames into
 * an rx request's page whenever one comes (often after rx_wait() gave
 * up), which would change a frame under the tx model's feet. */
static bool tx_page_ref(uint32_t ref)
{
	for (uint32_t i = 0; i < TX_PAGES; i++)
		if (fx.fe.refs[i] == ref)
			return true;
	return false;
}

/* Take the rx responses there are: each in its request's slot.  Returns
 * how many answered a request (extra-info slots not counted). */
static uint32_t rx_drain(void)
{
	union pvk_netif_rx_slot s;
	uint32_t at, n = 0;
	int rc;

	for (;;) {
		at = fx.fe.rx.cons;
		rc = pvk_ring_get(&fx.fe.rx, &s, sizeof(s.rsp));
		FZ_CHECK(rc >= 0);
		if (!rc && pvk_ring_final_check(&fx.fe.rx) > 0)
			continue;
		if (!rc)
			return n;
		/* Only for requests we posted. */
		FZ_CHECK(fx.rx_posted - at - 1 < fx.fe.rx.nr_ents);
		if (fx.rx_extra) {
			FZ_CHECK(s.extra.type == PVK_NETIF_EXTRA_TYPE_GSO ||
				 s.extra.type == PVK_NETIF_EXTRA_TYPE_HASH);
			fx.rx_extra = s.extra.flags & PVK_NETIF_EXTRA_FLAG_MORE;
			continue;
		}
		FZ_CHECK(s.rsp.id == fx.rx_ids[at % 256]);
		FZ_CHECK(s.rsp.status == PVK_NETIF_RSP_ERROR ||
			 (s.rsp.status > 0 &&
			  s.rsp.offset + (uint32_t)s.rsp.status <=
				  PVK_PAGE_SIZE));
		fx.rx_extra = s.rsp.flags & PVK_NETRXF_extra_info;
		n++;
	}
}

/* Answers to @want injected frames: each as it comes (the event channel),
 * up to RX_WAIT_NS in all. */
static void rx_wait(uint32_t want)
{
	uint64_t end = pvk_spin_clock_ns() + RX_WAIT_NS, now;
	struct pollfd p = { .fd = pvk_evtchn_fd(fx.fe.ev), .events = POLLIN };
	struct timespec ts;
	uint32_t got = 0;
	int port;

	for (;;) {
		got += rx_drain();
		now = pvk_spin_clock_ns();
		if (got >= want || now >= end)
			return;
		ts = (struct timespec){ 0, (long)(end - now) };
		if (ppoll(&p, 1, &ts, NULL) <= 0)
			continue;
		while ((port = pvk_evtchn_pending(fx.fe.ev)) >= 0)
			pvk_evtchn_unmask(fx.fe.ev, (uint32_t)port);
	}
}

static void rx_batch(struct fz *f)
{
	struct pvk_netif_rx_request rq;
	uint32_t n = fz_u8(f) % MAX_RX, i, nf, sent = 0, posted;
	uint8_t frame[1600];
	uint16_t flen;

	rx_drain();
	for (i = 0; i < n; i++) {
		uint8_t fix = fz_u8(f);

		fz_bytes(f, &rq, sizeof(rq));
		if (fix & FIX_GREF)
			rq.gref = fx.fe.refs[TX_PAGES + rq.gref % RX_PAGES];
		else if (ring_ref(rq.gref) || tx_page_ref(rq.gref))
			rq.gref = ~rq.gref; /* never our rings, nor tx pages */
		if (fix & FIX_ID)
			rq.id = fx.id++;
		if (!pvk_ring_space(&fx.fe.rx))
			continue;
		FZ_CHECK(pvk_netif_rx_put_request(&fx.fe.rx, &rq) == 0);
		fx.rx_ids[fx.rx_posted++ % 256] = rq.id;
	}
	FZ_CHECK(t_nfe_kick(&fx.fe, &fx.fe.rx) == 0);
	nf = fz_u8(f) % (MAX_FRAMES + 1);
	for (i = 0; i < nf; i++) {
		flen = (uint16_t)(14 + fz_u16(f) % (sizeof(frame) - 14));
		fz_bytes(f, frame, flen < 64 ? flen : 64);
		memset(frame + 64, (int)i, sizeof(frame) - 64);
		/* The kernel may refuse a frame (a bad one): not our case. */
		sent += send(fx.ps, frame, flen, 0) == flen;
	}
	/* Each frame takes a posted buffer (or waits for one). */
	posted = fx.rx_posted - fx.fe.rx.cons;
	rx_wait(sent < posted ? sent : posted);
}

/* --- ctrl ------------------------------------------------------------------- */

static void ctrl_batch(struct fz *f)
{
	struct pvk_netif_ctrl_request rq[MAX_CTRL];
	struct pvk_netif_ctrl_response rs;
	uint32_t n = 1 + fz_u8(f) % MAX_CTRL, i;

	for (i = 0; i < n; i++) {
		uint8_t fix = fz_u8(f);

		fz_bytes(f, &rq[i], sizeof(rq[i]));
		if (fix & FIX_GREF)
			rq[i].data[0] = fx.fe.refs[rq[i].data[0] % TX_PAGES];
		if (fix & FIX_ID)
			rq[i].id = fx.id++;
		FZ_CHECK(pvk_netif_ctrl_put_request(&fx.fe.ctrl, &rq[i]) == 0);
	}
	FZ_CHECK(t_nfe_kick(&fx.fe, &fx.fe.ctrl) == 0);
	for (i = 0; i < n; i++) {
		FZ_CHECK(t_nfe_wait_rsp(&fx.fe, &fx.fe.ctrl, &rs, sizeof(rs),
					WAIT_MS) == 1);
		/* In order, with the request's id and type. */
		FZ_CHECK(rs.id == rq[i].id && rs.type == rq[i].type);
		FZ_CHECK(rs.status <= PVK_NETIF_CTRL_STATUS_BUFFER_OVERFLOW);
		if (rq[i].type < PVK_NETIF_CTRL_TYPE_GET_HASH_FLAGS ||
		    rq[i].type > PVK_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM)
			FZ_CHECK(rs.status ==
				 PVK_NETIF_CTRL_STATUS_NOT_SUPPORTED);
		if (rq[i].type == PVK_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE)
			FZ_CHECK(rs.status == PVK_NETIF_CTRL_STATUS_SUCCESS &&
				 rs.data == PVK_NETIF_CTRL_HASH_MAPPING_MAX);
	}
	FZ_CHECK(pvk_ring_get(&fx.fe.ctrl, &rs, sizeof(rs)) == 0);
}

/* --- the script ------------------------------------------------------------- */

static void page_writes(struct fz *f)
{
	uint32_t n = fz_u8(f) % 8, i, pg, off, len;

	for (i = 0; i < n; i++) {
		pg = fz_u8(f) % TX_PAGES;
		off = fz_u16(f) % PVK_PAGE_SIZE;
		len = fz_u16(f) % (PVK_PAGE_SIZE - off + 1);
		fz_bytes(f, t_nfe_page(&fx.fe, pg) + off, len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t ops = fz_u8(&f);

	if (!fx.loop)
		setup();
	tap_drain();
	if ((ops & OP_SCRIBBLE) == OP_SCRIBBLE) {
		tx_scribble(&f);
		return 0;
	}
	if (ops & OP_PAGES)
		page_writes(&f);
	if ((ops & OP_TX) && !tx_batch(&f))
		return 0;
	if (ops & OP_RX)
		rx_batch(&f);
	if (ops & OP_CTRL)
		ctrl_batch(&f);
	return 0;
}

/* --- seeds ------------------------------------------------------------------ */

static void seed_req(struct fz_out *o, uint8_t fix, uint32_t gref, uint16_t off,
		     uint16_t flags, uint16_t size)
{
	struct pvk_netif_tx_request r = {
		.gref = gref, .offset = off, .flags = flags, .size = size
	};

	fzo_u8(o, fix);
	fzo_bytes(o, &r, sizeof(r));
}

static void seed_extra(struct fz_out *o, uint8_t type, uint8_t flags,
		       const void *u, size_t ulen)
{
	union pvk_netif_tx_slot s;

	memset(&s, 0, sizeof(s));
	s.extra.type = type;
	s.extra.flags = flags;
	memcpy(&s.extra.u, u, ulen);
	fzo_u8(o, 0);
	fzo_bytes(o, &s, sizeof(s.req));
}

/* A frame into page @pg at @off: IPv4/TCP, broadcast, @len bytes. */
static void seed_frame(struct fz_out *o, uint8_t pg, uint16_t off, uint16_t len)
{
	static const uint8_t hdr[54] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x16, 0x3e, 0,    0,
		0,    0x08, 0x00, 0x45, 0,    0,    0,	  0,	1,    0x40, 0,
		64,   6,    0,	  0,	10,   0,    0,	  1,	10,   0,    0,
		2,    0x30, 0x39, 0x00, 0x50, 0,    0,	  0,	1,    0,    0,
		0,    0,    0x50, 0x10, 0xff, 0xff, 0,	  0,	0,    0
	};
	uint8_t f[4096];
	uint16_t i;

	memcpy(f, hdr, sizeof(hdr));
	f[16] = (uint8_t)((len - 14) >> 8);
	f[17] = (uint8_t)(len - 14);
	for (i = sizeof(hdr); i < len; i++)
		f[i] = (uint8_t)i;
	fzo_u8(o, pg);
	fzo_u16(o, off);
	fzo_u16(o, len);
	fzo_bytes(o, f, len);
}

void fuzz_seeds(void)
{
	const uint8_t all = FIX_GREF | FIX_ID;
	const uint8_t key[40] = { 0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e,
				  0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3 };
	struct pvk_netif_ctrl_request cr;
	uint8_t u[6] = { 0 };
	struct fz_out o;
	uint32_t i;

	/* One frame in one slot; a frame over three slots, csum blank. */
	o.n = 0;
	fzo_u8(&o, OP_PAGES | OP_TX);
	fzo_u8(&o, 2);
	seed_frame(&o, 0, 100, 300);
	seed_frame(&o, 1, 0, 1200);
	fzo_u8(&o, 2); /* 3 slots */
	seed_req(&o, all, 0, 100, 0, 300);
	seed_req(&o, all, 1, 0, PVK_NETTXF_csum_blank | PVK_NETTXF_more_data,
		 1200);
	seed_req(&o, all, 1, 200, 0, 1000);
	fz_seed_emit("seed-tx", &o);

	/* A frame with an 802.1Q tag, then one with an 802.1ad tag: the
	 * kernel shows both to the packet socket 4 bytes shorter. */
	for (i = 0; i < 2; i++) {
		o.n = 0;
		fzo_u8(&o, OP_PAGES | OP_TX);
		fzo_u8(&o, 2);
		seed_frame(&o, 0, 0, 300);
		fzo_u8(&o, 0);
		fzo_u16(&o, 12);
		fzo_u16(&o, 2);
		fzo_bytes(&o, i ? "\x88\xa8" : "\x81\x00", 2);
		fzo_u8(&o, 0); /* 1 slot */
		seed_req(&o, all, 0, 0, 0, 300);
		fz_seed_emit(i ? "seed-tx-qinq" : "seed-tx-vlan", &o);
	}
	/* A 16-byte frame whose type says 802.1Q: the kernel drops it. */
	o.n = 0;
	fzo_u8(&o, OP_PAGES | OP_TX);
	fzo_u8(&o, 1);
	fzo_u8(&o, 0);
	fzo_u16(&o, 0);
	fzo_u16(&o, 16);
	fzo_bytes(&o,
		  "\xff\xff\xff\xff\xff\xff\x00\x16\x3e\x00\x00\x01"
		  "\x81\x00\x00\x05",
		  16);
	fzo_u8(&o, 0); /* 1 slot */
	seed_req(&o, all, 0, 0, 0, 16);
	fz_seed_emit("seed-tx-vlan-short", &o);

	/* GSO over two slots, and a multicast add. */
	o.n = 0;
	fzo_u8(&o, OP_PAGES | OP_TX);
	fzo_u8(&o, 1);
	seed_frame(&o, 2, 0, 3000);
	fzo_u8(&o, 4); /* 5 slots */
	seed_req(&o, all, 2, 0,
		 PVK_NETTXF_csum_blank | PVK_NETTXF_more_data |
			 PVK_NETTXF_extra_info,
		 3000);
	u[0] = 0xa8; /* gso size 1448 */
	u[1] = 0x05;
	u[2] = PVK_NETIF_GSO_TYPE_TCPV4;
	seed_extra(&o, PVK_NETIF_EXTRA_TYPE_GSO, 0, u, 6);
	seed_req(&o, all, 2, 1000, 0, 2000);
	seed_req(&o, all, 4, 0, PVK_NETTXF_extra_info, 60);
	memcpy(u, "\x01\x00\x5e\x00\x00\xfb", 6);
	seed_extra(&o, PVK_NETIF_EXTRA_TYPE_MCAST_ADD, 0, u, 6);
	fz_seed_emit("seed-tx-gso-mcast", &o);

	/* rx buffers, then broadcast frames for the guest. */
	o.n = 0;
	fzo_u8(&o, OP_RX);
	fzo_u8(&o, 8);
	for (i = 0; i < 8; i++) {
		fzo_u8(&o, FIX_GREF | FIX_ID);
		fzo_u16(&o, 0);
		fzo_u16(&o, 0);
		fzo_u32(&o, i);
	}
	fzo_u8(&o, 3);
	for (i = 0; i < 3; i++) {
		fzo_u16(&o, (uint16_t)(60 + 400 * i));
		fzo_bytes(&o,
			  "\xff\xff\xff\xff\xff\xff\x00\x16\x3e\x00\x00\x09"
			  "\x88\xb5",
			  14);
		fzo_bytes(&o, key, 40);
		fzo_bytes(&o, key, 10);
	}
	fz_seed_emit("seed-rx", &o);

	/* The control ring: Toeplitz set up, every request type. */
	o.n = 0;
	fzo_u8(&o, OP_PAGES | OP_CTRL);
	fzo_u8(&o, 1);
	fzo_u8(&o, 5);
	fzo_u16(&o, 0);
	fzo_u16(&o, sizeof(key));
	fzo_bytes(&o, key, sizeof(key));
	fzo_u8(&o, 7); /* 8 requests */
	{
		static const uint32_t d[8][3] = {
			{ PVK_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ },
			{ 5, 40 },
			{ 3 },
			{ 0 },
			{ 8 },
			{ 6, 8, 0 },
			{ 0 },
			{ 0 },
		};
		static const uint16_t type[8] = {
			PVK_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
			PVK_NETIF_CTRL_TYPE_SET_HASH_KEY,
			PVK_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
			PVK_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE,
			PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
			PVK_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
			PVK_NETIF_CTRL_TYPE_GET_HASH_FLAGS,
			PVK_NETIF_CTRL_TYPE_ADD_GREF_MAPPING,
		};

		for (i = 0; i < 8; i++) {
			cr = (struct pvk_netif_ctrl_request){
				.type = type[i],
				.data = { d[i][0], d[i][1], d[i][2] }
			};
			fzo_u8(&o, (i == 1 || i == 5 ? FIX_GREF : 0) | FIX_ID);
			fzo_bytes(&o, &cr, sizeof(cr));
		}
	}
	fz_seed_emit("seed-ctrl", &o);

	/* A fragment larger than the rest of its packet: fatal. */
	o.n = 0;
	fzo_u8(&o, OP_TX);
	fzo_u8(&o, 1);
	seed_req(&o, all, 0, 0, PVK_NETTXF_more_data, 200);
	seed_req(&o, all, 1, 0, 0, 300);
	fz_seed_emit("seed-tx-fatal", &o);

	/* Everything at once. */
	o.n = 0;
	fzo_u8(&o, OP_PAGES | OP_TX | OP_RX | OP_CTRL);
	fzo_u8(&o, 1);
	seed_frame(&o, 5, 0, 600);
	fzo_u8(&o, 0);
	seed_req(&o, all, 5, 0, PVK_NETTXF_data_validated, 600);
	fzo_u8(&o, 2);
	for (i = 0; i < 2; i++) {
		fzo_u8(&o, FIX_GREF | FIX_ID);
		fzo_u16(&o, 0);
		fzo_u16(&o, 0);
		fzo_u32(&o, i);
	}
	fzo_u8(&o, 1);
	fzo_u16(&o, 200);
	fzo_bytes(&o,
		  "\xff\xff\xff\xff\xff\xff\x00\x16\x3e\x00\x00\x09"
		  "\x88\xb5",
		  14);
	fzo_bytes(&o, key, 40);
	fzo_bytes(&o, key, 10);
	fzo_u8(&o, 0);
	cr = (struct pvk_netif_ctrl_request){
		.type = PVK_NETIF_CTRL_TYPE_GET_HASH_FLAGS
	};
	fzo_u8(&o, FIX_ID);
	fzo_bytes(&o, &cr, sizeof(cr));
	fz_seed_emit("seed-all", &o);
}
