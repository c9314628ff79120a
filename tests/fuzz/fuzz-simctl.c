// SPDX-License-Identifier: MIT
/*
 * fuzz-simctl: the simulator's control protocol (hypercall/sim/proto.h)
 * as guests speak it to pvkit-simd, in-process: pvkit-simd's own request
 * dispatch (simd_conn_handle: framing, descriptors, every operation) over
 * real SOCK_SEQPACKET pairs, with its domains, event channels and grant
 * tables real (memfds), and no xenstored (the toolstack thread is never
 * started: DOMAIN_CREATE answers -EAGAIN, READY is dom0's).
 *
 * The fixture: domain 0 and two guest domains, 1 and 2, whose
 * "supervisors" are two sleeping children of the fuzzer (a client's
 * domain is that of its nearest supervisor ancestor, as pvkit-simd works
 * it out).  Each input starts two fresh clients, A in domain 1 and B in
 * domain 2, and is a sequence of messages, each from one of them:
 *
 *   ctl      which client; descriptors to attach (a wake-up pipe's write
 *            end); fix-ups: version and op kept valid, domids kept among
 *            0..3, handle/port/count/refs kept small (refs among those
 *            the domain shared last); or the datagram's length raw
 *   op, then the body's bytes (the rest zero)
 *
 * Checked after every message: a well-framed one (a whole struct
 * pvk_simp_req) is answered by exactly one reply, or the client is
 * disconnected; a client is never disconnected without a log line (but
 * for an empty datagram, which simd cannot tell from EOF); a reply's error is 0 or an errno, its
 * nfds the descriptors that came; no client is handed a descriptor of
 * another domain's -- only its own event page, grant tables (read-only,
 * any domain's, by design), its own pools, pools granted to it (a
 * read-only one only O_RDONLY),
 * and for EVTCHN_PEER the page and wake-up pipe of the domain its port
 * is bound to; a GNT_MAP only of
 * entries granted to the mapper's domain; a port answered is the
 * client's own; a descriptor sent with a request is kept by simd only if
 * an EVTCHN_OPEN took it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../hypercall/sim/simd.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCLIENT 2

enum {
	CTL_CLIENT = 1, /* B, not A */
	CTL_FD = 2, /* attach a wake-up pipe's write end */
	CTL_RAWLEN = 4, /* the datagram's length from the input */
	CTL_VERSION = 8, /* version kept PVK_SIMP_VERSION */
	CTL_OP = 16, /* op kept valid */
	CTL_DOMID = 32, /* domids among 0..3 */
	CTL_SMALL = 64, /* handle, port, count small; refs the shared ones */
};

struct client {
	uint32_t domid;
	pid_t pid;
	int fd; /* our end */
	uint32_t conn; /* simd's id */
	uint32_t refs[8]; /* the refs last shared */
	uint32_t handles[4], ports[8];
};

static struct {
	bool ready;
	pid_t kids[NCLIENT];
	struct client cl[NCLIENT];
} fx;

static pid_t sleeper(void)
{
	pid_t p = fork();

	FZ_CHECK(p >= 0);
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	return p;
}

static void setup(void)
{
	struct simd_dom *d;
	int i;

	signal(SIGPIPE, SIG_IGN);
	simd.epfd = epoll_create1(EPOLL_CLOEXEC);
	FZ_CHECK(simd.epfd >= 0);
	FZ_CHECK(simd_dom_new(0, "Domain-0", &d) == 0);
	for (i = 0; i < NCLIENT; i++) {
		char name[16];

		snprintf(name, sizeof(name), "fz%d", i + 1);
		FZ_CHECK(simd_dom_new((uint32_t)i + 1, name, &d) == 0);
		fx.kids[i] = sleeper();
		d->pid = fx.kids[i];
		fx.cl[i].domid = (uint32_t)i + 1;
		fx.cl[i].pid = fx.kids[i];
		fx.cl[i].fd = -1;
	}
	fx.ready = true;
}

/* simd's log lines, while it handles one request. */
static char *logbuf;
static size_t loglen;

static void handle(struct simd_conn *c)
{
	FILE *saved = stderr, *f;

	free(logbuf);
	logbuf = NULL;
	loglen = 0;
	f = open_memstream(&logbuf, &loglen);
	FZ_CHECK(f);
	stderr = f;
	simd_conn_handle(c);
	stderr = saved;
	fclose(f);
	if (getenv("FUZZ_VERBOSE") && loglen)
		fputs(logbuf, stderr);
}

