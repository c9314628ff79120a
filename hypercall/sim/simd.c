// SPDX-License-Identifier: MIT
/*
 * pvkit-simd: the simulated hypervisor.  It owns the domain table, the
 * event-channel routing tables and the grant tables, and runs Xen's own
 * xenstored on top of them.  It brokers set-up only: notifications and
 * data move between domains through the pipes and memfds it hands out.
 *
 *   pvkit-simd --dir DIR [--ready-fd N] [--foreground]
 *
 * Usually started by `pvkit sim start`.  Logs to DIR/simd.log.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "simd.h"

struct simd simd = {
	.lock_fd = -1,
	.listen_fd = -1,
	.epfd = -1,
	.sig_fd = -1,
	.job_efd = -1,
	.xsd_pidfd = -1,
	.ready_fd = -1,
	.reserve_fd = -1,
	.next_domid = 1,
	.next_uid = 1,
	.next_conn = 1,
};

/* epoll tags: small integers for the service fds, conn ids above. */
#define TAG_LISTEN 1
#define TAG_SIG 2
#define TAG_JOB 3
#define TAG_XSD 4
#define TAG_CONN_BASE 16
#define TAG_DOM_BASE (1ull << 40)

double simd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void simd_log(const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char buf[1024];
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%02d:%02d:%02d.%03ld pvkit-simd: %s\n", tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, buf);
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Signal through the pidfd (immune to pid reuse) when we have one; the
 * pid otherwise (kernels, or valgrind, without pidfd_open). */
static void pidfd_kill(int pidfd, pid_t pid, int sig)
{
	if (pidfd >= 0)
		syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
	else if (pid > 1)
		kill(pid, sig);
}

struct simd_dom *simd_dom_find(uint32_t domid)
{
	struct simd_dom *d;

	for (d = simd.doms; d; d = d->next)
		if (d->domid == domid)
			return d;
	return NULL;
}

struct simd_conn *simd_conn_find(uint32_t id)
{
	struct simd_conn *c;

	for (c = simd.conns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

int simd_dom_new(uint32_t domid, const char *name, struct simd_dom **out)
{
	struct simd_dom *d, **pp;
	int rc;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->domid = domid;
	d->uid = simd.next_uid++;
	d->pidfd = -1;
	snprintf(d->name, sizeof(d->name), "%s", name);
	rc = simd_res_dom_init(d);
	if (rc < 0) {
		free(d);
		return rc;
	}
	for (pp = &simd.doms; *pp && (*pp)->domid < domid; pp = &(*pp)->next)
		;
	d->next = *pp;
	*pp = d;
	*out = d;
	return 0;
}

static void dom_unlink_free(struct simd_dom *d)
{
	struct simd_dom **pp;
	char path[4096];

	/* What a supervisor killed with SIGKILL could not remove. */
	if (d->domid != 0) {
		snprintf(path, sizeof(path), "%s/dom%u/xenbus.sock", simd.dir,
			 d->domid);
		unlink(path);
		*strrchr(path, '/') = 0;
		rmdir(path);
	}
	for (pp = &simd.doms; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	if (d->pidfd >= 0) {
		epoll_ctl(simd.epfd, EPOLL_CTL_DEL, d->pidfd, NULL);
		close(d->pidfd);
	}
	simd_res_dom_fini(d);
	free(d);
}

/* A dying domain disappears once xenstore forgot it and no other domain
 * maps its pages any more (Xen's "zombie" until then). */
void simd_dom_maybe_reap(struct simd_dom *d)
{
	uint32_t domid;

	if (d->state != SIMD_DOM_DYING || !d->released || d->npinned)
		return;
	domid = d->domid;
	simd_log("domain %u (%s) destroyed", d->domid, d->name);
	dom_unlink_free(d);
	simd_res_peer_gone(domid);
	simd_virq_fire(VIRQ_DOM_EXC);
}

static void conn_close(struct simd_conn *c);

/* The domain is gone: its processes are killed, its ports closed, its
 * mappings dropped; xenstore is told, then xenstored is kicked. */
static void dom_kill(struct simd_dom *d, const char *why)
{
	struct simd_conn *c, *next;
	struct simd_job job = { .type = SIMD_JOB_RELEASE };

	if (d->state == SIMD_DOM_DYING || d->domid == 0)
		return;
	simd_log("domain %u (%s) dying: %s", d->domid, d->name, why);
	d->state = SIMD_DOM_DYING;
	d->kernel = NULL;
	if (d->pidfd >= 0)
		epoll_ctl(simd.epfd, EPOLL_CTL_DEL, d->pidfd, NULL);
	/* Its other processes go with it (a guest kernel's death takes its
	 * user space along); the supervisor is on its way out already. */
	for (c = simd.conns; c; c = next) {
		next = c->next;
		if (c->hello && c->domid == d->domid) {
			if (c->pid != d->pid)
				pidfd_kill(c->pidfd, c->pid, SIGKILL);
			conn_close(c);
		}
	}
	simd_res_dom_kill(d);
	job.domid = d->domid;
	if (!simd.xs_ready || simd_ts_post(&job) < 0) {
		d->released = true;
		simd_virq_fire(VIRQ_DOM_EXC);
		simd_dom_maybe_reap(d);
	}
}

static void conn_close(struct simd_conn *c)
{
	struct simd_conn **pp;
	struct simd_dom *d;

	for (pp = &simd.conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	epoll_ctl(simd.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	simd_res_conn_close(c);
	if (c->pidfd >= 0)
		close(c->pidfd);
	for (d = simd.doms; d; d = d->next) {
		if (d->kernel == c) {
			d->kernel = NULL;
			dom_kill(d, "its supervisor went away");
			break;
		}
	}
	free(c->maps);
	free(c);
}

/* "NoNewPrivs:\t1" in /proc/<pid>/status: `pvkit domain create` sets it
 * on every guest process tree, and it cannot be cleared. */
static bool pid_nnp(pid_t pid)
{
	char path[64], line[128];
	bool nnp = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "NoNewPrivs:", 11)) {
			nnp = atoi(line + 11) == 1;
			break;
		}
	fclose(f);
	return nnp;
}

/*
 * Which domain a process belongs to: the nearest ancestor that is a
 * domain's supervisor; none means domain 0.  The environment is only a
 * hint, so a guest cannot claim to be the control domain.  A guest
 * process whose supervisor died (SIGKILL leaves no time to kill the whole
 * tree) is re-parented out of its domain's ancestry; its no_new_privs
 * mark still says it is a guest's, so it is refused rather than taken for
 * domain 0.  -EACCES for those.
 */
static int pid_domain(pid_t pid, uint32_t *domid)
{
	pid_t p = pid;
	int depth;

	for (depth = 0; depth < 128 && p > 1; depth++) {
		struct simd_dom *d;
		char path[64], buf[512], *s;
		FILE *f;
		long ppid;

		for (d = simd.doms; d; d = d->next)
			if (d->pid == p && d->state == SIMD_DOM_RUNNING) {
				*domid = d->domid;
				return 0;
			}
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)p);
		f = fopen(path, "re");
		if (!f)
			break;
		s = fgets(buf, sizeof(buf), f);
		fclose(f);
		if (!s)
			break;
		/* comm may hold spaces and parentheses: skip to the last ')' */
		s = strrchr(buf, ')');
		if (!s || sscanf(s + 1, " %*c %ld", &ppid) != 1)
			break;
		p = (pid_t)ppid;
	}
	if (!simd.nnp && pid_nnp(pid))
		return -EACCES;
	*domid = 0;
	return 0;
}

static int send_rep(struct simd_conn *c, struct pvk_simp_rep *rep,
		    const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { rep, sizeof(*rep) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	rep->nfds = (uint32_t)nfds;
	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	return n == (ssize_t)sizeof(*rep) ? 0 : -EIO;
}

static unsigned int conns_of(uint32_t domid)
{
	struct simd_conn *c;
	unsigned int n = 0;

	for (c = simd.conns; c; c = c->next)
		n += c->hello && c->domid == domid;
	return n;
}

static int op_hello(struct simd_conn *c, const struct pvk_simp_req *req,
		    struct pvk_simp_rep *rep, int *fds)
{
	struct simd_dom *d;
	uint32_t domid;

	if (c->hello)
		return -EALREADY;
	if (pid_domain(c->pid, &domid) < 0) {
		simd_log("pid %d runs with no_new_privs outside any domain "
			 "(a guest process that outlived its domain): refused",
			 (int)c->pid);
		return -EACCES;
	}
	if (domid != 0 && conns_of(domid) >= SIMD_MAX_CONNS_PER_DOM) {
		simd_log("domain %u: %u connections already: pid %d refused",
			 domid, SIMD_MAX_CONNS_PER_DOM, (int)c->pid);
		return -EMFILE;
	}
	if (req->u.hello.domid != PVK_SIMP_NO_DOMID &&
	    req->u.hello.domid != domid) {
		simd_log(
			"pid %d claims domain %u but runs in domain %u: refused",
			(int)c->pid, req->u.hello.domid, domid);
		return -EACCES;
	}
	d = simd_dom_find(domid);
	if (!d || d->state != SIMD_DOM_RUNNING)
		return -ESRCH;
	c->hello = true;
	c->domid = domid;
	rep->u.hello.domid = domid;
	rep->u.hello.uid = d->uid;
	rep->u.hello.nr_ports = PVK_SIMP_NR_PORTS;
	fds[0] = d->ev_fd;
	return 1;
}

static bool name_ok(const char *name)
{
	size_t i, n = strnlen(name, PVK_SIMP_NAME_MAX);

	if (n == 0 || n == PVK_SIMP_NAME_MAX)
		return false;
	if (name[0] >= '0' && name[0] <= '9')
		return false; /* would be confused with a domid */
	for (i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		      ch == '.'))
			return false;
	}
	return true;
}

static uint32_t alloc_domid(void)
{
	uint32_t i, id;

	for (i = 0; i < 0x7FEF; i++) {
		id = simd.next_domid++;
		if (simd.next_domid > 0x7FEF)
			simd.next_domid = 1;
		if (!simd_dom_find(id))
			return id;
	}
	return 0;
}

static int op_create(struct simd_conn *c, const struct pvk_simp_req *req,
		     struct pvk_simp_rep *rep, int *fds)
{
	struct simd_dom *d;
	uint32_t id;
	int rc;

	if (c->domid != 0)
		return -EPERM;
	if (!name_ok(req->u.create.name))
		return -EINVAL;
	for (d = simd.doms; d; d = d->next)
		if (d->state == SIMD_DOM_RUNNING &&
		    !strcmp(d->name, req->u.create.name))
			return -EEXIST;
	if (!simd.xs_ready)
		return -EAGAIN;
	id = alloc_domid();
	if (!id)
		return -ENOSPC;
	if (req->u.create.flags & ~PVK_SIMP_CREATE_HVM)
		return -EINVAL;
	rc = simd_dom_new(id, req->u.create.name, &d);
	if (rc < 0)
		return rc;
	if (req->u.create.flags & PVK_SIMP_CREATE_HVM) {
		rc = simd_hvm_init(d, req->u.create.memory_mib,
				   req->u.create.vcpus);
		if (rc < 0) {
			d->state = SIMD_DOM_DYING;
			dom_unlink_free(d);
			return rc;
		}
	}
	d->pid = c->pid;
	d->pidfd = pidfd_open_(c->pid);
	d->kernel = c;
	/* Death is seen twice: EOF on the kernel connection, and the
	 * supervisor's pidfd (if a child kept the connection open). */
	if (d->pidfd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u64 = TAG_DOM_BASE + id };

		epoll_ctl(simd.epfd, EPOLL_CTL_ADD, d->pidfd, &ev);
	}
	/* This connection is now the domain's kernel connection. */
	c->domid = id;
	if (d->hvm)
		simd_log("domain %u (%s) created (HVM: %u MiB, %u vCPUs), "
			 "supervisor pid %d",
			 id, d->name, req->u.create.memory_mib,
			 req->u.create.vcpus, (int)c->pid);
	else
		simd_log("domain %u (%s) created, supervisor pid %d", id,
			 d->name, (int)c->pid);
	rep->u.hello.domid = id;
	rep->u.hello.uid = d->uid;
	rep->u.hello.nr_ports = PVK_SIMP_NR_PORTS;
	fds[0] = d->ev_fd;
	return 1;
}

