// SPDX-License-Identifier: MIT
/*
 * hv.c -- libpvkit-hv's public entry points: detection, argument checks,
 * and the helpers every implementation shares (transaction retry,
 * strict number parsing, blocking wait).  Implementations see only
 * validated arguments.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hv_impl.h"
#include "xenlib.h"

#define XS_TXN_DEFAULT_TRIES 16u
/* xs_wire.h: XENSTORE_REL_PATH_MAX */
#define XS_REL_PATH_MAX 2048u
#define XS_PATH_CHARS \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_@/"

/* --- fault injection (hv.h) --------------------------------------------- */

static const char *const fault_names[PVK_HV_FAULT_COUNT] = {
	"grant_alloc", "grant_map", "evtchn_alloc", "xs_commit"
};
static uint32_t fault_every[PVK_HV_FAULT_COUNT]; /* atomic */
static uint32_t fault_gen[PVK_HV_FAULT_COUNT]; /* atomic: bumped by _set */
static uint64_t fault_nhits[PVK_HV_FAULT_COUNT]; /* atomic */
static pthread_once_t fault_env_once = PTHREAD_ONCE_INIT;

int pvk_hv_fault_set(enum pvk_hv_fault f, uint32_t every)
{
	if ((unsigned int)f >= PVK_HV_FAULT_COUNT)
		return -EINVAL;
	__atomic_add_fetch(&fault_gen[f], 1, __ATOMIC_RELAXED);
	__atomic_store_n(&fault_nhits[f], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fault_every[f], every, __ATOMIC_RELEASE);
	return 0;
}

uint64_t pvk_hv_fault_hits(enum pvk_hv_fault f)
{
	if ((unsigned int)f >= PVK_HV_FAULT_COUNT)
		return 0;
	return __atomic_load_n(&fault_nhits[f], __ATOMIC_RELAXED);
}

/* PVKIT_FAULTS=name:N,...: all or nothing. */
static void fault_env(void)
{
	const char *env = getenv("PVKIT_FAULTS"), *p;
	uint32_t every[PVK_HV_FAULT_COUNT] = { 0 };
	unsigned long n;
	char *end;
	size_t len;
	int f;

	if (!env || !*env)
		return;
	for (p = env; *p;) {
		for (f = 0; f < PVK_HV_FAULT_COUNT; f++) {
			len = strlen(fault_names[f]);
			if (!strncmp(p, fault_names[f], len) && p[len] == ':')
				break;
		}
		if (f == PVK_HV_FAULT_COUNT)
			goto bad;
		p += strlen(fault_names[f]) + 1;
		errno = 0;
		n = strtoul(p, &end, 10);
		if (errno || end == p || n > UINT32_MAX ||
		    (*end && *end != ','))
			goto bad;
		every[f] = (uint32_t)n;
		p = *end ? end + 1 : end;
	}
	for (f = 0; f < PVK_HV_FAULT_COUNT; f++)
		if (every[f])
			pvk_hv_fault_set((enum pvk_hv_fault)f, every[f]);
	return;
bad:
	fprintf(stderr,
		"libpvkit-hv: PVKIT_FAULTS='%s' ignored: want a comma-separated "
		"list of NAME:N (fail one call in N), NAME one of grant_alloc, "
		"grant_map, evtchn_alloc, xs_commit\n",
		env);
}

void pvk_hv_fault_env(void)
{
	pthread_once(&fault_env_once, fault_env);
}

/*
 * Whether this call of @f through @hv is one to fail.  Counted per
 * handle, so that one party's calls cannot take every failure meant for
 * all (two threads alternating on one counter would).
 */
