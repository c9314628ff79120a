// SPDX-License-Identifier: MIT
/*
 * fuzz-xenfront: blkfront's and netfront's parsing of what a hostile
 * backend writes in xenstore, and the shared frontend state machine
 * (pvkit/xenbus.h) they run on, on the loop hypervisor.
 *
 * Each input attaches a vbd or a vif as the toolstack does (for a vif
 * with a mac and mtu of the input's), writes the backend's nodes -- each
 * value raw bytes from the input (NULs too), or a number, a power of two,
 * a state, a boolean, or a number with a flaw (a sign, a space, hex,
 * trailing junk, 21 digits) -- and InitWait, and opens the frontend; a
 * second thread plays the backend's half of that handshake (more nodes,
 * then Connected once the frontend has published).  Then, driven in this
 * thread, the backend writes and removes nodes and writes states in any
 * order (raw ones too), and the toolstack detaches, removes the backend
 * or the frontend directory; the frontend handles its events after each
 * step.  At the end the toolstack removes both directories and the
 * frontend is closed (ASan reports anything it leaks at exit).
 *
 * The harness keeps a model of the backend's nodes and parses them as
 * xenbus.h says (1 to 20 decimal digits that fit an unsigned long).
 * Checked:
 *  - the frontend's state node is always a state 1-6 (or gone), its phase
 *    a known one; Broken and Gone are final; a broken reason exactly
 *    while broken, and a log line when it latched;
 *  - it publishes rings (talk) after InitWait only if every node it reads
 *    then is well formed (vif: booleans 0/1, feature-rx-copy 1), else it
 *    latches broken; what it published (ring order, queue count, split
 *    event channels) is the model's clamp of the backend's and its own
 *    limits;
 *  - it connects after Connected only if every node it reads then is well
 *    formed and in range, else it latches broken; the info it reports is
 *    the model's (sector sizes, size, flags, discard, indirect, read-only,
 *    queues, offloads, mac, mtu) and within the bounds blkfront.h and
 *    netfront.h document; a resize takes a valid "sectors" or breaks;
 *  - Closing/Closed/a vanished state take the rings down; states 7/8
 *    change nothing; after the directories are removed it is Gone (or
 *    was Broken), and closing it never recreates its directory.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/blkfront.h>
#include <pvkit/blkif.h>
#include <pvkit/netfront.h>
#include <pvkit/xenbus.h>

#include "../../frontend/blkfront_priv.h"
#include "../../frontend/netfront_priv.h"
/* hv_impl.h: hv->ops->xs_write, to write values with NULs inside. */
#undef PVK_PAGE_SIZE
#include "../../hypercall/hv_impl.h"
#include "../common/t_toolstack.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define VBD_DEVID 51712u
#define VAL_MAX 40
#define MAX_STEPS 64
#define MAX_PRE 16

/* Backend nodes; index 0 is always "state". */
enum {
	B_STATE,
	B_SECTORS,
	B_SS,
	B_PSS,
	B_INFO,
	B_MODE,
	B_FLUSH,
	B_BARRIER,
	B_DISCARD,
	B_GRAN,
	B_ALIGN,
	B_SECURE,
	B_PERSIST,
	B_INDIRECT,
	B_ORDER,
	B_PAGES,
	B_MQ,
	B_ONLINE,
	B_NODES
};
static const char *const vbd_nodes[B_NODES] = {
	"state",
	"sectors",
	"sector-size",
	"physical-sector-size",
	"info",
	"mode",
	"feature-flush-cache",
	"feature-barrier",
	"feature-discard",
	"discard-granularity",
	"discard-alignment",
	"discard-secure",
	"feature-persistent",
	"feature-max-indirect-segments",
	"max-ring-page-order",
	"max-ring-pages",
	"multi-queue-max-queues",
	"online",
};

enum {
	N_STATE,
	N_RXCOPY,
	N_SG,
	N_GSO4,
	N_GSO6,
	N_IPV6,
	N_SPLIT,
	N_MQ,
	N_ONLINE,
	N_CTRL,
	N_NOTIFY,
	N_MAC,
	N_NODES
};
static const char *const vif_nodes[N_NODES] = {
	"state",
	"feature-rx-copy",
	"feature-sg",
	"feature-gso-tcpv4",
	"feature-gso-tcpv6",
	"feature-ipv6-csum-offload",
	"feature-split-event-channels",
	"multi-queue-max-queues",
	"online",
	"feature-ctrl-ring",
	"feature-rx-notify",
	"mac",
};

/* The nodes each half of the negotiation reads. */
static const int vbd_talk[] = { B_ORDER, B_PAGES, B_MQ };
static const int vbd_conn[] = { B_SECTORS, B_INFO,    B_SS,	 B_PSS,
				B_FLUSH,   B_BARRIER, B_DISCARD, B_GRAN,
				B_ALIGN,   B_SECURE,  B_PERSIST, B_INDIRECT };
static const int vif_talk[] = { N_RXCOPY, N_SG,	   N_GSO4, N_GSO6,
				N_IPV6,	  N_SPLIT, N_MQ };

struct val {
	bool set;
	uint8_t len;
	char b[VAL_MAX];
};

enum { V_RAW, V_SMALL, V_U32, V_U64, V_POW2, V_STATE, V_FLAW, V_BOOL, V_COUNT };

enum {
	OP_WRITE,
	OP_RM,
	OP_STATE,
	OP_STATE_RAW,
	OP_DETACH, /* online = 0, state Closing: the toolstack's detach */
	OP_RM_BE, /* the backend directory goes (ends the script) */
	OP_RM_FE, /* the frontend directory goes */
	OP_NOP,
	OP_COUNT
};

#define CFG_VIF 0x01

