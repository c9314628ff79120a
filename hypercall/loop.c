// SPDX-License-Identifier: MIT
/*
 * loop.c -- the in-process hypervisor.  Domains are handles of one process
 * sharing a struct pvk_loop; one mutex serialises every operation, and
 * nothing runs unless a caller calls in, so a test (or a fuzzer) sees the
 * same behaviour on every run.
 *
 * Grants: each domain's shareable memory is a memfd; a grant entry names
 * a page offset in it, so a grantee's mapping is a second mmap of the
 * same page (and outlives the granter, as on Xen).  Event channels: one
 * eventfd per pvk_evtchn, readable while its queue of delivered ports is
 * non-empty.  xenstore: a tree with xenstored's permission, watch and
 * transaction rules; a transaction works on a private copy of the tree
 * and is replayed at commit if nothing it touched changed meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "loop_priv.h"

#define LOOP_MAX_DOMAINS 256
#define LOOP_GNT_RESERVED 8u /* refs 0-7: toolstack's (console, xenstore) */
#define LOOP_GNT_MAX 16384u /* v1: 32 frames of 512 entries */
#define LOOP_PORT_MAX 4096u /* 2-level event channels, 64-bit guest */
#define LOOP_XS_NODES_QUOTA 1000u /* xenstored's defaults */
#define LOOP_XS_WATCH_QUOTA 128u
#define LOOP_XS_TXN_QUOTA 10u
#define LOOP_XS_EVENTS_MAX 4096u /* queued watch events per handle */

#define GE_PERMIT 0x1u
#define GE_READONLY 0x2u
#define GE_FREE_PENDING 0x4u /* granter gone; free on last unmap */

#define XS_PERM_READ 0x1u
#define XS_PERM_WRITE 0x2u
#define XS_PERM_OWNER 0x4u

struct loop_grant {
	uint32_t flags;
	uint32_t domid; /* grantee */
	uint64_t off; /* page offset in the granter's memfd */
	uint32_t reading, writing; /* mappings by the grantee */
};

enum { PORT_FREE, PORT_UNBOUND, PORT_INTERDOMAIN };

struct loop_evtchn;

struct loop_port {
	uint8_t state;
	bool pending; /* raised while masked */
	bool masked; /* delivered, waiting for unmask */
	uint32_t remote_dom, remote_port;
	struct loop_evtchn *owner;
};

struct loop_dom {
	uint32_t domid;
	uint64_t serial; /* incarnation: handles check it */
	int memfd;
	uint64_t mem_pages;
	struct loop_grant *gnt;
	uint32_t ngnt;
	uint32_t gnt_low; /* every ref below it (and reserved) is in use */
	struct loop_port *ports;
	uint32_t nports;
	uint32_t xs_nodes; /* nodes owned, for the quota */
};

struct xs_node {
	char *name;
	char *value;
	uint32_t namelen, len;
	struct pvk_xs_perm *perms;
	uint32_t nperms;
	uint8_t inl; /* IN_*: parts kept in the node's own allocation */
	bool shallow; /* a transaction's copy: children not copied yet */
	uint64_t gen; /* loop->xs_gen when last changed */
	struct xs_node *parent, *child, *next;
};

#define IN_VALUE 0x1u
#define IN_PERMS 0x2u

struct loop_watch {
	struct loop_watch *next;
	char *path; /* as registered */
	char *abs;
	char *token;
};

struct loop_event {
	struct loop_event *next;
	char *path, *token;
};

enum { OP_WRITE, OP_MKDIR, OP_RM, OP_PERMS };

struct txn_op {
	struct txn_op *next;
	int type;
	char *abs;
	char *val;
	uint32_t len;
	struct pvk_xs_perm *perms;
	uint32_t nperms;
};

struct txn_access {
	struct txn_access *next;
	uint32_t hash; /* of abs: most lookups miss, and miss here */
	uint32_t len;
	bool existed;
	char abs[];
};

struct loop_txn {
	struct loop_txn *next;
	uint32_t id;
	uint64_t start_gen;
	struct xs_node *root; /* private copy */
	struct txn_access *access;
	struct txn_op *ops, **ops_tail;
	int64_t quota_delta; /* nodes the domain gains by committing */
};

struct loop_alloc {
	struct loop_alloc *next;
	void *addr;
	uint32_t count;
	uint32_t refs[];
};

struct loop_map {
	struct loop_map *next;
	void *addr;
	uint32_t count;
	uint32_t granter;
	uint64_t granter_serial; /* 0 once the counts were released */
	bool writable;
	uint32_t refs[];
};

struct loop_hv {
	struct pvk_hv hv;
	struct pvk_loop *loop;
	uint64_t serial;
	unsigned int refs; /* the handle + its open event channels */
	struct loop_hv *next;
	struct loop_alloc *allocs;
	struct loop_map *maps;
	struct loop_watch *watches;
	unsigned int nwatches;
	struct loop_event *evq, **evq_tail;
	unsigned int nev;
	int watch_fd;
	struct loop_txn *txns;
	unsigned int ntxns;
};

struct loop_evtchn {
	struct pvk_evtchn ev;
	struct loop_hv *lh;
	int efd;
	uint32_t *q; /* delivered ports, each at most once */
	uint32_t qhead, qlen;
};

struct pvk_loop {
	pthread_mutex_t lock;
	unsigned int refs;
	struct loop_dom *doms[LOOP_MAX_DOMAINS];
	uint32_t next_domid;
	uint64_t next_serial;
	struct xs_node *root;
	uint64_t xs_gen;
	uint32_t next_txn;
	struct loop_hv *handles;
	struct loop_dm *dm; /* loop_dm.c, made on first use */
};

static const struct pvk_hv_ops loop_ops;

static struct loop_hv *to_lh(struct pvk_hv *hv)
{
	return (struct loop_hv *)hv;
}

static struct loop_evtchn *to_le(struct pvk_evtchn *ev)
{
	return (struct loop_evtchn *)ev;
}

static void lock(struct pvk_loop *l)
{
	pthread_mutex_lock(&l->lock);
}

static void unlock(struct pvk_loop *l)
{
	pthread_mutex_unlock(&l->lock);
}

static struct loop_dom *dom_get(struct pvk_loop *l, uint32_t domid)
{
	for (int i = 0; i < LOOP_MAX_DOMAINS; i++)
		if (l->doms[i] && l->doms[i]->domid == domid)
			return l->doms[i];
	return NULL;
}

/* The handle's own domain, or NULL once it was destroyed. */
static struct loop_dom *self_dom(struct loop_hv *lh)
{
	struct loop_dom *d = dom_get(lh->loop, lh->hv.domid);

	return d && d->serial == lh->serial ? d : NULL;
}

static void efd_set(int fd)
{
	uint64_t one = 1;

	/* Cannot fail short of the counter overflowing, which the
	 * queue-empty transitions prevent. */
	(void)!write(fd, &one, sizeof(one));
}

static void efd_clear(int fd)
{
	uint64_t v;

	(void)!read(fd, &v, sizeof(v));
}

/* ------------------------------------------------------------------ */
/* xenstore tree                                                       */

static unsigned int perm_bits(char c)
{
	switch (c) {
	case 'r':
		return XS_PERM_READ;
	case 'w':
		return XS_PERM_WRITE;
	case 'b':
		return XS_PERM_READ | XS_PERM_WRITE;
	default:
		return 0;
	}
}

/* xenstored's perm_for_conn: dom0 and the owner may do anything; else an
 * ACL entry for the domain, else the default (perms[0]). */
static unsigned int perm_for(const struct pvk_xs_perm *p, uint32_t n,
			     uint32_t domid)
{
	uint32_t i;

	if (domid == 0 || p[0].domid == domid)
		return XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
	for (i = 1; i < n; i++)
		if (p[i].domid == domid)
			return perm_bits(p[i].perm);
	return perm_bits(p[0].perm);
}

static void node_free(struct xs_node *n)
{
	struct xs_node *c, *next;

	if (!n)
		return;
	for (c = n->child; c; c = next) {
		next = c->next;
		node_free(c);
	}
	if (!(n->inl & IN_VALUE))
		free(n->value);
	if (!(n->inl & IN_PERMS))
		free(n->perms);
	free(n);
}

/* One allocation: the node, its permissions, name and value. */
static struct xs_node *node_alloc(const char *name, size_t namelen,
				  const char *value, uint32_t len,
				  const struct pvk_xs_perm *perms,
				  uint32_t nperms)
{
	size_t psz = nperms * sizeof(*perms);
	struct xs_node *n = malloc(sizeof(*n) + psz + namelen + len + 2);

	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->perms = (struct pvk_xs_perm *)(n + 1);
	memcpy(n->perms, perms, psz);
	n->nperms = nperms;
	n->name = (char *)n->perms + psz;
	memcpy(n->name, name, namelen);
	n->name[namelen] = '\0';
	n->namelen = (uint32_t)namelen;
	n->value = n->name + namelen + 1;
	memcpy(n->value, value, len);
	n->value[len] = '\0';
	n->len = len;
	n->inl = IN_VALUE | IN_PERMS;
	return n;
}