static void client_close(struct client *cl)
{
	struct simd_conn *c;

	if (cl->fd < 0)
		return;
	close(cl->fd);
	cl->fd = -1;
	c = simd_conn_find(cl->conn);
	if (c)
		handle(c); /* EOF: simd lets the connection go */
	FZ_CHECK(!simd_conn_find(cl->conn));
}

static void client_open(struct client *cl)
{
	struct simd_conn *c;
	int sv[2];

	FZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) ==
		 0);
	FZ_CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
	FZ_CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	c = simd_conn_new(sv[1], cl->pid);
	FZ_CHECK(c);
	cl->fd = sv[0];
	cl->conn = c->id;
}

/* --- what a client may be handed ------------------------------------------ */

/* @a: the client's descriptor's (fstat once per descriptor, not per
 * candidate). */
static bool same_file(const struct stat *a, int theirs)
{
	struct stat b;

	return theirs >= 0 && fstat(theirs, &b) == 0 && a->st_dev == b.st_dev &&
	       a->st_ino == b.st_ino;
}

/*
 * Is @fd something a client of domain @me may hold after @op?  Own event
 * page; any domain's read-only grant table; a pool of a domain's grants
 * to @me, or of @me's own; for EVTCHN_PEER a wake-up pipe and the event
 * page of a domain @me has an interdomain port to.
 */
static bool fd_allowed(int fd, uint32_t me, uint32_t op)
{
	struct simd_dom *d, *own = simd_dom_find(me);
	struct simd_pool *p;
	struct stat st;
	uint32_t port;
	int acc = fcntl(fd, F_GETFL) & O_ACCMODE;

	FZ_CHECK(fstat(fd, &st) == 0);
	if (own && same_file(&st, own->ev_fd))
		return true;
	if (op == PVK_SIMP_EVTCHN_PEER && S_ISFIFO(st.st_mode))
		return true;
	for (d = simd.doms; d; d = d->next) {
		if (same_file(&st, d->gt_ro_fd))
			return acc == O_RDONLY;
		for (p = d->pools; p; p = p->next) {
			if (!same_file(&st, p->fd_rw) &&
			    !same_file(&st, p->fd_ro))
				continue;
			/* Its own (the granter writes its pages), or granted
			 * to it: then a read-only pool only read-only. */
			if (d->domid == me)
				return true;
			return p->peer == me && (!p->ro || acc == O_RDONLY);
		}
		if (op != PVK_SIMP_EVTCHN_PEER || !own ||
		    !same_file(&st, d->ev_fd))
			continue;
		for (port = 1; port < PVK_SIMP_NR_PORTS; port++)
			if (own->ports[port].state ==
				    PVK_SIMP_PORT_INTERDOMAIN &&
			    own->ports[port].rdom == d->domid)
				return true;
		return false;
	}
	return false;
}

/* --- one message ------------------------------------------------------------ */

static void fix(struct client *cl, uint8_t ctl, struct pvk_simp_req *req)
{
	bool ev = req->op >= PVK_SIMP_EVTCHN_OPEN &&
		  req->op <= PVK_SIMP_EVTCHN_PEER;
	bool gnt = req->op >= PVK_SIMP_GNT_SHARE &&
		   req->op <= PVK_SIMP_GNT_QUERY;
	uint32_t i, x;

	if (ctl & CTL_VERSION)
		req->version = PVK_SIMP_VERSION;
	if (ctl & CTL_OP) {
		req->op = 1 + req->op % (PVK_SIMP_OP_MAX - 1);
		ev = req->op >= PVK_SIMP_EVTCHN_OPEN &&
		     req->op <= PVK_SIMP_EVTCHN_PEER;
		gnt = req->op >= PVK_SIMP_GNT_SHARE &&
		      req->op <= PVK_SIMP_GNT_QUERY;
	}
	/* The union's members overlap: fix the fields the op reads. */
	if (ctl & CTL_DOMID) {
		if (ev)
			req->u.ev.domid %= 4;
		else if (gnt)
			req->u.gnt.domid %= 4;
		else if (req->op == PVK_SIMP_HELLO)
			req->u.hello.domid = req->u.hello.domid % 5 == 4 ?
						     PVK_SIMP_NO_DOMID :
						     req->u.hello.domid % 5;
		else
			req->u.destroy.domid %= 4;
	}
	if ((ctl & CTL_SMALL) && ev) {
		req->u.ev.handle = cl->handles[req->u.ev.handle % 4];
		x = req->u.ev.port;
		req->u.ev.port = x % 2 ? cl->ports[x / 2 % 8] : x % 16;
	}
	if ((ctl & CTL_SMALL) && gnt) {
		req->u.gnt.count = 1 + (req->u.gnt.count - 1) % 8;
		for (i = 0; i < 8; i++) {
			x = req->u.gnt.refs[i];
			req->u.gnt.refs[i] = fx.cl[x % NCLIENT].refs[x / 2 % 8];
		}
	}
}

