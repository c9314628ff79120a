// SPDX-License-Identifier: MIT
/* A PV disk for an NBD server: see nbd_disk.h. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "nbd_disk.h"

#define ND_TIMEOUT_MS 30000
#define ND_ZERO_CHUNK (1u << 20)
#define ND_REAP 64
#define ND_ALIGN 4096 /* buffers: page-aligned, as the rings grant pages */

struct nbd_req {
	struct pvk_blkfront_io io; /* aligned requests */
	uint8_t op; /* PVK_BLKFRONT_READ, WRITE, FLUSH, DISCARD */
	bool rmw; /* unaligned: read-modify-write, alone */
	uint64_t off, start; /* the client's offset; the span's */
	uint32_t len, span; /* the client's length; the span's */
	uint8_t *buf; /* the disk's own: span bytes, page-aligned */
	uint8_t *wdata; /* rmw write: a copy of the client's data */
	int result;
	bool done, abandoned;
	pthread_cond_t cv; /* done, under the disk's lock */
	struct nbd_req *next;
};

struct nbd_disk {
	struct pvk_hv *hv;
	struct pvk_blkfront *bf;
	struct pvk_blkfront_info info;
	int timeout_ms;
	int efd; /* wakes the I/O thread */
	pthread_t th;
	pthread_mutex_t lock;
	/* Held by whoever drives bf: the I/O thread (all but its sleep), or
	 * a caller putting its request on the rings itself. */
	pthread_mutex_t bf_lock;
	/* under lock */
	struct nbd_req *qhead, **qtail; /* queued for the thread */
	bool stop;
	char gone[160];
	/* under bf_lock */
	struct nbd_req *phead, **ptail; /* taken, not yet on the rings */
};

static void req_free(struct nbd_req *r)
{
	pthread_cond_destroy(&r->cv);
	free(r->wdata);
	free(r->buf);
	free(r);
}

static void wake(struct nbd_disk *d)
{
	uint64_t one = 1;

	if (write(d->efd, &one, sizeof(one)) < 0) {
		/* a full counter wakes the thread all the same */
	}
}

/* The thread is done with @r: hand the result to its caller, or free it
 * if the caller gave up waiting. */
static void complete(struct nbd_disk *d, struct nbd_req *r, int result)
{
	pthread_mutex_lock(&d->lock);
	if (result == -ENODEV || result == -EIO) {
		const char *why = pvk_blkfront_broken_reason(d->bf);

		if (!d->gone[0] && (result == -ENODEV || why))
			snprintf(d->gone, sizeof(d->gone), "%s",
				 result == -ENODEV ? "the disk was removed" :
						     why);
	}
	r->result = result;
	r->done = true;
	if (r->abandoned)
		req_free(r);
	else
		pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&d->lock);
}

/* With the blkfront ours: hand what it has answered to the callers. */
static int reap_done(struct nbd_disk *d)
{
	struct pvk_blkfront_io *done[ND_REAP];
	int i, n = pvk_blkfront_reap(d->bf, done, 1, ND_REAP, 0);

	for (i = 0; i < n; i++)
		complete(d, done[i]->user, done[i]->result);
	return n;
}

/* An unaligned request, alone on the disk: the sectors it touches are
 * read, patched (a write) and written back. */
static int rmw(struct nbd_disk *d, struct nbd_req *r)
{
	ssize_t n = pvk_blkfront_pread(d->bf, r->buf, r->span, r->start);

	if (n < 0 || r->op == PVK_BLKFRONT_READ)
		return n < 0 ? (int)n : 0;
	memcpy(r->buf + (r->off - r->start), r->wdata, r->len);
	n = pvk_blkfront_pwrite(d->bf, r->buf, r->span, r->start);
	return n < 0 ? (int)n : 0;
}

/* Put what is pending on the rings, in order; an unaligned request waits
 * until nothing is in flight, and then runs alone. */
