// SPDX-License-Identifier: MIT
/*
 * HVM guests on pvkit-simd (proto.h, "HVM"), both ends:
 *
 *  - a device model in domain 0: libxendevicemodel and
 *    libxenforeignmemory semantics (-1/NULL with errno), for
 *    pvk_xenlib_sim: ioreq servers are the daemon's; their pages and the
 *    guest's RAM come as memfds and are mapped here;
 *  - the guest's own process, which plays the hypervisor for its vCPUs
 *    (pvkit/dm.h's pvk_dm_guest_*, which pvkit/hvm_trap.h's handler
 *    calls): it reads the server table from the hvm page, writes the
 *    vCPU's slot, notifies the vCPU's port and waits on it.  The daemon
 *    is asked only when the table names a server this process has not
 *    mapped yet.
 *
 * Both sides treat the shared slot as hostile: the device model's answer
 * is read once per field, states only move forward (else -EPROTO), loops
 * are bounded.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/ioreq.h>

#include "simc.h"

#define IOREQ_SIZE ((size_t)PVK_SIMP_IOREQ_PAGES * PVK_SIMP_PAGE)
#define HVM_PAGE_SIZE                                             \
	((sizeof(struct pvk_simp_hvm_page) + PVK_SIMP_PAGE - 1) & \
	 ~(size_t)(PVK_SIMP_PAGE - 1))
#define SEQ_TRIES 100000u
#define SPIN_US 20 /* see spin() */

/* ------------------------------------------------------------------ */
/* domain 0: libxendevicemodel                                          */

struct xendevicemodel_handle {
	struct pvk_sim *sim;
};

xendevicemodel_handle *pvk_simx_dm_open(struct xentoollog_logger *logger,
					unsigned int flags)
{
	struct xendevicemodel_handle *h;
	struct pvk_sim *sim = pvk_simc_self();

	if (!sim)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return pvk_simx_fail_null(-ENOMEM);
	h->sim = sim;
	return h;
}

int pvk_simx_dm_close(xendevicemodel_handle *h)
{
	free(h);
	return 0;
}

static int hvm_call(struct pvk_sim *sim, struct pvk_simp_req *req,
		    struct pvk_simp_rep *rep, int *fd)
{
	int n = 0, rc;

	rc = pvk_simc_call(sim, req, NULL, 0, rep, fd, fd ? 1 : 0, &n);
	if (fd && rc >= 0 && n != 1)
		rc = -EPROTO;
	if (fd && rc < 0 && n == 1)
		close(*fd);
	return rc;
}

static int dm_req(xendevicemodel_handle *h, uint32_t op, domid_t domid,
		  ioservid_t id, uint32_t type, uint32_t flags, uint64_t start,
		  uint64_t end)
{
	struct pvk_simp_req req = { .op = op };
	struct pvk_simp_rep rep;
	int rc;

	req.u.hvm.domid = domid;
	req.u.hvm.id = id;
	req.u.hvm.type = type;
	req.u.hvm.flags = flags;
	req.u.hvm.start = start;
	req.u.hvm.end = end;
	rc = hvm_call(h->sim, &req, &rep, NULL);
	return rc < 0 ? pvk_simx_fail(rc) : 0;
}

int pvk_simx_dm_create_ioreq_server(xendevicemodel_handle *h, domid_t domid,
				    int handle_bufioreq, ioservid_t *id)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_IOREQ_CREATE };
	struct pvk_simp_rep rep;
	int rc;

	/* HVM_IOREQSRV_BUFIOREQ_OFF, _LEGACY, _ATOMIC */
	if (handle_bufioreq < 0 || handle_bufioreq > 2)
		return pvk_simx_fail(-EINVAL);
	req.u.hvm.domid = domid;
	req.u.hvm.flags = handle_bufioreq ? PVK_SIMP_IOREQ_BUF : 0;
	rc = hvm_call(h->sim, &req, &rep, NULL);
	if (rc < 0)
		return pvk_simx_fail(rc);
	*id = (ioservid_t)rep.u.hvm.id;
	return 0;
}