static int op_ready(struct simd_conn *c, const struct pvk_simp_req *req)
{
	struct simd_dom *d = simd_dom_find(c->domid);
	struct simd_job job = { .type = SIMD_JOB_INTRODUCE };
	struct simd_port *p;
	uint32_t port = req->u.ready.port;

	if (!d || d->kernel != c || d->xenbus_port)
		return -EPERM;
	if (port == 0 || port >= PVK_SIMP_NR_PORTS)
		return -EINVAL;
	p = &d->ports[port];
	if (p->state != PVK_SIMP_PORT_UNBOUND || p->rdom != 0)
		return -EINVAL;
	d->xenbus_port = port;
	job.domid = d->domid;
	job.port = port;
	job.conn = c->id;
	memcpy(job.name, d->name, sizeof(job.name));
	return simd_ts_post(&job) < 0 ? -EIO : SIMD_DEFERRED;
}

static int op_list(struct simd_conn *c, const struct pvk_simp_req *req,
		   struct pvk_simp_rep *rep)
{
	struct simd_dom *d;
	uint32_t n = 0;

	/* Xen: getdomaininfo is the control domain's (XSM_XS_PRIV). */
	if (c->domid != 0)
		return -EPERM;

	for (d = simd.doms; d; d = d->next) {
		struct pvk_simp_dominfo *e;

		if (d->domid < req->u.list.first)
			continue;
		if (n == PVK_SIMP_LIST_MAX) {
			rep->u.list.more = 1;
			break;
		}
		e = &rep->u.list.d[n++];
		e->domid = d->domid;
		e->flags = d->state == SIMD_DOM_DYING ? PVK_SIMP_DOM_DYING : 0;
		if (d->hvm) {
			e->flags |= PVK_SIMP_DOM_HVM;
			e->vcpus = simd_hvm_vcpus(d);
		}
		e->pid = d->pid;
		memcpy(e->name, d->name, sizeof(e->name));
	}
	rep->u.list.count = n;
	return 0;
}

