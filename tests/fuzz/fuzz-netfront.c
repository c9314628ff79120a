// SPDX-License-Identifier: MIT
/*
 * fuzz-netfront: pvkit's netfront against a hostile backend, on the loop
 * hypervisor.  The backend is the netif test double (tests/net/
 * net_double.h): raw rings, so every tx and rx response (ids, offsets,
 * sizes, flags, statuses, extra-info slots), every rx page byte and the
 * producer indices come from the input.
 *
 * One fixture for the whole run (built at the first input).  An input is
 * a script: the frontend sends frames, the double takes tx requests and
 * answers them (a pick among those in flight, or a raw id), writes rx
 * slots (data slots whose page is filled with a pattern of the input's
 * seed, or prefixed with bytes of the input; extra-info slots raw), the
 * frontend receives into buffers of sizes the input chooses, the double
 * moves a producer index past the requests.  At its end the double
 * finishes any frame it left open and answers every tx request, and the
 * frontend is drained; if the input broke the protocol (the frontend
 * then latches broken, as it must), the fixture is reconnected before the
 * next input.  That costs milliseconds, so only one input in EVIL_ONE_IN
 * (by a hash of its bytes) plays its violations; in the others a raw id
 * is a pick and a producer-index op an ordinary one.  A tx answer of
 * status NULL (skipped by the frontend, as by Linux's) leaves its id in
 * flight for good: the fixture is reconnected once half are.
 *
 * The double mirrors the frontend's parse of its rx slots (frames,
 * extras, what netfront.h says is malformed).  Checked:
 *  - every frame delivered is no longer than its buffer and is byte for
 *    byte a frame the double completed, in order, not one that had to be
 *    dropped; the hash and GSO metadata are the ones its extras carried;
 *  - every frame completed is delivered or counted (rx_errors,
 *    rx_dropped) once drained; rx_packets/rx_bytes count deliveries;
 *  - tx: each request is for a frame sent (its size, its slot count), no
 *    id in flight is reused; tx_errors counts exactly the failed first
 *    slots; every slot comes back free once answered;
 *  - the frontend is broken iff the double broke the protocol (an id out
 *    of range or not in flight, an rx id not its slot's, a producer index
 *    ahead of the requests); once broken it stays so, with one reason,
 *    and every call refuses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit/netfront.h>
#include <pvkit/netif.h>

#include "../net/net_double.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RING 256u
#define MAX_OPS 64
#define MAX_SLOTS 2048 /* data slots the double writes in one input */
#define MAX_FRAMES 2048
#define MAX_TX_FRAMES 1024

enum {
	OP_SEND,
	OP_TX_RSP,
	OP_RX,
	OP_RECV,
	OP_WAIT,
	OP_COUNT,
	/* Only these exact op bytes: protocol violations, kept rare. */
	OP_RX_PROD_AHEAD = 0xf0,
	OP_TX_PROD_AHEAD = 0xf1,
};

/* OP_TX_RSP ctl */
#define TXC_STATUS 3 /* OKAY, ERROR, DROPPED, OKAY */
#define TXC_RAW_MASK 0xf0
#define TXC_RAW 0xa0 /* a raw 16-bit id instead of a pick */
#define TXC_NULL 0x50 /* status NULL: skipped, the id stays in flight */

/* OP_RX data slot ctl */
#define RXC_RAW_MASK 0xf0
#define RXC_RAW_ID 0xa0 /* a raw 16-bit id follows */
#define RXC_RAW_LEN 0x02 /* offset and status as they come */
#define RXC_RAW_FLAGS 0x04 /* every flag bit, not the known ones */
#define RXC_PREFIX 0x08 /* the slot's data starts with input bytes */

#define RXF_KNOWN                                            \
	(PVK_NETRXF_data_validated | PVK_NETRXF_csum_blank | \
	 PVK_NETRXF_more_data | PVK_NETRXF_extra_info)

/* A data slot the double wrote: its bytes are page[off, off + size). */
struct dslot {
	uint32_t gen;
	uint16_t off, size;
	const uint8_t *prefix;
	uint8_t plen;
};

/* A frame the double completed. */
struct mframe {
	uint32_t first, n; /* its data slots */
	uint32_t len;
	bool must_drop; /* malformed by netfront.h's rules */
	int hash_type;
	uint32_t hash;
	uint8_t gso_type;
	uint16_t gso_size;
};

/* The double's side of the rx stream: the frame it is writing. */
struct rxparse {
	bool active, extra_next, more;
	struct mframe f;
	uint32_t slots;
};