int pvk_simx_dm_get_ioreq_server_info(xendevicemodel_handle *h, domid_t domid,
				      ioservid_t id, xen_pfn_t *ioreq_gfn,
				      xen_pfn_t *bufioreq_gfn,
				      evtchn_port_t *bufioreq_port)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_IOREQ_MAP };
	struct pvk_simp_rep rep;
	int rc, fd;

	/* No legacy gfns: the pages are a resource (map_resource). */
	if (ioreq_gfn || bufioreq_gfn)
		return pvk_simx_fail(-EOPNOTSUPP);
	req.u.hvm.domid = domid;
	req.u.hvm.id = id;
	rc = hvm_call(h->sim, &req, &rep, &fd);
	if (rc < 0)
		return pvk_simx_fail(rc);
	close(fd);
	if (rep.u.hvm.buf_port >= PVK_SIMP_NR_PORTS)
		return pvk_simx_fail(-EPROTO);
	if (bufioreq_port)
		*bufioreq_port = rep.u.hvm.buf_port;
	return 0;
}

int pvk_simx_dm_map_io_range(xendevicemodel_handle *h, domid_t domid,
			     ioservid_t id, int is_mmio, uint64_t start,
			     uint64_t end)
{
	return dm_req(h, PVK_SIMP_IOREQ_RANGE, domid, id, (uint32_t)is_mmio, 1,
		      start, end);
}

int pvk_simx_dm_unmap_io_range(xendevicemodel_handle *h, domid_t domid,
			       ioservid_t id, int is_mmio, uint64_t start,
			       uint64_t end)
{
	return dm_req(h, PVK_SIMP_IOREQ_RANGE, domid, id, (uint32_t)is_mmio, 0,
		      start, end);
}

int pvk_simx_dm_set_ioreq_server_state(xendevicemodel_handle *h, domid_t domid,
				       ioservid_t id, int enabled)
{
	return dm_req(h, PVK_SIMP_IOREQ_STATE, domid, id, 0, !!enabled, 0, 0);
}

int pvk_simx_dm_destroy_ioreq_server(xendevicemodel_handle *h, domid_t domid,
				     ioservid_t id)
{
	return dm_req(h, PVK_SIMP_IOREQ_DESTROY, domid, id, 0, 0, 0, 0);
}

int pvk_simx_dm_set_isa_irq_level(xendevicemodel_handle *h, domid_t domid,
				  uint8_t irq, unsigned int level)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_ISA_IRQ };
	struct pvk_simp_rep rep;
	int rc;

	req.u.hvm.domid = domid;
	req.u.hvm.index = irq;
	req.u.hvm.flags = level;
	rc = hvm_call(h->sim, &req, &rep, NULL);
	return rc < 0 ? pvk_simx_fail(rc) : 0;
}

/* ------------------------------------------------------------------ */
/* domain 0: libxenforeignmemory                                        */

/* A guest's RAM, asked for once per handle.  The daemon never reuses a
 * domain's uid but does (after 32k domains) its id: a mapping of a guest
 * that died gets the dead guest's RAM, never another's. */
struct fram {
	uint32_t domid;
	uint64_t uid, size;
	int fd;
	struct fram *next;
};

struct xenforeignmemory_handle {
	struct pvk_sim *sim;
	pthread_mutex_t lock;
	struct fram *rams;
};

struct xenforeignmemory_resource_handle {
	void *addr;
	size_t len;
};

xenforeignmemory_handle *pvk_simx_fmem_open(struct xentoollog_logger *logger,
					    unsigned int flags)
{
	struct xenforeignmemory_handle *h;
	struct pvk_sim *sim = pvk_simc_self();

	if (!sim)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return pvk_simx_fail_null(-ENOMEM);
	h->sim = sim;
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

int pvk_simx_fmem_close(xenforeignmemory_handle *h)
{
	struct fram *r;

	if (!h)
		return 0;
	while ((r = h->rams)) {
		h->rams = r->next;
		close(r->fd);
		free(r);
	}
	pthread_mutex_destroy(&h->lock);
	free(h);
	return 0;
}

static struct fram *ram_get(xenforeignmemory_handle *h, uint32_t domid,
			    int *err)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_FOREIGN_RAM };
	struct pvk_simp_rep rep;
	struct fram *r;
	int fd = -1;

	for (r = h->rams; r; r = r->next)
		if (r->domid == domid)
			return r;
	req.u.hvm.domid = domid;
	*err = hvm_call(h->sim, &req, &rep, &fd);
	if (*err < 0)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	r->domid = domid;
	r->uid = rep.u.hvm.uid;
	r->size = rep.u.hvm.ram_size;
	r->fd = fd;
	r->next = h->rams;
	h->rams = r;
	return r;
}