/* Learn what the client was given, to aim the next messages at it. */
static void learn(struct client *cl, const struct pvk_simp_req *req,
		  const struct pvk_simp_rep *rep)
{
	uint32_t i;

	if (rep->err)
		return;
	switch (req->op) {
	case PVK_SIMP_EVTCHN_OPEN:
		cl->handles[rep->u.ev.handle % 4] = rep->u.ev.handle;
		break;
	case PVK_SIMP_EVTCHN_ALLOC_UNBOUND:
	case PVK_SIMP_EVTCHN_BIND_INTERDOMAIN:
	case PVK_SIMP_EVTCHN_BIND_VIRQ:
		cl->ports[rep->u.ev.port % 8] = rep->u.ev.port;
		break;
	case PVK_SIMP_GNT_SHARE:
		for (i = 0; i < rep->u.gnt.count && i < 8; i++)
			cl->refs[i] = rep->u.gnt.refs[i];
		break;
	}
}

static void check_reply(struct client *cl, struct simd_conn *c,
			const struct pvk_simp_req *req,
			const struct pvk_simp_rep *rep, const int *fds,
			int nfds)
{
	struct simd_dom *own = simd_dom_find(cl->domid), *g;
	uint32_t i, port;
	int k;

	FZ_CHECK(rep->err <= 0 && rep->err > -4096);
	FZ_CHECK(rep->nfds == (uint32_t)nfds);
	for (k = 0; k < nfds; k++) {
		if (!fd_allowed(fds[k], cl->domid, req->op))
			fprintf(stderr,
				"domain %u handed descriptor %d of %d (flags "
				"%#x) for op %u (domid %u)\n",
				cl->domid, k, nfds, fcntl(fds[k], F_GETFL),
				req->op, req->u.gnt.domid);
		FZ_CHECK(fd_allowed(fds[k], cl->domid, req->op));
	}
	if (rep->err)
		return;
	switch (req->op) {
	case PVK_SIMP_HELLO:
		FZ_CHECK(rep->u.hello.domid == cl->domid);
		break;
	case PVK_SIMP_EVTCHN_ALLOC_UNBOUND:
	case PVK_SIMP_EVTCHN_BIND_INTERDOMAIN:
	case PVK_SIMP_EVTCHN_BIND_VIRQ:
		/* A port of the client's own domain, on a handle of its own. */
		port = rep->u.ev.port;
		FZ_CHECK(own && port && port < PVK_SIMP_NR_PORTS);
		FZ_CHECK(!c ||
			 (own->ports[port].h && own->ports[port].h->conn == c));
		break;
	case PVK_SIMP_GNT_MAP:
		/* Only entries granted to the mapper's domain. */
		g = simd_dom_find(req->u.gnt.domid);
		FZ_CHECK(g && rep->u.gnt.count == req->u.gnt.count);
		for (i = 0; i < req->u.gnt.count; i++) {
			uint32_t r = req->u.gnt.refs[i];

			FZ_CHECK(r < PVK_SIMP_NR_GRANTS);
			FZ_CHECK(g->gt[r].domid == cl->domid);
			FZ_CHECK(g->gt[r].flags & GTF_permit_access);
			FZ_CHECK(!req->u.gnt.writable ||
				 !(g->gt[r].flags & GTF_readonly));
		}
		break;
	}
}