static struct {
	bool up;
	struct t_net net;
	/* cumulative, per connection: what the stats must say */
	uint64_t tx_packets, tx_bytes, tx_errors;
	uint64_t rx_packets, rx_bytes, rx_finished;
	/* tx: ids the frontend has in flight, as the double saw them */
	uint8_t tx_state[RING]; /* 0 free, 1 first slot, 2 later slot */
	uint16_t pending[RING]; /* taken, not answered */
	uint32_t npending, owed;
} fx;

/* Per input. */
static struct {
	struct dslot slots[MAX_SLOTS];
	uint32_t nslots;
	struct mframe frames[MAX_FRAMES];
	uint32_t nframes, matched;
	uint32_t tx_lens[MAX_TX_FRAMES];
	uint32_t tx_head, tx_tail, tx_left; /* left: slots of tx_head */
	struct rxparse rp;
	uint32_t gen;
	bool evil; /* violations are played */
	bool violation;
} in;

static void quiet(void *arg, const char *line)
{
	(void)arg;
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "netfront: %s\n", line);
}

static struct pvk_netfront *nf(void)
{
	return fx.net.nf;
}

static void model_reset(void)
{
	memset(fx.tx_state, 0, sizeof(fx.tx_state));
	fx.npending = fx.owed = 0;
	fx.tx_packets = fx.tx_bytes = fx.tx_errors = 0;
	fx.rx_packets = fx.rx_bytes = fx.rx_finished = 0;
}

static void connect(void)
{
	struct pvk_netfront_opts o = { .max_queues = 1,
				       .flags = PVK_NETFRONT_NO_SPLIT_EVTCHN,
				       .log = quiet };

	if (!fx.up) {
		FZ_CHECK(t_net_setup(&fx.net, &o) == 0);
		fx.up = true;
	} else {
		FZ_CHECK(t_net_reconnect(&fx.net) == 0);
	}
	FZ_CHECK(pvk_netfront_connected(nf()));
	FZ_CHECK(pvk_netfront_tx_space(nf(), 0) == RING);
	/* Map every rx page now: an input then allocates no more than it
	 * frees, and libFuzzer's leak check stays quiet. */
	FZ_CHECK(t_be_rx_map_all(&fx.net.be) == (int)RING);
	model_reset();
}

/* rx pages are filled with fz_pat() (fuzz.h). */

/* Is @b the @len bytes of @s's page from @at? */
static bool page_is(const struct dslot *s, uint32_t at, const uint8_t *b,
		    uint32_t len)
{
	uint32_t p0 = s->off, p1 = s->off + s->plen, k;

	/* before the prefix, the prefix, after it */
	if (at < p0) {
		k = len < p0 - at ? len : p0 - at;
		if (memcmp(b, fz_pat(s->gen) + at, k))
			return false;
		b += k;
		at += k;
		len -= k;
	}
	if (len && at < p1) {
		k = len < p1 - at ? len : p1 - at;
		if (memcmp(b, s->prefix + (at - p0), k))
			return false;
		b += k;
		at += k;
		len -= k;
	}
	return !len || !memcmp(b, fz_pat(s->gen) + at, len);
}

/* ---- tx ---------------------------------------------------------------- */

/* Take every tx request posted: each is a slot of a frame sent. */
static void tx_take(void)
{
	struct pvk_netif_tx_request q;
	uint32_t len;

	while (pvk_netif_tx_get_request(&fx.net.be.tx, &q) == 1) {
		FZ_CHECK(q.id < RING && !fx.tx_state[q.id]);
		if (!in.tx_left) {
			/* The first slot of the next frame sent. */
			FZ_CHECK(in.tx_head < in.tx_tail);
			len = in.tx_lens[in.tx_head++];
			FZ_CHECK(q.size == len);
			in.tx_left = (len + PVK_PAGE_SIZE - 1) / PVK_PAGE_SIZE;
			fx.tx_state[q.id] = 1;
		} else {
			FZ_CHECK(q.size <= PVK_PAGE_SIZE);
			fx.tx_state[q.id] = 2;
		}
		in.tx_left--;
		FZ_CHECK(!!(q.flags & PVK_NETTXF_more_data) == !!in.tx_left);
		FZ_CHECK(!(q.flags & PVK_NETTXF_extra_info));
		fx.pending[fx.npending++] = q.id;
		fx.owed++;
	}
}