void *pvk_simx_fmem_map(xenforeignmemory_handle *h, uint32_t dom, int prot,
			size_t num, const xen_pfn_t arr[], int err[])
{
	size_t len = num * PVK_SIMP_PAGE;
	struct fram *r;
	uint8_t *base;
	int rc = 0, fd;
	uint64_t frames;

	if (!num || num > (1u << 20) || (prot & ~(PROT_READ | PROT_WRITE)))
		return pvk_simx_fail_null(-EINVAL);
	pthread_mutex_lock(&h->lock);
	r = ram_get(h, dom, &rc);
	fd = r ? r->fd : -1;
	frames = r ? r->size / PVK_SIMP_PAGE : 0;
	pthread_mutex_unlock(&h->lock);
	if (!r)
		return pvk_simx_fail_null(rc);
	base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	for (size_t i = 0; i < num; i++) {
		int e = 0;

		if (arr[i] >= frames)
			e = -EFAULT;
		else if (mmap(base + i * PVK_SIMP_PAGE, PVK_SIMP_PAGE, prot,
			      MAP_SHARED | MAP_FIXED, fd,
			      (off_t)(arr[i] * PVK_SIMP_PAGE)) == MAP_FAILED)
			e = -errno;
		if (err)
			err[i] = e;
		else if (e) {
			munmap(base, len);
			return pvk_simx_fail_null(e);
		}
	}
	return base;
}

int pvk_simx_fmem_unmap(xenforeignmemory_handle *h, void *addr, size_t num)
{
	return munmap(addr, num * PVK_SIMP_PAGE);
}

xenforeignmemory_resource_handle *
pvk_simx_fmem_map_resource(xenforeignmemory_handle *h, domid_t domid,
			   unsigned int type, unsigned int id,
			   unsigned long frame, unsigned long nr_frames,
			   void **paddr, int prot, int flags)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_IOREQ_MAP };
	struct xenforeignmemory_resource_handle *res;
	struct pvk_simp_rep rep;
	int rc, fd;
	void *p;

	if (type != XENMEM_resource_ioreq_server)
		return pvk_simx_fail_null(-EOPNOTSUPP);
	if (!nr_frames || frame >= PVK_SIMP_IOREQ_PAGES ||
	    nr_frames > PVK_SIMP_IOREQ_PAGES - frame || flags ||
	    (prot & ~(PROT_READ | PROT_WRITE)))
		return pvk_simx_fail_null(-EINVAL);
	req.u.hvm.domid = domid;
	req.u.hvm.id = id;
	rc = hvm_call(h->sim, &req, &rep, &fd);
	if (rc < 0)
		return pvk_simx_fail_null(rc);
	res = calloc(1, sizeof(*res));
	if (!res) {
		close(fd);
		return pvk_simx_fail_null(-ENOMEM);
	}
	res->len = nr_frames * PVK_SIMP_PAGE;
	p = mmap(NULL, res->len, prot, MAP_SHARED, fd,
		 (off_t)(frame * PVK_SIMP_PAGE));
	rc = p == MAP_FAILED ? -errno : 0;
	close(fd);
	if (rc < 0) {
		free(res);
		return pvk_simx_fail_null(rc);
	}
	res->addr = p;
	*paddr = p;
	return res;
}

