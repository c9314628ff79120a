// SPDX-License-Identifier: MIT
/*
 * pvkit sim start|stop|status: pvkit-simd as a background service.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvkit/sim.h>

#include "cmd.h"

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX], *p;

	if (strlen(dir) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, dir);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void print_access(const char *dir)
{
	printf("  export PVKIT_SIM_DIR=%s\n", dir);
	printf("  export XENSTORED_PATH=%s/xenstored/socket   "
	       "# xenstore-ls etc. as domain 0\n",
	       dir);
}

/* pvkit-simd next to this program (build tree or installation). */
static int find_simd(char *buf, size_t len)
{
	const char *env = getenv("PVKIT_SIMD");
	char exe[PATH_MAX], *slash;
	ssize_t n;

	if (env) {
		snprintf(buf, len, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	if ((size_t)snprintf(buf, len, "%.*s/pvkit-simd", PATH_MAX - 16, exe) >=
	    len)
		return -ENAMETOOLONG;
	return access(buf, X_OK) ? -ENOENT : 0;
}

static void tail_log(const char *dir)
{
	char path[PATH_MAX], line[512];
	char *lines[8] = { 0 };
	unsigned int n = 0, i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/simd.log", dir);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		free(lines[n % 8]);
		lines[n % 8] = strdup(line);
		n++;
	}
	fclose(f);
	fprintf(stderr, "--- last lines of %s ---\n", path);
	for (i = n > 8 ? n - 8 : 0; i < n; i++)
		fputs(lines[i % 8] ? lines[i % 8] : "", stderr);
	for (i = 0; i < 8; i++)
		free(lines[i]);
}

/* Is a daemon there?  1 yes (with status), 0 no (stale socket removed),
 * < 0 cannot tell. */
static int probe(const char *dir, struct pvk_sim_status *st, bool quiet)
{
	struct pvk_sim *sim;
	char path[PATH_MAX];
	int rc;

	rc = pvk_sim_open(&sim, dir);
	if (rc == 0) {
		rc = pvk_sim_status(sim, st);
		pvk_sim_close(sim);
		return rc < 0 ? rc : 1;
	}
	if (rc == -ENOENT)
		return 0;
	if (rc == -ECONNREFUSED) {
		snprintf(path, sizeof(path), "%s/simd.sock", dir);
		if (!quiet)
			printf("pvkit: removing stale socket %s (left by a "
			       "pvkit-simd that did not stop cleanly)\n",
			       path);
		unlink(path);
		return 0;
	}
	return rc;
}

static int sim_start(int argc, char **argv)
{
	const char *dir = pvk_cmd_sim_dir();
	struct pvk_sim_status st;
	char simd[PATH_MAX], fdarg[16], msg[256];
	struct pollfd pfd;
	int rc, p[2];
	ssize_t n;
	pid_t pid;

	if (pvk_cmd_help("sim", argc, argv))
		return 0;
	if (argc > 1) {
		pvk_cmd_err("sim start takes no arguments (got '%s')", argv[1]);
		return 2;
	}
	rc = probe(dir, &st, false);
	if (rc == 1) {
		printf("pvkit-simd is already running in %s (pid %d)\n", dir,
		       st.simd_pid);
		print_access(dir);
		return 0;
	}
	if (rc < 0) {
		pvk_cmd_sim_err(dir, rc);
		return 1;
	}
	rc = mkdir_p(dir);
	if (rc == 0 && access(dir, W_OK | X_OK) < 0)
		rc = -errno;
	if (rc < 0) {
		pvk_cmd_err("cannot use %s as the state directory: %s; choose "
			    "one you can write with --dir DIR or "
			    "PVKIT_SIM_DIR=DIR",
			    dir, strerror(-rc));
		return 1;
	}
	rc = find_simd(simd, sizeof(simd));
	if (rc < 0) {
		pvk_cmd_err("pvkit-simd not found next to pvkit (set "
			    "PVKIT_SIMD to its path)");
		return 1;
	}
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
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (fork() > 0)
			_exit(0); /* the daemon is not our child */
		setsid();
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		fcntl(p[1], F_SETFD, 0);
		snprintf(fdarg, sizeof(fdarg), "%d", p[1]);
		execl(simd, simd, "--dir", dir, "--ready-fd", fdarg,
		      (char *)NULL);
		fprintf(stderr, "pvkit: cannot run %s: %s\n", simd,
			strerror(errno));
		_exit(127);
	}
	close(p[1]);
	waitpid(pid, NULL, 0);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	n = 0;
	if (poll(&pfd, 1, 30000) > 0)
		n = read(p[0], msg, sizeof(msg) - 1);
	close(p[0]);
	msg[n > 0 ? n : 0] = 0;
	if (strcmp(msg, "ok\n")) {
		if (!strcmp(msg, "already running\n")) {
			printf("pvkit-simd is already running in %s\n", dir);
			print_access(dir);
			return 0;
		}
		pvk_cmd_err("pvkit-simd did not start in %s: %s", dir,
			    n > 0 ? msg : "no answer\n");
		tail_log(dir);
		return 1;
	}
	rc = probe(dir, &st, true);
	printf("pvkit-simd started in %s (pid %d)\n", dir,
	       rc == 1 ? st.simd_pid : 0);
	print_access(dir);
	return 0;
}

