// SPDX-License-Identifier: MIT
/*
 * A guest's xenbus: libxenstore clients multiplexed over the domain's
 * xenstore ring (xen/io/xs_wire.h).  See xbmux.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <xen/io/xs_wire.h>

#include "simc.h"
#include "xbmux.h"

#define HDR sizeof(struct xsd_sockmsg)
#define CLIENT_OUT_MAX (4u << 20) /* a client that stops reading is cut */
#define MAX_CLIENTS 256
#define TAG_LISTEN 0xFFFFFFF0u
#define TAG_EVTCHN 0xFFFFFFF1u

struct buf {
	char *p;
	size_t len, cap;
};

struct watch {
	char *path, *token; /* the client's own token */
	struct watch *next;
};

struct txn {
	uint32_t id;
	struct txn *next;
};

struct client {
	uint32_t id;
	int fd;
	char in[HDR + XENSTORE_PAYLOAD_MAX];
	size_t inlen;
	struct buf out;
	struct watch *watches;
	struct txn *txns;
	struct client *next;
};

/* A request on the ring, waiting for its reply. */
struct pending {
	uint32_t rid; /* on the ring */
	uint32_t cid; /* 0: our own (cleanup) request */
	uint32_t req_id; /* the client's */
	uint32_t type, tx_id;
	char *wpath, *wtoken; /* WATCH/UNWATCH: to record on success */
	struct pending *next;
};

struct pvk_xbmux {
	struct xenstore_domain_interface *intf;
	xenevtchn_handle *xce;
	evtchn_port_t port;
	int listen_fd, epfd;
	char *sock_path;
	char name[64];
	bool broken;
	struct client *clients;
	unsigned int nclients;
	uint32_t next_cid, next_rid;
	struct pending *pending;
	struct buf ring_out; /* requests not yet on the ring */
	char rsp[HDR + XENSTORE_PAYLOAD_MAX]; /* reply being read */
	size_t rsplen;
};