static struct xs_node *node_new(const char *name, size_t namelen,
				const struct pvk_xs_perm *perms,
				uint32_t nperms)
{
	return node_alloc(name, namelen, "", 0, perms, nperms);
}

/* Takes ownership of @v (len bytes and a NUL). */
static void node_set_value(struct xs_node *n, char *v, uint32_t len)
{
	if (!(n->inl & IN_VALUE))
		free(n->value);
	n->inl &= ~IN_VALUE;
	n->value = v;
	n->len = len;
}

static void node_set_perms(struct xs_node *n, struct pvk_xs_perm *p,
			   uint32_t count)
{
	if (!(n->inl & IN_PERMS))
		free(n->perms);
	n->inl &= ~IN_PERMS;
	n->perms = p;
	n->nperms = count;
}

/* A transaction's copy of @src without its children (copied when the
 * transaction first walks through it: txn_fill). */
static struct xs_node *node_dup(const struct xs_node *src,
				struct xs_node *parent)
{
	struct xs_node *n = node_alloc(src->name, src->namelen, src->value,
				       src->len, src->perms, src->nperms);

	if (!n)
		return NULL;
	n->gen = src->gen;
	n->parent = parent;
	n->shallow = src->child != NULL;
	return n;
}

static struct xs_node *node_child(struct xs_node *n, const char *name,
				  size_t len)
{
	for (struct xs_node *c = n->child; c; c = c->next)
		if (c->namelen == len && memcmp(c->name, name, len) == 0)
			return c;
	return NULL;
}

/* Walk an absolute path; on a miss, *@last is the deepest existing node
 * and *@rest points at the first missing component. */
static struct xs_node *node_walk(struct xs_node *root, const char *abs,
				 struct xs_node **last, const char **rest)
{
	struct xs_node *n = root, *c;
	const char *p = abs + 1, *e;

	while (*p) {
		e = strchrnul(p, '/');
		c = node_child(n, p, e - p);
		if (!c) {
			if (last)
				*last = n;
			if (rest)
				*rest = p;
			return NULL;
		}
		n = c;
		p = *e ? e + 1 : e;
	}
	return n;
}

/* Resolve @path (validated by hv.c) against the domain's home. */
static char *abs_path(uint32_t domid, const char *path)
{
	char *s;

	if (path[0] == '/' || path[0] == '@')
		return strdup(path);
	if (asprintf(&s, "/local/domain/%u/%s", domid, path) < 0)
		return NULL;
	return s;
}

static bool is_child(const char *child, const char *parent)
{
	size_t len = strlen(parent);

	if (strcmp(parent, "/") == 0)
		return child[0] == '/';
	return strncmp(child, parent, len) == 0 &&
	       (child[len] == '\0' || child[len] == '/');
}

static void event_queue(struct loop_hv *lh, const char *path, const char *token)
{
	struct loop_event *e;

	/* Bounded: a handle that never reads its watches loses events
	 * rather than growing without limit. */
	if (lh->nev >= LOOP_XS_EVENTS_MAX)
		return;
	e = calloc(1, sizeof(*e));
	if (!e)
		return;
	e->path = strdup(path);
	e->token = strdup(token);
	if (!e->path || !e->token) {
		free(e->path);
		free(e->token);
		free(e);
		return;
	}
	*lh->evq_tail = e;
	lh->evq_tail = &e->next;
	if (lh->nev++ == 0)
		efd_set(lh->watch_fd);
}

/*
 * Fire watches for a change at @abs (xenstored's fire_watches): a watch
 * fires if @abs is at or under it, or (@recurse: a removal) if the watch
 * is under @abs.  Only watchers that may read the node hear of it.
 * Relative watches get relative paths.
 */
static void fire_watches(struct pvk_loop *l, const char *abs, bool recurse,
			 const struct pvk_xs_perm *perms, uint32_t nperms)
{
	char home[48];

	for (struct loop_hv *h = l->handles; h; h = h->next) {
		if (!self_dom(h))
			continue;
		if (perms &&
		    !(perm_for(perms, nperms, h->hv.domid) & XS_PERM_READ))
			continue;
		snprintf(home, sizeof(home), "/local/domain/%u/", h->hv.domid);
		for (struct loop_watch *w = h->watches; w; w = w->next) {
			const char *report;

			if (abs[0] == '@' || w->abs[0] == '@') {
				if (strcmp(abs, w->abs) == 0)
					event_queue(h, w->path, w->token);
				continue;
			}
			if (is_child(abs, w->abs)) {
				report = abs;
				if (w->path[0] != '/' &&
				    strncmp(abs, home, strlen(home)) == 0)
					report = abs + strlen(home);
				event_queue(h, report, w->token);
			} else if (recurse && is_child(w->abs, abs)) {
				event_queue(h, w->path, w->token);
			}
		}
	}
}

/* One operation's context: the main tree (txn == NULL: quota, watches)
 * or a transaction's copy (accesses recorded). */
struct xs_ctx {
	struct pvk_loop *l;
	struct xs_node *root;
	uint32_t domid;
	struct loop_txn *txn;
	bool no_quota; /* a commit's replay: checked as a whole before */
};

static int txn_record(struct loop_txn *t, const char *abs, bool existed)
{
	struct txn_access *a;
	uint32_t hash = 2166136261u, len = 0;

	for (; abs[len]; len++)
		hash = (hash ^ (unsigned char)abs[len]) * 16777619u;
	for (a = t->access; a; a = a->next)
		if (a->hash == hash && a->len == len &&
		    memcmp(a->abs, abs, len) == 0)
			return 0;
	a = calloc(1, sizeof(*a) + len + 1);
	if (!a)
		return -ENOMEM;
	a->hash = hash;
	a->len = len;
	a->existed = existed;
	memcpy(a->abs, abs, len + 1);
	a->next = t->access;
	t->access = a;
	return 0;
}

static int ctx_access(struct xs_ctx *c, const char *abs, bool existed)
{
	return c->txn ? txn_record(c->txn, abs, existed) : 0;
}

static char *node_path(const struct xs_node *n)
{
	size_t len = 0, pos;
	const struct xs_node *p;
	char *s;

	if (!n->parent)
		return strdup("/");
	for (p = n; p->parent; p = p->parent)
		len += p->namelen + 1;
	s = malloc(len + 1);
	if (!s)
		return NULL;
	pos = len;
	s[pos] = '\0';
	for (p = n; p->parent; p = p->parent) {
		size_t nl = p->namelen;

		pos -= nl;
		memcpy(s + pos, p->name, nl);
		s[--pos] = '/';
	}
	return s;
}

/* Inside a transaction only the transaction's own domain is counted, in
 * the transaction: it is charged at commit, all at once. */
static void quota_adjust(struct xs_ctx *c, uint32_t owner, int delta)
{
	struct loop_dom *d;

	if (owner == 0)
		return;
	if (c->txn) {
		if (owner == c->domid)
			c->txn->quota_delta += delta;
		return;
	}
	d = dom_get(c->l, owner);
	if (d)
		d->xs_nodes += delta;
}

static void mark(struct xs_ctx *c, struct xs_node *n)
{
	n->gen = ++c->l->xs_gen;
}

/* Create @abs and any missing ancestors (xenstored's construct_node):
 * write permission on the deepest existing ancestor; new nodes inherit
 * its permissions, owned by the creator unless that is dom0. */
static int node_create(struct xs_ctx *c, const char *abs, struct xs_node **out)
{
	struct xs_node *parent, *n, *first = NULL, **tail;
	struct pvk_xs_perm *perms;
	const char *rest, *e;
	uint32_t nperms;
	unsigned int depth = 0;
	struct loop_dom *d;
	int ret;

	node_walk(c->root, abs, &parent, &rest);
	if (!(perm_for(parent->perms, parent->nperms, c->domid) &
	      XS_PERM_WRITE))
		return -EACCES;
	for (e = rest; *e; e++)
		depth += *e == '/';
	depth++;
	if (c->domid != 0 && !c->no_quota) {
		d = dom_get(c->l, c->domid);
		if (d && (int64_t)d->xs_nodes +
					 (c->txn ? c->txn->quota_delta : 0) +
					 depth >
				 LOOP_XS_NODES_QUOTA)
			return -ENOSPC;
	}
	perms = malloc(parent->nperms * sizeof(*perms));
	if (!perms)
		return -ENOMEM;
	memcpy(perms, parent->perms, parent->nperms * sizeof(*perms));
	nperms = parent->nperms;
	if (c->domid != 0)
		perms[0].domid = c->domid;

	ret = ctx_access(c, abs, false);
	if (ret)
		goto free_perms;
	{
		char *ppath = node_path(parent);

		if (!ppath) {
			ret = -ENOMEM;
			goto free_perms;
		}
		ret = ctx_access(c, ppath, true);
		free(ppath);
		if (ret)
			goto free_perms;
	}
	/* The missing ancestors this creates did not exist either: record
	 * them before a later access in the transaction sees them. */
	for (e = rest; *e; e++) {
		char *anc;

		if (*e != '/')
			continue;
		anc = strndup(abs, (size_t)(e - abs));
		if (!anc) {
			ret = -ENOMEM;
			goto free_perms;
		}
		ret = ctx_access(c, anc, false);
		free(anc);
		if (ret)
			goto free_perms;
	}

	/* Build the missing chain privately, then link it in one step. */
	n = NULL;
	tail = &first;
	while (*rest) {
		struct xs_node *nn;

		e = strchrnul(rest, '/');
		nn = node_new(rest, e - rest, perms, nperms);
		if (!nn) {
			node_free(first);
			ret = -ENOMEM;
			goto free_perms;
		}
		nn->parent = n ? n : parent;
		*tail = nn;
		tail = &nn->child;
		n = nn;
		mark(c, nn);
		rest = *e ? e + 1 : e;
	}
	first->next = NULL;
	/* append to keep directory order = creation order */
	tail = &parent->child;
	while (*tail)
		tail = &(*tail)->next;
	*tail = first;
	mark(c, parent);
	quota_adjust(c, perms[0].domid, (int)depth);
	*out = n;
	ret = 0;
free_perms:
	free(perms);
	return ret;
}