int pvk_simx_fmem_unmap_resource(xenforeignmemory_handle *h,
				 xenforeignmemory_resource_handle *res)
{
	if (res) {
		munmap(res->addr, res->len);
		free(res);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* the guest: its vCPUs' trapped accesses                               */

/* A server as this process maps it; freed when it has left the table and
 * no vCPU waits on it any more. */
struct gsrv {
	uint64_t uid;
	uint8_t *map; /* IOREQ_SIZE: buffered page, then the slots */
	unsigned int users;
	bool gone;
};

struct gvcpu {
	xenevtchn_handle *h;
	/* ports taken into h, per server slot (and the server's uid) */
	uint64_t uid[PVK_SIMP_HVM_SERVERS];
	uint32_t port[PVK_SIMP_HVM_SERVERS];
	struct gsrv *posted; /* a request left there by a timeout */
	unsigned int posted_slot;
};

static struct {
	pthread_mutex_t lock;
	pid_t pid;
	bool ready;
	struct pvk_sim *sim;
	uint8_t *ram;
	uint64_t ram_size;
	uint32_t nr_vcpus;
	const struct pvk_simp_hvm_page *page;
	int irq_fd;
	long spin_ns; /* see spin() */
	uint32_t gen; /* of tab */
	struct pvk_simp_hvm_server tab[PVK_SIMP_HVM_SERVERS];
	struct gsrv *srv[PVK_SIMP_HVM_SERVERS];
	struct gvcpu vcpu[PVK_SIMP_HVM_VCPUS];
} G = { .lock = PTHREAD_MUTEX_INITIALIZER, .irq_fd = -1 };

static void gsrv_put(struct gsrv *s)
{
	if (--s->users || !s->gone)
		return;
	if (s->map)
		munmap(s->map, IOREQ_SIZE);
	free(s);
}

/* Under G.lock. */
static int guest_init(void)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_HVM_INFO };
	struct pvk_simp_rep rep;
	const char *spin_us;
	struct pvk_sim *sim;
	void *ram, *page;
	int fds[3], n = 0, rc;

	if (G.ready && G.pid == getpid())
		return 0;
	if (G.ready) {
		/* A child after fork(): the parent's vCPUs are not ours; what
		 * it mapped stays mapped. */
		memset(G.vcpu, 0, sizeof(G.vcpu));
		memset(G.srv, 0, sizeof(G.srv));
		G.ready = false;
	}
	sim = pvk_simc_self();
	if (!sim)
		return -errno;
	rc = pvk_simc_call(sim, &req, NULL, 0, &rep, fds, 3, &n);
	if (rc >= 0 &&
	    (n != 3 || !rep.u.hvm.nr_vcpus ||
	     rep.u.hvm.nr_vcpus > PVK_SIMP_HVM_VCPUS || !rep.u.hvm.ram_size ||
	     rep.u.hvm.ram_size % PVK_SIMP_PAGE))
		rc = -EPROTO;
	if (rc < 0)
		goto close_fds;
	ram = mmap(NULL, rep.u.hvm.ram_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fds[0], 0);
	if (ram == MAP_FAILED) {
		rc = -errno;
		goto close_fds;
	}
	page = mmap(NULL, HVM_PAGE_SIZE, PROT_READ, MAP_SHARED, fds[1], 0);
	if (page == MAP_FAILED) {
		rc = -errno;
		munmap(ram, rep.u.hvm.ram_size);
		goto close_fds;
	}
	close(fds[0]);
	close(fds[1]);
	if (G.irq_fd >= 0)
		close(G.irq_fd);
	G.irq_fd = fds[2];
	G.sim = sim;
	G.ram = ram;
	G.ram_size = rep.u.hvm.ram_size;
	G.nr_vcpus = rep.u.hvm.nr_vcpus;
	G.page = page;
	G.gen = 1; /* odd: never the page's */
	spin_us = getenv("PVKIT_HVM_SPIN_US");
	G.spin_ns = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? SPIN_US * 1000 : 0;
	if (spin_us && *spin_us)
		G.spin_ns = strtol(spin_us, NULL, 10) * 1000;
	G.pid = getpid();
	G.ready = true;
	return 0;

close_fds:
	while (n--)
		close(fds[n]);
	return rc == -EOPNOTSUPP || rc == -EBADMSG ? -EOPNOTSUPP : rc;
}