static void tx_answer(uint16_t id, int16_t status)
{
	struct pvk_netif_tx_response r = { .id = id, .status = status };
	uint32_t i;

	if (!fx.owed)
		return;
	FZ_CHECK(pvk_netif_tx_put_response(&fx.net.be.tx, &r) == 0);
	fx.owed--;
	if (status == PVK_NETIF_RSP_NULL)
		return;
	if (id >= RING || !fx.tx_state[id]) {
		in.violation = true;
		return;
	}
	if (fx.tx_state[id] == 1 && status != PVK_NETIF_RSP_OKAY)
		fx.tx_errors++;
	fx.tx_state[id] = 0;
	for (i = 0; i < fx.npending && fx.pending[i] != id; i++)
		;
	FZ_CHECK(i < fx.npending);
	fx.pending[i] = fx.pending[--fx.npending];
}

static void op_send(struct fz *f)
{
	static uint8_t buf[PVK_NETFRONT_MAX_TX_FRAME];
	struct pvk_netfront_pkt p[8];
	uint32_t n = 1 + fz_u8(f) % 8, i, space, need;
	int rc;

	if (!buf[20])
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)(i * 13 + 1);
	memset(p, 0, sizeof(p));
	for (i = 0; i < n; i++) {
		p[i].data = buf;
		p[i].len = 14 + fz_u16(f) % 20000;
	}
	rc = pvk_netfront_send(nf(), 0, p, n);
	FZ_CHECK(rc == -EAGAIN || (rc >= 1 && (uint32_t)rc <= n));
	if (rc == -EAGAIN) {
		space = pvk_netfront_tx_space(nf(), 0);
		need = (p[0].len + PVK_PAGE_SIZE - 1) / PVK_PAGE_SIZE;
		FZ_CHECK(space < need);
		return;
	}
	for (i = 0; i < (uint32_t)rc; i++) {
		FZ_CHECK(in.tx_tail < MAX_TX_FRAMES);
		in.tx_lens[in.tx_tail++] = p[i].len;
		fx.tx_packets++;
		fx.tx_bytes += p[i].len;
	}
}

static void op_tx_rsp(struct fz *f)
{
	uint32_t n = 1 + fz_u8(f) % 32, i;
	static const int16_t st[4] = { PVK_NETIF_RSP_OKAY, PVK_NETIF_RSP_ERROR,
				       PVK_NETIF_RSP_DROPPED,
				       PVK_NETIF_RSP_OKAY };
	uint8_t ctl;
	int16_t status;
	uint16_t id;

	tx_take();
	for (i = 0; i < n && !in.violation; i++) {
		ctl = fz_u8(f);
		status = ctl == TXC_NULL ? PVK_NETIF_RSP_NULL :
					   st[ctl & TXC_STATUS];
		if ((ctl & TXC_RAW_MASK) == TXC_RAW) {
			id = fz_u16(f);
			if (!in.evil && !fx.npending)
				break;
			if (!in.evil)
				id = fx.pending[id % fx.npending];
		} else {
			uint8_t pick = fz_u8(f);

			if (!fx.npending)
				break;
			id = fx.pending[pick % fx.npending];
		}
		tx_answer(id, status);
	}
	t_be_kick(&fx.net.be, &fx.net.be.tx);
}

/* ---- rx ---------------------------------------------------------------- */

/* The frame the double was writing is complete. */
static void rx_frame_done(void)
{
	struct rxparse *rp = &in.rp;

	if (rp->f.len < 14)
		rp->f.must_drop = true;
	FZ_CHECK(in.nframes < MAX_FRAMES);
	in.frames[in.nframes++] = rp->f;
	*rp = (struct rxparse){ 0 };
}

static void rx_extra_slot(const struct pvk_netif_extra_info *x)
{
	struct rxparse *rp = &in.rp;

	if (!(x->flags & PVK_NETIF_EXTRA_FLAG_MORE))
		rp->extra_next = false;
	switch (x->type) {
	case PVK_NETIF_EXTRA_TYPE_GSO:
		if ((x->u.gso.type != PVK_NETIF_GSO_TYPE_TCPV4 &&
		     x->u.gso.type != PVK_NETIF_GSO_TYPE_TCPV6) ||
		    !x->u.gso.size)
			rp->f.must_drop = true;
		rp->f.gso_type = x->u.gso.type;
		rp->f.gso_size = x->u.gso.size;
		break;
	case PVK_NETIF_EXTRA_TYPE_HASH:
		if (x->u.hash.type > PVK_NETIF_CTRL_HASH_TYPE_IPV6_TCP) {
			rp->f.must_drop = true;
			break;
		}
		rp->f.hash_type = x->u.hash.type;
		rp->f.hash = (uint32_t)x->u.hash.value[0] |
			     (uint32_t)x->u.hash.value[1] << 8 |
			     (uint32_t)x->u.hash.value[2] << 16 |
			     (uint32_t)x->u.hash.value[3] << 24;
		break;
	default:
		rp->f.must_drop = true;
	}
}