static struct {
	struct pvk_loop *loop;
	struct pvk_hv *tool, *be, *fe;
	struct pvk_hv *hs; /* the handshake thread's: its watch */
	int hs_wake; /* eventfd: open returned */
	uint32_t dom;
} fx;

/* Per input. */
static struct {
	bool vif;
	int nnodes;
	const char *const *names;
	struct val v[B_NODES > N_NODES ? B_NODES : N_NODES];
	struct val talk[B_NODES > N_NODES ? B_NODES : N_NODES]; /* at talk */
	bool talked;
	char be_dir[128], fe_dir[128];
	struct pvk_blkfront *bf;
	struct pvk_netfront *nf;
	struct pvk_blkfront_opts bo;
	struct pvk_netfront_opts no;
	unsigned int logs;
	uint32_t prev_ss; /* sector size of the last connection */
	uint64_t prev_size;
	bool fe_removed; /* the toolstack removed the frontend directory */
	bool be_removed; /* ... and the backend's */
	unsigned long pub_order, pub_nq; /* what the frontend published */
	/* the handshake thread */
	struct val conn_w[MAX_PRE];
	int conn_node[MAX_PRE], nconn;
	volatile int open_done;
} in;

static void logline(void *arg, const char *line)
{
	(void)arg;
	in.logs++;
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "front: %s\n", line);
}

static void setup(void)
{
	FZ_CHECK(pvk_loop_create(&fx.loop) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.tool, fx.loop, 0) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.be, fx.loop, 0) == 0);
	FZ_CHECK(pvk_loop_domain_create(fx.loop, "fuzz", &fx.dom) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.fe, fx.loop, fx.dom) == 0);
	FZ_CHECK(pvk_hv_open_loop(&fx.hs, fx.loop, 0) == 0);
	fx.hs_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	FZ_CHECK(fx.hs_wake >= 0);
}

/* ---- the model's parse (xenbus.h: strict unsigned decimal) ------------ */

/* 1: a number in *v; 0: absent; -1: malformed. */
static int parse(const struct val *x, unsigned long *v)
{
	unsigned long acc = 0;
	int i;

	if (!x->set)
		return 0;
	if (!x->len || x->len > 20)
		return -1;
	for (i = 0; i < x->len; i++) {
		unsigned int d = (unsigned char)x->b[i] - '0';

		if (d > 9 || __builtin_mul_overflow(acc, 10ul, &acc) ||
		    __builtin_add_overflow(acc, d, &acc))
			return -1;
	}
	*v = acc;
	return 1;
}

static unsigned long num(const struct val *vals, int i, unsigned long def)
{
	unsigned long v = def;

	return parse(&vals[i], &v) > 0 ? v : def;
}

static bool all_ok(const struct val *vals, const int *idx, size_t n)
{
	unsigned long v;
	size_t i;

	for (i = 0; i < n; i++)
		if (parse(&vals[idx[i]], &v) < 0)
			return false;
	return true;
}

/* The vif's talk-time nodes are acceptable: booleans 0/1, rx-copy 1. */
static bool vif_talk_ok(const struct val *t)
{
	int i;

	if (!all_ok(t, vif_talk, 7) || num(t, N_RXCOPY, 0) != 1)
		return false;
	for (i = 0; i < 6; i++)
		if (num(t, vif_talk[i], 0) > 1)
			return false;
	return true;
}

/* The state the model's state node says: -1 malformed (or > 8). */
static int model_state(void)
{
	unsigned long v = 0;
	int r = parse(&in.v[0], &v);

	if (r < 0 || v > PVK_XENBUS_RECONFIGURED)
		return -1;
	return (int)v; /* absent: Unknown */
}

/* ---- writing nodes ------------------------------------------------------ */

static void gen_value(struct fz *f, struct val *x)
{
	static const char *const flaws[] = { " %u",  "+%u",  "-%u", "0x%x",
					     "%uk",  "%u ",  "0%u", "%u\n",
					     "%u.0", "1e%u", "%u\t" };
	char t[VAL_MAX];
	uint8_t k;
	int n = 0;

	switch (fz_u8(f) % V_COUNT) {
	case V_RAW:
		k = fz_u8(f) % 24;
		fz_bytes(f, x->b, k);
		x->len = k;
		x->set = true;
		return;
	case V_SMALL:
		n = snprintf(t, sizeof(t), "%u", fz_u8(f));
		break;
	case V_U32:
		n = snprintf(t, sizeof(t), "%u", fz_u32(f));
		break;
	case V_U64:
		n = snprintf(t, sizeof(t), "%llu",
			     (unsigned long long)fz_u64(f));
		break;
	case V_POW2:
		n = snprintf(t, sizeof(t), "%llu", 1ull << (fz_u8(f) % 64));
		break;
	case V_STATE:
		n = snprintf(t, sizeof(t), "%u", fz_u8(f) % 10);
		break;
	case V_FLAW:
		k = fz_u8(f) % (sizeof(flaws) / sizeof(flaws[0]) + 2);
		if (k == sizeof(flaws) / sizeof(flaws[0]))
			n = snprintf(t, sizeof(t), "18446744073709551616");
		else if (k > sizeof(flaws) / sizeof(flaws[0]))
			n = snprintf(t, sizeof(t), "%u%c%u", fz_u8(f), 0, 1);
		else
			n = snprintf(t, sizeof(t), flaws[k], fz_u16(f));
		if (k > sizeof(flaws) / sizeof(flaws[0]))
			n = (int)strlen(t) + 2;
		break;
	case V_BOOL:
		n = snprintf(t, sizeof(t), "%u", fz_u8(f) & 1);
		break;
	}
	memcpy(x->b, t, (size_t)n);
	x->len = (uint8_t)n;
	x->set = true;
}