static int xs_do_read(struct xs_ctx *c, const char *abs, char **val)
{
	struct xs_node *n = node_walk(c->root, abs, NULL, NULL);
	int ret = ctx_access(c, abs, n != NULL);

	if (ret)
		return ret;
	if (!n)
		return -ENOENT;
	if (!(perm_for(n->perms, n->nperms, c->domid) & XS_PERM_READ))
		return -EACCES;
	*val = malloc(n->len + 1);
	if (!*val)
		return -ENOMEM;
	memcpy(*val, n->value, n->len + 1);
	return (int)n->len;
}

static int xs_do_write(struct xs_ctx *c, const char *abs, const char *val,
		       uint32_t len, bool mkdir)
{
	struct xs_node *n = node_walk(c->root, abs, NULL, NULL);
	char *v;
	int ret;

	if (strcmp(abs, "/") == 0 && !mkdir)
		return -EINVAL;
	if (n) {
		if (mkdir)
			return ctx_access(c, abs, true);
		if (!(perm_for(n->perms, n->nperms, c->domid) & XS_PERM_WRITE))
			return -EACCES;
		ret = ctx_access(c, abs, true);
		if (ret)
			return ret;
	} else {
		ret = node_create(c, abs, &n);
		if (ret)
			return ret;
	}
	if (!mkdir) {
		v = malloc(len + 1);
		if (!v)
			return -ENOMEM;
		memcpy(v, val, len);
		v[len] = '\0';
		node_set_value(n, v, len);
	}
	mark(c, n);
	if (!c->txn)
		fire_watches(c->l, abs, false, n->perms, n->nperms);
	return 0;
}

static void quota_release(struct xs_ctx *c, struct xs_node *n)
{
	quota_adjust(c, n->perms[0].domid, -1);
	for (struct xs_node *ch = n->child; ch; ch = ch->next)
		quota_release(c, ch);
}

static int record_subtree(struct xs_ctx *c, struct xs_node *n)
{
	char *p = node_path(n);
	int ret;

	if (!p)
		return -ENOMEM;
	ret = ctx_access(c, p, true);
	free(p);
	for (struct xs_node *ch = n->child; ch && !ret; ch = ch->next)
		ret = record_subtree(c, ch);
	return ret;
}

static int xs_do_rm(struct xs_ctx *c, const char *abs)
{
	struct xs_node *n, *parent, **pp;
	struct pvk_xs_perm *perms;
	const char *rest;
	uint32_t nperms;
	int ret;

	if (strcmp(abs, "/") == 0)
		return -EINVAL;
	n = node_walk(c->root, abs, &parent, &rest);
	if (!n) {
		/* xenstored: removing a missing node whose parent exists
		 * succeeds. */
		ret = ctx_access(c, abs, false);
		if (ret)
			return ret;
		return strchr(rest, '/') ? -ENOENT : 0;
	}
	if (!(perm_for(n->perms, n->nperms, c->domid) & XS_PERM_WRITE))
		return -EACCES;
	ret = record_subtree(c, n);
	if (!ret && c->txn) {
		char *pp_path = node_path(n->parent);

		ret = pp_path ? ctx_access(c, pp_path, true) : -ENOMEM;
		free(pp_path);
	}
	if (ret)
		return ret;
	perms = malloc(n->nperms * sizeof(*perms));
	if (!perms)
		return -ENOMEM;
	memcpy(perms, n->perms, n->nperms * sizeof(*perms));
	nperms = n->nperms;

	parent = n->parent;
	for (pp = &parent->child; *pp != n; pp = &(*pp)->next)
		;
	*pp = n->next;
	n->next = NULL;
	quota_release(c, n);
	node_free(n);
	mark(c, parent);
	if (!c->txn)
		fire_watches(c->l, abs, true, perms, nperms);
	free(perms);
	return 0;
}

static int xs_do_directory(struct xs_ctx *c, const char *abs, char ***names)
{
	struct xs_node *n = node_walk(c->root, abs, NULL, NULL);
	size_t count = 0, bytes = 0;
	char **v, *s;
	int ret = ctx_access(c, abs, n != NULL);

	if (ret)
		return ret;
	if (!n)
		return -ENOENT;
	if (!(perm_for(n->perms, n->nperms, c->domid) & XS_PERM_READ))
		return -EACCES;
	for (struct xs_node *ch = n->child; ch; ch = ch->next) {
		count++;
		bytes += ch->namelen + 1;
	}
	/* One block, as libxenstore's xs_directory: pointers, then names. */
	v = malloc((count + 1) * sizeof(*v) + bytes);
	if (!v)
		return -ENOMEM;
	s = (char *)(v + count + 1);
	count = 0;
	for (struct xs_node *ch = n->child; ch; ch = ch->next) {
		v[count++] = s;
		s = stpcpy(s, ch->name) + 1;
	}
	v[count] = NULL;
	*names = v;
	return (int)count;
}

static int xs_do_set_perms(struct xs_ctx *c, const char *abs,
			   const struct pvk_xs_perm *perms, uint32_t count)
{
	struct xs_node *n = node_walk(c->root, abs, NULL, NULL);
	struct pvk_xs_perm *np;
	uint32_t old_owner;
	int ret = ctx_access(c, abs, n != NULL);

	if (ret)
		return ret;
	if (!n)
		return -ENOENT;
	if (!(perm_for(n->perms, n->nperms, c->domid) & XS_PERM_OWNER))
		return -EACCES;
	/* Unprivileged domains may not give their nodes away. */
	if (c->domid != 0 && perms[0].domid != n->perms[0].domid)
		return -EPERM;
	/* xenstored checks that every domain named exists. */
	for (uint32_t i = 0; i < count; i++)
		if (!dom_get(c->l, perms[i].domid))
			return -ENOENT;
	np = malloc(count * sizeof(*np));
	if (!np)
		return -ENOMEM;
	memcpy(np, perms, count * sizeof(*np));
	old_owner = n->perms[0].domid;
	node_set_perms(n, np, count);
	if (old_owner != np[0].domid) {
		quota_adjust(c, old_owner, -1);
		quota_adjust(c, np[0].domid, 1);
	}
	mark(c, n);
	if (!c->txn)
		fire_watches(c->l, abs, false, n->perms, n->nperms);
	return 0;
}

/* ------------------------------------------------------------------ */
/* transactions                                                        */

static void txn_free(struct loop_txn *t)
{
	struct txn_access *a, *an;
	struct txn_op *o, *on;

	if (!t)
		return;
	for (a = t->access; a; a = an) {
		an = a->next;
		free(a);
	}
	for (o = t->ops; o; o = on) {
		on = o->next;
		free(o->abs);
		free(o->val);
		free(o->perms);
		free(o);
	}
	node_free(t->root);
	free(t);
}

static int txn_log(struct loop_txn *t, int type, const char *abs,
		   const char *val, uint32_t len,
		   const struct pvk_xs_perm *perms, uint32_t nperms)
{
	struct txn_op *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	o->type = type;
	o->abs = strdup(abs);
	if (val) {
		o->val = malloc(len + 1);
		if (o->val) {
			memcpy(o->val, val, len);
			o->val[len] = '\0';
		}
	}
	if (perms) {
		o->perms = malloc(nperms * sizeof(*perms));
		if (o->perms)
			memcpy(o->perms, perms, nperms * sizeof(*perms));
	}
	o->len = len;
	o->nperms = nperms;
	if (!o->abs || (val && !o->val) || (perms && !o->perms)) {
		free(o->abs);
		free(o->val);
		free(o->perms);
		free(o);
		return -ENOMEM;
	}
	*t->ops_tail = o;
	t->ops_tail = &o->next;
	return 0;
}

/* A node the transaction touched conflicts if it changed (or appeared,
 * or went) after the transaction started -- xenstored's per-node
 * generation check. */
static bool txn_conflicts(struct pvk_loop *l, struct loop_txn *t)
{
	for (struct txn_access *a = t->access; a; a = a->next) {
		struct xs_node *n = node_walk(l->root, a->abs, NULL, NULL);

		if (n ? (n->gen > t->start_gen || !a->existed) : a->existed)
			return true;
	}
	return false;
}

/* Would committing @t take its domain past the node quota?  (Others may
 * have changed its count since the transaction checked.) */