static bool fault_in(uint64_t *calls, uint32_t *cgen, enum pvk_hv_fault f)
{
	uint32_t every = __atomic_load_n(&fault_every[f], __ATOMIC_ACQUIRE);
	uint32_t gen;

	if (__builtin_expect(!every, 1))
		return false;
	gen = __atomic_load_n(&fault_gen[f], __ATOMIC_RELAXED);
	if (*cgen != gen) {
		*cgen = gen;
		*calls = 0;
	}
	if (++*calls % every != 0)
		return false;
	__atomic_add_fetch(&fault_nhits[f], 1, __ATOMIC_RELAXED);
	return true;
}

#define fault(h, f) fault_in(&(h)->fault_calls[f], &(h)->fault_gen[f], f)

static bool domid_ok(uint32_t domid)
{
	return domid <= PVK_DOMID_MAX;
}

static bool count_ok(uint32_t count)
{
	return count > 0 && count <= PVK_HV_GRANT_BATCH_MAX;
}

/*
 * xenstored's rules (xenstored_core.c: is_valid_nodename): characters
 * from [A-Za-z0-9-/_@], no empty component, no trailing '/' except the
 * root, bounded length; "@..." names are watch-only special nodes.
 */
int pvk_xs_path_check(const char *path, bool special)
{
	size_t len, i;

	if (!path || !*path)
		return -EINVAL;
	len = strnlen(path, PVK_XS_PATH_MAX + 1);
	if (len > (path[0] == '/' ? PVK_XS_PATH_MAX : XS_REL_PATH_MAX))
		return -EINVAL;
	if (path[0] == '@') {
		if (!special)
			return -EINVAL;
		for (i = 1; i < len; i++)
			if (!(path[i] >= 'a' && path[i] <= 'z') &&
			    !(path[i] >= 'A' && path[i] <= 'Z'))
				return -EINVAL;
		return len > 1 ? 0 : -EINVAL;
	}
	if (strcmp(path, "/") == 0)
		return 0;
	if (path[len - 1] == '/' || strstr(path, "//"))
		return -EINVAL;
	/* Within the length checked above, so the NUL ends the span. */
	return path[strspn(path, XS_PATH_CHARS)] ? -EINVAL : 0;
}

/* prepare() is idempotent; a provider remembers its own result. */
static int prepare(const struct pvk_xenlib *lib)
{
	return lib->prepare ? lib->prepare() : -ENODEV;
}

#ifdef PVK_HAVE_XENLIB_SIM
static const struct pvk_xenlib *const sim_lib = &pvk_xenlib_sim;
#else
static const struct pvk_xenlib *const sim_lib;
#endif

int pvk_hv_open(struct pvk_hv **hv, unsigned int flags)
{
	int ret;

	if (!hv)
		return -EINVAL;
	*hv = NULL;
	if (flags & ~PVK_HV_OPEN_VALID_FLAGS)
		return -EINVAL;
	pvk_hv_fault_env();

	ret = prepare(&pvk_xenlib_real);
	if (ret == 0)
		return pvk_hv_xen_open(hv, &pvk_xenlib_real);
	if (!sim_lib)
		return -ENODEV;
	/* A simulator that is there but refuses us (-EACCES, -EPERM, ...)
	 * says why; only its absence is -ENODEV. */
	ret = prepare(sim_lib);
	if (ret == 0)
		return pvk_hv_xen_open(hv, sim_lib);
	return ret;
}

void pvk_hv_close(struct pvk_hv *hv)
{
	if (hv)
		hv->ops->close(hv);
}

const char *pvk_hv_backend(const struct pvk_hv *hv)
{
	return hv ? hv->backend : "none";
}

uint32_t pvk_hv_domid(const struct pvk_hv *hv)
{
	return hv ? hv->domid : PVK_DOMID_SELF;
}

int pvk_hv_grant_alloc(struct pvk_hv *hv, uint32_t peer, uint32_t count,
		       bool writable, uint32_t *refs, void **addr)
{
	if (!hv || !refs || !addr || !domid_ok(peer) || !count_ok(count))
		return -EINVAL;
	*addr = NULL;
	if (fault(hv, PVK_HV_FAULT_GRANT_ALLOC))
		return -ENOSPC;
	return hv->ops->grant_alloc(hv, peer, count, writable, refs, addr);
}