static void rx_data_slot(uint16_t flags, uint16_t off, int16_t status,
			 const struct dslot *d)
{
	struct rxparse *rp = &in.rp;

	if (!rp->active) {
		*rp = (struct rxparse){
			.active = true,
			.extra_next = flags & PVK_NETRXF_extra_info,
			.f = { .first = in.nslots, .hash_type = -1 },
		};
	}
	rp->more = flags & PVK_NETRXF_more_data;
	if (++rp->slots > PVK_NETFRONT_MAX_SLOTS || status < 0 ||
	    (uint32_t)off + (uint32_t)status > PVK_PAGE_SIZE)
		rp->f.must_drop = true;
	if (!rp->f.must_drop && status > 0) {
		FZ_CHECK(in.nslots < MAX_SLOTS);
		in.slots[in.nslots++] = *d;
		rp->f.n++;
		rp->f.len += (uint32_t)status;
	}
}

/* The frontend takes what it can; returns frames delivered or -errno. */
static int recv_some(struct fz *f, uint32_t n, bool big);

/* The next rx request, draining the frontend if the ring ran dry. */
static bool rx_req(struct pvk_netif_rx_request *q)
{
	int i;

	for (i = 0; i < 4; i++) {
		if (t_be_rx_req(&fx.net.be, q) == 1)
			return true;
		t_be_kick(&fx.net.be, &fx.net.be.rx);
		if (recv_some(NULL, 4, true) < 0)
			return false;
	}
	return false;
}

/* Write one slot: an extra if the frame says one is next, else data. */
static bool rx_slot(struct fz *f, bool closing)
{
	struct pvk_netif_rx_request q;
	uint8_t *page;
	struct rxparse *rp = &in.rp;
	struct dslot d = { 0 };
	uint16_t id, off, size, flags;
	uint8_t ctl;

	if (!rx_req(&q))
		return false;
	FZ_CHECK(q.id < RING);
	if (rp->active && rp->extra_next) {
		struct pvk_netif_extra_info x = { .type = 0xff };

		if (!closing)
			fz_bytes(f, &x, sizeof(x));
		FZ_CHECK(pvk_netif_put_rx_extra(&fx.net.be.rx, &x) == 0);
		rx_extra_slot(&x);
	} else {
		ctl = closing ? 0 : fz_u8(f);
		off = closing ? 0 : fz_u16(f);
		size = closing ? 0 : fz_u16(f);
		flags = closing ? 0 : fz_u16(f);
		id = (ctl & RXC_RAW_MASK) == RXC_RAW_ID ? fz_u16(f) : q.id;
		if (!in.evil)
			id = q.id;
		if (!(ctl & RXC_RAW_LEN)) {
			off %= PVK_PAGE_SIZE;
			size %= PVK_PAGE_SIZE - off + 1;
		}
		if (!(ctl & RXC_RAW_FLAGS))
			flags &= RXF_KNOWN;
		d.gen = in.gen++;
		d.off = off;
		d.size = size;
		if (ctl & RXC_PREFIX) {
			d.plen = fz_u8(f);
			if (d.plen > f->n)
				d.plen = (uint8_t)f->n;
			d.prefix = f->p;
			f->p += d.plen;
			f->n -= d.plen;
		}
		page = t_be_rx_page(&fx.net.be, &q);
		FZ_CHECK(page);
		memcpy(page, fz_pat(d.gen), PVK_PAGE_SIZE);
		if (d.plen && (uint32_t)off + d.plen <= PVK_PAGE_SIZE)
			memcpy(page + off, d.prefix, d.plen);
		else
			d.plen = 0;
		FZ_CHECK(t_be_rsp(&fx.net.be, id, off, flags, (int16_t)size) ==
			 0);
		if (id != q.id) {
			in.violation = true;
			return false;
		}
		rx_data_slot(flags, off, (int16_t)size, &d);
	}
	if (rp->active && !rp->extra_next && !rp->more)
		rx_frame_done();
	return true;
}

static void op_rx(struct fz *f)
{
	uint32_t n = 1 + fz_u8(f) % 24, i;

	for (i = 0; i < n && rx_slot(f, false); i++)
		;
	t_be_kick(&fx.net.be, &fx.net.be.rx);
}