static bool txn_over_quota(struct pvk_loop *l, struct loop_txn *t,
			   uint32_t domid)
{
	struct loop_dom *d = domid ? dom_get(l, domid) : NULL;

	return d && (int64_t)d->xs_nodes + t->quota_delta > LOOP_XS_NODES_QUOTA;
}

static void txn_replay(struct pvk_loop *l, struct loop_txn *t, uint32_t domid)
{
	struct xs_ctx c = {
		.l = l, .root = l->root, .domid = domid, .no_quota = true
	};

	/* Checked against the copy already and nothing touched changed, so
	 * these succeed (bar allocation failure). */
	for (struct txn_op *o = t->ops; o; o = o->next) {
		switch (o->type) {
		case OP_WRITE:
			xs_do_write(&c, o->abs, o->val, o->len, false);
			break;
		case OP_MKDIR:
			xs_do_write(&c, o->abs, NULL, 0, true);
			break;
		case OP_RM:
			xs_do_rm(&c, o->abs);
			break;
		case OP_PERMS:
			xs_do_set_perms(&c, o->abs, o->perms, o->nperms);
			break;
		}
	}
}

static void txn_unlink(struct loop_hv *lh, struct loop_txn *t)
{
	for (struct loop_txn **pp = &lh->txns; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			lh->ntxns--;
			return;
		}
	}
}

/*
 * A transaction copies the tree lazily: a node's children are copied from
 * the main tree when the transaction first walks through it.  What the
 * main tree has by then may be newer than the transaction's start; any
 * node read that changed after the start fails the commit's generation
 * check, as it would with a copy taken at the start.
 */
static struct xs_node *txn_source(struct pvk_loop *l, const struct xs_node *n)
{
	struct xs_node *p;

	if (!n->parent)
		return l->root;
	p = txn_source(l, n->parent);
	return p ? node_child(p, n->name, n->namelen) : NULL;
}

static int txn_fill(struct pvk_loop *l, struct xs_node *n)
{
	const struct xs_node *src;
	struct xs_node *c, **tail = &n->child;

	if (!n->shallow)
		return 0;
	src = txn_source(l, n);
	for (const struct xs_node *s = src ? src->child : NULL; s;
	     s = s->next) {
		c = node_dup(s, n);
		if (!c)
			goto free_children;
		*tail = c;
		tail = &c->next;
	}
	n->shallow = false;
	return 0;
free_children:
	for (c = n->child; c; c = n->child) {
		n->child = c->next;
		node_free(c);
	}
	return -ENOMEM;
}

static int txn_fill_subtree(struct pvk_loop *l, struct xs_node *n)
{
	int ret = txn_fill(l, n);

	for (struct xs_node *c = n->child; c && !ret; c = c->next)
		ret = txn_fill_subtree(l, c);
	return ret;
}

/* Copy what an operation on @abs reads in the transaction's tree: the
 * children of every node on the way, and the whole subtree for a
 * removal. */
static int txn_prepare(struct xs_ctx *c, const char *abs, bool subtree)
{
	struct xs_node *n = c->root;
	const char *p = abs + 1, *e;
	int ret;

	if (!c->txn)
		return 0;
	for (;;) {
		ret = txn_fill(c->l, n);
		if (ret || !*p)
			break;
		e = strchrnul(p, '/');
		n = node_child(n, p, e - p);
		if (!n)
			return 0;
		p = *e ? e + 1 : e;
	}
	return ret ? ret : subtree ? txn_fill_subtree(c->l, n) : 0;
}

static int loop_xs_txn_start(struct pvk_hv *hv, pvk_xs_txn_t *txn)
{
	struct loop_hv *lh = to_lh(hv);
	struct pvk_loop *l = lh->loop;
	struct loop_txn *t;
	int ret = 0;

	lock(l);
	if (!self_dom(lh)) {
		ret = -ESRCH;
		goto unlock;
	}
	if (hv->domid != 0 && lh->ntxns >= LOOP_XS_TXN_QUOTA) {
		ret = -ENOSPC;
		goto unlock;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		ret = -ENOMEM;
		goto unlock;
	}
	t->root = node_dup(l->root, NULL);
	if (!t->root) {
		free(t);
		ret = -ENOMEM;
		goto unlock;
	}
	t->ops_tail = &t->ops;
	t->start_gen = l->xs_gen;
	if (++l->next_txn == 0)
		++l->next_txn;
	t->id = l->next_txn;
	t->next = lh->txns;
	lh->txns = t;
	lh->ntxns++;
	*txn = t->id;
unlock:
	unlock(l);
	return ret;
}

static int loop_xs_txn_end(struct pvk_hv *hv, pvk_xs_txn_t txn, bool abort)
{
	struct loop_hv *lh = to_lh(hv);
	struct pvk_loop *l = lh->loop;
	struct loop_txn *t;
	int ret = 0;

	lock(l);
	for (t = lh->txns; t && t->id != txn; t = t->next)
		;
	if (!t) {
		ret = -ENOENT;
		goto unlock;
	}
	txn_unlink(lh, t);
	if (!self_dom(lh))
		ret = -ESRCH;
	else if (!abort && txn_conflicts(l, t))
		ret = -EAGAIN;
	else if (!abort && txn_over_quota(l, t, hv->domid))
		ret = -ENOSPC; /* all or nothing: none of it is applied */
	else if (!abort)
		txn_replay(l, t, hv->domid);
	txn_free(t);
unlock:
	unlock(l);
	return ret;
}

/* ------------------------------------------------------------------ */
/* xenstore ops                                                        */

static int xs_begin(struct loop_hv *lh, pvk_xs_txn_t txn, const char *path,
		    bool subtree, struct xs_ctx *c, char **abs)
{
	struct pvk_loop *l = lh->loop;

	if (!self_dom(lh))
		return -ESRCH;
	c->l = l;
	c->domid = lh->hv.domid;
	c->txn = NULL;
	c->no_quota = false;
	c->root = l->root;
	if (txn != PVK_XS_NO_TXN) {
		for (c->txn = lh->txns; c->txn && c->txn->id != txn;
		     c->txn = c->txn->next)
			;
		if (!c->txn)
			return -ENOENT;
		c->root = c->txn->root;
	}
	*abs = abs_path(lh->hv.domid, path);
	if (!*abs)
		return -ENOMEM;
	return txn_prepare(c, *abs, subtree);
}

static int loop_xs_read(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
			char **val)
{
	struct loop_hv *lh = to_lh(hv);
	struct xs_ctx c;
	char *abs = NULL;
	int ret;

	lock(lh->loop);
	ret = xs_begin(lh, txn, path, false, &c, &abs);
	if (!ret)
		ret = xs_do_read(&c, abs, val);
	unlock(lh->loop);
	free(abs);
	return ret;
}

static int loop_xs_write_common(struct pvk_hv *hv, pvk_xs_txn_t txn,
				const char *path, const char *val, size_t len,
				bool mkdir)
{
	struct loop_hv *lh = to_lh(hv);
	struct xs_ctx c;
	char *abs = NULL;
	int ret;

	lock(lh->loop);
	ret = xs_begin(lh, txn, path, false, &c, &abs);
	if (!ret)
		ret = xs_do_write(&c, abs, val, (uint32_t)len, mkdir);
	if (!ret && c.txn)
		ret = txn_log(c.txn, mkdir ? OP_MKDIR : OP_WRITE, abs, val,
			      (uint32_t)len, NULL, 0);
	unlock(lh->loop);
	free(abs);
	return ret;
}

static int loop_xs_write(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
			 const char *val, size_t len)
{
	return loop_xs_write_common(hv, txn, path, val, len, false);
}

static int loop_xs_mkdir(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path)
{
	return loop_xs_write_common(hv, txn, path, NULL, 0, true);
}

static int loop_xs_rm(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path)
{
	struct loop_hv *lh = to_lh(hv);
	struct xs_ctx c;
	char *abs = NULL;
	int ret;

	lock(lh->loop);
	ret = xs_begin(lh, txn, path, true, &c, &abs);
	if (!ret)
		ret = xs_do_rm(&c, abs);
	if (!ret && c.txn)
		ret = txn_log(c.txn, OP_RM, abs, NULL, 0, NULL, 0);
	unlock(lh->loop);
	free(abs);
	return ret;
}

static int loop_xs_directory(struct pvk_hv *hv, pvk_xs_txn_t txn,
			     const char *path, char ***names)
{
	struct loop_hv *lh = to_lh(hv);
	struct xs_ctx c;
	char *abs = NULL;
	int ret;

	lock(lh->loop);
	ret = xs_begin(lh, txn, path, false, &c, &abs);
	if (!ret)
		ret = xs_do_directory(&c, abs, names);
	unlock(lh->loop);
	free(abs);
	return ret;
}

static int loop_xs_set_perms(struct pvk_hv *hv, pvk_xs_txn_t txn,
			     const char *path, const struct pvk_xs_perm *perms,
			     uint32_t count)
{
	struct loop_hv *lh = to_lh(hv);
	struct xs_ctx c;
	char *abs = NULL;
	int ret;

	lock(lh->loop);
	ret = xs_begin(lh, txn, path, false, &c, &abs);
	if (!ret)
		ret = xs_do_set_perms(&c, abs, perms, count);
	if (!ret && c.txn)
		ret = txn_log(c.txn, OP_PERMS, abs, NULL, 0, perms, count);
	unlock(lh->loop);
	free(abs);
	return ret;
}