/* Write @len raw bytes (NULs too) at @dir/@name as @hv. */
static int raw_write(struct pvk_hv *hv, const char *dir, const char *name,
		     const struct val *x)
{
	char p[192];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return hv->ops->xs_write(hv, PVK_XS_NO_TXN, p, x->b, x->len);
}

static void be_write(int node, const struct val *x)
{
	if (raw_write(fx.be, in.be_dir, in.names[node], x) == 0)
		in.v[node] = *x;
}

static void be_rm(int node)
{
	char p[192];

	snprintf(p, sizeof(p), "%s/%s", in.be_dir, in.names[node]);
	if (pvk_xs_rm(fx.be, PVK_XS_NO_TXN, p) == 0)
		in.v[node].set = false;
}

static void be_put(int node, const char *s)
{
	struct val x = { .set = true, .len = (uint8_t)strlen(s) };

	memcpy(x.b, s, x.len);
	be_write(node, &x);
}

/* ---- watching the frontend ---------------------------------------------- */

/* Did the frontend publish since last asked (its watch fired)? */
static bool published(void)
{
	char *path, *token;
	bool pub = false;

	while (pvk_xs_read_watch(fx.tool, &path, &token) > 0) {
		pub |= !strcmp(token, "pub");
		free(path);
		free(token);
	}
	return pub;
}

static int fe_state_node(void)
{
	char p[160], *v = NULL;
	unsigned long st;
	struct val x = { .set = true };
	int n;

	snprintf(p, sizeof(p), "%s/state", in.fe_dir);
	n = pvk_xs_read(fx.tool, PVK_XS_NO_TXN, p, &v);
	if (n < 0)
		return -1;
	x.len = (uint8_t)(n < VAL_MAX ? n : VAL_MAX);
	memcpy(x.b, v, x.len);
	free(v);
	if (n >= VAL_MAX || parse(&x, &st) <= 0 || st > 99)
		return -2;
	return (int)st;
}

static unsigned long fe_uint(const char *name, unsigned long def)
{
	char p[192];
	unsigned long v;

	snprintf(p, sizeof(p), "%s/%s", in.fe_dir, name);
	return pvk_xs_read_uint(fx.tool, PVK_XS_NO_TXN, p, &v) == 0 ? v : def;
}

static bool fe_has(const char *name)
{
	char p[192], *v = NULL;
	int rc;

	snprintf(p, sizeof(p), "%s/%s", in.fe_dir, name);
	rc = pvk_xs_read(fx.tool, PVK_XS_NO_TXN, p, &v);
	free(v);
	return rc >= 0;
}

static struct pvk_xenbus_front *fr(void)
{
	return in.vif ? &in.nf->fr : &in.bf->fr;
}

static bool dead(int ph)
{
	return ph == PVK_XENBUS_FE_BROKEN || ph == PVK_XENBUS_FE_GONE;
}

static const char *broken_reason(void)
{
	return in.vif ? pvk_netfront_broken_reason(in.nf) :
			pvk_blkfront_broken_reason(in.bf);
}

static uint32_t connects(void)
{
	struct pvk_blkfront_info bi;
	struct pvk_netfront_info ni;

	if (in.vif) {
		pvk_netfront_info(in.nf, &ni);
		return ni.connects;
	}
	pvk_blkfront_info(in.bf, &bi);
	return bi.connects;
}

/* ---- what the frontend must have published, and connected with ------- */

static void check_published(void)
{
	const struct val *t = in.talk;
	unsigned long ours, order, pages, nq, max;

	if (in.vif) {
		unsigned int fl = in.no.flags;
		bool split = num(t, N_SPLIT, 0) &&
			     !(fl & PVK_NETFRONT_NO_SPLIT_EVTCHN);

		FZ_CHECK(vif_talk_ok(t));
		nq = num(t, N_MQ, 1);
		nq = nq < 1 ? 1 : nq > in.no.max_queues ? in.no.max_queues : nq;
		FZ_CHECK(fe_uint("multi-queue-num-queues", 1) == nq);
		in.pub_nq = nq;
		if (nq == 1)
			FZ_CHECK(fe_has("event-channel-tx") == split);
		else
			FZ_CHECK(fe_has("queue-0/event-channel-tx") == split);
		return;
	}
	FZ_CHECK(all_ok(t, vbd_talk, 3));
	ours = in.bo.flags & PVK_BLKFRONT_NO_MULTI_PAGE ? 0 :
	       in.bo.max_ring_order			? in.bo.max_ring_order :
				      PVK_BLKFRONT_MAX_RING_ORDER;
	order = num(t, B_ORDER, 0);
	order = order > ours ? ours : order;
	pages = num(t, B_PAGES, 1);
	pages = pages > 1ul << ours ? 1ul << ours : pages;
	while (order < ours && (2ul << order) <= pages)
		order++;
	max = in.bo.flags & PVK_BLKFRONT_NO_MULTI_QUEUE ? 1 : in.bo.max_queues;
	nq = num(t, B_MQ, 1);
	nq = nq > max ? max : nq ? nq : 1;
	FZ_CHECK(fe_uint("ring-page-order", 0) == order);
	FZ_CHECK(fe_uint("multi-queue-num-queues", 1) == nq);
	in.pub_order = order;
	in.pub_nq = nq;
	FZ_CHECK(order <= PVK_BLKFRONT_MAX_RING_ORDER && nq >= 1 &&
		 nq <= PVK_BLKFRONT_MAX_QUEUES);
}