/* Does @p hold frame @m, byte for byte? */
static bool same(const struct pvk_netfront_pkt *p, const struct mframe *m)
{
	const uint8_t *b = p->data;
	uint32_t i, at = 0;

	if (p->len != m->len)
		return false;
	for (i = 0; i < m->n; i++) {
		const struct dslot *s = &in.slots[m->first + i];

		if (!page_is(s, s->off, b + at, s->size))
			return false;
		at += s->size;
	}
	return true;
}

/* A frame delivered: the next completed one that may be, after those
 * dropped.  The meta data is its extras'. */
static void check_delivered(const struct pvk_netfront_pkt *p, uint32_t cap)
{
	const struct mframe *m;

	FZ_CHECK(p->len <= cap);
	while (in.matched < in.nframes && (in.frames[in.matched].must_drop ||
					   !same(p, &in.frames[in.matched])))
		in.matched++;
	FZ_CHECK(in.matched < in.nframes);
	m = &in.frames[in.matched++];
	FZ_CHECK(p->hash_type == m->hash_type);
	if (m->hash_type >= 0)
		FZ_CHECK(p->hash == m->hash);
	FZ_CHECK(p->meta.gso_type == m->gso_type);
	if (m->gso_type) {
		FZ_CHECK(p->meta.gso_size == m->gso_size);
		FZ_CHECK(p->meta.flags & PVK_NET_META_CSUM_PARTIAL);
	}
	fx.rx_packets++;
	fx.rx_bytes += p->len;
}

/* The drain's buffers: globals, so ASan's redzones follow them. */
static uint8_t big_buf[4][PVK_NETFRONT_MAX_RX_FRAME];

static int recv_some(struct fz *f, uint32_t n, bool big)
{
	struct pvk_netfront_pkt p[4];
	struct pvk_netfront_stats st;
	uint32_t cap[4], i;
	uint16_t v;
	int rc;

	memset(p, 0, sizeof(p));
	for (i = 0; i < n; i++) {
		v = big ? 0xffff : fz_u16(f);
		cap[i] = v & 0x8000 ? PVK_NETFRONT_MAX_RX_FRAME :
				      1 + (v & 0x7fffu);
		/* Exactly its size: ASan sees a byte written past it. */
		p[i].data = big ? big_buf[i] : malloc(cap[i]);
		p[i].len = cap[i];
		FZ_CHECK(p[i].data);
	}
	rc = pvk_netfront_recv(nf(), 0, p, n);
	FZ_CHECK(rc == -EIO || (rc >= 0 && (uint32_t)rc <= n));
	for (i = 0; rc > 0 && i < (uint32_t)rc; i++)
		check_delivered(&p[i], cap[i]);
	for (i = 0; i < n && !big; i++)
		free(p[i].data);
	if (rc < 0)
		return rc;
	/* Only frames the double completed are ever finished. */
	pvk_netfront_stats(nf(), &st);
	FZ_CHECK(st.rx_packets == fx.rx_packets);
	FZ_CHECK(st.rx_bytes == fx.rx_bytes);
	FZ_CHECK(st.rx_packets + st.rx_errors + st.rx_dropped <=
		 fx.rx_finished + in.nframes);
	return rc;
}

/*
 * A producer index ahead of the requests: more than a ring beyond the
 * responses published.  Just past req_prod would not do: netfront keeps
 * its rx ring full, and once it reposts the buffers it has consumed such
 * an index is a legal one, naming slots that hold the previous lap's
 * entries (a stale answer no frontend can tell from a fresh one).  No
 * frontend can have more than a ring of requests outstanding past the
 * responses it has seen, so this one is a violation whatever it posts.
 */
static void prod_ahead(void *map, uint8_t k)
{
	uint32_t *hdr = map;

	__atomic_store_n(&hdr[2], hdr[2] + RING + 1 + k % 8, __ATOMIC_RELEASE);
	pvk_evtchn_notify(fx.net.be.ev, fx.net.be.port);
	in.violation = true;
}

/* ---- the checks at the end ---------------------------------------------- */