static void watch_free(struct loop_watch *w)
{
	if (!w)
		return;
	free(w->path);
	free(w->abs);
	free(w->token);
	free(w);
}

static int loop_xs_watch(struct pvk_hv *hv, const char *path, const char *token)
{
	struct loop_hv *lh = to_lh(hv);
	struct loop_watch *w;
	int ret = 0;

	lock(lh->loop);
	if (!self_dom(lh)) {
		ret = -ESRCH;
		goto unlock;
	}
	for (w = lh->watches; w; w = w->next) {
		if (strcmp(w->path, path) == 0 &&
		    strcmp(w->token, token) == 0) {
			ret = -EEXIST;
			goto unlock;
		}
	}
	if (hv->domid != 0 && lh->nwatches >= LOOP_XS_WATCH_QUOTA) {
		ret = -ENOSPC;
		goto unlock;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		ret = -ENOMEM;
		goto unlock;
	}
	w->path = strdup(path);
	w->abs = abs_path(hv->domid, path);
	w->token = strdup(token);
	if (!w->path || !w->abs || !w->token) {
		watch_free(w);
		ret = -ENOMEM;
		goto unlock;
	}
	w->next = lh->watches;
	lh->watches = w;
	lh->nwatches++;
	/* Fires once at registration, as xenstored does. */
	event_queue(lh, w->path, w->token);
unlock:
	unlock(lh->loop);
	return ret;
}

static int loop_xs_unwatch(struct pvk_hv *hv, const char *path,
			   const char *token)
{
	struct loop_hv *lh = to_lh(hv);
	struct loop_watch **pp, *w;
	int ret = -ENOENT;

	lock(lh->loop);
	for (pp = &lh->watches; (w = *pp); pp = &w->next) {
		if (strcmp(w->path, path) == 0 &&
		    strcmp(w->token, token) == 0) {
			*pp = w->next;
			watch_free(w);
			lh->nwatches--;
			ret = 0;
			break;
		}
	}
	unlock(lh->loop);
	return ret;
}

static int loop_xs_watch_fd(struct pvk_hv *hv)
{
	return to_lh(hv)->watch_fd;
}

static int loop_xs_read_watch(struct pvk_hv *hv, char **path, char **token)
{
	struct loop_hv *lh = to_lh(hv);
	struct loop_event *e;

	lock(lh->loop);
	e = lh->evq;
	if (e) {
		lh->evq = e->next;
		if (!lh->evq)
			lh->evq_tail = &lh->evq;
		if (--lh->nev == 0)
			efd_clear(lh->watch_fd);
	}
	unlock(lh->loop);
	if (!e)
		return 0;
	*path = e->path;
	*token = e->token;
	free(e);
	return 1;
}

static int loop_domain_info(struct pvk_hv *hv, uint32_t domid,
			    struct pvk_domain_info *info)
{
	struct loop_hv *lh = to_lh(hv);
	int ret = -ENOENT;

	/* Xen: getdomaininfo is for the control domain only. */
	if (hv->domid != 0)
		return -EPERM;
	lock(lh->loop);
	if (dom_get(lh->loop, domid)) {
		memset(info, 0, sizeof(*info));
		info->domid = domid;
		ret = 0;
	}
	unlock(lh->loop);
	return ret;
}

/* ------------------------------------------------------------------ */
/* grant tables                                                        */

static void page_release(struct loop_dom *d, uint64_t off, uint32_t count)
{
	/* Give the memory back; a grantee's mapping (there is none when we
	 * get here) would keep the pages otherwise. */
	fallocate(d->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		  (off_t)(off * PVK_PAGE_SIZE), (off_t)count * PVK_PAGE_SIZE);
}

static int gnt_reserve(struct loop_dom *d, uint32_t count, uint32_t *refs)
{
	uint32_t found = 0, ref;

	for (ref = d->gnt_low > LOOP_GNT_RESERVED ? d->gnt_low :
						    LOOP_GNT_RESERVED;
	     found < count; ref++) {
		if (ref >= d->ngnt) {
			uint32_t n = d->ngnt ? d->ngnt * 2 : 64;
			struct loop_grant *g;

			if (d->ngnt >= LOOP_GNT_MAX)
				return -ENOSPC;
			if (n > LOOP_GNT_MAX)
				n = LOOP_GNT_MAX;
			g = realloc(d->gnt, n * sizeof(*g));
			if (!g)
				return -ENOMEM;
			memset(g + d->ngnt, 0, (n - d->ngnt) * sizeof(*g));
			d->gnt = g;
			d->ngnt = n;
		}
		if (d->gnt[ref].flags == 0)
			refs[found++] = ref;
	}
	return 0;
}

static int loop_grant_alloc(struct pvk_hv *hv, uint32_t peer, uint32_t count,
			    bool writable, uint32_t *refs, void **addr)
{
	struct loop_hv *lh = to_lh(hv);
	struct loop_alloc *a;
	struct loop_dom *d;
	void *p;
	int ret;

	a = calloc(1, sizeof(*a) + count * sizeof(uint32_t));
	if (!a)
		return -ENOMEM;
	lock(lh->loop);
	d = self_dom(lh);
	if (!d) {
		ret = -ESRCH;
		goto free_alloc;
	}
	ret = gnt_reserve(d, count, a->refs);
	if (ret)
		goto free_alloc;
	if (ftruncate(d->memfd,
		      (off_t)((d->mem_pages + count) * PVK_PAGE_SIZE)) < 0) {
		ret = -errno;
		goto free_alloc;
	}
	p = mmap(NULL, (size_t)count * PVK_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_SHARED, d->memfd, (off_t)(d->mem_pages * PVK_PAGE_SIZE));
	if (p == MAP_FAILED) {
		ret = -errno;
		goto free_alloc;
	}
	for (uint32_t i = 0; i < count; i++) {
		struct loop_grant *g = &d->gnt[a->refs[i]];

		g->flags = GE_PERMIT | (writable ? 0 : GE_READONLY);
		g->domid = peer;
		g->off = d->mem_pages + i;
		g->reading = g->writing = 0;
	}
	d->mem_pages += count;
	/* The refs taken were the lowest free ones. */
	if (count)
		d->gnt_low = a->refs[count - 1] + 1;
	a->addr = p;
	a->count = count;
	a->next = lh->allocs;
	lh->allocs = a;
	memcpy(refs, a->refs, count * sizeof(*refs));
	*addr = p;
	unlock(lh->loop);
	return 0;

free_alloc:
	unlock(lh->loop);
	free(a);
	return ret;
}

static bool gnt_busy(const struct loop_grant *g)
{
	return g->reading || g->writing;
}

/* End access to @count refs; a mapped entry is kept until its last
 * unmap.  Pages next to each other in the memfd (one allocation's) are
 * given back by one call. */
static void gnt_end(struct loop_dom *d, const uint32_t *refs, uint32_t count)
{
	uint64_t run = 0;
	uint32_t n = 0;

	for (uint32_t i = 0; i < count; i++) {
		struct loop_grant *g = &d->gnt[refs[i]];

		if (gnt_busy(g)) {
			g->flags |= GE_FREE_PENDING;
			continue;
		}
		if (n && g->off != run + n) {
			page_release(d, run, n);
			n = 0;
		}
		if (!n)
			run = g->off;
		n++;
		memset(g, 0, sizeof(*g));
		if (refs[i] < d->gnt_low)
			d->gnt_low = refs[i];
	}
	if (n)
		page_release(d, run, n);
}

static int loop_grant_free(struct pvk_hv *hv, void *addr, uint32_t count)
{
	struct loop_hv *lh = to_lh(hv);
	struct loop_alloc **pp, *a;
	struct loop_dom *d;
	int ret = 0;

	lock(lh->loop);
	for (pp = &lh->allocs; (a = *pp); pp = &a->next)
		if (a->addr == addr && a->count == count)
			break;
	if (!a) {
		ret = -EINVAL;
		goto unlock;
	}
	d = self_dom(lh);
	if (d) {
		for (uint32_t i = 0; i < count; i++) {
			if (gnt_busy(&d->gnt[a->refs[i]])) {
				ret = -EBUSY;
				goto unlock;
			}
		}
	}
	/* Our own mapping first: the pages given back are then mapped by
	 * nobody, and the kernel has no mapping of them to zap. */
	munmap(a->addr, (size_t)count * PVK_PAGE_SIZE);
	if (d)
		gnt_end(d, a->refs, count);
	*pp = a->next;
	free(a);
unlock:
	unlock(lh->loop);
	return ret;
}

static void map_release(struct pvk_loop *l, struct loop_map *m)
{
	struct loop_dom *g = dom_get(l, m->granter);

	if (!g || g->serial != m->granter_serial)
		return;
	for (uint32_t i = 0; i < m->count; i++) {
		struct loop_grant *e = &g->gnt[m->refs[i]];

		if (m->writable)
			e->writing--;
		else
			e->reading--;
		if ((e->flags & GE_FREE_PENDING) && !gnt_busy(e)) {
			page_release(g, e->off, 1);
			memset(e, 0, sizeof(*e));
			if (m->refs[i] < g->gnt_low)
				g->gnt_low = m->refs[i];
		}
	}
	m->granter_serial = 0;
}