static int wait_pid_gone(int pid, int timeout_ms)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd pfd;
	int rc;

	if (pidfd < 0)
		return errno == ESRCH ? 0 : -errno;
	pfd.fd = pidfd;
	pfd.events = POLLIN;
	rc = poll(&pfd, 1, timeout_ms);
	close(pidfd);
	return rc > 0 ? 0 : -ETIMEDOUT;
}

static int sim_stop(int argc, char **argv)
{
	const char *dir = pvk_cmd_sim_dir();
	struct pvk_sim_status st;
	struct pvk_sim *sim;
	int rc;

	if (pvk_cmd_help("sim", argc, argv))
		return 0;
	if (argc > 1) {
		pvk_cmd_err("sim stop takes no arguments (got '%s')", argv[1]);
		return 2;
	}
	rc = probe(dir, &st, false);
	if (rc == 0) {
		printf("pvkit-simd is not running in %s\n", dir);
		return 0;
	}
	if (rc < 0) {
		pvk_cmd_sim_err(dir, rc);
		return 1;
	}
	rc = pvk_sim_open(&sim, dir);
	if (rc < 0) {
		pvk_cmd_sim_err(dir, rc);
		return 1;
	}
	if (rc == 0) {
		rc = pvk_sim_shutdown(sim);
		pvk_sim_close(sim);
	}
	if (rc < 0) {
		pvk_cmd_err("cannot stop the simulator in %s: %s%s", dir,
			    strerror(-rc),
			    rc == -EPERM ? " (only domain 0 may stop it)" : "");
		return 1;
	}
	if (wait_pid_gone(st.simd_pid, 15000) < 0) {
		pvk_cmd_err("pvkit-simd (pid %d) did not exit within 15 s; "
			    "see %s/simd.log",
			    st.simd_pid, dir);
		return 1;
	}
	printf("pvkit-simd stopped (%s)\n", dir);
	return 0;
}

static int sim_status(int argc, char **argv)
{
	const char *dir = pvk_cmd_sim_dir();
	struct pvk_sim_domain *doms;
	struct pvk_sim_status st;
	bool json = false, env = false;
	struct pvk_sim *sim;
	int rc, n;

	if (pvk_cmd_help("sim", argc, argv))
		return 0;
	if (argc == 2 && !strcmp(argv[1], "--json"))
		json = true;
	else if (argc == 2 && !strcmp(argv[1], "--env"))
		env = true;
	else if (argc > 1) {
		pvk_cmd_err("sim status takes --json or --env (got '%s')",
			    argv[1]);
		return 2;
	}
	rc = probe(dir, &st, false);
	if (rc == 0) {
		if (json) {
			printf("{\"running\": false, ");
			pvk_cmd_json_str("dir", dir, false);
			printf("}\n");
		} else {
			printf("%spvkit-simd is not running in %s\n",
			       env ? "# " : "", dir);
		}
		return 3; /* LSB: program is not running */
	}
	if (env) {
		/* For eval: what a shell needs to reach it. */
		printf("export PVKIT_SIM_DIR=%s\n", dir);
		printf("export XENSTORED_PATH=%s/xenstored/socket\n", dir);
		return 0;
	}
	if (rc > 0)
		rc = pvk_sim_open(&sim, dir);
	if (rc < 0) {
		pvk_cmd_sim_err(dir, rc);
		return 4; /* LSB: status unknown */
	}
	n = pvk_sim_domain_list(sim, &doms);
	pvk_sim_close(sim);
	if (n < 0) {
		pvk_cmd_err("cannot list domains: %s%s", strerror(-n),
			    n == -EPERM ? " (only domain 0 may)" : "");
		return 1;
	}
	if (json) {
		char xs[PATH_MAX + 32];

		snprintf(xs, sizeof(xs), "%s/xenstored/socket", dir);
		printf("{\"running\": true, ");
		pvk_cmd_json_str("dir", dir, true);
		printf("\"simd_pid\": %d, \"xenstored_pid\": %d, "
		       "\"xenstore_ready\": %s, ",
		       st.simd_pid, st.xenstored_pid,
		       st.xenstore_ready ? "true" : "false");
		pvk_cmd_json_str("xenstored_path", xs, true);
		printf("\"domains\": [");
		pvk_cmd_print_domains(doms, n, true);
		printf("]}\n");
		free(doms);
		return 0;
	}
	printf("pvkit-simd running in %s (pid %d), xenstored pid %d%s\n", dir,
	       st.simd_pid, st.xenstored_pid,
	       st.xenstore_ready ? "" : " (starting)");
	print_access(dir);
	pvk_cmd_print_domains(doms, n, false);
	free(doms);
	return 0;
}

static const struct pvk_cmd sim_cmds[] = {
	{ "start", NULL,
	  "start pvkit-simd (with Xen's xenstored) in the background",
	  sim_start },
	{ "stop", NULL, "stop pvkit-simd, destroying every domain", sim_stop },
	{ "status", "[--json | --env]",
	  "is it running; how to reach xenstore (--env: as shell exports); "
	  "its domains",
	  sim_status },
	{ NULL },
};

static const struct pvk_cmd_group sim_group = {
	.name = "sim",
	.help = "the simulated hypervisor (pvkit-simd)",
	.cmds = sim_cmds,
};
PVK_CMD_GROUP(sim_group);