static void check_broken(void)
{
	struct pvk_netfront_pkt p = { 0 };
	static uint8_t b[64];
	char why[160];
	const char *w = pvk_netfront_broken_reason(nf());

	FZ_CHECK(w != NULL);
	snprintf(why, sizeof(why), "%s", w);
	p.data = b;
	p.len = sizeof(b);
	FZ_CHECK(pvk_netfront_recv(nf(), 0, &p, 1) == -EIO);
	FZ_CHECK(pvk_netfront_send(nf(), 0, &p, 1) == -EIO);
	FZ_CHECK(pvk_netfront_process(nf()) == -EIO);
	FZ_CHECK(pvk_netfront_wait(nf(), 0) == -EIO);
	FZ_CHECK(pvk_netfront_tx_space(nf(), 0) == 0);
	FZ_CHECK(!pvk_netfront_connected(nf()));
	/* A correct response now changes nothing. */
	t_be_kick(&fx.net.be, &fx.net.be.rx);
	FZ_CHECK(pvk_netfront_process(nf()) == -EIO);
	FZ_CHECK(pvk_netfront_broken_reason(nf()) &&
		 !strcmp(pvk_netfront_broken_reason(nf()), why));
}

/* Finish what the double left open, answer every tx slot, drain. */
static void quiesce(void)
{
	struct pvk_netfront_stats st;
	int i, rc = 0;

	while (!in.violation && in.rp.active && rx_slot(NULL, true))
		;
	t_be_kick(&fx.net.be, &fx.net.be.rx);
	if (!in.violation) {
		tx_take();
		while (fx.npending && fx.owed)
			tx_answer(fx.pending[0], PVK_NETIF_RSP_OKAY);
		t_be_kick(&fx.net.be, &fx.net.be.tx);
	}
	FZ_CHECK(pvk_netfront_process(nf()) == 0 || in.violation);
	for (i = 0; i < 2 * (int)RING; i++) {
		rc = recv_some(NULL, 4, true);
		if (rc <= 0)
			break;
	}
	FZ_CHECK(rc <= 0);
	if (pvk_netfront_broken_reason(nf()) || in.violation) {
		/* Broken iff the double broke the protocol. */
		FZ_CHECK(in.violation);
		pvk_netfront_wait(nf(), 0);
		check_broken();
		return;
	}
	pvk_netfront_stats(nf(), &st);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr,
			"tx %llu/%llu errors %llu, rx %llu (gso %llu) errors "
			"%llu dropped %llu of %u frames\n",
			(unsigned long long)st.tx_packets,
			(unsigned long long)st.tx_bytes,
			(unsigned long long)st.tx_errors,
			(unsigned long long)st.rx_packets,
			(unsigned long long)st.rx_gso,
			(unsigned long long)st.rx_errors,
			(unsigned long long)st.rx_dropped, in.nframes);
	FZ_CHECK(st.tx_packets == fx.tx_packets);
	FZ_CHECK(st.tx_bytes == fx.tx_bytes);
	FZ_CHECK(st.tx_errors == fx.tx_errors);
	FZ_CHECK(!in.rp.active);
	/* Every frame completed was delivered or counted once. */
	fx.rx_finished += in.nframes;
	FZ_CHECK(st.rx_packets + st.rx_errors + st.rx_dropped ==
		 fx.rx_finished);
	FZ_CHECK(in.tx_head == in.tx_tail && !in.tx_left);
	/* Every slot answered is free again; those a NULL answer left in
	 * flight stay so (the frontend skips NULL answers, as Linux's). */
	FZ_CHECK(pvk_netfront_tx_space(nf(), 0) == RING - fx.npending);
}

/*
 * Does this input play its protocol violations (raw ids, producer
 * indices ahead)?  One input in EVIL_ONE_IN does, by a hash of all its
 * bytes: a violation costs a rebuild of the fixture (milliseconds, the
 * time of a hundred inputs), and an input that played one and its
 * mutations would otherwise fill the corpus.  In the others a raw id is
 * a pick, and a producer-index op byte an ordinary op.
 */
#define EVIL_ONE_IN 32u