static int op_destroy(struct simd_conn *c, const struct pvk_simp_req *req)
{
	struct simd_dom *d;

	if (c->domid != 0)
		return -EPERM;
	if (req->u.destroy.domid == 0)
		return -EPERM;
	d = simd_dom_find(req->u.destroy.domid);
	if (!d || d->state != SIMD_DOM_RUNNING)
		return -ESRCH;
	simd_log("domain %u (%s): destroy requested by pid %d", d->domid,
		 d->name, (int)c->pid);
	/* The supervisor kills its process tree and exits; if it does not
	 * within two seconds, it is killed. */
	pidfd_kill(d->pidfd, d->pid, SIGTERM);
	d->kill_at = simd_now() + 2.0;
	return 0;
}

void simd_conn_handle(struct simd_conn *c)
{
	struct pvk_simp_req req;
	struct pvk_simp_rep rep;
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { &req, sizeof(req) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int fds_in[4], nfds_in = 0, fds[4] = { -1, -1, -1, -1 };
	ssize_t n;
	int rc, i;

	memset(&req, 0, sizeof(req));
	n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS) {
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) /
				      sizeof(int));

			for (i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
				       sizeof(int));
				if (nfds_in < 4)
					fds_in[nfds_in++] = fd;
				else
					close(fd);
			}
		}
	}
	if (n == 0) {
		/* EOF, or an empty datagram: the descriptors one carried
		 * are not kept either. */
		for (i = 0; i < nfds_in; i++)
			close(fds_in[i]);
		conn_close(c);
		return;
	}
	memset(&rep, 0, sizeof(rep));
	/* A HELLO (op 1 in every version) from another version is told
	 * so; other garbage is just garbage. */
	if (n >= 8 && req.op == PVK_SIMP_HELLO &&
	    req.version != PVK_SIMP_VERSION) {
		simd_log("pid %d speaks protocol version %u, not %u: refused",
			 (int)c->pid, req.version, PVK_SIMP_VERSION);
		rc = -EPROTONOSUPPORT;
		goto reply;
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		/* More than 4 descriptors, or we are out of them: the
		 * kernel dropped (closed) the ones that did not fit. */
		if (c->bad++ < 3)
			simd_log("pid %d: descriptors of a request lost (too "
				 "many, or none left here): answered -EMFILE",
				 (int)c->pid);
		rc = -EMFILE;
		goto reply;
	}
	if (n != (ssize_t)sizeof(req) || (mh.msg_flags & MSG_TRUNC) ||
	    req.version != PVK_SIMP_VERSION || req.op == 0 ||
	    req.op >= PVK_SIMP_OP_MAX) {
		if (c->bad++ < 3)
			simd_log(
				"pid %d: malformed request (%zd bytes, op %u): "
				"answered -EBADMSG",
				(int)c->pid, n, n >= 4 ? req.op : 0);
		rc = -EBADMSG;
		goto reply;
	}
	if (!c->hello && req.op != PVK_SIMP_HELLO &&
	    req.op != PVK_SIMP_STATUS) {
		rc = -ENOTCONN;
		goto reply;
	}
	switch (req.op) {
	case PVK_SIMP_HELLO:
		rc = op_hello(c, &req, &rep, fds);
		break;
	case PVK_SIMP_STATUS: {
		struct simd_dom *d;

		rep.u.status.simd_pid = getpid();
		rep.u.status.xenstored_pid = simd.xsd_pid;
		rep.u.status.xenstore_ready = simd.xs_ready;
		for (d = simd.doms; d; d = d->next)
			rep.u.status.ndomains++;
		rc = 0;
		break;
	}
	case PVK_SIMP_SHUTDOWN:
		rc = c->domid == 0 ? 0 : -EPERM;
		if (!rc) {
			simd_log("shutdown requested by pid %d", (int)c->pid);
			simd.stopping = true;
		}
		break;
	case PVK_SIMP_DOMAIN_CREATE:
		rc = op_create(c, &req, &rep, fds);
		break;
	case PVK_SIMP_DOMAIN_READY:
		rc = op_ready(c, &req);
		break;
	case PVK_SIMP_DOMAIN_LIST:
		rc = op_list(c, &req, &rep);
		break;
	case PVK_SIMP_DOMAIN_DESTROY:
		rc = op_destroy(c, &req);
		break;
	default:
		rc = simd_res_handle(c, &req, &rep, fds, nfds_in, fds_in);
		nfds_in = 0; /* consumed (kept or closed) by the handler */
		break;
	}