int pvk_hv_grant_free(struct pvk_hv *hv, void *addr, uint32_t count)
{
	if (!hv || !count_ok(count))
		return -EINVAL;
	if (!addr)
		return 0;
	return hv->ops->grant_free(hv, addr, count);
}

int pvk_hv_grant_map(struct pvk_hv *hv, uint32_t granter, uint32_t count,
		     const uint32_t *refs, bool writable, void **addr)
{
	if (!hv || !refs || !addr || !domid_ok(granter) || !count_ok(count))
		return -EINVAL;
	*addr = NULL;
	if (fault(hv, PVK_HV_FAULT_GRANT_MAP))
		return -ENOMEM;
	return hv->ops->grant_map(hv, granter, count, refs, writable, addr);
}

int pvk_hv_grant_unmap(struct pvk_hv *hv, void *addr, uint32_t count)
{
	if (!hv || !count_ok(count))
		return -EINVAL;
	if (!addr)
		return 0;
	return hv->ops->grant_unmap(hv, addr, count);
}

int pvk_hv_grant_copy(struct pvk_hv *hv, struct pvk_grant_copy *segs,
		      uint32_t count)
{
	uint32_t i;

	if (!hv || !segs || !count_ok(count))
		return -EINVAL;
	for (i = 0; i < count; i++) {
		const struct pvk_grant_copy *s = &segs[i];

		if (s->len == 0 || s->len > PVK_PAGE_SIZE)
			return -EINVAL;
		if (s->src.is_gref ? (!domid_ok(s->src.domid) ||
				      s->src.offset + s->len > PVK_PAGE_SIZE) :
				     !s->src.virt)
			return -EINVAL;
		if (s->dst.is_gref ? (!domid_ok(s->dst.domid) ||
				      s->dst.offset + s->len > PVK_PAGE_SIZE) :
				     !s->dst.virt)
			return -EINVAL;
	}
	return hv->ops->grant_copy(hv, segs, count);
}

int pvk_evtchn_open(struct pvk_hv *hv, struct pvk_evtchn **ev)
{
	if (!hv || !ev)
		return -EINVAL;
	*ev = NULL;
	return hv->ops->evtchn_open(hv, ev);
}

void pvk_evtchn_close(struct pvk_evtchn *ev)
{
	if (ev)
		ev->ops->evtchn_close(ev);
}

int pvk_evtchn_fd(struct pvk_evtchn *ev)
{
	if (!ev)
		return -EINVAL;
	return ev->ops->evtchn_fd(ev);
}

int pvk_evtchn_alloc_unbound(struct pvk_evtchn *ev, uint32_t remote)
{
	if (!ev || !domid_ok(remote))
		return -EINVAL;
	if (fault_in(&ev->fault_calls, &ev->fault_gen,
		     PVK_HV_FAULT_EVTCHN_ALLOC))
		return -ENOSPC;
	return ev->ops->evtchn_alloc_unbound(ev, remote);
}

int pvk_evtchn_bind(struct pvk_evtchn *ev, uint32_t remote,
		    uint32_t remote_port)
{
	if (!ev || !domid_ok(remote) || remote_port == 0 ||
	    remote_port > INT32_MAX)
		return -EINVAL;
	if (fault_in(&ev->fault_calls, &ev->fault_gen,
		     PVK_HV_FAULT_EVTCHN_ALLOC))
		return -ENOSPC;
	return ev->ops->evtchn_bind(ev, remote, remote_port);
}

int pvk_evtchn_notify(struct pvk_evtchn *ev, uint32_t port)
{
	if (!ev || port == 0 || port > INT32_MAX)
		return -EINVAL;
	return ev->ops->evtchn_notify(ev, port);
}

