// SPDX-License-Identifier: MIT
/*
 * pvkit-simd's toolstack: it starts Xen's own xenstored on the simulator
 * and, from a thread of its own, does what libxl does for a domain's
 * xenstore life: the /local/domain/<id> directory, XS_INTRODUCE, and the
 * removal after death.  The main thread must never wait for xenstored,
 * which calls back into pvkit-simd (grant maps, domain info).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <xenstore.h>

#include "simd.h"

static struct {
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct simd_job *todo, *done;
	bool quit;
	struct xs_handle *xs;
	char xs_path[PATH_MAX];
} ts = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void append(struct simd_job **list, struct simd_job *j)
{
	while (*list)
		list = &(*list)->next;
	j->next = NULL;
	*list = j;
}

int simd_ts_post(const struct simd_job *job)
{
	struct simd_job *j = malloc(sizeof(*j));

	if (!j)
		return -ENOMEM;
	*j = *job;
	pthread_mutex_lock(&ts.lock);
	append(&ts.todo, j);
	pthread_cond_signal(&ts.cond);
	pthread_mutex_unlock(&ts.lock);
	return 0;
}

struct simd_job *simd_ts_done(void)
{
	struct simd_job *j;

	pthread_mutex_lock(&ts.lock);
	j = ts.done;
	ts.done = NULL;
	pthread_mutex_unlock(&ts.lock);
	return j;
}

/* Wait for xenstored's socket to accept connections (up to ~20 s). */
static int wait_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int i;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (i = 0; i < 2000; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return 0;
		}
		close(fd);
		pthread_mutex_lock(&ts.lock);
		if (ts.quit) {
			pthread_mutex_unlock(&ts.lock);
			return -ECANCELED;
		}
		pthread_mutex_unlock(&ts.lock);
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static int xs_err(void)
{
	return errno ? -errno : -EIO;
}

static int ts_start(void)
{
	static const char *const d0[][2] = {
		{ "/local/domain/0/name", "Domain-0" },
		{ "/local/domain/0/domid", "0" },
	};
	size_t i;
	int rc;

	rc = wait_socket(ts.xs_path);
	if (rc < 0)
		return rc;
	setenv("XENSTORED_PATH", ts.xs_path, 1);
	ts.xs = xs_open(0);
	if (!ts.xs)
		return xs_err();
	for (i = 0; i < sizeof(d0) / sizeof(d0[0]); i++)
		if (!xs_write(ts.xs, XBT_NULL, d0[i][0], d0[i][1],
			      strlen(d0[i][1])))
			return xs_err();
	return 0;
}

/* libxl's layout: /local/domain/<id> readable by the domain, owned by
 * dom0; the directories the guest writes to owned by the guest. */
static int ts_introduce(const struct simd_job *j)
{
	struct xs_permissions ro[2] = {
		{ .id = 0, .perms = XS_PERM_NONE },
		{ .id = j->domid, .perms = XS_PERM_READ },
	};
	struct xs_permissions rw[1] = {
		{ .id = j->domid, .perms = XS_PERM_NONE },
	};
	static const char *const rw_dirs[] = { "device",  "control", "data",
					       "drivers", "feature", "attr",
					       "error" };
	char path[128], val[32];
	xs_transaction_t t;
	size_t i;
	int tries;

	for (tries = 0; tries < 16; tries++) {
		t = xs_transaction_start(ts.xs);
		if (t == XBT_NULL)
			return xs_err();
		snprintf(path, sizeof(path), "/local/domain/%u", j->domid);
		xs_rm(ts.xs, t, path);
		if (!xs_mkdir(ts.xs, t, path) ||
		    !xs_set_permissions(ts.xs, t, path, ro, 2))
			goto abort;
		snprintf(path, sizeof(path), "/local/domain/%u/name", j->domid);
		if (!xs_write(ts.xs, t, path, j->name, strlen(j->name)) ||
		    !xs_set_permissions(ts.xs, t, path, ro, 2))
			goto abort;
		snprintf(path, sizeof(path), "/local/domain/%u/domid",
			 j->domid);
		snprintf(val, sizeof(val), "%u", j->domid);
		if (!xs_write(ts.xs, t, path, val, strlen(val)) ||
		    !xs_set_permissions(ts.xs, t, path, ro, 2))
			goto abort;
		for (i = 0; i < sizeof(rw_dirs) / sizeof(rw_dirs[0]); i++) {
			snprintf(path, sizeof(path), "/local/domain/%u/%s",
				 j->domid, rw_dirs[i]);
			if (!xs_mkdir(ts.xs, t, path) ||
			    !xs_set_permissions(ts.xs, t, path, rw, 1))
				goto abort;
		}
		if (xs_transaction_end(ts.xs, t, false))
			break;
		if (errno != EAGAIN)
			return xs_err();
		continue;
abort:
		i = (size_t)errno;
		xs_transaction_end(ts.xs, t, true);
		return i ? -(int)i : -EIO;
	}
	/* xenstored maps the guest's grant ref 1 and binds to its port. */
	if (!xs_introduce_domain(ts.xs, j->domid, 0, j->port))
		return xs_err();
	return 0;
}

