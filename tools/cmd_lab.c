/* SPDX-License-Identifier: MIT */
/*
 * pvkit lab: the PV-vs-emulated lab, as `make lab` runs it (bench/lab.sh
 * driving bench/bench-lab; README "PV vs emulated lab").  The lab's files
 * are found beside this binary -- BUILD/bin/pvkit with BUILD/bench/bench-lab
 * and BUILD/libexec/pvkit/lab/ in a build tree, PREFIX/bin/pvkit with
 * PREFIX/libexec/pvkit/lab/ when installed -- or in the libexec directory
 * it was built for.  Arguments go to bench-lab; installed, the results go
 * to ./pvkit-lab unless --out says otherwise.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

#ifndef PVK_LAB_DIR
#define PVK_LAB_DIR "/usr/local/libexec/pvkit/lab"
#endif

static bool is_exec(const char *dir, const char *name)
{
	char p[2 * PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, X_OK) == 0;
}

/* The directory above this binary's (BUILD, or PREFIX). */
static int self_root(char *root, size_t len)
{
	char exe[PATH_MAX], *s;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return -errno;
	exe[n] = 0;
	for (int i = 0; i < 2; i++) {
		s = strrchr(exe, '/');
		if (!s)
			return -ENOENT;
		*s = 0;
	}
	if ((size_t)snprintf(root, len, "%s", *exe ? exe : "/") >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	char root[PATH_MAX - 64], dir[PATH_MAX], script[PATH_MAX + 16],
		bench[PATH_MAX + 16];
	bool installed, has_out = false;
	char **av;
	int i, k = 0;

	if (self_root(root, sizeof(root)) < 0) {
		pvk_cmd_err("lab: cannot tell where pvkit runs from "
			    "(/proc/self/exe): run `make lab` in the source "
			    "tree instead");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/libexec/pvkit/lab", root);
	if (!is_exec(dir, "lab.sh"))
		snprintf(dir, sizeof(dir), "%s", PVK_LAB_DIR);
	installed = !is_exec(root, "bench/bench-lab");
	snprintf(script, sizeof(script), "%s/lab.sh", dir);
	snprintf(bench, sizeof(bench), "%s/%s", installed ? dir : root,
		 installed ? "bench-lab" : "bench/bench-lab");
	if (access(script, X_OK) || access(bench, X_OK)) {
		pvk_cmd_err("lab: missing %s: build it (`make` builds "
			    "bench-lab and copies the lab's scripts to "
			    "BUILD/libexec/pvkit/lab) or install it (`make "
			    "install` puts both in %s)",
			    access(script, X_OK) ? script : bench, PVK_LAB_DIR);
		return 1;
	}
	av = calloc((size_t)argc + 5, sizeof(*av));
	if (!av) {
		pvk_cmd_err("lab: out of memory");
		return 1;
	}
	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--out") || !strncmp(argv[i], "--out=", 6))
			has_out = true;
	av[k++] = script;
	av[k++] = root;
	for (i = 1; i < argc; i++)
		av[k++] = argv[i];
	if (installed && !has_out) {
		av[k++] = "--out";
		av[k++] = "pvkit-lab";
	}
	av[k] = NULL;
	if (setenv("LAB_BENCH", bench, 1) < 0) {
		pvk_cmd_err("lab: setenv: %s", strerror(errno));
		free(av);
		return 1;
	}
	fflush(NULL);
	execv(script, av);
	pvk_cmd_err("lab: cannot run %s: %s", script, strerror(errno));
	free(av);
	return 1;
}

static const struct pvk_cmd lab_cmds[] = {
	{ "run",
	  "[--hv sim|loop] [--quick] [--samples N] [--out DIR] [--poll-us N] "
	  "[...]",
	  "the PV-vs-emulated lab (as `make lab`): disk workloads over native, "
	  "PV, IDE PIO and DMA; lab.json, plots, REPORT.md (bench-lab --help "
	  "for every option)",
	  cmd_run },
	{ 0 },
};

static const struct pvk_cmd_group lab_group = {
	.name = "lab",
	.help = "the PV-vs-emulated lab",
	.cmds = lab_cmds,
	/* `pvkit lab` and `pvkit lab --quick` run it. */
	.default_cmd = "run",
};
PVK_CMD_GROUP(lab_group);
