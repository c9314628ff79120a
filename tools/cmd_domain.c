// SPDX-License-Identifier: MIT
/*
 * pvkit domain create|list|destroy|exec.
 *
 * `create` makes this process (or, with --detach, a background child) the
 * new domain's supervisor: it owns the domain's xenbus port and xenstore
 * ring, serves the domain's xenbus socket to the guest's processes, and
 * runs CMD as the domain's process tree.  The domain ends when that tree
 * has exited (the supervisor is a child subreaper, so daemonized
 * grandchildren count) or when the supervisor is killed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvkit/net.h>
#include <pvkit/sim.h>

#include "../hypercall/sim/simc.h"
#include "../hypercall/sim/xbmux.h"
#include "cmd.h"

static int open_sim(struct pvk_sim **sim)
{
	const char *dir = pvk_cmd_sim_dir();
	int rc = pvk_sim_open(sim, dir);

	if (rc < 0)
		pvk_cmd_sim_err(dir, rc);
	return rc;
}

/* Up to @max children of @parent into @out; returns how many. */
static int children_of(pid_t parent, pid_t *out, int max)
{
	char path[64], buf[512], *p;
	struct dirent *de;
	DIR *d = opendir("/proc");
	int n = 0;

	while (d && n < max && (de = readdir(d))) {
		long ppid;
		FILE *f;
		int pid = atoi(de->d_name);

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		f = fopen(path, "re");
		if (!f)
			continue;
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		if (p && (p = strrchr(buf, ')')) &&
		    sscanf(p + 1, " %*c %ld", &ppid) == 1 && ppid == parent)
			out[n++] = pid;
	}
	if (d)
		closedir(d);
	return n;
}

/* Kill what is left of the domain's process tree: our children. */
static void kill_children(pid_t pgid)
{
	pid_t pids[256];
	int i, n;

	if (pgid > 0)
		kill(-pgid, SIGKILL);
	n = children_of(getpid(), pids, 256);
	for (i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
}

struct supervisor {
	const char *name;
	char **argv;
	uint32_t memory_mib; /* HVM: its RAM; 0: a PV domain */
	uint32_t vcpus;
	int report_fd; /* --detach: the parent waits for "<domid>\n" */
	/* --detach: stdout and stderr go here once the domain exists (not
	 * before: a duplicate name must not truncate the running domain's
	 * log). */
	const char *log;
	struct pvk_sim *sim;
	uint32_t domid;
	xenevtchn_handle *xce;
	struct pvk_xbmux *mux;
	char domdir[PATH_MAX], sock[PATH_MAX];
};

static void report(struct supervisor *s, const char *msg)
{
	if (s->report_fd < 0)
		return;
	if (write(s->report_fd, msg, strlen(msg)) < 0) {
		/* the parent is gone; nothing to tell */
	}
	close(s->report_fd);
	s->report_fd = -1;
}

/*
 * A domain is a VM: its network is its own.  The guest runs in a new
 * network namespace holding only a loopback device (up), where `pvkit
 * nic serve-tap` will create its NIC; dom0's namespace is the
 * simulator's.  Without the privilege to make one (not root), the guest
 * shares the caller's network, and says so in its log.
 */
static void own_network(const char *name)
{
	struct pvk_nl *nl;
	int err;

	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr,
			"pvkit: domain %s shares the host's network: no "
			"network namespace of its own (%s; run as root)\n",
			name, strerror(errno));
		return;
	}
	err = pvk_nl_open(&nl);
	if (!err)
		err = pvk_nl_link_set_up(nl, "lo", true);
	pvk_nl_close(nl);
	if (err < 0)
		fprintf(stderr, "pvkit: domain %s: loopback: %s\n", name,
			strerror(-err));
}