static void submit_pending(struct nbd_disk *d)
{
	struct nbd_req *r;
	int rc;

	while ((r = d->phead)) {
		if (r->rmw) {
			if (pvk_blkfront_in_flight(d->bf))
				break;
			rc = rmw(d, r);
		} else {
			rc = pvk_blkfront_submit(d->bf, &r->io);
			if (rc == -EAGAIN)
				break;
		}
		d->phead = r->next;
		if (!d->phead)
			d->ptail = &d->phead;
		if (r->rmw || rc < 0)
			complete(d, r, rc);
	}
	pvk_blkfront_kick(d->bf);
}

/*
 * The I/O thread: submit what callers queued, reap what the backend
 * answered, and sleep on both the callers' eventfd and the device's fd
 * (pvk_blkfront_fd(): readable when reap(..., 0) has work, which then
 * takes the backend's events and xenstore changes, idle or not).
 */
static void *io_thread(void *arg)
{
	struct nbd_disk *d = arg;
	struct pollfd p[2];
	uint64_t v, stop_ms = 0;
	bool stop;

	p[0] = (struct pollfd){ .fd = d->efd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = pvk_blkfront_fd(d->bf),
				.events = POLLIN };
	pthread_mutex_lock(&d->bf_lock);
	for (;;) {
		pthread_mutex_lock(&d->lock);
		if (d->qhead) {
			*d->ptail = d->qhead;
			d->ptail = d->qtail;
			d->qhead = NULL;
			d->qtail = &d->qhead;
		}
		stop = d->stop;
		pthread_mutex_unlock(&d->lock);
		submit_pending(d);
		if (reap_done(d) > 0)
			continue;
		if (stop && !d->phead && !pvk_blkfront_in_flight(d->bf))
			break;
		/* Closing with a backend that does not answer: give up
		 * after a while; pvk_blkfront_close() waits a little more. */
		if (stop && stop_ms++ > 20)
			break;
		pthread_mutex_unlock(&d->bf_lock);
		if (poll(p, 2, stop ? 100 : 1000) > 0 &&
		    (p[0].revents & POLLIN) &&
		    read(d->efd, &v, sizeof(v)) < 0) {
			/* EAGAIN: nothing to take */
		}
		pthread_mutex_lock(&d->bf_lock);
	}
	pthread_mutex_unlock(&d->bf_lock);
	return NULL;
}

int nbd_disk_open(struct nbd_disk **dp, struct pvk_hv *hv, const char *vdev,
		  const struct nbd_disk_opts *o)
{
	struct nbd_disk *d;
	int rc, i;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->hv = hv;
	d->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : ND_TIMEOUT_MS;
	d->qtail = &d->qhead;
	d->ptail = &d->phead;
	/* The toolstack may attach the disk just after the domain starts. */
	for (i = 0; i < 100; i++) {
		rc = pvk_blkfront_open(&d->bf, hv, vdev, o ? &o->bf : NULL);
		if (rc != -ENOENT)
			break;
		usleep(100000);
	}
	if (rc < 0)
		goto free_d;
	pvk_blkfront_info(d->bf, &d->info);
	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0) {
		rc = -errno;
		goto close_bf;
	}
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->bf_lock, NULL);
	rc = -pthread_create(&d->th, NULL, io_thread, d);
	if (rc < 0)
		goto close_efd;
	*dp = d;
	return 0;

close_efd:
	pthread_mutex_destroy(&d->bf_lock);
	pthread_mutex_destroy(&d->lock);
	close(d->efd);
close_bf:
	pvk_blkfront_close(d->bf);
free_d:
	free(d);
	return rc;
}

void nbd_disk_close(struct nbd_disk *d)
{
	struct nbd_req *r, *next;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_mutex_unlock(&d->lock);
	wake(d);
	pthread_join(d->th, NULL);
	pvk_blkfront_close(d->bf);
	/* What never completed: nobody waits for it any more (the callers
	 * are gone before close) and the device is closed. */
	for (r = d->phead; r; r = next) {
		next = r->next;
		req_free(r);
	}
	for (r = d->qhead; r; r = next) {
		next = r->next;
		req_free(r);
	}
	pthread_mutex_destroy(&d->bf_lock);
	pthread_mutex_destroy(&d->lock);
	close(d->efd);
	free(d);
}