/* The vbd's connect-time nodes are acceptable (what bf_connect requires). */
static bool vbd_conn_ok(void)
{
	const struct val *v = in.v;
	unsigned long ss = num(v, B_SS, 512), pss = num(v, B_PSS, ss);
	unsigned long sectors = num(v, B_SECTORS, 0);
	uint64_t unit = in.bo.flags & PVK_BLKFRONT_LARGE_SECTORS ? ss : 512;

	if (!all_ok(v, vbd_conn, sizeof(vbd_conn) / sizeof(vbd_conn[0])) ||
	    !v[B_SECTORS].set)
		return false;
	if (num(v, B_INFO, 0) > UINT32_MAX || num(v, B_FLUSH, 0) > 1 ||
	    num(v, B_BARRIER, 0) > 1 || num(v, B_DISCARD, 0) > 1 ||
	    num(v, B_GRAN, 0) > UINT32_MAX || num(v, B_ALIGN, 0) > UINT32_MAX ||
	    num(v, B_SECURE, 0) > 1 || num(v, B_PERSIST, 0) > 1)
		return false;
	if (ss < 512 || ss > 4096 || (ss & (ss - 1)) || pss < ss ||
	    pss > (1ul << 20) || (pss & (pss - 1)))
		return false;
	if (!sectors || sectors > (UINT64_MAX >> 1) / unit ||
	    (sectors * unit) % ss)
		return false;
	return !in.prev_ss || in.prev_ss == ss;
}

static void check_vbd_info(void)
{
	const struct val *v = in.v;
	struct pvk_blkfront_info bi;
	unsigned long ss = num(v, B_SS, 512), info = num(v, B_INFO, 0);
	unsigned long gran = num(v, B_GRAN, 0), align = num(v, B_ALIGN, 0);
	unsigned long ind = num(v, B_INDIRECT, 0);
	unsigned int fl = in.bo.flags;
	uint64_t unit = fl & PVK_BLKFRONT_LARGE_SECTORS ? ss : 512;
	bool ro;

	pvk_blkfront_info(in.bf, &bi);
	FZ_CHECK(bi.sector_size == ss);
	FZ_CHECK(bi.physical_sector_size == num(v, B_PSS, ss));
	FZ_CHECK(bi.size_bytes == num(v, B_SECTORS, 0) * unit);
	FZ_CHECK(bi.sectors * bi.sector_size == bi.size_bytes);
	FZ_CHECK(bi.vdisk_info == info);
	/* A mode without a 'w' is read-only, as Linux's blkback reads it
	 * (a value with a NUL is no value). */
	ro = (info & PVK_VDISK_READONLY) ||
	     (v[B_MODE].set && !memchr(v[B_MODE].b, 0, v[B_MODE].len) &&
	      !memchr(v[B_MODE].b, 'w', v[B_MODE].len));
	FZ_CHECK(bi.read_only == ro);
	FZ_CHECK(bi.flush == (num(v, B_FLUSH, 0) == 1));
	FZ_CHECK(bi.barrier == (num(v, B_BARRIER, 0) == 1));
	FZ_CHECK(bi.persistent == (num(v, B_PERSIST, 0) == 1 &&
				   !(fl & PVK_BLKFRONT_NO_PERSISTENT)));
	if (gran < ss)
		gran = ss;
	if (num(v, B_DISCARD, 0) == 1 && !(gran % ss) && !(align % ss)) {
		FZ_CHECK(bi.discard && bi.discard_granularity == gran &&
			 bi.discard_alignment == align % gran);
		FZ_CHECK(bi.discard_secure == (num(v, B_SECURE, 0) == 1));
	} else {
		FZ_CHECK(!bi.discard && !bi.discard_secure);
	}
	if (ind > in.bo.max_indirect_segs)
		ind = in.bo.max_indirect_segs;
	if ((fl & PVK_BLKFRONT_NO_INDIRECT) ||
	    ind <= PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST)
		ind = 0;
	FZ_CHECK(bi.max_indirect_segs == ind);
	FZ_CHECK(bi.ring_order == in.pub_order && bi.nr_queues == in.pub_nq);
	in.prev_ss = bi.sector_size;
	in.prev_size = bi.size_bytes;
}