static void mux_log(struct pvk_xbmux *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void mux_log(struct pvk_xbmux *m, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: xenbus: ", m->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static void buf_drop(struct buf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

static struct client *client_find(struct pvk_xbmux *m, uint32_t cid)
{
	struct client *c;

	for (c = m->clients; c; c = c->next)
		if (c->id == cid)
			return c;
	return NULL;
}

static int client_send(struct client *c, uint32_t type, uint32_t req_id,
		       uint32_t tx_id, const void *body, uint32_t len)
{
	struct xsd_sockmsg h = {
		.type = type, .req_id = req_id, .tx_id = tx_id, .len = len
	};
	ssize_t n;

	if (c->out.len + HDR + len > CLIENT_OUT_MAX)
		return -ENOBUFS;
	if (buf_add(&c->out, &h, HDR) < 0 || buf_add(&c->out, body, len) < 0)
		return -ENOMEM;
	n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0)
		buf_drop(&c->out, (size_t)n);
	else if (n < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

static int client_error(struct client *c, const struct xsd_sockmsg *h,
			const char *err)
{
	return client_send(c, XS_ERROR, h->req_id, h->tx_id, err,
			   (uint32_t)strlen(err) + 1);
}

/* Queue a request for the ring; the reply goes to @cid (0: nobody). */
static int ring_queue(struct pvk_xbmux *m, uint32_t cid, uint32_t req_id,
		      uint32_t type, uint32_t tx_id, const void *body,
		      uint32_t len, char *wpath, char *wtoken)
{
	struct pending *p = calloc(1, sizeof(*p));
	struct xsd_sockmsg h = { .type = type, .tx_id = tx_id, .len = len };

	if (!p)
		return -ENOMEM;
	p->rid = h.req_id = ++m->next_rid;
	p->cid = cid;
	p->req_id = req_id;
	p->type = type;
	p->tx_id = tx_id;
	p->wpath = wpath;
	p->wtoken = wtoken;
	if (buf_add(&m->ring_out, &h, HDR) < 0 ||
	    buf_add(&m->ring_out, body, len) < 0) {
		free(p);
		return -ENOMEM;
	}
	p->next = m->pending;
	m->pending = p;
	return 0;
}

/* "path\0token\0" -> the client's id prefixed to the token. */
static int watch_body(uint32_t cid, const char *path, const char *token,
		      char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s%c%u:%s", path, 0, cid, token);

	if (n < 0 || (size_t)n + 1 > outlen ||
	    (size_t)n + 1 > XENSTORE_PAYLOAD_MAX)
		return -E2BIG;
	return n + 1;
}

static void client_close(struct pvk_xbmux *m, struct client *c)
{
	struct client **pp;
	struct watch *w;
	struct txn *t;

	for (pp = &m->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	m->nclients--;
	epoll_ctl(m->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	/* What the client left open on the ring is closed for it. */
	while ((t = c->txns)) {
		c->txns = t->next;
		ring_queue(m, 0, 0, XS_TRANSACTION_END, t->id, "F", 2, NULL,
			   NULL);
		free(t);
	}
	while ((w = c->watches)) {
		char body[XENSTORE_PAYLOAD_MAX];
		int n = watch_body(c->id, w->path, w->token, body,
				   sizeof(body));

		c->watches = w->next;
		if (n > 0)
			ring_queue(m, 0, 0, XS_UNWATCH, 0, body, (uint32_t)n,
				   NULL, NULL);
		free(w->path);
		free(w->token);
		free(w);
	}
	free(c->out.p);
	free(c);
}

static bool client_owns_txn(struct client *c, uint32_t tx)
{
	struct txn *t;

	for (t = c->txns; t; t = t->next)
		if (t->id == tx)
			return true;
	return false;
}

/* Split "path\0token\0" (exactly), or return false. */
static bool split_watch(const char *body, uint32_t len, const char **path,
			const char **token)
{
	const char *z = memchr(body, 0, len);

	if (!z || len < 2 || body[len - 1] != 0)
		return false;
	if (memchr(z + 1, 0, len - (size_t)(z + 1 - body)) != body + len - 1)
		return false;
	*path = body;
	*token = z + 1;
	return true;
}

static int client_request(struct pvk_xbmux *m, struct client *c,
			  const struct xsd_sockmsg *h, const char *body)
{
	char wbody[XENSTORE_PAYLOAD_MAX];
	const char *path, *token;
	char *wp = NULL, *wt = NULL;
	int n, rc;

	switch (h->type) {
	case XS_WATCH_EVENT:
	case XS_RESET_WATCHES: /* would reset the other clients' too */
	case XS_INTRODUCE:
		return client_error(c, h, "EACCES");
	default:
		break;
	}
	if (h->tx_id && !client_owns_txn(c, h->tx_id))
		return client_error(c, h, "EACCES");
	if (h->type == XS_WATCH || h->type == XS_UNWATCH) {
		if (!split_watch(body, h->len, &path, &token))
			return client_error(c, h, "EINVAL");
		n = watch_body(c->id, path, token, wbody, sizeof(wbody));
		if (n < 0)
			return client_error(c, h, "E2BIG");
		wp = strdup(path);
		wt = strdup(token);
		if (!wp || !wt) {
			free(wp);
			free(wt);
			return -ENOMEM;
		}
		rc = ring_queue(m, c->id, h->req_id, h->type, h->tx_id, wbody,
				(uint32_t)n, wp, wt);
		if (rc < 0) {
			free(wp);
			free(wt);
		}
		return rc;
	}
	return ring_queue(m, c->id, h->req_id, h->type, h->tx_id, body, h->len,
			  NULL, NULL);
}

static void client_readable(struct pvk_xbmux *m, struct client *c)
{
	for (;;) {
		struct xsd_sockmsg h;
		size_t want = HDR;
		ssize_t n;

		if (c->inlen >= HDR) {
			memcpy(&h, c->in, HDR);
			if (h.len > XENSTORE_PAYLOAD_MAX) {
				mux_log(m,
					"client %u: message of %u bytes "
					"(max %u): disconnected",
					c->id, h.len, XENSTORE_PAYLOAD_MAX);
				client_close(m, c);
				return;
			}
			want = HDR + h.len;
		}
		if (c->inlen < want) {
			n = recv(c->fd, c->in + c->inlen, want - c->inlen,
				 MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n <= 0) {
				client_close(m, c);
				return;
			}
			c->inlen += (size_t)n;
			continue;
		}
		/* A whole message (a header with len 0 is one too). */
		memcpy(&h, c->in, HDR);
		if (client_request(m, c, &h, c->in + HDR) < 0) {
			client_close(m, c);
			return;
		}
		c->inlen = 0;
	}
}

static void client_writable(struct pvk_xbmux *m, struct client *c)
{
	ssize_t n;

	if (!c->out.len)
		return;
	n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0)
		buf_drop(&c->out, (size_t)n);
	else if (n < 0 && errno != EAGAIN)
		client_close(m, c);
}

static void set_broken(struct pvk_xbmux *m, const char *why)
{
	if (m->broken)
		return;
	m->broken = true;
	mux_log(m, "ring disabled: %s", why);
	while (m->clients)
		client_close(m, m->clients);
}

static void kick(struct pvk_xbmux *m)
{
	pvk_simx_evtchn_notify(m->xce, m->port);
}

/* Requests -> req[]. */
static void ring_write(struct pvk_xbmux *m)
{
	struct xenstore_domain_interface *i = m->intf;
	bool wrote = false;

	while (m->ring_out.len && !m->broken) {
		/* Acquire: xenstored has finished reading the bytes it
		 * consumed before we overwrite them. */
		XENSTORE_RING_IDX cons =
			__atomic_load_n(&i->req_cons, __ATOMIC_ACQUIRE);
		XENSTORE_RING_IDX prod = i->req_prod;
		uint32_t used = prod - cons, space, chunk, off;

		if (used > XENSTORE_RING_SIZE) {
			set_broken(m, "request consumer index out of range");
			return;
		}
		space = XENSTORE_RING_SIZE - used;
		if (!space)
			break;
		off = MASK_XENSTORE_IDX(prod);
		chunk = XENSTORE_RING_SIZE - off;
		if (chunk > space)
			chunk = space;
		if (chunk > m->ring_out.len)
			chunk = (uint32_t)m->ring_out.len;
		memcpy(i->req + off, m->ring_out.p, chunk);
		buf_drop(&m->ring_out, chunk);
		/* Release: the bytes are visible before the new index. */
		__atomic_store_n(&i->req_prod, prod + chunk, __ATOMIC_RELEASE);
		wrote = true;
	}
	if (wrote)
		kick(m);
}

static void reply_routed(struct pvk_xbmux *m, const struct xsd_sockmsg *h,
			 const char *body)
{
	struct pending **pp, *p;
	struct client *c;

	if (h->type == XS_WATCH_EVENT) {
		const char *path, *token;
		char *end;
		unsigned long cid;
		char ev[XENSTORE_PAYLOAD_MAX];
		size_t pl, tl;

		if (!split_watch(body, h->len, &path, &token)) {
			mux_log(m, "malformed watch event dropped");
			return;
		}
		cid = strtoul(token, &end, 10);
		if (*end != ':')
			return; /* not one of ours */
		c = client_find(m, (uint32_t)cid);
		if (!c)
			return;
		pl = strlen(path) + 1;
		tl = strlen(end + 1) + 1;
		memcpy(ev, path, pl);
		memcpy(ev + pl, end + 1, tl);
		if (client_send(c, XS_WATCH_EVENT, 0, 0, ev,
				(uint32_t)(pl + tl)) < 0)
			client_close(m, c);
		return;
	}
	for (pp = &m->pending; (p = *pp); pp = &p->next)
		if (p->rid == h->req_id)
			break;
	if (!p) {
		mux_log(m, "reply to unknown request %u dropped", h->req_id);
		return;
	}
	*pp = p->next;
	c = p->cid ? client_find(m, p->cid) : NULL;
	if (h->type == XS_TRANSACTION_START && p->type == h->type) {
		char num[16];
		unsigned long tx;
		size_t n = h->len < sizeof(num) - 1 ? h->len : sizeof(num) - 1;

		memcpy(num, body, n);
		num[n] = 0;
		tx = strtoul(num, NULL, 10);
		if (c) {
			struct txn *t = calloc(1, sizeof(*t));

			if (t) {
				t->id = (uint32_t)tx;
				t->next = c->txns;
				c->txns = t;
			}
		} else if (tx) {
			ring_queue(m, 0, 0, XS_TRANSACTION_END, (uint32_t)tx,
				   "F", 2, NULL, NULL);
		}
	}
	if (p->type == XS_TRANSACTION_END && c) {
		struct txn **tp, *t;

		for (tp = &c->txns; (t = *tp); tp = &t->next) {
			if (t->id == p->tx_id) {
				*tp = t->next;
				free(t);
				break;
			}
		}
	}
	if ((p->type == XS_WATCH || p->type == XS_UNWATCH) &&
	    h->type == p->type) {
		if (p->type == XS_WATCH && c) {
			struct watch *w = calloc(1, sizeof(*w));

			if (w) {
				w->path = p->wpath;
				w->token = p->wtoken;
				p->wpath = p->wtoken = NULL;
				w->next = c->watches;
				c->watches = w;
			}
		} else if (p->type == XS_WATCH) {
			char wb[XENSTORE_PAYLOAD_MAX];
			int n = watch_body(p->cid, p->wpath, p->wtoken, wb,
					   sizeof(wb));

			if (n > 0)
				ring_queue(m, 0, 0, XS_UNWATCH, 0, wb,
					   (uint32_t)n, NULL, NULL);
		} else if (c) {
			struct watch **wp, *w;

			for (wp = &c->watches; (w = *wp); wp = &w->next) {
				if (!strcmp(w->path, p->wpath) &&
				    !strcmp(w->token, p->wtoken)) {
					*wp = w->next;
					free(w->path);
					free(w->token);
					free(w);
					break;
				}
			}
		}
	}
	if (c && client_send(c, h->type, p->req_id, h->tx_id, body, h->len) < 0)
		client_close(m, c);
	free(p->wpath);
	free(p->wtoken);
	free(p);
}

/* rsp[] -> replies and watch events. */
static void ring_read(struct pvk_xbmux *m)
{
	struct xenstore_domain_interface *i = m->intf;
	bool consumed = false;

	while (!m->broken) {
		/* Acquire: the bytes below the index are visible. */
		XENSTORE_RING_IDX prod =
			__atomic_load_n(&i->rsp_prod, __ATOMIC_ACQUIRE);
		XENSTORE_RING_IDX cons = i->rsp_cons;
		uint32_t avail = prod - cons, want, chunk, off;
		struct xsd_sockmsg h;

		if (avail > XENSTORE_RING_SIZE) {
			set_broken(m, "response producer index out of range");
			return;
		}
		if (!avail)
			break;
		want = HDR;
		if (m->rsplen >= HDR) {
			memcpy(&h, m->rsp, HDR);
			want = HDR + h.len;
		}
		off = MASK_XENSTORE_IDX(cons);
		chunk = XENSTORE_RING_SIZE - off;
		if (chunk > avail)
			chunk = avail;
		if (chunk > want - m->rsplen)
			chunk = (uint32_t)(want - m->rsplen);
		memcpy(m->rsp + m->rsplen, i->rsp + off, chunk);
		m->rsplen += chunk;
		/* Release: we are done with the bytes before handing the
		 * space back. */
		__atomic_store_n(&i->rsp_cons, cons + chunk, __ATOMIC_RELEASE);
		consumed = true;
		if (m->rsplen == HDR) {
			memcpy(&h, m->rsp, HDR);
			if (h.len > XENSTORE_PAYLOAD_MAX) {
				set_broken(m, "reply longer than "
					      "XENSTORE_PAYLOAD_MAX");
				return;
			}
			if (h.len)
				continue;
		}
		if (m->rsplen >= HDR) {
			memcpy(&h, m->rsp, HDR);
			if (m->rsplen == HDR + h.len) {
				reply_routed(m, &h, m->rsp + HDR);
				m->rsplen = 0;
			}
		}
	}
	if (consumed)
		kick(m);
}

static void accept_clients(struct pvk_xbmux *m)
{
	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN };
		struct client *c;
		int fd = accept4(m->listen_fd, NULL, NULL,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0)
			return;
		if (m->broken || m->nclients >= MAX_CLIENTS) {
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->id = ++m->next_cid;
		c->fd = fd;
		ev.data.u32 = c->id;
		if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = m->clients;
		m->clients = c;
		m->nclients++;
	}
}

int pvk_xbmux_run(struct pvk_xbmux *m)
{
	struct epoll_event evs[32];
	struct client *c;
	int i, n;

	n = epoll_wait(m->epfd, evs, 32, 0);
	for (i = 0; i < n; i++) {
		uint32_t tag = evs[i].data.u32;

		if (tag == TAG_LISTEN) {
			accept_clients(m);
		} else if (tag == TAG_EVTCHN) {
			int port = pvk_simx_evtchn_pending(m->xce);

			if (port >= 0)
				pvk_simx_evtchn_unmask(m->xce,
						       (evtchn_port_t)port);
		} else if ((c = client_find(m, tag))) {
			if (evs[i].events & EPOLLIN)
				client_readable(m, c);
			else if (evs[i].events & (EPOLLHUP | EPOLLERR))
				client_close(m, c);
		}
	}
	/* Every round: the ring in both directions, then the clients'
	 * backlog (cheap, and it covers wake-ups we coalesced). */
	if (!m->broken) {
		ring_read(m);
		ring_write(m);
		ring_read(m);
	}
	for (c = m->clients; c;) {
		struct client *next = c->next;

		client_writable(m, c);
		c = next;
	}
	return 0;
}

int pvk_xbmux_fd(const struct pvk_xbmux *m)
{
	return m->epfd;
}

int pvk_xbmux_create(struct pvk_xbmux **out, void *ring, xenevtchn_handle *xce,
		     evtchn_port_t port, const char *sock_path,
		     const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	struct pvk_xbmux *m;
	int rc;

	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->intf = ring;
	m->xce = xce;
	m->port = port;
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->sock_path = strdup(sock_path);
	if (!m->sock_path) {
		rc = -ENOMEM;
		goto free_m;
	}
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->epfd < 0) {
		rc = -errno;
		goto free_path;
	}
	m->listen_fd =
		socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->listen_fd < 0) {
		rc = -errno;
		goto close_ep;
	}
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	unlink(sock_path);
	if (bind(m->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(m->listen_fd, 64) < 0) {
		rc = -errno;
		goto close_listen;
	}
	ev.data.u32 = TAG_LISTEN;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->listen_fd, &ev) < 0) {
		rc = -errno;
		goto unlink_sock;
	}
	ev.data.u32 = TAG_EVTCHN;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, pvk_simx_evtchn_fd(xce), &ev) <
	    0) {
		rc = -errno;
		goto unlink_sock;
	}
	*out = m;
	return 0;

unlink_sock:
	unlink(sock_path);
close_listen:
	close(m->listen_fd);
close_ep:
	close(m->epfd);
free_path:
	free(m->sock_path);
free_m:
	free(m);
	return rc;
}

void pvk_xbmux_destroy(struct pvk_xbmux *m)
{
	struct pending *p;

	if (!m)
		return;
	while (m->clients)
		client_close(m, m->clients);
	while ((p = m->pending)) {
		m->pending = p->next;
		free(p->wpath);
		free(p->wtoken);
		free(p);
	}
	free(m->ring_out.p);
	unlink(m->sock_path);
	close(m->listen_fd);
	close(m->epfd);
	free(m->sock_path);
	free(m);
}