static pid_t spawn(struct supervisor *s, const sigset_t *old)
{
	pid_t sup = getpid(), pid = fork();
	char id[16];

	if (pid != 0)
		return pid;
	sigprocmask(SIG_SETMASK, old, NULL);
	signal(SIGHUP, SIG_DFL);
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != sup)
		_exit(128 + SIGKILL); /* it died before we could ask */
	/* The guest's mark, inherited by everything it starts and never
	 * cleared: if this supervisor is SIGKILLed, processes left behind
	 * leave its ancestry, and pvkit-simd must not take them for domain
	 * 0.  (It also keeps setuid programs from gaining privileges.) */
	own_network(s->name);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	snprintf(id, sizeof(id), "%u", s->domid);
	setenv("PVKIT_SIM_DIR", pvk_cmd_sim_dir(), 1);
	setenv("PVKIT_DOMID", id, 1);
	setenv("XENSTORED_PATH", s->sock, 1);
	unsetenv("XENSTORED_RUNDIR");
	execvp(s->argv[0], s->argv);
	fprintf(stderr, "pvkit: cannot run '%s' in domain %s: %s\n", s->argv[0],
		s->name, strerror(errno));
	_exit(127);
}

static int supervise(struct supervisor *s)
{
	sigset_t set, old;
	struct pollfd pfd[3];
	int sfd, rc, status = 0, exit_code = 1;
	evtchn_port_t port;
	void *ring;
	pid_t child, pid;
	bool killed = false, tty = false;

	rc = open_sim(&s->sim);
	if (rc < 0)
		return 1;
	rc = pvk_simc_domain_create(s->sim, s->name, s->memory_mib, s->vcpus,
				    &s->domid);
	if (rc < 0) {
		if (rc == -EEXIST)
			pvk_cmd_err("a domain named '%s' already exists: pick "
				    "another name, or `pvkit domain destroy "
				    "%s`",
				    s->name, s->name);
		else if (rc == -EINVAL)
			pvk_cmd_err("invalid domain name '%s': use letters, "
				    "digits, '.', '_' and '-', not starting "
				    "with a digit, at most %d characters",
				    s->name, PVK_SIM_NAME_MAX - 1);
		else if (rc == -EPERM)
			pvk_cmd_err("only domain 0 may create domains (this "
				    "process runs in domain %u)",
				    pvk_sim_domid(s->sim));
		else
			pvk_cmd_err("cannot create domain '%s': %s", s->name,
				    strerror(-rc));
		goto close_sim;
	}
	if (s->log) {
		int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
	}
	/* The xenbus port, opened as the new domain (we are its
	 * supervisor now), unbound for domain 0's xenstored. */
	s->xce = pvk_simx_evtchn_open(NULL, 0);
	if (!s->xce) {
		rc = -errno;
		goto fail;
	}
	rc = pvk_simx_evtchn_bind_unbound_port(s->xce, 0);
	if (rc < 0) {
		rc = -errno;
		goto fail;
	}
	port = (evtchn_port_t)rc;
	rc = pvk_sim_domain_ready(s->sim, port, &ring);
	if (rc < 0)
		goto fail;
	snprintf(s->domdir, sizeof(s->domdir), "%s/dom%u", pvk_cmd_sim_dir(),
		 s->domid);
	if ((size_t)snprintf(s->sock, sizeof(s->sock), "%s/xenbus.sock",
			     s->domdir) >= sizeof(s->sock)) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	if (mkdir(s->domdir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	rc = pvk_xbmux_create(&s->mux, ring, s->xce, port, s->sock, s->name);
	if (rc < 0)
		goto rmdir_dom;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (s->report_fd < 0)
		sigaddset(&set, SIGHUP); /* foreground: the terminal went */
	sigprocmask(SIG_BLOCK, &set, &old);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		rc = -errno;
		goto destroy_mux;
	}
	child = spawn(s, &old);
	if (child < 0) {
		rc = -errno;
		goto close_sfd;
	}
	/* On a terminal, CMD's process group becomes the foreground one
	 * (as a shell does), so ^C and job control reach the guest. */
	if (isatty(0) && tcgetpgrp(0) == getpgrp()) {
		setpgid(child, child);
		signal(SIGTTOU, SIG_IGN);
		tty = tcsetpgrp(0, child) == 0;
	}
	{
		char msg[32];

		snprintf(msg, sizeof(msg), "%u\n", s->domid);
		report(s, msg);
	}
	pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pfd[1] =
		(struct pollfd){ .fd = pvk_xbmux_fd(s->mux), .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = pvk_sim_fd(s->sim), .events = POLLIN };
	for (;;) {
		struct signalfd_siginfo si;
		bool gone = false;

		if (poll(pfd, 3, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			pvk_xbmux_run(s->mux);
		if (pfd[2].revents && !killed) {
			fprintf(stderr,
				"pvkit: domain %s: the simulator went "
				"away; stopping the domain\n",
				s->name);
			kill_children(child);
			killed = true;
			pfd[2].fd = -1;
		}
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo != SIGCHLD && !killed) {
				kill_children(child);
				killed = true;
			} else if (si.ssi_signo == SIGCHLD && killed) {
				/* A child killed leaves its own children to
				 * us, the subreaper: they go too. */
				kill_children(0);
			}
		}
		for (;;) {
			pid = waitpid(-1, &status, WNOHANG);
			if (pid == child) {
				exit_code = WIFEXITED(status) ?
						    WEXITSTATUS(status) :
						    128 + WTERMSIG(status);
			}
			if (pid < 0 && errno == ECHILD)
				gone = true;
			if (pid <= 0)
				break;
		}
		if (gone)
			break;
	}
	rc = 0;
close_sfd:
	if (tty)
		tcsetpgrp(0, getpgrp());
	close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
destroy_mux:
	pvk_xbmux_destroy(s->mux);
rmdir_dom:
	rmdir(s->domdir);
fail:
	if (rc < 0) {
		pvk_cmd_err("domain '%s': set-up failed: %s", s->name,
			    strerror(-rc));
		exit_code = 1;
	}
	pvk_simx_evtchn_close(s->xce);
close_sim:
	pvk_sim_close(s->sim);
	report(s, "failed\n");
	return exit_code;
}

#define HVM_MEMORY_DEFAULT 16u /* MiB */

/* --memory MiB / --vcpus N: @what's value in @lo..@hi, else a clear
 * error and -1. */
static int hvm_arg(const char *what, const char *val, unsigned long lo,
		   unsigned long hi, uint32_t *out)
{
	unsigned long v;
	char *end;

	if (!val) {
		pvk_cmd_err("domain create: %s needs a value", what);
		return -1;
	}
	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno || end == val || *end || *val == '-' || v < lo || v > hi) {
		pvk_cmd_err("domain create: %s '%s': give a whole number from "
			    "%lu to %lu",
			    what, val, lo, hi);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int domain_create(int argc, char **argv)
{
	struct supervisor s = { .report_fd = -1 };
	bool detach = false, hvm = false;
	uint32_t memory = 0, vcpus = 0;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			argv[1] = argv[i];
			pvk_cmd_help("domain", 2, argv);
			return 0;
		}
		if (!strcmp(argv[i], "-d") || !strcmp(argv[i], "--detach"))
			detach = true;
		else if (!strcmp(argv[i], "--hvm"))
			hvm = true;
		else if (!strcmp(argv[i], "--memory") ||
			 !strcmp(argv[i], "--vcpus")) {
			bool mem = argv[i][2] == 'm';

			if (hvm_arg(argv[i], argv[i + 1], 1,
				    mem ? PVK_SIMP_HVM_MEM_MAX :
					  PVK_SIMP_HVM_VCPUS,
				    mem ? &memory : &vcpus) < 0)
				return 2;
			i++;
		} else if (!strcmp(argv[i], "--"))
			break;
		else if (argv[i][0] == '-') {
			pvk_cmd_err("domain create: unknown option '%s'",
				    argv[i]);
			return 2;
		} else if (!s.name)
			s.name = argv[i];
		else
			break;
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (!s.name || i >= argc) {
		pvk_cmd_err("domain create needs a NAME and a command: pvkit "
			    "domain create NAME [--detach] [--hvm [--memory "
			    "MiB] [--vcpus N]] -- CMD [ARGS...]");
		return 2;
	}
	if ((memory || vcpus) && !hvm) {
		pvk_cmd_err("domain create: --memory and --vcpus are for HVM "
			    "domains: add --hvm");
		return 2;
	}
	if (hvm) {
		s.memory_mib = memory ? memory : HVM_MEMORY_DEFAULT;
		s.vcpus = vcpus ? vcpus : 1;
	}
	s.argv = argv + i;
	if (detach) {
		char buf[32];
		int p[2];
		ssize_t n;
		pid_t pid;

		if (pipe2(p, O_CLOEXEC) < 0) {
			pvk_cmd_err("pipe: %s", strerror(errno));
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			pvk_cmd_err("fork: %s", strerror(errno));
			return 1;
		}
		if (pid == 0) {
			char log[PATH_MAX];
			int fd;

			close(p[0]);
			/*
			 * Off the terminal's job control, but in the caller's
			 * session rather than a new one: a new session is a
			 * new scheduler autogroup, and a detached domain
			 * talking to a foreground one then loses wake-up
			 * preemption under load (bench-hv measured a 1.7x
			 * round trip that way, 1.05x this way).
			 */
			setpgid(0, 0);
			signal(SIGHUP, SIG_IGN);
			snprintf(log, sizeof(log), "%s/domain-%s.log",
				 pvk_cmd_sim_dir(), s.name);
			fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (fd >= 0)
				dup2(fd, 0);
			s.log = log;
			s.report_fd = p[1];
			_exit(supervise(&s));
		}
		close(p[1]);
		n = read(p[0], buf, sizeof(buf) - 1);
		close(p[0]);
		buf[n > 0 ? n : 0] = 0;
		if (n <= 0 || !strcmp(buf, "failed\n")) {
			pvk_cmd_err("domain '%s' was not created (why: "
				    "above, or in %s/domain-%s.log)",
				    s.name, pvk_cmd_sim_dir(), s.name);
			return 1;
		}
		printf("domain %s created: id %s", s.name, buf);
		return 0;
	}
	return supervise(&s);
}

static int domain_list(int argc, char **argv)
{
	struct pvk_sim_domain *doms;
	bool json = argc == 2 && !strcmp(argv[1], "--json");
	struct pvk_sim *sim;
	int n;

	if (pvk_cmd_help("domain", argc, argv))
		return 0;
	if (argc > 1 && !json) {
		pvk_cmd_err("domain list takes only --json (got '%s')",
			    argv[1]);
		return 2;
	}
	if (open_sim(&sim) < 0)
		return 1;
	n = pvk_sim_domain_list(sim, &doms);
	pvk_sim_close(sim);
	if (n < 0) {
		pvk_cmd_err("cannot list domains: %s%s", strerror(-n),
			    n == -EPERM ? " (only domain 0 may)" : "");
		return 1;
	}
	if (json)
		printf("[");
	pvk_cmd_print_domains(doms, n, json);
	if (json)
		printf("]\n");
	free(doms);
	return 0;
}

static int domain_destroy(int argc, char **argv)
{
	struct pvk_sim *sim;
	uint32_t domid = UINT32_MAX; /* set by a successful find */
	int rc, i;

	if (pvk_cmd_help("domain", argc, argv))
		return 0;
	if (argc != 2) {
		pvk_cmd_err("domain destroy needs one NAME or ID: pvkit "
			    "domain destroy NAME|ID");
		return 2;
	}
	if (open_sim(&sim) < 0)
		return 1;
	rc = pvk_sim_domain_find(sim, argv[1], &domid);
	if (rc == -ESRCH) {
		pvk_cmd_err("no running domain '%s' (see `pvkit domain list`)",
			    argv[1]);
		goto out;
	}
	if (rc == 0)
		rc = pvk_sim_domain_destroy(sim, domid);
	if (rc == -EPERM) {
		pvk_cmd_err("cannot destroy '%s': %s", argv[1],
			    domid == 0 ? "domain 0 is the control domain "
					 "(stop the simulator instead)" :
					 "only domain 0 may destroy domains");
		goto out;
	}
	if (rc < 0) {
		pvk_cmd_err("cannot destroy '%s': %s", argv[1], strerror(-rc));
		goto out;
	}
	/* Wait (up to 10 s) until it is no longer running. */
	for (i = 0; i < 1000; i++) {
		uint32_t d;

		if (pvk_sim_domain_find(sim, argv[1], &d) == -ESRCH ||
		    d != domid)
			break;
		usleep(10000);
	}
	printf("domain %u destroyed\n", domid);
out:
	pvk_sim_close(sim);
	return rc < 0 ? 1 : 0;
}

static int domain_exec(int argc, char **argv)
{
	struct pvk_sim_domain *doms = NULL;
	struct pvk_sim *sim;
	uint32_t domid = UINT32_MAX;
	pid_t sup = -1, g;
	char path[64];
	int i, n, fd, rc;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return pvk_cmd_help("domain", argc, argv) ? 0 : 2;
	i = argc > 2 && !strcmp(argv[2], "--") ? 3 : 2;
	if (argc < 2 || i >= argc || argv[1][0] == '-') {
		pvk_cmd_err("domain exec needs a domain and a command: pvkit "
			    "domain exec NAME|ID -- CMD [ARGS...]");
		return 2;
	}
	if (open_sim(&sim) < 0)
		return 1;
	rc = pvk_sim_domain_find(sim, argv[1], &domid);
	n = rc == 0 ? pvk_sim_domain_list(sim, &doms) : rc;
	pvk_sim_close(sim);
	if (rc == -ESRCH) {
		pvk_cmd_err("no running domain '%s' (see `pvkit domain list`)",
			    argv[1]);
		return 1;
	}
	if (n < 0) {
		pvk_cmd_err("cannot find domain '%s': %s", argv[1],
			    strerror(-n));
		return 1;
	}
	for (i = 0; i < n; i++)
		if (doms[i].domid == domid)
			sup = doms[i].pid;
	free(doms);
	if (domid == 0) {
		pvk_cmd_err("domain 0 is the control domain: run the command "
			    "directly");
		return 2;
	}
	/* The guest's processes are the supervisor's children (or were
	 * re-parented to it): any of them is in the domain's namespace. */
	if (sup <= 0 || children_of(sup, &g, 1) < 1) {
		pvk_cmd_err("domain '%s' has no process left to join", argv[1]);
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)g);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		pvk_cmd_err(
			"cannot enter domain '%s''s network namespace: %s%s",
			argv[1], strerror(errno),
			errno == EPERM ? " (run as root)" : "");
		return 1;
	}
	close(fd);
	i = !strcmp(argv[2], "--") ? 3 : 2;
	execvp(argv[i], argv + i);
	pvk_cmd_err("cannot run '%s': %s", argv[i], strerror(errno));
	return 127;
}

static const struct pvk_cmd domain_cmds[] = {
	{ "create",
	  "NAME [--detach] [--hvm [--memory MiB] [--vcpus N]] -- CMD "
	  "[ARGS...]",
	  "run CMD as a new domain; wait for it and exit with its status "
	  "(--detach: in the background; --hvm: an HVM guest with RAM, 16 "
	  "MiB unless --memory, and vCPUs, 1 unless --vcpus, whose port and "
	  "MMIO accesses a device model such as pvkit-dm serves)",
	  domain_create },
	{ "list", "[--json]",
	  "list the domains: id, name, state, supervisor pid, type (pv or "
	  "hvm) and an HVM domain's vCPUs",
	  domain_list },
	{ "destroy", "NAME|ID", "end a domain and its processes",
	  domain_destroy },
	{ "exec", "NAME|ID -- CMD [ARGS...]",
	  "run CMD (not part of the domain) in the domain's network "
	  "namespace, as `ip netns exec` does",
	  domain_exec },
	{ NULL },
};

static const struct pvk_cmd_group domain_group = {
	.name = "domain",
	.help = "domains of the simulated hypervisor",
	.cmds = domain_cmds,
};
PVK_CMD_GROUP(domain_group);