static int loop_grant_map(struct pvk_hv *hv, uint32_t granter, uint32_t count,
			  const uint32_t *refs, bool writable, void **addr)
{
	struct loop_hv *lh = to_lh(hv);
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	struct loop_dom *d, *g;
	struct loop_map *m;
	uint8_t *p = MAP_FAILED;
	int ret = 0;

	m = calloc(1, sizeof(*m) + count * sizeof(uint32_t));
	if (!m)
		return -ENOMEM;
	lock(lh->loop);
	d = self_dom(lh);
	g = dom_get(lh->loop, granter);
	if (!d || !g) {
		ret = d ? -ENOENT : -ESRCH;
		goto free_map;
	}
	/* All or nothing: check every entry before touching any. */
	for (uint32_t i = 0; i < count; i++) {
		const struct loop_grant *e;

		if (refs[i] >= g->ngnt) {
			ret = -EINVAL;
			goto free_map;
		}
		e = &g->gnt[refs[i]];
		if (!(e->flags & GE_PERMIT) || (e->flags & GE_FREE_PENDING) ||
		    e->domid != hv->domid) {
			ret = -EINVAL;
			goto free_map;
		}
		if (writable && (e->flags & GE_READONLY)) {
			ret = -EACCES;
			goto free_map;
		}
	}
	/* One page (what most maps are) needs no reservation. */
	p = count == 1 ? mmap(NULL, PVK_PAGE_SIZE, prot, MAP_SHARED, g->memfd,
			      (off_t)(g->gnt[refs[0]].off * PVK_PAGE_SIZE)) :
			 mmap(NULL, (size_t)count * PVK_PAGE_SIZE, PROT_NONE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto free_map;
	}
	for (uint32_t i = 0; count > 1 && i < count; i++) {
		const struct loop_grant *e = &g->gnt[refs[i]];

		if (mmap(p + (size_t)i * PVK_PAGE_SIZE, PVK_PAGE_SIZE, prot,
			 MAP_SHARED | MAP_FIXED, g->memfd,
			 (off_t)(e->off * PVK_PAGE_SIZE)) == MAP_FAILED) {
			ret = -errno;
			goto unmap;
		}
	}
	for (uint32_t i = 0; i < count; i++) {
		struct loop_grant *e = &g->gnt[refs[i]];

		if (writable)
			e->writing++;
		else
			e->reading++;
	}
	memcpy(m->refs, refs, count * sizeof(*refs));
	m->addr = p;
	m->count = count;
	m->granter = granter;
	m->granter_serial = g->serial;
	m->writable = writable;
	m->next = lh->maps;
	lh->maps = m;
	*addr = p;
	unlock(lh->loop);
	return 0;

unmap:
	munmap(p, (size_t)count * PVK_PAGE_SIZE);
free_map:
	unlock(lh->loop);
	free(m);
	return ret;
}

static int loop_grant_unmap(struct pvk_hv *hv, void *addr, uint32_t count)
{
	struct loop_hv *lh = to_lh(hv);
	struct loop_map **pp, *m;
	int ret = -EINVAL;

	lock(lh->loop);
	for (pp = &lh->maps; (m = *pp); pp = &m->next) {
		if (m->addr == addr && m->count == count) {
			*pp = m->next;
			map_release(lh->loop, m);
			munmap(m->addr, (size_t)count * PVK_PAGE_SIZE);
			free(m);
			ret = 0;
			break;
		}
	}
	unlock(lh->loop);
	return ret;
}

/* Resolve one side of a copy: a grant of another domain to us, checked
 * as Xen's gnttab_copy does. */
static int16_t copy_side(struct pvk_loop *l, uint32_t self, uint32_t domid,
			 uint32_t ref, bool dst, struct loop_dom **gd,
			 uint64_t *off)
{
	struct loop_dom *g = dom_get(l, domid);
	const struct loop_grant *e;

	if (!g)
		return PVK_GNTST_BAD_DOMAIN;
	if (ref >= g->ngnt)
		return PVK_GNTST_BAD_GNTREF;
	e = &g->gnt[ref];
	if (!(e->flags & GE_PERMIT) || (e->flags & GE_FREE_PENDING) ||
	    e->domid != self)
		return PVK_GNTST_BAD_GNTREF;
	if (dst && (e->flags & GE_READONLY))
		return PVK_GNTST_PERMISSION_DENIED;
	*gd = g;
	*off = e->off * PVK_PAGE_SIZE;
	return 0;
}

static int loop_grant_copy(struct pvk_hv *hv, struct pvk_grant_copy *segs,
			   uint32_t count)
{
	struct loop_hv *lh = to_lh(hv);
	uint8_t buf[PVK_PAGE_SIZE];
	int ret = 0;

	lock(lh->loop);
	if (!self_dom(lh)) {
		ret = -ESRCH;
		goto unlock;
	}
	for (uint32_t i = 0; i < count; i++) {
		struct pvk_grant_copy *s = &segs[i];
		struct loop_dom *sg = NULL, *dg = NULL;
		uint64_t soff = 0, doff = 0;
		int16_t st = 0;

		if (s->src.is_gref)
			st = copy_side(lh->loop, hv->domid, s->src.domid,
				       s->src.ref, false, &sg, &soff);
		if (!st && s->dst.is_gref)
			st = copy_side(lh->loop, hv->domid, s->dst.domid,
				       s->dst.ref, true, &dg, &doff);
		if (!st && sg) {
			if (pread(sg->memfd, buf, s->len,
				  (off_t)(soff + s->src.offset)) != s->len)
				st = PVK_GNTST_GENERAL_ERROR;
		} else if (!st) {
			memcpy(buf, s->src.virt, s->len);
		}
		if (!st && dg) {
			if (pwrite(dg->memfd, buf, s->len,
				   (off_t)(doff + s->dst.offset)) != s->len)
				st = PVK_GNTST_GENERAL_ERROR;
		} else if (!st) {
			memcpy(s->dst.virt, buf, s->len);
		}
		s->status = st;
	}
unlock:
	unlock(lh->loop);
	return ret;
}

/* ------------------------------------------------------------------ */
/* event channels                                                      */

/* Each port is queued at most once (it stays masked until unmasked), so
 * LOOP_PORT_MAX slots always suffice. */
static void q_push(struct loop_evtchn *le, uint32_t port)
{
	le->q[(le->qhead + le->qlen) % LOOP_PORT_MAX] = port;
	if (le->qlen++ == 0)
		efd_set(le->efd);
}

static void q_remove(struct loop_evtchn *le, uint32_t port)
{
	uint32_t i, j = 0;

	for (i = 0; i < le->qlen; i++) {
		uint32_t v = le->q[(le->qhead + i) % LOOP_PORT_MAX];

		if (v != port)
			le->q[(le->qhead + j++) % LOOP_PORT_MAX] = v;
	}
	if (j == le->qlen)
		return;
	le->qlen = j;
	if (j == 0)
		efd_clear(le->efd);
}

/* Xen raises the pending bit; the evtchn driver queues the port and
 * masks it until user space unmasks.  Raises while masked coalesce. */
static void port_deliver(struct loop_dom *d, uint32_t port)
{
	struct loop_port *p = &d->ports[port];

	if (!p->owner)
		return;
	if (p->masked) {
		p->pending = true;
		return;
	}
	p->masked = true;
	q_push(p->owner, port);
}

static void port_close(struct pvk_loop *l, struct loop_dom *d, uint32_t port)
{
	struct loop_port *p = &d->ports[port];

	if (p->state == PORT_INTERDOMAIN) {
		struct loop_dom *r = dom_get(l, p->remote_dom);

		/* The peer's end reverts to unbound (to us), as on Xen. */
		if (r && p->remote_port < r->nports) {
			struct loop_port *rp = &r->ports[p->remote_port];

			if (rp->state == PORT_INTERDOMAIN &&
			    rp->remote_dom == d->domid &&
			    rp->remote_port == port) {
				rp->state = PORT_UNBOUND;
				rp->remote_port = 0;
			}
		}
	}
	if (p->owner)
		q_remove(p->owner, port);
	memset(p, 0, sizeof(*p));
}

static int port_alloc(struct loop_dom *d, struct loop_evtchn *le)
{
	uint32_t port;

	/* Port 0 is never used, as on Xen. */
	for (port = 1;; port++) {
		if (port >= d->nports) {
			uint32_t n = d->nports ? d->nports * 2 : 64;
			struct loop_port *p;

			if (d->nports >= LOOP_PORT_MAX)
				return -ENOSPC;
			if (n > LOOP_PORT_MAX)
				n = LOOP_PORT_MAX;
			p = realloc(d->ports, n * sizeof(*p));
			if (!p)
				return -ENOMEM;
			memset(p + d->nports, 0, (n - d->nports) * sizeof(*p));
			d->ports = p;
			d->nports = n;
		}
		if (d->ports[port].state == PORT_FREE)
			break;
	}
	d->ports[port].owner = le;
	return (int)port;
}