reply:
	for (i = 0; i < nfds_in; i++)
		close(fds_in[i]);
	if (rc == SIMD_DEFERRED)
		return; /* answered when the toolstack is done */
	rep.err = rc < 0 ? rc : 0;
	for (i = 0; rc > 0 && i < rc; i++)
		if (fds[i] < 0)
			break;
	if (send_rep(c, &rep, fds, rc > 0 ? i : 0) < 0) {
		conn_close(c);
		return;
	}
	if (c->bad > 16) {
		simd_log("pid %d: too many malformed requests, disconnected",
			 (int)c->pid);
		conn_close(c);
	}
}

static double listen_paused_until;

/* Out of descriptors, the listening socket stays readable: take the
 * connection with the reserve descriptor and drop it, or we would spin. */
static void accept_starved(int err)
{
	int fd;

	if (!simd.fd_starved)
		simd_log("accept: %s: refusing connections until descriptors "
			 "are freed",
			 strerror(err));
	simd.fd_starved = true;
	if (simd.reserve_fd >= 0) {
		close(simd.reserve_fd);
		fd = accept4(simd.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		simd.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return;
	}
	/* No reserve either: stop listening for a moment (timers()). */
	epoll_ctl(simd.epfd, EPOLL_CTL_DEL, simd.listen_fd, NULL);
	listen_paused_until = simd_now() + 0.2;
}

struct simd_conn *simd_conn_new(int fd, pid_t pid)
{
	struct simd_conn *c;
	struct epoll_event ev;

	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return NULL;
	}
	c->id = simd.next_conn++;
	c->fd = fd;
	c->pid = pid;
	c->pidfd = pidfd_open_(pid);
	c->next_handle = 1;
	ev.events = EPOLLIN;
	ev.data.u64 = TAG_CONN_BASE + c->id;
	if (epoll_ctl(simd.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		if (c->pidfd >= 0)
			close(c->pidfd);
		close(fd);
		free(c);
		return NULL;
	}
	c->next = simd.conns;
	simd.conns = c;
	return c;
}

static void accept_conn(void)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd;

	fd = accept4(simd.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM)
			accept_starved(errno);
		return;
	}
	if (simd.fd_starved) {
		simd.fd_starved = false;
		simd_log("accept: descriptors available again");
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		close(fd);
		return;
	}
	/* The hypervisor is its user's (and root's): on a shared host the
	 * socket may be reachable by others, who must not be domain 0.
	 * Hung up on at once (pvk_sim_open() tells them why beforehand). */
	if (cr.uid != 0 && cr.uid != geteuid()) {
		static unsigned int logged;

		if (logged++ < 16)
			simd_log("pid %d of uid %u: this simulator belongs to "
				 "uid %u: refused",
				 (int)cr.pid, (unsigned int)cr.uid,
				 (unsigned int)geteuid());
		close(fd);
		return;
	}
	simd_conn_new(fd, cr.pid);
}