static bool evil(const uint8_t *data, size_t size)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	return h % EVIL_ONE_IN == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	int ops = 0;
	uint8_t op;

	if (!fx.up) {
		fz_pat_init();
		connect();
	}
	memset(&in.rp, 0, sizeof(in.rp));
	in.nslots = in.nframes = in.matched = 0;
	in.tx_head = in.tx_tail = in.tx_left = 0;
	in.violation = false;
	in.evil = evil(data, size);
	in.gen = fz_u32(&f);
	while (fz_more(&f) && ops++ < MAX_OPS && !in.violation) {
		op = fz_u8(&f);
		switch ((op == OP_RX_PROD_AHEAD || op == OP_TX_PROD_AHEAD) &&
					in.evil ?
				op :
				op % OP_COUNT) {
		case OP_SEND:
			op_send(&f);
			break;
		case OP_TX_RSP:
			op_tx_rsp(&f);
			break;
		case OP_RX:
			op_rx(&f);
			break;
		case OP_RECV:
			FZ_CHECK(recv_some(&f, 1 + fz_u8(&f) % 4, false) >= 0 ||
				 in.violation);
			break;
		case OP_WAIT:
			FZ_CHECK(pvk_netfront_wait(nf(), 0) >= 0 ||
				 in.violation);
			break;
		case OP_RX_PROD_AHEAD:
			prod_ahead(fx.net.be.rx_map, fz_u8(&f));
			break;
		case OP_TX_PROD_AHEAD:
			prod_ahead(fx.net.be.tx_map, fz_u8(&f));
			break;
		}
	}
	quiesce();
	/* A broken frontend is reconnected; so is one that NULL answers
	 * left with half its tx slots. */
	if (in.violation || fx.npending > RING / 2)
		connect();
	return 0;
}

/* ---- seeds ------------------------------------------------------------- */

static void seed_data(struct fz_out *o, uint8_t ctl, uint16_t off,
		      uint16_t size, uint16_t flags)
{
	fzo_u8(o, ctl);
	fzo_u16(o, off);
	fzo_u16(o, size);
	fzo_u16(o, flags);
}

/* A TCP/IPv4 frame's headers, @len bytes in all, as a slot prefix. */
static void seed_tcp4(struct fz_out *o, uint16_t len)
{
	uint8_t h[54] = { 0 };

	memset(h, 0xff, 6);
	h[12] = 0x08;
	h[14] = 0x45;
	h[16] = (uint8_t)((len - 14) >> 8);
	h[17] = (uint8_t)(len - 14);
	h[22] = 64;
	h[23] = 6;
	h[46] = 0x50;
	fzo_u8(o, sizeof(h));
	fzo_bytes(o, h, sizeof(h));
}

/* Emit @o with a last byte that makes it play its violations. */
static void seed_evil(const char *name, struct fz_out *o)
{
	size_t n = o->n;
	int b;

	for (b = 0; b < 256; b++) {
		o->n = n;
		fzo_u8(o, (uint8_t)b);
		if (evil(o->buf, o->n))
			break;
	}
	fz_seed_emit(name, o);
}