void nbd_disk_info(const struct nbd_disk *d, struct pvk_blkfront_info *info)
{
	*info = d->info;
}

const char *nbd_disk_gone(struct nbd_disk *d)
{
	const char *g;

	pthread_mutex_lock(&d->lock);
	g = d->gone[0] ? d->gone : NULL;
	pthread_mutex_unlock(&d->lock);
	return g;
}

/* A request for [off, off + len), its buffer covering the sectors it
 * touches. */
static struct nbd_req *req_new(struct nbd_disk *d, uint8_t op, uint64_t off,
			       uint32_t len)
{
	uint64_t ss = d->info.sector_size;
	struct nbd_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_cond_init(&r->cv, NULL);
	r->op = op;
	r->off = off;
	r->len = len;
	r->start = off / ss * ss;
	r->span = (uint32_t)((off + len + ss - 1) / ss * ss - r->start);
	r->rmw = op != PVK_BLKFRONT_FLUSH && op != PVK_BLKFRONT_DISCARD &&
		 (r->start != off || r->span != len);
	if (op == PVK_BLKFRONT_READ || op == PVK_BLKFRONT_WRITE) {
		if (posix_memalign((void **)&r->buf, ND_ALIGN,
				   r->span ? r->span : 1)) {
			pthread_cond_destroy(&r->cv);
			free(r);
			return NULL;
		}
	}
	r->io = (struct pvk_blkfront_io){ .op = op,
					  .offset = r->start,
					  .len = op == PVK_BLKFRONT_FLUSH ?
							 0 :
							 r->span,
					  .buf = r->buf,
					  .user = r };
	return r;
}

/* With bf_lock held: put @r on the rings now, unless something taken
 * before it waits; then take what is done (a request can complete at
 * once, with no event to wake the thread).  False: queue it instead. */
static bool submit_now(struct nbd_disk *d, struct nbd_req *r)
{
	int rc;

	if (d->phead)
		return false;
	rc = pvk_blkfront_submit(d->bf, &r->io);
	if (rc == -EAGAIN)
		return false;
	if (rc < 0) {
		complete(d, r, rc);
		return true;
	}
	reap_done(d);
	return true;
}

/* Submit @r (if nothing is queued before it and the thread is not on the
 * disk, from here: the thread then wakes only for the answer) or queue
 * it for the thread; wait for it, at most the timeout. */
static int run(struct nbd_disk *d, struct nbd_req *r)
{
	struct timespec ts;
	bool queue = true;
	int rc = 0, res;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += d->timeout_ms / 1000;
	ts.tv_nsec += (long)(d->timeout_ms % 1000) * 1000000l;
	if (ts.tv_nsec >= 1000000000l) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000l;
	}
	pthread_mutex_lock(&d->lock);
	if (d->stop) {
		pthread_mutex_unlock(&d->lock);
		req_free(r);
		return -ESHUTDOWN;
	}
	if (!r->rmw && !d->qhead && !pthread_mutex_trylock(&d->bf_lock)) {
		pthread_mutex_unlock(&d->lock);
		queue = !submit_now(d, r);
		pthread_mutex_unlock(&d->bf_lock);
		pthread_mutex_lock(&d->lock);
	}
	if (queue) {
		*d->qtail = r;
		d->qtail = &r->next;
		pthread_mutex_unlock(&d->lock);
		wake(d);
		pthread_mutex_lock(&d->lock);
	}
	while (!r->done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&r->cv, &d->lock, &ts);
	if (!r->done) {
		/* The thread keeps it, and frees it once answered. */
		r->abandoned = true;
		if (!d->gone[0])
			snprintf(d->gone, sizeof(d->gone),
				 "no answer from the backend within %d ms",
				 d->timeout_ms);
		pthread_mutex_unlock(&d->lock);
		return -ETIMEDOUT;
	}
	res = r->result;
	pthread_mutex_unlock(&d->lock);
	return res;
}