static void message(struct fz *f)
{
	uint8_t ctl = fz_u8(f);
	struct client *cl = &fx.cl[ctl & CTL_CLIENT];
	struct pvk_simp_req req;
	struct pvk_simp_rep rep;
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	struct simd_conn *c;
	size_t len = sizeof(req), body;
	int fds[8], nfds = 0, pfd[2] = { -1, -1 }, k, replies = 0;
	bool framed, gone, kept = false;
	struct pollfd pf;
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.op = fz_u8(f);
	req.version = fz_u8(f);
	body = fz_u16(f) % (sizeof(req.u) + 1);
	fz_bytes(f, &req.u, body);
	if (ctl & CTL_RAWLEN)
		len = fz_u16(f) % (sizeof(req) + 64);
	fix(cl, ctl, &req);
	framed = len == sizeof(req);

	/* Send it, with a descriptor if asked. */
	iov = (struct iovec){ &req, len };
	mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
	if (ctl & CTL_FD) {
		FZ_CHECK(pipe2(pfd, O_CLOEXEC) == 0);
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pfd[1], sizeof(int));
	}
	if (len > sizeof(req)) {
		static uint8_t big[sizeof(req) + 64];

		memcpy(big, &req, sizeof(req));
		iov.iov_base = big;
	}
	n = sendmsg(cl->fd, &mh, MSG_NOSIGNAL);
	if (pfd[1] >= 0)
		close(pfd[1]); /* pfd[0] tells whether simd kept it */
	FZ_CHECK(n == (ssize_t)len);

	c = simd_conn_find(cl->conn);
	FZ_CHECK(c);
	handle(c);
	gone = !simd_conn_find(cl->conn);

	/* Take every reply there is. */
	for (;;) {
		iov = (struct iovec){ &rep, sizeof(rep) };
		mh = (struct msghdr){ .msg_iov = &iov,
				      .msg_iovlen = 1,
				      .msg_control = cbuf,
				      .msg_controllen = sizeof(cbuf) };
		n = recvmsg(cl->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EAGAIN)
			break;
		if (n == 0 && gone)
			break; /* EOF: simd hung up */
		FZ_CHECK(n == (ssize_t)sizeof(rep));
		FZ_CHECK(!(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)));
		nfds = 0;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET ||
			    cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (k = 0; k < (int)((cm->cmsg_len - CMSG_LEN(0)) /
					      sizeof(int)) &&
				    nfds < 8;
			     k++)
				memcpy(&fds[nfds++],
				       CMSG_DATA(cm) + k * sizeof(int),
				       sizeof(int));
		}
		replies++;
		kept = framed && req.op == PVK_SIMP_EVTCHN_OPEN && !rep.err;
		check_reply(cl, gone ? NULL : c, &req, &rep, fds, nfds);
		for (k = 0; k < nfds; k++)
			close(fds[k]);
		learn(cl, &req, &rep);
	}
	/* One reply to a well-framed request, or a hang-up; any hang-up is
	 * said in the log (but for an empty datagram: EOF to simd). */
	FZ_CHECK(replies <= 1);
	if (framed)
		FZ_CHECK(replies == 1 || gone);
	if (gone && len > 0)
		FZ_CHECK(loglen > 0);
	/* A descriptor that came with a request is kept only by an
	 * EVTCHN_OPEN that took it: else the pipe has no writer left. */
	if (pfd[0] >= 0) {
		pf = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
		FZ_CHECK(poll(&pf, 1, 0) >= 0);
		if (!kept && !(pf.revents & POLLHUP))
			fprintf(stderr,
				"simd kept the descriptor of a request "
				"it did not take (op %u, %zu bytes)\n",
				req.op, len);
		FZ_CHECK(kept || (pf.revents & POLLHUP));
		close(pfd[0]);
	}
	if (gone) {
		close(cl->fd);
		cl->fd = -1;
		client_open(cl);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	int i;

	if (!fx.ready)
		setup();
	for (i = 0; i < NCLIENT; i++) {
		client_close(&fx.cl[i]);
		memset(fx.cl[i].refs, 0, sizeof(fx.cl[i].refs));
		memset(fx.cl[i].handles, 0, sizeof(fx.cl[i].handles));
		memset(fx.cl[i].ports, 0, sizeof(fx.cl[i].ports));
		client_open(&fx.cl[i]);
	}
	for (i = 0; i < 64 && fz_more(&f); i++)
		message(&f);
	return 0;
}

/* --- seeds ------------------------------------------------------------------ */

static void seed_msg(struct fz_out *o, uint8_t ctl, uint32_t op,
		     const void *body, size_t len)
{
	fzo_u8(o, ctl | CTL_VERSION);
	fzo_u8(o, (uint8_t)op);
	fzo_u8(o, PVK_SIMP_VERSION);
	fzo_u16(o, (uint16_t)len);
	fzo_bytes(o, body, len);
}