static void ready_say(const char *msg)
{
	if (simd.ready_fd < 0)
		return;
	if (write(simd.ready_fd, msg, strlen(msg)) < 0) {
		/* the CLI went away; nothing to tell */
	}
	close(simd.ready_fd);
	simd.ready_fd = -1;
}

static void jobs_done(void)
{
	struct simd_job *j, *next;
	uint64_t v;

	if (read(simd.job_efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing new */
	}
	for (j = simd_ts_done(); j; j = next) {
		struct simd_dom *d = simd_dom_find(j->domid);
		struct simd_conn *c;
		struct pvk_simp_rep rep;
		int fd = -1;

		next = j->next;
		switch (j->type) {
		case SIMD_JOB_START:
			if (j->result < 0) {
				simd_log("xenstore did not come up: %s",
					 strerror(-j->result));
				ready_say("xenstored did not come up\n");
				simd.stopping = true;
			} else {
				simd.xs_ready = true;
				simd_log("xenstore ready");
				ready_say("ok\n");
			}
			break;
		case SIMD_JOB_INTRODUCE:
			c = simd_conn_find(j->conn);
			if (!c)
				break;
			memset(&rep, 0, sizeof(rep));
			rep.err = j->result;
			if (!rep.err && d)
				rep.err = simd_gnt_xenstore_fd(d, &fd);
			if (send_rep(c, &rep, &fd, fd >= 0 ? 1 : 0) < 0)
				conn_close(c);
			if (!rep.err && d)
				simd_log(
					"domain %u (%s) introduced to xenstore, "
					"port %u",
					d->domid, d->name, j->port);
			break;
		case SIMD_JOB_RELEASE:
			if (d) {
				d->released = true;
				simd_virq_fire(VIRQ_DOM_EXC);
				simd_dom_maybe_reap(d);
			}
			break;
		}
		free(j);
	}
}

static int listen_on(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir,
			     PVK_SIMP_SOCK) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(sa.sun_path); /* stale: we hold the lock */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 64) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	chmod(sa.sun_path, 0666);
	return fd;
}

