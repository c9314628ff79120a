// SPDX-License-Identifier: MIT
/*
 * Client side of pvkit-simd: the connection, the round trip, and the
 * domain/service requests of pvkit/sim.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "simc.h"

int pvk_sim_dir(char *buf, size_t len, const char *dir)
{
	const char *d = dir;

	if (!d || !*d)
		d = getenv("PVKIT_SIM_DIR");
	if (!d || !*d)
		d = PVK_SIM_DEFAULT_DIR;
	if ((size_t)snprintf(buf, len, "%s", d) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int recv_rep(int fd, struct pvk_simp_rep *rep, int *fds_out, int max_out,
		    int *nout)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { rep, sizeof(*rep) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;
	int k = 0;

	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		int i, cnt;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (i = 0; i < cnt; i++) {
			int f;

			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(f));
			if (k < max_out)
				fds_out[k++] = f;
			else
				close(f);
		}
	}
	if (nout)
		*nout = k;
	else
		while (k--)
			close(fds_out[k]);
	if (n != (ssize_t)sizeof(*rep))
		return -EPROTO;
	return 0;
}

int pvk_simc_call(struct pvk_sim *sim, struct pvk_simp_req *req,
		  const int *fds_in, int nin, struct pvk_simp_rep *rep,
		  int *fds_out, int max_out, int *nout)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { req, sizeof(*req) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;
	int rc;

	if (nout)
		*nout = 0;
	if (nin > 4)
		return -EINVAL;
	req->version = PVK_SIMP_VERSION;
	if (nin > 0) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nin);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nin);
		memcpy(CMSG_DATA(cm), fds_in, sizeof(int) * nin);
	}
	memset(rep, 0, sizeof(*rep));
	pthread_mutex_lock(&sim->lock);
	do
		n = sendmsg(sim->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*req))
		rc = n < 0 ? -errno : -EIO;
	else
		rc = recv_rep(sim->fd, rep, fds_out, max_out, nout);
	pthread_mutex_unlock(&sim->lock);
	if (rc < 0)
		return rc == -EPIPE ? -ECONNRESET : rc;
	return rep->err;
}

static int sim_connect(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir,
			     PVK_SIMP_SOCK) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	/* pvkit-simd hangs up on other users than its own (and root): say
	 * so rather than "connection reset".  The socket is its owner's. */
	if (stat(sa.sun_path, &st) == 0 && geteuid() != 0 &&
	    st.st_uid != geteuid())
		return -EPERM;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno == EACCES ? -EPERM : -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* Adopt the domain identity in @rep (HELLO or DOMAIN_CREATE). */
static int sim_adopt(struct pvk_sim *sim, const struct pvk_simp_rep *rep,
		     int page_fd)
{
	void *page;

	page = mmap(NULL, PVK_SIMP_EV_PAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_SHARED, page_fd, 0);
	close(page_fd);
	if (page == MAP_FAILED)
		return -errno;
	if (sim->ev_page)
		munmap(sim->ev_page, PVK_SIMP_EV_PAGE_SIZE);
	sim->ev_page = page;
	sim->domid = rep->u.hello.domid;
	sim->uid = rep->u.hello.uid;
	return 0;
}

int pvk_sim_open(struct pvk_sim **out, const char *dir)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_HELLO };
	struct pvk_simp_rep rep;
	struct pvk_sim *sim;
	const char *hint;
	int rc, fd = -1, n;

	sim = calloc(1, sizeof(*sim));
	if (!sim)
		return -ENOMEM;
	rc = pvk_sim_dir(sim->dir, sizeof(sim->dir), dir);
	if (rc < 0)
		goto free_sim;
	pthread_mutex_init(&sim->lock, NULL);
	sim->pid = getpid();
	sim->fd = sim_connect(sim->dir);
	if (sim->fd < 0) {
		rc = sim->fd;
		goto free_sim;
	}
	req.u.hello.domid = PVK_SIMP_NO_DOMID;
	hint = getenv("PVKIT_DOMID");
	if (hint && *hint) {
		char *end;
		unsigned long v = strtoul(hint, &end, 10);

		if (*end || v > 0x7FEF) {
			rc = -EINVAL;
			goto close_fd;
		}
		req.u.hello.domid = (uint32_t)v;
	}
	rc = pvk_simc_call(sim, &req, NULL, 0, &rep, &fd, 1, &n);
	if (rc < 0)
		goto close_fd;
	if (n != 1) {
		rc = -EPROTO;
		goto close_fd;
	}
	rc = sim_adopt(sim, &rep, fd);
	if (rc < 0)
		goto close_fd;
	*out = sim;
	return 0;