/* Copy the server table if the daemon changed it (a seqlock: it is the
 * hypervisor, but its writes race with our reads).  Under G.lock. */
static int refresh(void)
{
	uint32_t g1, g2;
	unsigned int tries;

	g1 = __atomic_load_n(&G.page->gen, __ATOMIC_ACQUIRE);
	if (g1 == G.gen)
		return 0;
	for (tries = 0;; tries++) {
		if (tries == SEQ_TRIES)
			return -EAGAIN;
		if (g1 & 1) {
			g1 = __atomic_load_n(&G.page->gen, __ATOMIC_ACQUIRE);
			continue;
		}
		memcpy(G.tab, G.page->srv, sizeof(G.tab));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		g2 = __atomic_load_n(&G.page->gen, __ATOMIC_RELAXED);
		if (g1 == g2)
			break;
		g1 = g2;
	}
	G.gen = g1;
	for (unsigned int i = 0; i < PVK_SIMP_HVM_SERVERS; i++) {
		struct pvk_simp_hvm_server *t = &G.tab[i];

		if (t->nr_ranges > PVK_SIMP_HVM_RANGES)
			t->nr_ranges = PVK_SIMP_HVM_RANGES;
		if (G.srv[i] && G.srv[i]->uid != t->uid) {
			G.srv[i]->gone = true;
			G.srv[i]->users++;
			gsrv_put(G.srv[i]);
			G.srv[i] = NULL;
		}
	}
	return 0;
}

/* The enabled server claiming @r's first byte; under G.lock. */
static int claim(const struct pvk_ioreq *r)
{
	uint32_t type = r->type == PVK_IOREQ_TYPE_PIO ? PVK_SIMP_RANGE_PORT :
							PVK_SIMP_RANGE_MMIO;

	for (unsigned int i = 0; i < PVK_SIMP_HVM_SERVERS; i++) {
		const struct pvk_simp_hvm_server *t = &G.tab[i];

		if (!t->uid || !t->enabled)
			continue;
		for (uint32_t k = 0; k < t->nr_ranges; k++)
			if (t->range[k].type == type &&
			    r->addr >= t->range[k].start &&
			    r->addr <= t->range[k].end)
				return (int)i;
	}
	return -1;
}

/* Server slot @i mapped; a reference for the caller.  Under G.lock. */
static struct gsrv *gsrv_get(unsigned int i, int *err)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_HVM_SERVER_PAGE };
	struct pvk_simp_rep rep;
	struct gsrv *s = G.srv[i];
	int fd;

	if (!s) {
		req.u.hvm.index = i;
		req.u.hvm.uid = G.tab[i].uid;
		*err = hvm_call(G.sim, &req, &rep, &fd);
		if (*err < 0)
			return NULL;
		s = calloc(1, sizeof(*s));
		if (s)
			s->map = mmap(NULL, IOREQ_SIZE, PROT_READ | PROT_WRITE,
				      MAP_SHARED, fd, 0);
		close(fd);
		if (!s || s->map == MAP_FAILED) {
			*err = s ? -errno : -ENOMEM;
			free(s);
			return NULL;
		}
		s->uid = G.tab[i].uid;
		s->users = 1; /* the table's */
		G.srv[i] = s;
	}
	s->users++;
	return s;
}

static void gsrv_release(struct gsrv *s)
{
	pthread_mutex_lock(&G.lock);
	gsrv_put(s);
	pthread_mutex_unlock(&G.lock);
}

/* The vCPU's event-channel handle: its ports are the ones the daemon
 * made for it in every server. */
static int vcpu_handle(struct gvcpu *v, unsigned int id)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_HVM_VCPU };
	struct pvk_simp_rep rep;
	xenevtchn_handle *h;
	int rc;

	if (v->h)
		return 0;
	h = pvk_simx_evtchn_open(NULL, 0);
	if (!h)
		return -errno;
	req.u.hvm.index = id;
	req.u.hvm.handle = pvk_simx_evtchn_id(h);
	rc = hvm_call(G.sim, &req, &rep, NULL);
	if (rc < 0) {
		pvk_simx_evtchn_close(h);
		return rc;
	}
	v->h = h;
	return 0;
}