static int loop_evtchn_open(struct pvk_hv *hv, struct pvk_evtchn **ev)
{
	struct loop_hv *lh = to_lh(hv);
	struct loop_evtchn *le;
	int ret;

	le = calloc(1, sizeof(*le));
	if (!le)
		return -ENOMEM;
	le->q = calloc(LOOP_PORT_MAX, sizeof(*le->q));
	if (!le->q) {
		ret = -ENOMEM;
		goto free_le;
	}
	le->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (le->efd < 0) {
		ret = -errno;
		goto free_q;
	}
	le->ev.hv = hv;
	le->ev.ops = hv->ops;
	le->lh = lh;
	lock(lh->loop);
	lh->refs++;
	unlock(lh->loop);
	*ev = &le->ev;
	return 0;

free_q:
	free(le->q);
free_le:
	free(le);
	return ret;
}

static void lh_put(struct loop_hv *lh);

static void loop_evtchn_close(struct pvk_evtchn *ev)
{
	struct loop_evtchn *le = to_le(ev);
	struct loop_hv *lh = le->lh;
	struct loop_dom *d;

	lock(lh->loop);
	d = self_dom(lh);
	for (uint32_t port = 1; d && port < d->nports; port++)
		if (d->ports[port].owner == le)
			port_close(lh->loop, d, port);
	unlock(lh->loop);
	close(le->efd);
	free(le->q);
	free(le);
	lh_put(lh);
}

static int loop_evtchn_fd(struct pvk_evtchn *ev)
{
	return to_le(ev)->efd;
}

static int loop_evtchn_alloc_unbound(struct pvk_evtchn *ev, uint32_t remote)
{
	struct loop_evtchn *le = to_le(ev);
	struct loop_dom *d;
	int port;

	lock(le->lh->loop);
	d = self_dom(le->lh);
	port = d ? port_alloc(d, le) : -ESRCH;
	if (port > 0) {
		d->ports[port].state = PORT_UNBOUND;
		d->ports[port].remote_dom = remote;
	}
	unlock(le->lh->loop);
	return port;
}

static int loop_evtchn_bind(struct pvk_evtchn *ev, uint32_t remote,
			    uint32_t remote_port)
{
	struct loop_evtchn *le = to_le(ev);
	struct pvk_loop *l = le->lh->loop;
	struct loop_dom *d, *r;
	struct loop_port *rp;
	int port;

	lock(l);
	d = self_dom(le->lh);
	r = dom_get(l, remote);
	if (!d || !r) {
		port = -ESRCH;
		goto unlock;
	}
	if (remote_port >= r->nports ||
	    r->ports[remote_port].state != PORT_UNBOUND ||
	    r->ports[remote_port].remote_dom != d->domid) {
		port = -EINVAL;
		goto unlock;
	}
	/* Allocate first: with remote == self, this may move r->ports. */
	port = port_alloc(d, le);
	if (port < 0)
		goto unlock;
	rp = &r->ports[remote_port];
	rp->state = PORT_INTERDOMAIN;
	rp->remote_dom = d->domid;
	rp->remote_port = (uint32_t)port;
	d->ports[port].state = PORT_INTERDOMAIN;
	d->ports[port].remote_dom = remote;
	d->ports[port].remote_port = remote_port;
unlock:
	unlock(l);
	return port;
}

static struct loop_port *own_port(struct loop_evtchn *le, struct loop_dom *d,
				  uint32_t port)
{
	if (!d || port >= d->nports || d->ports[port].owner != le)
		return NULL;
	return &d->ports[port];
}

static int loop_evtchn_notify(struct pvk_evtchn *ev, uint32_t port)
{
	struct loop_evtchn *le = to_le(ev);
	struct pvk_loop *l = le->lh->loop;
	struct loop_port *p;
	struct loop_dom *d, *r;
	int ret = 0;

	lock(l);
	d = self_dom(le->lh);
	p = own_port(le, d, port);
	if (!p) {
		ret = d ? -EINVAL : -ESRCH;
	} else if (p->state == PORT_INTERDOMAIN) {
		r = dom_get(l, p->remote_dom);
		if (r && p->remote_port < r->nports)
			port_deliver(r, p->remote_port);
	}
	/* PORT_UNBOUND: the peer went away; dropped silently, as on Xen. */
	unlock(l);
	return ret;
}

static int loop_evtchn_pending(struct pvk_evtchn *ev)
{
	struct loop_evtchn *le = to_le(ev);
	struct pvk_loop *l = le->lh->loop;
	struct loop_dom *d;
	int ret;

	lock(l);
	d = self_dom(le->lh);
	if (!d) {
		ret = -ESRCH;
	} else if (le->qlen == 0) {
		ret = -EAGAIN;
	} else {
		ret = (int)le->q[le->qhead];
		le->qhead = (le->qhead + 1) % LOOP_PORT_MAX;
		if (--le->qlen == 0)
			efd_clear(le->efd);
	}
	unlock(l);
	return ret;
}

static int loop_evtchn_unmask(struct pvk_evtchn *ev, uint32_t port)
{
	struct loop_evtchn *le = to_le(ev);
	struct pvk_loop *l = le->lh->loop;
	struct loop_port *p;
	struct loop_dom *d;
	int ret = 0;

	lock(l);
	d = self_dom(le->lh);
	p = own_port(le, d, port);
	if (!p) {
		ret = d ? -EINVAL : -ESRCH;
		goto unlock;
	}
	if (!p->masked)
		goto unlock;
	/* Still queued (unmasked before it was read): leave it queued. */
	for (uint32_t i = 0; i < le->qlen; i++)
		if (le->q[(le->qhead + i) % LOOP_PORT_MAX] == port)
			goto unlock;
	p->masked = false;
	if (p->pending) {
		p->pending = false;
		port_deliver(d, port);
	}
unlock:
	unlock(l);
	return ret;
}

static int loop_evtchn_unbind(struct pvk_evtchn *ev, uint32_t port)
{
	struct loop_evtchn *le = to_le(ev);
	struct pvk_loop *l = le->lh->loop;
	struct loop_dom *d;
	int ret = 0;

	lock(l);
	d = self_dom(le->lh);
	if (!own_port(le, d, port))
		ret = d ? -EINVAL : -ESRCH;
	else
		port_close(l, d, port);
	unlock(l);
	return ret;
}

/* ------------------------------------------------------------------ */
/* domains, handles, the loop itself                                   */