close_fd:
	close(sim->fd);
free_sim:
	free(sim);
	return rc;
}

void pvk_sim_close(struct pvk_sim *sim)
{
	if (!sim)
		return;
	if (sim->ev_page)
		munmap(sim->ev_page, PVK_SIMP_EV_PAGE_SIZE);
	close(sim->fd);
	pthread_mutex_destroy(&sim->lock);
	free(sim);
}

uint32_t pvk_sim_domid(const struct pvk_sim *sim)
{
	return sim->domid;
}

int pvk_sim_fd(const struct pvk_sim *sim)
{
	return sim->fd;
}

int pvk_sim_xenstore_path(const struct pvk_sim *sim, char *buf, size_t len)
{
	int n;

	if (sim->domid == 0)
		n = snprintf(buf, len, "%s/xenstored/socket", sim->dir);
	else
		n = snprintf(buf, len, "%s/dom%u/xenbus.sock", sim->dir,
			     sim->domid);
	return (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int pvk_sim_status(struct pvk_sim *sim, struct pvk_sim_status *st)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_STATUS };
	struct pvk_simp_rep rep;
	int rc;

	rc = pvk_simc_call(sim, &req, NULL, 0, &rep, NULL, 0, NULL);
	if (rc < 0)
		return rc;
	st->simd_pid = rep.u.status.simd_pid;
	st->xenstored_pid = rep.u.status.xenstored_pid;
	st->ndomains = rep.u.status.ndomains;
	st->xenstore_ready = rep.u.status.xenstore_ready;
	return 0;
}

int pvk_sim_shutdown(struct pvk_sim *sim)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_SHUTDOWN };
	struct pvk_simp_rep rep;

	return pvk_simc_call(sim, &req, NULL, 0, &rep, NULL, 0, NULL);
}

int pvk_sim_domain_list(struct pvk_sim *sim, struct pvk_sim_domain **doms)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_DOMAIN_LIST };
	struct pvk_simp_rep rep;
	struct pvk_sim_domain *v = NULL;
	size_t n = 0;
	int rc;

	for (;;) {
		struct pvk_sim_domain *nv;
		uint32_t i, cnt;

		rc = pvk_simc_call(sim, &req, NULL, 0, &rep, NULL, 0, NULL);
		if (rc < 0)
			goto fail;
		cnt = rep.u.list.count;
		if (cnt > PVK_SIMP_LIST_MAX) {
			rc = -EPROTO;
			goto fail;
		}
		nv = realloc(v, (n + cnt + 1) * sizeof(*v));
		if (!nv) {
			rc = -ENOMEM;
			goto fail;
		}
		v = nv;
		for (i = 0; i < cnt; i++) {
			const struct pvk_simp_dominfo *e = &rep.u.list.d[i];

			v[n].domid = e->domid;
			v[n].dying = e->flags & PVK_SIMP_DOM_DYING;
			v[n].pid = e->pid;
			v[n].hvm = e->flags & PVK_SIMP_DOM_HVM;
			v[n].vcpus = v[n].hvm ? e->vcpus : 0;
			memcpy(v[n].name, e->name, sizeof(v[n].name));
			v[n].name[sizeof(v[n].name) - 1] = 0;
			n++;
		}
		if (!rep.u.list.more || !cnt)
			break;
		req.u.list.first = rep.u.list.d[cnt - 1].domid + 1;
	}
	*doms = v;
	return (int)n;

fail:
	free(v);
	return rc;
}