void fuzz_seeds(void)
{
	struct pvk_netif_extra_info x = { 0 };
	struct fz_out o;
	int i;

	/* Counts go as count - 1 (an op reads 1 + n % max). */
	/* tx: frames of one and several slots, answered OKAY and ERROR. */
	o.n = 0;
	fzo_u32(&o, 1);
	fzo_u8(&o, OP_SEND);
	fzo_u8(&o, 3 - 1);
	fzo_u16(&o, 60);
	fzo_u16(&o, 1500);
	fzo_u16(&o, 9000);
	fzo_u8(&o, OP_TX_RSP);
	fzo_u8(&o, 5 - 1);
	for (i = 0; i < 5; i++) {
		fzo_u8(&o, i == 0 ? 1 : 0);
		fzo_u8(&o, 0);
	}
	fzo_u8(&o, OP_WAIT);
	fz_seed_emit("seed-tx", &o);

	/* rx: single-slot frames, received one by one. */
	o.n = 0;
	fzo_u32(&o, 2);
	fzo_u8(&o, OP_RX);
	fzo_u8(&o, 2 - 1);
	seed_data(&o, 0, 0, 60, 0);
	seed_data(&o, 0, 100, 1400, PVK_NETRXF_data_validated);
	fzo_u8(&o, OP_RECV);
	fzo_u8(&o, 1 - 1);
	fzo_u16(&o, 0xffff);
	fzo_u8(&o, OP_RECV);
	fzo_u8(&o, 0);
	fzo_u16(&o, 1499);
	fz_seed_emit("seed-rx", &o);

	/* rx: a 3-slot TCP/IPv4 GSO frame with a hash extra. */
	o.n = 0;
	fzo_u32(&o, 3);
	fzo_u8(&o, OP_RX);
	fzo_u8(&o, 5 - 1);
	seed_data(&o, RXC_PREFIX, 0, 4096,
		  PVK_NETRXF_more_data | PVK_NETRXF_extra_info |
			  PVK_NETRXF_csum_blank);
	seed_tcp4(&o, 4096 + 4096 + 808);
	x.type = PVK_NETIF_EXTRA_TYPE_GSO;
	x.flags = PVK_NETIF_EXTRA_FLAG_MORE;
	x.u.gso.size = 1448;
	x.u.gso.type = PVK_NETIF_GSO_TYPE_TCPV4;
	fzo_bytes(&o, &x, sizeof(x));
	memset(&x, 0, sizeof(x));
	x.type = PVK_NETIF_EXTRA_TYPE_HASH;
	x.u.hash.type = PVK_NETIF_CTRL_HASH_TYPE_IPV4_TCP;
	x.u.hash.value[0] = 0x12;
	fzo_bytes(&o, &x, sizeof(x));
	seed_data(&o, 0, 0, 4096, PVK_NETRXF_more_data);
	seed_data(&o, 0, 0, 808, 0);
	fzo_u8(&o, OP_RECV);
	fzo_u8(&o, 0);
	fzo_u16(&o, 0xffff);
	fz_seed_emit("seed-rx-gso", &o);

	/* rx: a frame across pushes, and errors: bad offset, status. */
	o.n = 0;
	fzo_u32(&o, 4);
	fzo_u8(&o, OP_RX);
	fzo_u8(&o, 0);
	seed_data(&o, 0, 0, 4096, PVK_NETRXF_more_data);
	fzo_u8(&o, OP_RECV);
	fzo_u8(&o, 0);
	fzo_u16(&o, 5000);
	fzo_u8(&o, OP_RX);
	fzo_u8(&o, 3 - 1);
	seed_data(&o, 0, 0, 1000, 0);
	seed_data(&o, RXC_RAW_LEN, 4000, 200, 0);
	seed_data(&o, RXC_RAW_LEN, 0, 0xffff, 0);
	fzo_u8(&o, OP_RECV);
	fzo_u8(&o, 4 - 1);
	for (i = 0; i < 4; i++)
		fzo_u16(&o, (uint16_t)(6000 - 2000 * i));
	fz_seed_emit("seed-rx-split", &o);

	/* Both ways at once. */
	o.n = 0;
	fzo_u32(&o, 5);
	fzo_u8(&o, OP_SEND);
	fzo_u8(&o, 2 - 1);
	fzo_u16(&o, 300);
	fzo_u16(&o, 70);
	fzo_u8(&o, OP_RX);
	fzo_u8(&o, 0);
	seed_data(&o, 0, 64, 300, 0);
	fzo_u8(&o, OP_TX_RSP);
	fzo_u8(&o, 2 - 1);
	fzo_u8(&o, 0);
	fzo_u8(&o, 0);
	fzo_u8(&o, 0);
	fzo_u8(&o, 1);
	fzo_u8(&o, OP_RECV);
	fzo_u8(&o, 0);
	fzo_u16(&o, 0x8000);
	fz_seed_emit("seed-both", &o);

	/* Violations, each in an input that plays them (a byte after the
	 * violation, never read, makes its hash right). */
	o.n = 0;
	fzo_u32(&o, 6);
	fzo_u8(&o, OP_RX);
	fzo_u8(&o, 2 - 1);
	seed_data(&o, 0, 0, 60, 0);
	seed_data(&o, RXC_RAW_ID, 0, 60, 0);
	fzo_u16(&o, 300);
	seed_evil("seed-evil-rx-id", &o);

	o.n = 0;
	fzo_u32(&o, 7);
	fzo_u8(&o, OP_SEND);
	fzo_u8(&o, 2 - 1);
	fzo_u16(&o, 100);
	fzo_u16(&o, 100);
	fzo_u8(&o, OP_TX_RSP);
	fzo_u8(&o, 2 - 1);
	fzo_u8(&o, 0);
	fzo_u8(&o, 0);
	fzo_u8(&o, TXC_RAW);
	fzo_u16(&o, 0); /* the first frame's id, answered already */
	seed_evil("seed-evil-tx-id", &o);

	o.n = 0;
	fzo_u32(&o, 8);
	fzo_u8(&o, OP_RX);
	fzo_u8(&o, 1 - 1);
	seed_data(&o, 0, 0, 60, 0);
	fzo_u8(&o, OP_RX_PROD_AHEAD);
	fzo_u8(&o, 3);
	seed_evil("seed-evil-rx-prod", &o);

	o.n = 0;
	fzo_u32(&o, 9);
	fzo_u8(&o, OP_SEND);
	fzo_u8(&o, 1 - 1);
	fzo_u16(&o, 100);
	fzo_u8(&o, OP_TX_PROD_AHEAD);
	fzo_u8(&o, 0);
	seed_evil("seed-evil-tx-prod", &o);
}