static void loop_free(struct pvk_loop *l)
{
	for (int i = 0; i < LOOP_MAX_DOMAINS; i++) {
		struct loop_dom *d = l->doms[i];

		if (!d)
			continue;
		close(d->memfd);
		free(d->gnt);
		free(d->ports);
		free(d);
	}
	node_free(l->root);
	loop_dm_free(l->dm);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* Drop a reference with the lock held; true if the caller must free
 * @l after unlocking. */
static bool loop_put_locked(struct pvk_loop *l)
{
	return --l->refs == 0;
}

static void lh_put(struct loop_hv *lh)
{
	struct pvk_loop *l = lh->loop;
	bool free_loop = false;

	lock(l);
	if (--lh->refs == 0) {
		free_loop = loop_put_locked(l);
		free(lh);
	}
	unlock(l);
	if (free_loop)
		loop_free(l);
}

/* What a domain's death takes from one of its handles: its mappings'
 * holds on other domains' grants, transactions, watches.  Local memory
 * stays until the handle is closed. */
static void lh_detach(struct loop_hv *lh)
{
	struct loop_watch *w, *wn;
	struct loop_txn *t, *tn;

	for (struct loop_map *m = lh->maps; m; m = m->next)
		map_release(lh->loop, m);
	for (t = lh->txns; t; t = tn) {
		tn = t->next;
		txn_free(t);
	}
	lh->txns = NULL;
	lh->ntxns = 0;
	for (w = lh->watches; w; w = wn) {
		wn = w->next;
		watch_free(w);
	}
	lh->watches = NULL;
	lh->nwatches = 0;
}

static void loop_close(struct pvk_hv *hv)
{
	struct loop_hv *lh = to_lh(hv);
	struct pvk_loop *l = lh->loop;
	struct loop_alloc *a, *an;
	struct loop_map *m, *mn;
	struct loop_event *e, *en;
	struct loop_dom *d;

	loop_dm_handle_close(hv);
	lock(l);
	d = self_dom(lh);
	lh_detach(lh);
	for (m = lh->maps; m; m = mn) {
		mn = m->next;
		munmap(m->addr, (size_t)m->count * PVK_PAGE_SIZE);
		free(m);
	}
	/* As gntalloc on close: grants still mapped by the peer stay until
	 * it unmaps; the rest end now. */
	for (a = lh->allocs; a; a = an) {
		an = a->next;
		munmap(a->addr, (size_t)a->count * PVK_PAGE_SIZE);
		if (d)
			gnt_end(d, a->refs, a->count);
		free(a);
	}
	for (e = lh->evq; e; e = en) {
		en = e->next;
		free(e->path);
		free(e->token);
		free(e);
	}
	for (struct loop_hv **pp = &l->handles; *pp; pp = &(*pp)->next) {
		if (*pp == lh) {
			*pp = lh->next;
			break;
		}
	}
	close(lh->watch_fd);
	unlock(l);
	lh_put(lh);
}

int pvk_hv_open_loop(struct pvk_hv **hv, struct pvk_loop *loop, uint32_t domid)
{
	struct loop_hv *lh;
	struct loop_dom *d;
	int ret;

	if (!hv)
		return -EINVAL;
	*hv = NULL;
	if (!loop || domid > PVK_DOMID_MAX)
		return -EINVAL;
	pvk_hv_fault_env();
	lh = calloc(1, sizeof(*lh));
	if (!lh)
		return -ENOMEM;
	lh->watch_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (lh->watch_fd < 0) {
		ret = -errno;
		goto free_lh;
	}
	lock(loop);
	d = dom_get(loop, domid);
	if (!d) {
		unlock(loop);
		ret = -ENOENT;
		goto close_fd;
	}
	lh->hv.ops = &loop_ops;
	lh->hv.domid = domid;
	lh->hv.backend = "loop";
	lh->loop = loop;
	lh->serial = d->serial;
	lh->refs = 1;
	lh->evq_tail = &lh->evq;
	lh->next = loop->handles;
	loop->handles = lh;
	loop->refs++;
	unlock(loop);
	*hv = &lh->hv;
	return 0;

close_fd:
	close(lh->watch_fd);
free_lh:
	free(lh);
	return ret;
}

static struct loop_dom *dom_new(struct pvk_loop *l, uint32_t domid)
{
	struct loop_dom *d;
	char name[32];
	int slot;

	for (slot = 0; slot < LOOP_MAX_DOMAINS && l->doms[slot]; slot++)
		;
	if (slot == LOOP_MAX_DOMAINS)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	snprintf(name, sizeof(name), "pvk-loop-dom%u", domid);
	d->memfd = memfd_create(name, MFD_CLOEXEC);
	if (d->memfd < 0) {
		free(d);
		return NULL;
	}
	d->domid = domid;
	d->serial = ++l->next_serial;
	l->doms[slot] = d;
	return d;
}

static void dom_unlink(struct pvk_loop *l, struct loop_dom *d)
{
	for (int i = 0; i < LOOP_MAX_DOMAINS; i++)
		if (l->doms[i] == d)
			l->doms[i] = NULL;
}

/* The toolstack's part of creating a domain: its home, owned by it. */
static int dom_xs_init(struct pvk_loop *l, uint32_t domid, const char *name)
{
	struct xs_ctx c = { .l = l, .root = l->root, .domid = 0 };
	struct pvk_xs_perm perm = { .domid = domid, .perm = 'n' };
	char path[64], id[16];
	int ret;

	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	ret = xs_do_write(&c, path, NULL, 0, true);
	if (!ret && domid != 0)
		ret = xs_do_set_perms(&c, path, &perm, 1);
	snprintf(path, sizeof(path), "/local/domain/%u/name", domid);
	if (!ret)
		ret = xs_do_write(&c, path, name, (uint32_t)strlen(name),
				  false);
	snprintf(path, sizeof(path), "/local/domain/%u/domid", domid);
	snprintf(id, sizeof(id), "%u", domid);
	if (!ret)
		ret = xs_do_write(&c, path, id, (uint32_t)strlen(id), false);
	return ret;
}

int pvk_loop_create(struct pvk_loop **loop)
{
	static const struct pvk_xs_perm root_perm = { 0, 'n' };
	struct pvk_loop *l;
	int ret;

	if (!loop)
		return -EINVAL;
	*loop = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	l->refs = 1;
	l->next_domid = 1;
	l->root = node_new("", 0, &root_perm, 1);
	if (!l->root) {
		ret = -ENOMEM;
		goto free_loop;
	}
	if (!dom_new(l, 0)) {
		ret = -ENOMEM;
		goto free_loop;
	}
	ret = dom_xs_init(l, 0, "Domain-0");
	if (ret)
		goto free_loop;
	*loop = l;
	return 0;

free_loop:
	loop_free(l);
	return ret;
}

void pvk_loop_destroy(struct pvk_loop *loop)
{
	bool free_now;

	if (!loop)
		return;
	lock(loop);
	free_now = loop_put_locked(loop);
	unlock(loop);
	if (free_now)
		loop_free(loop);
}

int pvk_loop_domain_create(struct pvk_loop *loop, const char *name,
			   uint32_t *domid)
{
	struct loop_dom *d;
	uint32_t id;
	int ret, tries;

	if (!loop || !name || !domid || strnlen(name, 65) > 64)
		return -EINVAL;
	lock(loop);
	/* Like Xen, hand out increasing ids and skip live ones. */
	for (tries = 0; tries <= (int)PVK_DOMID_MAX; tries++) {
		id = loop->next_domid;
		loop->next_domid = id >= PVK_DOMID_MAX ? 1 : id + 1;
		if (!dom_get(loop, id))
			break;
	}
	d = dom_new(loop, id);
	if (!d) {
		ret = -ENOSPC;
		goto unlock;
	}
	ret = dom_xs_init(loop, id, name);
	if (ret) {
		struct xs_ctx c = { .l = loop, .root = loop->root };
		char path[48];

		snprintf(path, sizeof(path), "/local/domain/%u", id);
		xs_do_rm(&c, path);
		dom_unlink(loop, d);
		close(d->memfd);
		free(d);
		goto unlock;
	}
	fire_watches(loop, "@introduceDomain", false, NULL, 0);
	*domid = id;
unlock:
	unlock(loop);
	return ret;
}

int pvk_loop_domain_destroy(struct pvk_loop *loop, uint32_t domid)
{
	struct xs_ctx c;
	struct loop_dom *d;
	char path[48];
	int ret = 0;

	if (!loop || domid == 0 || domid > PVK_DOMID_MAX)
		return -EINVAL;
	lock(loop);
	d = dom_get(loop, domid);
	if (!d) {
		ret = -ENOENT;
		goto unlock;
	}
	for (struct loop_hv *h = loop->handles; h; h = h->next)
		if (h->hv.domid == domid && h->serial == d->serial)
			lh_detach(h);
	for (uint32_t port = 1; port < d->nports; port++)
		if (d->ports[port].state != PORT_FREE)
			port_close(loop, d, port);
	/* Gone from the table first: its own handles hear nothing more,
	 * and its grants are revoked (existing mappings keep the pages). */
	dom_unlink(loop, d);
	c = (struct xs_ctx){ .l = loop, .root = loop->root, .domid = 0 };
	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	xs_do_rm(&c, path);
	fire_watches(loop, "@releaseDomain", false, NULL, 0);
	close(d->memfd);
	free(d->gnt);
	free(d->ports);
	free(d);
unlock:
	unlock(loop);
	return ret;
}

static const struct pvk_hv_ops loop_ops = {
	.name = "loop",
	.close = loop_close,
	.grant_alloc = loop_grant_alloc,
	.grant_free = loop_grant_free,
	.grant_map = loop_grant_map,
	.grant_unmap = loop_grant_unmap,
	.grant_copy = loop_grant_copy,
	.evtchn_open = loop_evtchn_open,
	.evtchn_close = loop_evtchn_close,
	.evtchn_fd = loop_evtchn_fd,
	.evtchn_alloc_unbound = loop_evtchn_alloc_unbound,
	.evtchn_bind = loop_evtchn_bind,
	.evtchn_notify = loop_evtchn_notify,
	.evtchn_pending = loop_evtchn_pending,
	.evtchn_unmask = loop_evtchn_unmask,
	.evtchn_unbind = loop_evtchn_unbind,
	.xs_read = loop_xs_read,
	.xs_write = loop_xs_write,
	.xs_mkdir = loop_xs_mkdir,
	.xs_rm = loop_xs_rm,
	.xs_directory = loop_xs_directory,
	.xs_set_perms = loop_xs_set_perms,
	.xs_txn_start = loop_xs_txn_start,
	.xs_txn_end = loop_xs_txn_end,
	.xs_watch = loop_xs_watch,
	.xs_unwatch = loop_xs_unwatch,
	.xs_watch_fd = loop_xs_watch_fd,
	.xs_read_watch = loop_xs_read_watch,
	.domain_info = loop_domain_info,
	.dm_server_create = loop_dm_server_create,
	.dm_server_map = loop_dm_server_map,
	.dm_server_unmap = loop_dm_server_unmap,
	.dm_range = loop_dm_range,
	.dm_server_enable = loop_dm_server_enable,
	.dm_server_destroy = loop_dm_server_destroy,
	.dm_set_isa_irq = loop_dm_set_isa_irq,
	.dm_foreign_map = loop_dm_foreign_map,
	.dm_foreign_unmap = loop_dm_foreign_unmap,
	.dm_guest_io = loop_dm_guest_io,
	.dm_guest_irq_fd = loop_dm_guest_irq_fd,
	.dm_guest_irqs = loop_dm_guest_irqs,
	.dm_guest_memory = loop_dm_guest_memory,
};

struct pvk_loop *loop_of(struct pvk_hv *hv)
{
	return to_lh(hv)->loop;
}

struct loop_dm *loop_dm_get(struct pvk_loop *l)
{
	struct loop_dm *dm;

	lock(l);
	if (!l->dm)
		l->dm = loop_dm_new();
	dm = l->dm;
	unlock(l);
	return dm;
}