static int epoll_add(int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(simd.epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static bool supervisors_alive(void)
{
	struct simd_dom *d;

	for (d = simd.doms; d; d = d->next) {
		struct pollfd pfd = { .fd = d->pidfd, .events = POLLIN };

		if (d->state != SIMD_DOM_RUNNING || d->domid == 0)
			continue;
		/* readable once it exited; without a pidfd, the pid */
		if (d->pidfd >= 0 ? poll(&pfd, 1, 0) == 0 :
				    kill(d->pid, 0) == 0)
			return true;
	}
	return false;
}

static void shutdown_all(void)
{
	struct simd_dom *d;
	struct simd_conn *c;
	double until;
	char path[4096];

	for (d = simd.doms; d; d = d->next)
		pidfd_kill(d->pidfd, d->pid, SIGTERM);
	/* A supervisor kills its domain's process tree before it exits; a
	 * SIGKILL now would leave the tree to init. */
	until = simd_now() + 3.0;
	while (supervisors_alive() && simd_now() < until)
		usleep(10000);
	if (simd.xsd_pid > 0) {
		kill(simd.xsd_pid, SIGTERM);
		until = simd_now() + 3.0;
		while (waitpid(simd.xsd_pid, NULL, WNOHANG) == 0 &&
		       simd_now() < until)
			usleep(10000);
		kill(simd.xsd_pid, SIGKILL);
		waitpid(simd.xsd_pid, NULL, WNOHANG);
	}
	simd_ts_stop();
	for (d = simd.doms; d; d = d->next)
		pidfd_kill(d->pidfd, d->pid, SIGKILL);
	while ((c = simd.conns))
		conn_close(c);
	while (simd.doms)
		dom_unlink_free(simd.doms);
	snprintf(path, sizeof(path), "%s/%s", simd.dir, PVK_SIMP_SOCK);
	unlink(path);
	snprintf(path, sizeof(path), "%s/xenstored/socket", simd.dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/xsd_port", simd.dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/xsd_kva", simd.dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/simd.pid", simd.dir);
	unlink(path);
	simd_log("stopped");
}

static void timers(void)
{
	struct simd_dom *d;
	double now = simd_now();

	simd_res_retry_ends();
	if (listen_paused_until && now >= listen_paused_until) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u64 = TAG_LISTEN };

		listen_paused_until = 0;
		epoll_ctl(simd.epfd, EPOLL_CTL_ADD, simd.listen_fd, &ev);
		if (simd.reserve_fd < 0)
			simd.reserve_fd =
				open("/dev/null", O_RDONLY | O_CLOEXEC);
	}

	for (d = simd.doms; d; d = d->next) {
		if (d->kill_at && now >= d->kill_at &&
		    d->state == SIMD_DOM_RUNNING) {
			simd_log("domain %u (%s): supervisor did not exit, "
				 "killing it",
				 d->domid, d->name);
			pidfd_kill(d->pidfd, d->pid, SIGKILL);
			d->kill_at = 0;
		}
	}
}

static void handle_signals(void)
{
	struct signalfd_siginfo si;

	while (read(simd.sig_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			pid_t pid;
			int st;

			while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
				if (pid == simd.xsd_pid)
					simd.xsd_status = st;
			continue;
		}
		simd_log("signal %u: stopping", si.ssi_signo);
		simd.stopping = true;
	}
}

static void xsd_died(void)
{
	int st = simd.xsd_status;

	if (waitpid(simd.xsd_pid, &st, WNOHANG) <= 0)
		st = simd.xsd_status;
	simd_log("xenstored (pid %d) exited (status 0x%x); see "
		 "%s/xenstored.log; stopping",
		 (int)simd.xsd_pid, st, simd.dir);
	ready_say("xenstored exited during start-up\n");
	epoll_ctl(simd.epfd, EPOLL_CTL_DEL, simd.xsd_pidfd, NULL);
	close(simd.xsd_pidfd);
	simd.xsd_pidfd = -1;
	simd.xsd_pid = 0;
	simd.stopping = true;
}

static int setup(void)
{
	char path[4096];
	struct simd_dom *d0;
	sigset_t ss;
	FILE *f;
	int rc, fd;

	rc = simd_dom_new(0, "Domain-0", &d0);
	if (rc < 0)
		return rc;
	/* dom0's xenbus port for xenstored's own dom0_init(): nobody is at
	 * the other end (dom0's processes use xenstored's socket). */
	rc = simd_evtchn_alloc(d0, NULL, 0);
	if (rc < 0)
		return rc;
	simd.xsd_dom0_port = (uint32_t)rc;
	snprintf(path, sizeof(path), "%s/xsd_port", simd.dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "%u", simd.xsd_dom0_port); /* no newline: oxenstored */
	fclose(f);
	snprintf(path, sizeof(path), "%s/xsd_kva", simd.dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, PVK_SIMP_PAGE) < 0)
		return -errno;
	close(fd);

	simd.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (simd.epfd < 0)
		return -errno;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigaddset(&ss, SIGCHLD);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	simd.sig_fd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
	if (simd.sig_fd < 0)
		return -errno;
	simd.listen_fd = listen_on(simd.dir);
	if (simd.listen_fd < 0)
		return simd.listen_fd;
	rc = simd_ts_start();
	if (rc < 0)
		return rc;
	if ((rc = epoll_add(simd.listen_fd, TAG_LISTEN)) < 0 ||
	    (rc = epoll_add(simd.sig_fd, TAG_SIG)) < 0 ||
	    (rc = epoll_add(simd.job_efd, TAG_JOB)) < 0)
		return rc;
	rc = simd_xenstored_spawn();
	if (rc < 0)
		return rc;
	simd.xsd_pidfd = pidfd_open_(simd.xsd_pid);
	if (simd.xsd_pidfd >= 0)
		epoll_add(simd.xsd_pidfd, TAG_XSD);
	return 0;
}