static bool in_disk(struct nbd_disk *d, uint64_t len, uint64_t off)
{
	return off <= d->info.size_bytes && len <= d->info.size_bytes - off;
}

int nbd_disk_pread(struct nbd_disk *d, void *buf, uint32_t len, uint64_t off)
{
	struct nbd_req *r;
	int rc;

	if (!in_disk(d, len, off))
		return -EINVAL;
	if (!len)
		return 0;
	r = req_new(d, PVK_BLKFRONT_READ, off, len);
	if (!r)
		return -ENOMEM;
	rc = run(d, r);
	if (rc == -ETIMEDOUT)
		return rc;
	if (!rc)
		memcpy(buf, r->buf + (off - r->start), len);
	req_free(r);
	return rc;
}

int nbd_disk_flush(struct nbd_disk *d)
{
	struct nbd_req *r;
	int rc;

	if (!d->info.flush && !d->info.barrier)
		return -EOPNOTSUPP;
	r = req_new(d, PVK_BLKFRONT_FLUSH, 0, 0);
	if (!r)
		return -ENOMEM;
	rc = run(d, r);
	if (rc != -ETIMEDOUT)
		req_free(r);
	return rc;
}

int nbd_disk_pwrite(struct nbd_disk *d, const void *buf, uint32_t len,
		    uint64_t off, bool fua)
{
	struct nbd_req *r;
	int rc;

	if (d->info.read_only)
		return -EROFS;
	if (!in_disk(d, len, off))
		return -EINVAL;
	if (!len)
		return fua ? nbd_disk_flush(d) : 0;
	r = req_new(d, PVK_BLKFRONT_WRITE, off, len);
	if (!r)
		return -ENOMEM;
	if (r->rmw) {
		/* The thread patches it in once it has read the sectors. */
		r->wdata = malloc(len);
		if (!r->wdata) {
			req_free(r);
			return -ENOMEM;
		}
		memcpy(r->wdata, buf, len);
	} else {
		memcpy(r->buf, buf, len);
	}
	rc = run(d, r);
	if (rc == -ETIMEDOUT)
		return rc;
	req_free(r);
	if (!rc && fua)
		rc = nbd_disk_flush(d);
	return rc;
}

int nbd_disk_zero(struct nbd_disk *d, uint32_t len, uint64_t off, bool fua)
{
	static uint8_t zeroes[ND_ZERO_CHUNK];
	uint32_t n;
	int rc = 0;

	if (d->info.read_only)
		return -EROFS;
	if (!in_disk(d, len, off))
		return -EINVAL;
	while (len && !rc) {
		n = len < ND_ZERO_CHUNK ? len : ND_ZERO_CHUNK;
		rc = nbd_disk_pwrite(d, zeroes, n, off, false);
		off += n;
		len -= n;
	}
	return !rc && fua ? nbd_disk_flush(d) : rc;
}

int nbd_disk_trim(struct nbd_disk *d, uint32_t len, uint64_t off, bool fua)
{
	uint64_t ss = d->info.sector_size, a, b;
	struct nbd_req *r;
	int rc;

	if (d->info.read_only)
		return -EROFS;
	if (!in_disk(d, len, off))
		return -EINVAL;
	if (!d->info.discard)
		return -EOPNOTSUPP;
	/* Whole sectors only (blkfront trims further to its granularity). */
	a = (off + ss - 1) / ss * ss;
	b = (off + len) / ss * ss;
	if (a >= b)
		return fua ? nbd_disk_flush(d) : 0;
	r = req_new(d, PVK_BLKFRONT_DISCARD, a, (uint32_t)(b - a));
	if (!r)
		return -ENOMEM;
	rc = run(d, r);
	if (rc != -ETIMEDOUT)
		req_free(r);
	return !rc && fua ? nbd_disk_flush(d) : rc;
}