int pvk_evtchn_pending(struct pvk_evtchn *ev)
{
	if (!ev)
		return -EINVAL;
	return ev->ops->evtchn_pending(ev);
}

int pvk_evtchn_unmask(struct pvk_evtchn *ev, uint32_t port)
{
	if (!ev || port == 0 || port > INT32_MAX)
		return -EINVAL;
	return ev->ops->evtchn_unmask(ev, port);
}

int pvk_evtchn_unbind(struct pvk_evtchn *ev, uint32_t port)
{
	if (!ev || port == 0 || port > INT32_MAX)
		return -EINVAL;
	return ev->ops->evtchn_unbind(ev, port);
}

int pvk_evtchn_wait(struct pvk_evtchn *ev, int timeout_ms)
{
	int64_t deadline = 0;
	struct pollfd pfd;
	int port, n, left = timeout_ms;

	if (!ev || timeout_ms < -1)
		return -EINVAL;
	pfd.fd = ev->ops->evtchn_fd(ev);
	if (pfd.fd < 0)
		return pfd.fd;
	pfd.events = POLLIN;
	if (timeout_ms > 0)
		deadline = (int64_t)pvk_spin_clock_ms() + timeout_ms;
	for (;;) {
		/* Check before sleeping: a port may already be queued. */
		port = ev->ops->evtchn_pending(ev);
		if (port != -EAGAIN)
			return port;
		if (timeout_ms > 0) {
			int64_t rest = deadline - (int64_t)pvk_spin_clock_ms();

			left = rest > 0 ? (int)rest : 0;
		}
		if (timeout_ms >= 0 && left == 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
	}
}

int pvk_xs_read(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
		char **val)
{
	int ret;

	if (!hv || !val)
		return -EINVAL;
	*val = NULL;
	ret = pvk_xs_path_check(path, false);
	if (ret)
		return ret;
	return hv->ops->xs_read(hv, txn, path, val);
}

int pvk_xs_read_uint(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
		     unsigned long *v)
{
	unsigned long acc = 0;
	char *s, *p;
	int ret;

	if (!v)
		return -EINVAL;
	ret = pvk_xs_read(hv, txn, path, &s);
	if (ret < 0)
		return ret;
	ret = 0;
	/* Strict: one or more digits and nothing else, within range. */
	if (!*s)
		ret = -EINVAL;
	for (p = s; *p && !ret; p++) {
		unsigned int d = (unsigned char)*p - '0';

		if (d > 9 || acc > (~0UL - d) / 10)
			ret = -EINVAL;
		else
			acc = acc * 10 + d;
	}
	free(s);
	if (!ret)
		*v = acc;
	return ret;
}

int pvk_xs_write(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
		 const char *val)
{
	size_t len;
	int ret;

	if (!hv || !val)
		return -EINVAL;
	ret = pvk_xs_path_check(path, false);
	if (ret)
		return ret;
	len = strnlen(val, PVK_XS_VALUE_MAX + 1);
	if (len > PVK_XS_VALUE_MAX)
		return -E2BIG;
	return hv->ops->xs_write(hv, txn, path, val, len);
}

int pvk_xs_printf(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
		  const char *fmt, ...)
{
	va_list ap;
	char *val;
	int n, ret;

	if (!fmt)
		return -EINVAL;
	va_start(ap, fmt);
	n = vasprintf(&val, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	ret = pvk_xs_write(hv, txn, path, val);
	free(val);
	return ret;
}

int pvk_xs_mkdir(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path)
{
	int ret;

	if (!hv)
		return -EINVAL;
	ret = pvk_xs_path_check(path, false);
	if (ret)
		return ret;
	return hv->ops->xs_mkdir(hv, txn, path);
}

int pvk_xs_rm(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path)
{
	int ret;

	if (!hv)
		return -EINVAL;
	ret = pvk_xs_path_check(path, false);
	if (ret)
		return ret;
	return hv->ops->xs_rm(hv, txn, path);
}

int pvk_xs_directory(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
		     char ***names)
{
	int ret;

	if (!hv || !names)
		return -EINVAL;
	*names = NULL;
	ret = pvk_xs_path_check(path, false);
	if (ret)
		return ret;
	return hv->ops->xs_directory(hv, txn, path, names);
}

int pvk_xs_set_perms(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
		     const struct pvk_xs_perm *perms, uint32_t count)
{
	uint32_t i;
	int ret;

	if (!hv || !perms || count == 0 || count > 64)
		return -EINVAL;
	ret = pvk_xs_path_check(path, true);
	if (ret)
		return ret;
	for (i = 0; i < count; i++) {
		if (!domid_ok(perms[i].domid) ||
		    !strchr("nrwb", perms[i].perm) || perms[i].perm == '\0')
			return -EINVAL;
	}
	return hv->ops->xs_set_perms(hv, txn, path, perms, count);
}

/* Before retry @try + 1 of a conflicting transaction: 100 us, doubling,
 * at most 20 ms. */
static void txn_backoff(unsigned int try)
{
	uint64_t us = 100u << (try < 8 ? try : 8);
	struct timespec ts;

	if (us > 20000)
		us = 20000;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(us * 1000);
	nanosleep(&ts, NULL);
}

int pvk_xs_transaction(struct pvk_hv *hv, unsigned int max_tries,
		       int (*fn)(struct pvk_hv *hv, pvk_xs_txn_t txn,
				 void *arg),
		       void *arg)
{
	unsigned int try;
	pvk_xs_txn_t txn;
	int ret;

	if (!hv || !fn)
		return -EINVAL;
	if (max_tries == 0)
		max_tries = XS_TXN_DEFAULT_TRIES;
	for (try = 0; try < max_tries; try++) {
		ret = hv->ops->xs_txn_start(hv, &txn);
		if (ret < 0)
			return ret;
		ret = fn(hv, txn, arg);
		if (ret < 0) {
			hv->ops->xs_txn_end(hv, txn, true);
			return ret;
		}
		if (fault(hv, PVK_HV_FAULT_XS_COMMIT)) {
			hv->ops->xs_txn_end(hv, txn, true);
			ret = -EAGAIN;
		} else {
			ret = hv->ops->xs_txn_end(hv, txn, false);
		}
		if (ret != -EAGAIN)
			return ret;
		if (try + 1 < max_tries)
			txn_backoff(try);
	}
	return -EAGAIN;
}

int pvk_xs_watch(struct pvk_hv *hv, const char *path, const char *token)
{
	int ret;

	if (!hv || !token ||
	    strnlen(token, PVK_XS_PATH_MAX + 1) > PVK_XS_PATH_MAX)
		return -EINVAL;
	ret = pvk_xs_path_check(path, true);
	if (ret)
		return ret;
	return hv->ops->xs_watch(hv, path, token);
}

int pvk_xs_unwatch(struct pvk_hv *hv, const char *path, const char *token)
{
	int ret;

	if (!hv || !token)
		return -EINVAL;
	ret = pvk_xs_path_check(path, true);
	if (ret)
		return ret;
	return hv->ops->xs_unwatch(hv, path, token);
}

int pvk_xs_watch_fd(struct pvk_hv *hv)
{
	if (!hv)
		return -EINVAL;
	return hv->ops->xs_watch_fd(hv);
}

int pvk_xs_read_watch(struct pvk_hv *hv, char **path, char **token)
{
	if (!hv || !path || !token)
		return -EINVAL;
	*path = *token = NULL;
	return hv->ops->xs_read_watch(hv, path, token);
}

int pvk_hv_domain_info(struct pvk_hv *hv, uint32_t domid,
		       struct pvk_domain_info *info)
{
	if (!hv || !info || !domid_ok(domid))
		return -EINVAL;
	return hv->ops->domain_info(hv, domid, info);
}