/* The mac as netfront.h says: unicast xx:xx:xx:xx:xx:xx (strictly). */
static bool mac_strict(const struct val *x, uint8_t *mac)
{
	static const char hex[] = "0123456789abcdef";
	int i, hi, lo;

	if (!x->set || x->len != 17)
		return false;
	for (i = 0; i < 6; i++) {
		const char *h = memchr(hex, x->b[3 * i] | 0x20, 16);
		const char *l = memchr(hex, x->b[3 * i + 1] | 0x20, 16);

		if (!h || !l || !x->b[3 * i] || !x->b[3 * i + 1] ||
		    (i < 5 && x->b[3 * i + 2] != ':'))
			return false;
		hi = (int)(h - hex);
		lo = (int)(l - hex);
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return !(mac[0] & 1);
}

static struct val own_mac, own_mtu;

static void check_vif_info(void)
{
	const struct val *t = in.talk;
	struct pvk_netfront_info ni;
	unsigned int fl = in.no.flags;
	unsigned long mtu = 1500;
	uint8_t mac[6];
	bool csum = !(fl & PVK_NETFRONT_NO_CSUM);
	bool sg = num(t, N_SG, 0) && !(fl & PVK_NETFRONT_NO_SG);
	bool v6 = num(t, N_IPV6, 0) && csum;

	pvk_netfront_info(in.nf, &ni);
	FZ_CHECK(!(ni.mac[0] & 1));
	FZ_CHECK(ni.mtu >= 68 && ni.mtu <= 65535);
	/* netfront parses its own mac and mtu strictly: it connected, so
	 * they were well formed. */
	FZ_CHECK(mac_strict(&own_mac, mac) && !memcmp(ni.mac, mac, 6));
	FZ_CHECK(!own_mtu.set || parse(&own_mtu, &mtu) > 0);
	FZ_CHECK(ni.mtu == mtu);
	FZ_CHECK(ni.sg == sg && ni.csum == csum && ni.ipv6_csum == v6);
	FZ_CHECK(ni.gso_tcpv4 == (num(t, N_GSO4, 0) && sg && csum &&
				  !(fl & PVK_NETFRONT_NO_GSO)));
	FZ_CHECK(ni.gso_tcpv6 == (num(t, N_GSO6, 0) && sg && v6 &&
				  !(fl & PVK_NETFRONT_NO_GSO)));
	FZ_CHECK(ni.nr_queues == in.pub_nq);
	FZ_CHECK(ni.nr_queues >= 1 && ni.nr_queues <= in.no.max_queues);
}

/* ---- one step ----------------------------------------------------------- */

/* Handle the frontend's events; check what it did. */
static void step(void)
{
	struct pvk_xenbus_front *f = fr();
	int ph0 = f->phase, ph, st = model_state(), fs;
	uint32_t c0 = connects();
	unsigned int logs0 = in.logs;
	bool stepped = false, pub;
	struct pollfd p = { .fd = pvk_xs_watch_fd(fx.fe), .events = POLLIN };

	stepped = !dead(ph0) && poll(&p, 1, 0) > 0;
	if (in.vif)
		pvk_netfront_process(in.nf);
	else
		pvk_xenbus_front_handle(f);
	ph = f->phase;
	pub = published();
	if (pub) {
		memcpy(in.talk, in.v, sizeof(in.v));
		in.talked = true;
		check_published();
	}

	/* Always. */
	FZ_CHECK(ph >= PVK_XENBUS_FE_DISCONNECTED && ph <= PVK_XENBUS_FE_GONE);
	if (dead(ph0))
		FZ_CHECK(ph == ph0);
	FZ_CHECK((broken_reason() != NULL) == (ph == PVK_XENBUS_FE_BROKEN));
	if (ph == PVK_XENBUS_FE_BROKEN && ph0 != ph)
		FZ_CHECK(in.logs > logs0);
	FZ_CHECK(f->fe_state >= PVK_XENBUS_INITIALISING &&
		 f->fe_state <= PVK_XENBUS_CLOSED);
	fs = fe_state_node();
	FZ_CHECK(fs == -1 || (fs >= 1 && fs <= 6));
	if (in.fe_removed)
		FZ_CHECK(!fe_has("state"));
	if (connects() != c0) {
		/* (Broken at once if saying Connected failed.) */
		FZ_CHECK(connects() == c0 + 1);
		FZ_CHECK(ph == PVK_XENBUS_FE_CONNECTED || f->err);
		FZ_CHECK(in.talked);
		if (in.vif) {
			check_vif_info();
		} else {
			FZ_CHECK(vbd_conn_ok());
			check_vbd_info();
		}
	}
	if (!stepped)
		return;

	/* What the backend's state asked for. */
	if (st < 0) {
		FZ_CHECK(ph == PVK_XENBUS_FE_BROKEN);
	} else if (st == PVK_XENBUS_INITWAIT && !f->closing &&
		   ph0 != PVK_XENBUS_FE_PUBLISHED && !in.fe_removed) {
		bool ok = in.vif ? vif_talk_ok(in.v) :
				   all_ok(in.v, vbd_talk, 3);

		FZ_CHECK(pub == (ph == PVK_XENBUS_FE_PUBLISHED) || f->err);
		if (!ok)
			FZ_CHECK(!pub && ph == PVK_XENBUS_FE_BROKEN);
		else
			FZ_CHECK(pub || f->err);
	} else if (st == PVK_XENBUS_CONNECTED &&
		   ph0 == PVK_XENBUS_FE_PUBLISHED) {
		bool ok = in.vif || vbd_conn_ok();

		if (ok)
			FZ_CHECK(connects() == c0 + 1 || f->err);
		else
			FZ_CHECK(ph == PVK_XENBUS_FE_BROKEN);
	} else if (st == PVK_XENBUS_CONNECTED &&
		   ph0 == PVK_XENBUS_FE_CONNECTED && !in.vif) {
		/* A resize: a valid "sectors", or broken. */
		struct pvk_blkfront_info bi;
		unsigned long s = 0;
		uint64_t unit = in.bo.flags & PVK_BLKFRONT_LARGE_SECTORS ?
					in.prev_ss :
					512;

		pvk_blkfront_info(in.bf, &bi);
		if (parse(&in.v[B_SECTORS], &s) > 0 && s &&
		    s <= (UINT64_MAX >> 1) / unit &&
		    !((s * unit) % in.prev_ss)) {
			FZ_CHECK(ph == PVK_XENBUS_FE_CONNECTED &&
				 bi.size_bytes == s * unit);
			in.prev_size = bi.size_bytes;
		} else {
			FZ_CHECK(ph == PVK_XENBUS_FE_BROKEN);
		}
	} else if (st == PVK_XENBUS_CONNECTED) {
		/* Not published: no connection from a stale Connected. */
		FZ_CHECK(ph == ph0 && connects() == c0);
	} else if (st == PVK_XENBUS_INITIALISING ||
		   st == PVK_XENBUS_INITIALISED) {
		FZ_CHECK(ph != PVK_XENBUS_FE_CONNECTED && !pub);
	} else if (st == PVK_XENBUS_CLOSING || st == PVK_XENBUS_CLOSED ||
		   st == PVK_XENBUS_UNKNOWN) {
		FZ_CHECK(ph != PVK_XENBUS_FE_CONNECTED &&
			 ph != PVK_XENBUS_FE_PUBLISHED);
	} else if (st == PVK_XENBUS_RECONFIGURING ||
		   st == PVK_XENBUS_RECONFIGURED) {
		FZ_CHECK(ph == ph0 && !pub);
	}
}

/* ---- the handshake beside the blocking open ------------------------------ */

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void hs_drain(void)
{
	char *path, *token;

	while (pvk_xs_read_watch(fx.hs, &path, &token) > 0) {
		free(path);
		free(token);
	}
}

/* Once the frontend has published (or open gave up): the connect-time
 * nodes, then Connected.  The frontend watches only the state node, so it
 * sees these as one change: deterministic.  The state is looked at each
 * time it changes (a watch of its own; it fires once at registration) and
 * when open returns (hs_wake), not on a clock. */
static void *handshake(void *arg)
{
	int want = in.vif ? PVK_XENBUS_CONNECTED : PVK_XENBUS_INITIALISED;
	struct pollfd p[2] = {
		{ .fd = pvk_xs_watch_fd(fx.hs), .events = POLLIN },
		{ .fd = fx.hs_wake, .events = POLLIN },
	};
	uint64_t t0 = ms_now();
	char path[160];
	int i;

	(void)arg;
	snprintf(path, sizeof(path), "%s/state", in.fe_dir);
	FZ_CHECK(pvk_xs_watch(fx.hs, path, "hs") == 0);
	while (!__atomic_load_n(&in.open_done, __ATOMIC_ACQUIRE)) {
		hs_drain();
		if (fe_state_node() == want) {
			for (i = 0; i < in.nconn; i++)
				be_write(in.conn_node[i], &in.conn_w[i]);
			be_put(0, "4");
			break;
		}
		FZ_CHECK(ms_now() - t0 < 5000);
		(void)poll(p, 2, 100);
	}
	FZ_CHECK(pvk_xs_unwatch(fx.hs, path, "hs") == 0);
	hs_drain();
	return NULL;
}

/* ---- one input ---------------------------------------------------------- */

/* Everything open reads is well formed and in range. */
static bool open_ok(void)
{
	unsigned long mtu = 1500;
	uint8_t mac[6];

	if (!in.vif)
		return all_ok(in.talk, vbd_talk, 3) && vbd_conn_ok();
	if (own_mtu.set &&
	    (parse(&own_mtu, &mtu) <= 0 || mtu < 68 || mtu > 65535))
		return false;
	return mac_strict(&own_mac, mac) && vif_talk_ok(in.talk);
}

static void attach(void)
{
	static const char *const vbd_fe[] = { "virtual-device=51712",
					      "device-type=disk", NULL };
	struct t_dev d = { .be = 0, .fe = fx.dom };
	uint32_t devid = in.vif ? 0 : VBD_DEVID;

	d.type = d.fe_type = in.vif ? "vif" : "vbd";
	d.devid = devid;
	d.fe_nodes = in.vif ? NULL : vbd_fe;
	FZ_CHECK(t_dev_attach(fx.tool, &d) == 0);
	snprintf(in.be_dir, sizeof(in.be_dir),
		 "/local/domain/0/backend/%s/%u/%u", d.type, fx.dom, devid);
	snprintf(in.fe_dir, sizeof(in.fe_dir), "/local/domain/%u/device/%s/%u",
		 fx.dom, d.type, devid);
	memset(in.v, 0, sizeof(in.v));
	be_put(0, "1");
	be_put(in.vif ? N_ONLINE : B_ONLINE, "1");
	if (in.vif) {
		be_put(N_RXCOPY, "1");
		be_put(N_SG, "1");
		be_put(N_GSO4, "1");
	} else {
		be_put(B_SECTORS, "2048");
		be_put(B_SS, "512");
		be_put(B_INFO, "0");
		be_put(B_MODE, "w");
		be_put(B_FLUSH, "1");
	}
}

static int node_of(struct fz *f)
{
	return fz_u8(f) % in.nnodes;
}

static int open_front(struct fz *f)
{
	eventfd_t wake;
	pthread_t th;
	int rc, i, n;
	struct val x;

	/* Before open: the talk-time nodes and InitWait. */
	n = fz_u8(f) % MAX_PRE;
	for (i = 0; i < n; i++) {
		int node = node_of(f);

		gen_value(f, &x);
		if (node != 0)
			be_write(node, &x);
	}
	/* For the handshake thread: the connect-time nodes. */
	in.nconn = 0;
	n = fz_u8(f) % MAX_PRE;
	for (i = 0; i < n; i++) {
		int node = node_of(f);

		gen_value(f, &in.conn_w[in.nconn]);
		if (node != 0 && node != (in.vif ? N_ONLINE : B_ONLINE))
			in.conn_node[in.nconn++] = node;
	}
	be_put(0, "2");
	memcpy(in.talk, in.v, sizeof(in.v));
	published();
	in.open_done = 0;
	FZ_CHECK(pthread_create(&th, NULL, handshake, NULL) == 0);
	if (in.vif)
		rc = pvk_netfront_open(&in.nf, fx.fe, 0, &in.no);
	else
		rc = pvk_blkfront_open(&in.bf, fx.fe, "51712", &in.bo);
	__atomic_store_n(&in.open_done, 1, __ATOMIC_RELEASE);
	FZ_CHECK(eventfd_write(fx.hs_wake, 1) == 0);
	pthread_join(th, NULL);
	(void)eventfd_read(fx.hs_wake, &wake);
	in.talked = published();
	if (in.talked)
		check_published();
	return rc;
}

static void finish(void)
{
	struct pvk_xenbus_front *f = fr();

	/* The toolstack removes both directories. */
	(void)pvk_xs_rm(fx.tool, PVK_XS_NO_TXN, in.be_dir);
	(void)pvk_xs_rm(fx.tool, PVK_XS_NO_TXN, in.fe_dir);
	published(); /* the watch fires for the removal */
	memset(in.v, 0, sizeof(in.v));
	step();
	/* Gone -- unless the backend directory had gone before: the
	 * frontend watches only the backend's state, so the removal of its
	 * own directory alone goes unnoticed (reported, not asserted). */
	if (!in.be_removed)
		FZ_CHECK(dead(f->phase));
	if (in.vif)
		pvk_netfront_close(in.nf);
	else
		pvk_blkfront_close(in.bf);
	in.nf = NULL;
	in.bf = NULL;
	/* Closing never recreates the removed directory. */
	FZ_CHECK(fe_state_node() == -1 && !fe_has("backend"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t cfg = fz_u8(&f), c2 = fz_u8(&f);
	char p[192];
	int rc, steps = 0;
	struct val x;

	if (!fx.loop)
		setup();
	memset(&in, 0, sizeof(in));
	in.vif = cfg & CFG_VIF;
	in.nnodes = in.vif ? N_NODES : B_NODES;
	in.names = in.vif ? vif_nodes : vbd_nodes;
	if (in.vif) {
		in.no.flags = (cfg >> 1) & PVK_NETFRONT_VALID_FLAGS;
		in.no.max_queues = 1 + c2 % PVK_NETFRONT_MAX_QUEUES;
		in.no.log = logline;
	} else {
		in.bo.flags = (cfg >> 1) & (PVK_BLKFRONT_NO_PERSISTENT |
					    PVK_BLKFRONT_NO_INDIRECT |
					    PVK_BLKFRONT_NO_MULTI_PAGE |
					    PVK_BLKFRONT_NO_MULTI_QUEUE);
		if (cfg & 0x80)
			in.bo.flags |= PVK_BLKFRONT_LARGE_SECTORS;
		in.bo.max_ring_order = c2 % (PVK_BLKFRONT_MAX_RING_ORDER + 1);
		in.bo.max_queues = 1 + (c2 >> 3) % PVK_BLKFRONT_MAX_QUEUES;
		in.bo.max_indirect_segs =
			(c2 >> 5) ? 12 + ((c2 >> 5) - 1) * 40 : 0;
		if (!in.bo.max_indirect_segs)
			in.bo.max_indirect_segs =
				PVK_BLKFRONT_DEFAULT_INDIRECT_SEGS;
		in.bo.log = logline;
	}
	attach();
	if (in.vif) {
		/* The toolstack's mac and mtu, in the frontend's directory. */
		own_mac.set = true;
		if (fz_u8(&f) & 1) {
			gen_value(&f, &own_mac);
		} else {
			uint8_t m[6];

			fz_bytes(&f, m, 6);
			own_mac.len = (uint8_t)snprintf(
				own_mac.b, sizeof(own_mac.b),
				"%02x:%02x:%02x:%02x:%02x:%02x", m[0] & 0xfe,
				m[1], m[2], m[3], m[4], m[5]);
		}
		raw_write(fx.tool, in.fe_dir, "mac", &own_mac);
		own_mtu.set = false;
		if (fz_u8(&f) & 1) {
			gen_value(&f, &own_mtu);
			raw_write(fx.tool, in.fe_dir, "mtu", &own_mtu);
		}
	}
	snprintf(p, sizeof(p), "%s/%s", in.fe_dir,
		 in.vif ? "request-rx-copy" : "protocol");
	FZ_CHECK(pvk_xs_watch(fx.tool, p, "pub") == 0);

	rc = open_front(&f);
	if (rc < 0) {
		/* Refused: a malformed node, and it said Closed. */
		if (rc != -EPROTO)
			fprintf(stderr, "open: %d\n", rc);
		if (getenv("FUZZ_VERBOSE"))
			for (int i = 0; i < in.nnodes; i++)
				fprintf(stderr, "talk %s = %d '%.*s'\n",
					in.names[i], in.talk[i].set,
					in.talk[i].len, in.talk[i].b);
		FZ_CHECK(!open_ok());
		FZ_CHECK(rc == -EPROTO);
		FZ_CHECK(in.logs > 0);
		/* (A vif refused for its own mac/mtu before saying anything.) */
		FZ_CHECK(fe_state_node() == PVK_XENBUS_CLOSED ||
			 (in.vif && fe_state_node() == 1));
		goto detach;
	}
	FZ_CHECK(connects() == 1 && in.talked);
	if (in.vif) {
		check_vif_info();
	} else {
		FZ_CHECK(vbd_conn_ok());
		check_vbd_info();
	}

	while (fz_more(&f) && steps++ < MAX_STEPS) {
		uint8_t op = fz_u8(&f) % OP_COUNT;
		bool end = false;

		switch (op) {
		case OP_WRITE: {
			int node = node_of(&f);

			gen_value(&f, &x);
			be_write(node, &x);
			break;
		}
		case OP_RM:
			be_rm(node_of(&f));
			break;
		case OP_STATE:
			x.len = (uint8_t)snprintf(x.b, sizeof(x.b), "%u",
						  fz_u8(&f) % 10);
			x.set = true;
			be_write(0, &x);
			break;
		case OP_STATE_RAW:
			gen_value(&f, &x);
			be_write(0, &x);
			break;
		case OP_DETACH:
			be_put(in.vif ? N_ONLINE : B_ONLINE, "0");
			be_put(0, "5");
			break;
		case OP_RM_BE:
			(void)pvk_xs_rm(fx.tool, PVK_XS_NO_TXN, in.be_dir);
			memset(in.v, 0, sizeof(in.v));
			in.be_removed = true;
			end = true;
			break;
		case OP_RM_FE:
			(void)pvk_xs_rm(fx.tool, PVK_XS_NO_TXN, in.fe_dir);
			in.fe_removed = true;
			published(); /* the watch fires for the removal */
			break;
		case OP_NOP:
			break;
		}
		step();
		if (end)
			break;
	}
	finish();
detach:
	(void)pvk_xs_rm(fx.tool, PVK_XS_NO_TXN, in.be_dir);
	(void)pvk_xs_rm(fx.tool, PVK_XS_NO_TXN, in.fe_dir);
	pvk_xs_unwatch(fx.tool, p, "pub");
	published();
	return 0;
}

/* ---- seeds -------------------------------------------------------------- */

static void w(struct fz_out *o, int node, uint8_t kind, const void *arg,
	      size_t len)
{
	fzo_u8(o, (uint8_t)node);
	fzo_u8(o, kind);
	fzo_bytes(o, arg, len);
}

static void st(struct fz_out *o, uint8_t s)
{
	fzo_u8(o, OP_STATE);
	fzo_u8(o, s);
}

void fuzz_seeds(void)
{
	static const uint8_t one = 1, zero = 0, nine = 9, p4096 = 12;
	static const uint8_t big[4] = { 0, 0, 0x10, 0 };
	struct fz_out o;

	/* vbd: a plain disk; a resize; Closing; Closed; InitWait; Connected. */
	o.n = 0;
	fzo_u8(&o, 0);
	fzo_u8(&o, 4 | 1 << 3 | 2 << 5);
	fzo_u8(&o, 3); /* before InitWait */
	w(&o, B_ORDER, V_SMALL, &one, 1);
	w(&o, B_MQ, V_SMALL, &one, 1);
	w(&o, B_PAGES, V_SMALL, &one, 1);
	fzo_u8(&o, 4); /* before Connected */
	w(&o, B_INDIRECT, V_SMALL, &nine, 1);
	w(&o, B_DISCARD, V_BOOL, &one, 1);
	w(&o, B_PERSIST, V_BOOL, &one, 1);
	w(&o, B_SECTORS, V_U32, big, 4);
	fzo_u8(&o, OP_WRITE);
	w(&o, B_SECTORS, V_U32, big, 4);
	st(&o, 4);
	st(&o, 5);
	st(&o, 6);
	st(&o, 2);
	st(&o, 4);
	fz_seed_emit("seed-vbd", &o);

	/* vbd: 4 KiB sectors, flawed values after connecting. */
	o.n = 0;
	fzo_u8(&o, 0x80);
	fzo_u8(&o, 0xff);
	fzo_u8(&o, 1);
	w(&o, B_ORDER, V_SMALL, &nine, 1);
	fzo_u8(&o, 2);
	w(&o, B_SS, V_POW2, &p4096, 1);
	w(&o, B_PSS, V_POW2, &p4096, 1);
	fzo_u8(&o, OP_WRITE);
	w(&o, B_SECTORS, V_FLAW, &zero, 1);
	fzo_u16(&o, 100);
	st(&o, 4);
	fz_seed_emit("seed-vbd-flaw", &o);

	/* vbd: Closing mid-connect, InitWait again, detach. */
	o.n = 0;
	fzo_u8(&o, 0);
	fzo_u8(&o, 0);
	fzo_u8(&o, 0);
	fzo_u8(&o, 0);
	st(&o, 2);
	st(&o, 5);
	st(&o, 2);
	st(&o, 4);
	fzo_u8(&o, OP_DETACH);
	fz_seed_emit("seed-vbd-close", &o);

	/* vif: a mac, split channels, 4 queues; restarts. */
	o.n = 0;
	fzo_u8(&o, CFG_VIF);
	fzo_u8(&o, 3);
	fzo_u8(&o, 0);
	fzo_bytes(&o, "\x00\x16\x3e\x00\x02\x00", 6);
	fzo_u8(&o, 1);
	fzo_u8(&o, V_SMALL);
	fzo_u8(&o, 200);
	fzo_u8(&o, 2);
	w(&o, N_SPLIT, V_BOOL, &one, 1);
	w(&o, N_MQ, V_SMALL, &nine, 1);
	fzo_u8(&o, 0);
	st(&o, 2);
	st(&o, 4);
	st(&o, 1);
	st(&o, 2);
	st(&o, 4);
	st(&o, 6);
	st(&o, 2);
	st(&o, 4);
	fzo_u8(&o, OP_RM_FE);
	st(&o, 5);
	fz_seed_emit("seed-vif", &o);

	/* vif: a bad feature at a restart. */
	o.n = 0;
	fzo_u8(&o, CFG_VIF);
	fzo_u8(&o, 0);
	fzo_u8(&o, 0);
	fzo_bytes(&o, "\x02\x00\x00\x00\x00\x01", 6);
	fzo_u8(&o, 0);
	fzo_u8(&o, 0);
	fzo_u8(&o, 0);
	fzo_u8(&o, OP_WRITE);
	w(&o, N_SG, V_SMALL, &nine, 1);
	st(&o, 2);
	fz_seed_emit("seed-vif-bad", &o);

	/* vif: the toolstack's mac, then mtu, with a flaw sscanf and
	 * strtoul alone would take. */
	o.n = 0;
	fzo_u8(&o, CFG_VIF);
	fzo_u8(&o, 0);
	fzo_u8(&o, 1);
	fzo_u8(&o, V_RAW);
	fzo_u8(&o, 17);
	fzo_bytes(&o, " 2:16:3e:00:00:01", 17);
	fz_seed_emit("seed-vif-mac-space", &o);
	o.n = 0;
	fzo_u8(&o, CFG_VIF);
	fzo_u8(&o, 0);
	fzo_u8(&o, 0);
	fzo_bytes(&o, "\x02\x16\x3e\x00\x00\x01", 6);
	fzo_u8(&o, 1);
	fzo_u8(&o, V_RAW);
	fzo_u8(&o, 5);
	fzo_bytes(&o, "+1500", 5);
	fz_seed_emit("seed-vif-mtu-plus", &o);
}