/* A daemon keeps none of its launcher's descriptors (a pipe of the shell
 * that started it, say) but the ready pipe; xenstored and the domains
 * would inherit them otherwise. */
static void close_inherited(int keep)
{
	if (keep > 3)
		close_range(3, (unsigned int)keep - 1, 0);
	if (keep >= 3)
		close_range((unsigned int)keep + 1, ~0u, 0);
	else
		close_range(3, ~0u, 0);
}

/* Every connection costs descriptors (socket, pidfd, wake-ups): use the
 * hard limit, not the soft one. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		simd_log("descriptor limit %llu",
			 (unsigned long long)rl.rlim_cur);
}

/* GNU-style, so that help2man makes the man page from it (man/). */
static void usage(FILE *f)
{
	fprintf(f, "Usage: pvkit-simd --dir DIR [OPTION]...\n"
		   "The simulated hypervisor; normally started with `pvkit sim "
		   "start`.\n"
		   "\n"
		   "  --dir DIR       its state directory (sockets, logs)\n"
		   "  --ready-fd N    write the status line to descriptor N "
		   "once xenstore is up\n"
		   "  --foreground    do not detach\n"
		   "  --help          this text\n"
		   "  --version       the version\n");
}

int simd_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	char path[4096], msg[PATH_MAX + 256];
	bool fg = false;
	FILE *f;
	int o, rc;

	while ((o = getopt_long(argc, argv, "d:r:fh", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			simd.dir = optarg;
			break;
		case 'r':
			simd.ready_fd = atoi(optarg);
			break;
		case 'f':
			fg = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("pvkit-simd %s\n", PVK_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!simd.dir) {
		usage(stderr);
		return 2;
	}
	close_inherited(simd.ready_fd);
	if (mkdir(simd.dir, 0755) < 0 && errno != EEXIST) {
		snprintf(msg, sizeof(msg),
			 "cannot create the state directory %s (%s): use one "
			 "of your own with --dir DIR or PVKIT_SIM_DIR=DIR\n",
			 simd.dir, strerror(errno));
		fprintf(stderr, "pvkit-simd: %s", msg);
		ready_say(msg);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/simd.lock", simd.dir);
	simd.lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (simd.lock_fd < 0) {
		snprintf(msg, sizeof(msg),
			 "cannot write the state directory %s (%s): use one "
			 "of your own with --dir DIR or PVKIT_SIM_DIR=DIR\n",
			 simd.dir, strerror(errno));
		fprintf(stderr, "pvkit-simd: %s", msg);
		ready_say(msg);
		return 1;
	}
	if (flock(simd.lock_fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "pvkit-simd: already running in %s\n",
			simd.dir);
		ready_say("already running\n");
		return 1;
	}
	if (!fg) {
		int lfd;

		snprintf(path, sizeof(path), "%s/simd.log", simd.dir);
		lfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			   0644);
		if (lfd >= 0) {
			dup2(lfd, 1);
			dup2(lfd, 2);
			close(lfd);
		}
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	snprintf(path, sizeof(path), "%s/simd.pid", simd.dir);
	f = fopen(path, "we");
	if (f) {
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
	simd.xenstored = getenv("PVKIT_XENSTORED");
	if (!simd.xenstored)
		simd.xenstored = "/usr/lib/xen-4.17/bin/xenstored";
	simd.xensim = getenv("PVKIT_XENSIM");
	simd_log("starting in %s", simd.dir);
	raise_nofile();
	simd.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	simd.nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
	if (simd.nnp)
		simd_log("running with no_new_privs: guest processes that "
			 "outlive their domain cannot be told from domain 0's");
	rc = setup();
	if (rc < 0) {
		simd_log("start-up failed: %s", strerror(-rc));
		ready_say("start-up failed; see simd.log\n");
		shutdown_all();
		return 1;
	}
	while (!simd.stopping) {
		struct epoll_event evs[32];
		int i, n;

		n = epoll_wait(simd.epfd, evs, 32,
			       listen_paused_until ? 100 : 500);
		for (i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;

			if (tag == TAG_LISTEN) {
				accept_conn();
			} else if (tag == TAG_SIG) {
				handle_signals();
			} else if (tag == TAG_JOB) {
				jobs_done();
			} else if (tag == TAG_XSD) {
				if (simd.xsd_pid)
					xsd_died();
			} else if (tag >= TAG_DOM_BASE) {
				struct simd_dom *d =
					simd_dom_find(tag - TAG_DOM_BASE);

				if (d && d->state == SIMD_DOM_RUNNING)
					dom_kill(d, "its supervisor exited");
			} else {
				struct simd_conn *c =
					simd_conn_find(tag - TAG_CONN_BASE);

				if (c)
					simd_conn_handle(c);
			}
		}
		timers();
	}
	shutdown_all();
	return 0;
}