/* Ports of servers that left slot i: the daemon left them to us,
 * raised; unbind them so that they cannot take another's events. */
static void vcpu_ports(struct gvcpu *v, const uint64_t *uid,
		       const uint32_t *port)
{
	for (unsigned int i = 0; i < PVK_SIMP_HVM_SERVERS; i++) {
		if (v->uid[i] == uid[i])
			continue;
		if (v->uid[i] && pvk_simx_evtchn_unbind(v->h, v->port[i]) < 0)
			pvk_simx_evtchn_forget(v->h, v->port[i]);
		v->uid[i] = 0;
		if (uid[i] && pvk_simx_evtchn_adopt(v->h, port[i]) == 0) {
			v->uid[i] = uid[i];
			v->port[i] = port[i];
		}
	}
}

static long ms_left(const struct timespec *end)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (end->tv_sec - now.tv_sec) * 1000 +
	       (end->tv_nsec - now.tv_nsec) / 1000000;
}

/*
 * Before it sleeps, a vCPU spins up to G.spin_ns for the answer: a device
 * model that answers at once then costs no wake-up of the vCPU.  100k
 * trapped `in`s of an IDE register on a 2-CPU VM, per access, without /
 * with 20 us: 62-73 / 6.0-6.5 us otherwise idle, 25.6-28.5 / 13.9-17.5
 * and 12.2-12.3 / 18.7-19.5 us beside other jobs.  Not with one CPU,
 * where the spin would only delay the device model.  $PVKIT_HVM_SPIN_US
 * sets it (0: never).  True if the slot left @st.
 */
static bool spin(const struct pvk_ioreq *slot, unsigned int st)
{
	struct timespec t0, t;

	if (G.spin_ns <= 0)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		for (int k = 0; k < 64; k++) {
			if (pvk_ioreq_load_state(slot) != st)
				return true;
			__builtin_ia32_pause();
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000000000 + t.tv_nsec -
			    t0.tv_nsec >
		    G.spin_ns)
			return false;
	}
}

/* Wait for the answer on slot @i's server @s, as loop_dm.c's await(): a
 * server gone or a state of NONE means the device model gave up
 * (all-ones); states only move forward. */
static int await(struct gvcpu *v, struct gsrv *s, unsigned int i,
		 unsigned int vcpu, struct pvk_ioreq *req, int timeout_ms)
{
	struct pvk_ioreq *slot =
		(struct pvk_ioreq *)(s->map + PVK_SIMP_PAGE) + vcpu;
	unsigned int prev = PVK_IOREQ_READY;
	struct timespec end;
	long left = -1;
	uint32_t gen;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	for (;;) {
		gen = __atomic_load_n(&G.page->gen, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&G.page->srv[i].uid, __ATOMIC_ACQUIRE) !=
		    s->uid) {
			req->data = pvk_ioreq_size_mask(req->size);
			break;
		}
		rc = pvk_ioreq_answer(slot, req, &prev);
		if (rc > 0)
			break;
		if (rc < 0)
			return rc;
		if (timeout_ms >= 0) {
			left = ms_left(&end);
			if (left <= 0)
				return -ETIMEDOUT;
		}
		if (spin(slot, prev))
			continue;
		rc = pvk_simx_evtchn_wait(v->h, &G.page->gen, gen, (int)left);
		if (rc < 0 && rc != -ETIMEDOUT)
			return rc;
	}
	return 0;
}

static void post(struct gsrv *s, unsigned int vcpu, uint32_t port,
		 const struct pvk_ioreq *req)
{
	struct pvk_ioreq *slot =
		(struct pvk_ioreq *)(s->map + PVK_SIMP_PAGE) + vcpu;

	/* The slot is ours while nothing is posted: whatever the device
	 * model left there is overwritten. */
	slot->addr = req->addr;
	slot->data = req->data;
	slot->count = req->count;
	slot->size = req->size;
	slot->vp_eport = port;
	slot->pad0 = 0;
	slot->type = req->type;
	__atomic_store_n(&slot->flags,
			 (uint8_t)(req->flags &
				   (PVK_IOREQ_F_DATA_IS_PTR |
				    PVK_IOREQ_F_DIR_READ | PVK_IOREQ_F_DF)),
			 __ATOMIC_RELAXED);
	pvk_ioreq_store_state(slot, PVK_IOREQ_READY);
}