static int ts_release(const struct simd_job *j)
{
	char path[64];

	snprintf(path, sizeof(path), "/local/domain/%u", j->domid);
	if (!xs_rm(ts.xs, XBT_NULL, path) && errno != ENOENT)
		return xs_err();
	return 0;
}

static void *ts_main(void *arg)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		struct simd_job *j;
		uint64_t one = 1;

		pthread_mutex_lock(&ts.lock);
		while (!ts.todo && !ts.quit)
			pthread_cond_wait(&ts.cond, &ts.lock);
		if (ts.quit) {
			pthread_mutex_unlock(&ts.lock);
			break;
		}
		j = ts.todo;
		ts.todo = j->next;
		pthread_mutex_unlock(&ts.lock);

		errno = 0;
		switch (j->type) {
		case SIMD_JOB_START:
			j->result = ts_start();
			break;
		case SIMD_JOB_INTRODUCE:
			j->result = ts.xs ? ts_introduce(j) : -ENOTCONN;
			break;
		case SIMD_JOB_RELEASE:
			j->result = ts.xs ? ts_release(j) : -ENOTCONN;
			break;
		}
		if (j->result < 0 && j->type != SIMD_JOB_START)
			simd_log("toolstack: domain %u: %s failed: %s",
				 j->domid,
				 j->type == SIMD_JOB_INTRODUCE ? "introduce" :
								 "release",
				 strerror(-j->result));
		pthread_mutex_lock(&ts.lock);
		append(&ts.done, j);
		pthread_mutex_unlock(&ts.lock);
		if (write(simd.job_efd, &one, sizeof(one)) < 0) {
			/* cannot fail for an eventfd below its maximum */
		}
	}
	return NULL;
}

int simd_ts_start(void)
{
	struct simd_job start = { .type = SIMD_JOB_START };
	int rc;

	snprintf(ts.xs_path, sizeof(ts.xs_path), "%s/xenstored/socket",
		 simd.dir);
	simd.job_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (simd.job_efd < 0)
		return -errno;
	rc = pthread_create(&ts.thread, NULL, ts_main, NULL);
	if (rc)
		return -rc;
	ts.started = true;
	return simd_ts_post(&start);
}

void simd_ts_stop(void)
{
	struct simd_job *j;

	if (!ts.started)
		return;
	pthread_mutex_lock(&ts.lock);
	ts.quit = true;
	pthread_cond_signal(&ts.cond);
	pthread_mutex_unlock(&ts.lock);
	/* xenstored is gone by now, so a request in flight fails (EBADF). */
	pthread_join(ts.thread, NULL);
	ts.started = false;
	if (ts.xs)
		xs_close(ts.xs);
	ts.xs = NULL;
	while ((j = ts.todo)) {
		ts.todo = j->next;
		free(j);
	}
	while ((j = ts.done)) {
		ts.done = j->next;
		free(j);
	}
}

/* The preload library, next to us in a build tree (bin/ and lib/) or an
 * installation (bin/ and lib/ under one prefix). */
static int find_xensim(char *buf, size_t len)
{
	char exe[PATH_MAX], *slash;
	ssize_t n;

	if (simd.xensim) {
		snprintf(buf, len, "%s", simd.xensim);
		return access(buf, R_OK) ? -ENOENT : 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	if ((size_t)snprintf(buf, len,
			     "%.*s/../lib/libpvkit-xensim.so." PVK_SOVERSION,
			     PATH_MAX - 64, exe) >= len)
		return -ENAMETOOLONG;
	return access(buf, R_OK) ? -ENOENT : 0;
}

int simd_xenstored_spawn(void)
{
	char lib[PATH_MAX], rundir[PATH_MAX], log[PATH_MAX];
	pid_t pid;
	int rc;

	rc = find_xensim(lib, sizeof(lib));
	if (rc < 0) {
		simd_log("libpvkit-xensim.so." PVK_SOVERSION
			 " not found (set PVKIT_XENSIM)");
		return rc;
	}
	if (access(simd.xenstored, X_OK)) {
		simd_log("%s: %s (install xen-utils-4.17, or set "
			 "PVKIT_XENSTORED)",
			 simd.xenstored, strerror(errno));
		return -ENOENT;
	}
	snprintf(rundir, sizeof(rundir), "%s/xenstored", simd.dir);
	snprintf(log, sizeof(log), "%s/xenstored.log", simd.dir);
	if (mkdir(rundir, 0755) < 0 && errno != EEXIST)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		sigset_t none;
		int fd;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			dup2(fd, 0);
		setenv("LD_PRELOAD", lib, 1);
		setenv("PVKIT_SIM_DIR", simd.dir, 1);
		setenv("PVKIT_DOMID", "0", 1);
		setenv("XENSTORED_RUNDIR", rundir, 1);
		unsetenv("XENSTORED_PATH");
		execl(simd.xenstored, simd.xenstored, "--no-fork",
		      (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", simd.xenstored,
			strerror(errno));
		_exit(127);
	}
	simd.xsd_pid = pid;
	simd_log("xenstored started (pid %d), socket %s/socket", (int)pid,
		 rundir);
	return 0;
}