int pvk_sim_domain_find(struct pvk_sim *sim, const char *name_or_id,
			uint32_t *domid)
{
	struct pvk_sim_domain *v;
	char *end;
	unsigned long id;
	bool numeric;
	int i, n;

	id = strtoul(name_or_id, &end, 10);
	numeric = *name_or_id && !*end;
	n = pvk_sim_domain_list(sim, &v);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (v[i].dying)
			continue;
		if (numeric ? v[i].domid == id :
			      !strcmp(v[i].name, name_or_id)) {
			*domid = v[i].domid;
			free(v);
			return 0;
		}
	}
	free(v);
	return -ESRCH;
}

int pvk_sim_domain_destroy(struct pvk_sim *sim, uint32_t domid)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_DOMAIN_DESTROY };
	struct pvk_simp_rep rep;

	req.u.destroy.domid = domid;
	return pvk_simc_call(sim, &req, NULL, 0, &rep, NULL, 0, NULL);
}

int pvk_sim_domain_create(struct pvk_sim *sim, const char *name,
			  uint32_t *domid)
{
	return pvk_simc_domain_create(sim, name, 0, 0, domid);
}

int pvk_simc_domain_create(struct pvk_sim *sim, const char *name,
			   uint32_t memory_mib, uint32_t vcpus, uint32_t *domid)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_DOMAIN_CREATE };
	struct pvk_simp_rep rep;
	int rc, fd = -1, n;

	if (strlen(name) >= PVK_SIMP_NAME_MAX)
		return -ENAMETOOLONG;
	snprintf(req.u.create.name, sizeof(req.u.create.name), "%s", name);
	if (memory_mib) {
		req.u.create.flags = PVK_SIMP_CREATE_HVM;
		req.u.create.memory_mib = memory_mib;
		req.u.create.vcpus = vcpus;
	}
	rc = pvk_simc_call(sim, &req, NULL, 0, &rep, &fd, 1, &n);
	if (rc < 0)
		return rc;
	if (n != 1)
		return -EPROTO;
	rc = sim_adopt(sim, &rep, fd);
	if (rc < 0)
		return rc;
	*domid = sim->domid;
	return 0;
}

int pvk_sim_domain_ready(struct pvk_sim *sim, uint32_t port, void **ring)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_DOMAIN_READY };
	struct pvk_simp_rep rep;
	int rc, fd = -1, n;
	void *p;

	req.u.ready.port = port;
	rc = pvk_simc_call(sim, &req, NULL, 0, &rep, &fd, 1, &n);
	if (rc < 0)
		return rc;
	if (n != 1)
		return -EPROTO;
	p = mmap(NULL, PVK_SIMP_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)1 * PVK_SIMP_PAGE);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	*ring = p;
	return 0;
}

int pvk_sim_grant_query(struct pvk_sim *sim, uint32_t domid, uint32_t ref,
			uint16_t *flags, unsigned int *pins)
{
	struct pvk_simp_req req = { .op = PVK_SIMP_GNT_QUERY };
	struct pvk_simp_rep rep;
	int rc;

	req.u.gnt.domid = domid;
	req.u.gnt.refs[0] = ref;
	rc = pvk_simc_call(sim, &req, NULL, 0, &rep, NULL, 0, NULL);
	if (rc < 0)
		return rc;
	if (flags)
		*flags = rep.u.query.flags;
	if (pins)
		*pins = rep.u.query.pins;
	return 0;
}

static pthread_mutex_t self_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pvk_sim *self;

struct pvk_sim *pvk_simc_self(void)
{
	struct pvk_sim *s;
	int rc;

	pthread_mutex_lock(&self_lock);
	if (self && self->pid != getpid()) {
		/* A child after fork(): the parent's connection and domain
		 * state are the parent's; the mappings we inherited stay. */
		close(self->fd);
		self = NULL;
	}
	if (!self) {
		rc = pvk_sim_open(&s, NULL);
		if (rc < 0) {
			pthread_mutex_unlock(&self_lock);
			errno = -rc;
			return NULL;
		}
		self = s;
	}
	s = self;
	pthread_mutex_unlock(&self_lock);
	return s;
}