int pvk_simx_guest_io(unsigned int vcpu, struct pvk_ioreq *req, int timeout_ms)
{
	uint64_t uid[PVK_SIMP_HVM_SERVERS];
	uint32_t port[PVK_SIMP_HVM_SERVERS];
	struct gsrv *s = NULL;
	struct gvcpu *v;
	struct pvk_ioreq stale;
	int rc, i;

	if ((req->type != PVK_IOREQ_TYPE_PIO &&
	     req->type != PVK_IOREQ_TYPE_COPY) ||
	    pvk_ioreq_check(req) < 0)
		return -EINVAL;
	pthread_mutex_lock(&G.lock);
	rc = guest_init();
	if (rc == 0 && vcpu >= G.nr_vcpus)
		rc = -EINVAL;
	if (rc == 0)
		rc = refresh();
	if (rc < 0) {
		pthread_mutex_unlock(&G.lock);
		return rc;
	}
	v = &G.vcpu[vcpu];
	i = claim(req);
	if (i >= 0)
		s = gsrv_get((unsigned int)i, &rc);
	for (unsigned int k = 0; k < PVK_SIMP_HVM_SERVERS; k++) {
		uid[k] = G.tab[k].uid;
		port[k] = G.tab[k].port[vcpu < PVK_SIMP_HVM_VCPUS ? vcpu : 0];
	}
	pthread_mutex_unlock(&G.lock);
	if (i >= 0 && !s) {
		if (rc != -ESRCH)
			return rc;
		i = -1; /* gone meanwhile: nobody claims it */
	}
	/* From here on, only this vCPU's thread touches v. */
	rc = vcpu_handle(v, vcpu);
	if (rc < 0)
		goto release;
	if (v->posted) {
		/* The one that timed out first: its answer is dropped (if
		 * its server is gone, there is none to wait for). */
		stale = *req;
		rc = v->posted == s ? await(v, s, v->posted_slot, vcpu, &stale,
					    timeout_ms) :
				      0;
		if (rc < 0)
			goto release;
		gsrv_release(v->posted);
		v->posted = NULL;
	}
	vcpu_ports(v, uid, port);
	if (!s) {
		if (pvk_ioreq_is_read(req))
			req->data = pvk_ioreq_size_mask(req->size);
		return 1;
	}
	post(s, vcpu, port[i], req);
	pvk_simx_evtchn_notify(v->h, port[i]);
	rc = await(v, s, (unsigned int)i, vcpu, req, timeout_ms);
	if (rc == -ETIMEDOUT) {
		v->posted = s; /* keeps its reference */
		v->posted_slot = (unsigned int)i;
		return rc;
	}
release:
	if (s)
		gsrv_release(s);
	return rc;
}

int pvk_simx_guest_memory(void **addr, uint64_t *size)
{
	int rc;

	pthread_mutex_lock(&G.lock);
	rc = guest_init();
	if (rc == 0) {
		*addr = G.ram;
		*size = G.ram_size;
	}
	pthread_mutex_unlock(&G.lock);
	return rc;
}

int pvk_simx_guest_irq_fd(void)
{
	int rc;

	pthread_mutex_lock(&G.lock);
	rc = guest_init();
	pthread_mutex_unlock(&G.lock);
	return rc < 0 ? rc : G.irq_fd;
}

int pvk_simx_guest_irqs(uint16_t *lines)
{
	char buf[256];
	int rc;

	pthread_mutex_lock(&G.lock);
	rc = guest_init();
	pthread_mutex_unlock(&G.lock);
	if (rc < 0)
		return rc;
	/* Drain first, then read: a change after this re-arms the fd. */
	while (read(G.irq_fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
		;
	*lines = (uint16_t)__atomic_load_n(&G.page->lines, __ATOMIC_ACQUIRE);
	return 0;
}