void fuzz_seeds(void)
{
	struct pvk_simp_req r;
	struct fz_out o;
	int b;

	/* Each client: hello, an event channel handle, a port unbound to
	 * the other domain; A binds to B's, asks for its peer. */
	o.n = 0;
	for (b = 0; b < 2; b++) {
		seed_msg(&o, (uint8_t)b, PVK_SIMP_HELLO, "\xff\xff\xff\xff", 4);
		seed_msg(&o, (uint8_t)b | CTL_FD, PVK_SIMP_EVTCHN_OPEN, "", 0);
		memset(&r, 0, sizeof(r));
		r.u.ev.handle = 1;
		r.u.ev.domid = 2 - (uint32_t)b;
		seed_msg(&o, (uint8_t)b, PVK_SIMP_EVTCHN_ALLOC_UNBOUND, &r.u,
			 sizeof(r.u.ev));
	}
	memset(&r, 0, sizeof(r));
	r.u.ev.handle = 1;
	r.u.ev.domid = 2;
	r.u.ev.port = 1;
	seed_msg(&o, 0, PVK_SIMP_EVTCHN_BIND_INTERDOMAIN, &r.u, sizeof(r.u.ev));
	r.u.ev.port = 2;
	seed_msg(&o, 0, PVK_SIMP_EVTCHN_PEER, &r.u, sizeof(r.u.ev));
	seed_msg(&o, 0, PVK_SIMP_EVTCHN_UNBIND, &r.u, sizeof(r.u.ev));
	seed_msg(&o, 0, PVK_SIMP_EVTCHN_CLOSE, &r.u, sizeof(r.u.ev));
	fz_seed_emit("seed-evtchn", &o);

	/* A grants B two pages, B maps them, reads A's table, unmaps; A
	 * ends access; queries. */
	o.n = 0;
	seed_msg(&o, 0, PVK_SIMP_HELLO, "\xff\xff\xff\xff", 4);
	seed_msg(&o, 1, PVK_SIMP_HELLO, "\xff\xff\xff\xff", 4);
	memset(&r, 0, sizeof(r));
	r.u.gnt.domid = 2;
	r.u.gnt.count = 2;
	r.u.gnt.writable = 1;
	seed_msg(&o, 0, PVK_SIMP_GNT_SHARE, &r.u, 16);
	r.u.gnt.domid = 1;
	r.u.gnt.refs[0] = 0; /* A's refs[0] and refs[1] */
	r.u.gnt.refs[1] = 2;
	seed_msg(&o, 1 | CTL_SMALL, PVK_SIMP_GNT_MAP, &r.u, 24);
	seed_msg(&o, 1, PVK_SIMP_GNT_TABLE, &r.u, 16);
	seed_msg(&o, 1 | CTL_SMALL, PVK_SIMP_GNT_QUERY, &r.u, 24);
	seed_msg(&o, 1 | CTL_SMALL, PVK_SIMP_GNT_UNMAP, &r.u, 24);
	r.u.gnt.domid = 2;
	seed_msg(&o, 0 | CTL_SMALL, PVK_SIMP_GNT_END, &r.u, 24);
	r.u.gnt.writable = 0;
	r.u.gnt.count = 1;
	seed_msg(&o, 0, PVK_SIMP_GNT_SHARE, &r.u, 16);
	fz_seed_emit("seed-grants", &o);

	/* What guests may not do, and malformed requests. */
	o.n = 0;
	seed_msg(&o, 0, PVK_SIMP_STATUS, "", 0);
	seed_msg(&o, 0, PVK_SIMP_EVTCHN_OPEN, "", 0); /* before hello */
	seed_msg(&o, 0, PVK_SIMP_HELLO, "\x02\x00\x00\x00", 4);
	seed_msg(&o, 0, PVK_SIMP_HELLO, "\xff\xff\xff\xff", 4);
	seed_msg(&o, 0, PVK_SIMP_HELLO, "\xff\xff\xff\xff", 4);
	seed_msg(&o, 0, PVK_SIMP_DOMAIN_CREATE, "g", 2);
	seed_msg(&o, 0, PVK_SIMP_DOMAIN_LIST, "", 0);
	seed_msg(&o, 0, PVK_SIMP_DOMAIN_DESTROY, "\x02\x00\x00\x00", 4);
	seed_msg(&o, 0, PVK_SIMP_DOMAIN_READY, "\x01\x00\x00\x00", 4);
	seed_msg(&o, 0, PVK_SIMP_SHUTDOWN, "", 0);
	fzo_u8(&o, CTL_RAWLEN);
	fzo_u8(&o, PVK_SIMP_HELLO);
	fzo_u8(&o, 1);
	fzo_u16(&o, 0);
	fzo_u16(&o, 12);
	seed_msg(&o, 0, 77, "", 0);
	fz_seed_emit("seed-refused", &o);

	/* Enough malformed requests to be hung up on. */
	o.n = 0;
	for (b = 0; b < 20; b++) {
		fzo_u8(&o, 0);
		fzo_u8(&o, PVK_SIMP_EVTCHN_OPEN);
		fzo_u8(&o, 0); /* version */
		fzo_u16(&o, 0);
	}
	fz_seed_emit("seed-malformed", &o);
}
