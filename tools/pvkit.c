// SPDX-License-Identifier: MIT
/*
 * pvkit -- one command for the toolkit: `pvkit GROUP COMMAND [ARGS]`.
 * Groups register themselves (cmd.h); this file only dispatches.
 *
 * Global option, accepted anywhere before `--`: --dir DIR (the simulator's
 * state directory; same as PVKIT_SIM_DIR).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvkit/sim.h>

#include "cmd.h"

extern const struct pvk_cmd_group *const __start_pvk_cmd_groups[];
extern const struct pvk_cmd_group *const __stop_pvk_cmd_groups[];

static char sim_dir[PATH_MAX];

void pvk_cmd_err(const char *fmt, ...)
{
	va_list ap;

	fputs("pvkit: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *pvk_cmd_sim_dir(void)
{
	char buf[PATH_MAX];

	if (!sim_dir[0]) {
		if (pvk_sim_dir(buf, sizeof(buf), NULL) < 0)
			return PVK_SIM_DEFAULT_DIR;
		if (buf[0] == '/' || !getcwd(sim_dir, sizeof(sim_dir)) ||
		    strlen(sim_dir) + 1 + strlen(buf) >= sizeof(sim_dir))
			snprintf(sim_dir, sizeof(sim_dir), "%s", buf);
		else
			strcat(strcat(sim_dir, "/"), buf);
	}
	return sim_dir;
}

void pvk_cmd_usage(const char *group, const struct pvk_cmd *cmd)
{
	fprintf(stderr, "usage: pvkit %s %s%s%s\n       %s\n", group, cmd->name,
		cmd->args ? " " : "", cmd->args ? cmd->args : "", cmd->help);
}

bool pvk_cmd_help(const char *group, int argc, char **argv)
{
	const struct pvk_cmd_group *const *g;
	const struct pvk_cmd *c;
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			break;
	if (i >= argc || !strcmp(argv[i], "--"))
		return false;
	for (g = __start_pvk_cmd_groups; g < __stop_pvk_cmd_groups; g++) {
		if (strcmp((*g)->name, group))
			continue;
		for (c = (*g)->cmds; c->name; c++)
			if (!strcmp(c->name, argv[0]))
				printf("usage: pvkit %s %s%s%s\n  %s\n", group,
				       c->name, c->args ? " " : "",
				       c->args ? c->args : "", c->help);
	}
	printf("\nThe simulator's state directory: --dir DIR, else "
	       "$PVKIT_SIM_DIR, else %s.\n",
	       PVK_SIM_DEFAULT_DIR);
	return true;
}

void pvk_cmd_json_str(const char *k, const char *v, bool comma)
{
	const char *c;

	printf("\"%s\": \"", k);
	for (c = v ? v : ""; *c; c++) {
		if (*c == '"' || *c == '\\')
			printf("\\%c", *c);
		else if ((unsigned char)*c < 0x20)
			printf("\\u%04x", *c);
		else
			putchar(*c);
	}
	printf("\"%s", comma ? ", " : "");
}

void pvk_cmd_print_domains(const struct pvk_sim_domain *d, int n, bool json)
{
	int i;

	if (!json)
		printf("%5s  %-24s %-8s %-7s %-4s %s\n", "ID", "NAME", "STATE",
		       "PID", "TYPE", "VCPUS");
	for (i = 0; i < n; i++) {
		const char *st = d[i].dying ? "dying" : "running";
		const char *type = d[i].hvm ? "hvm" : "pv";

		if (!json) {
			printf("%5u  %-24s %-8s %-7d %-4s ", d[i].domid,
			       d[i].name, st, d[i].pid, type);
			if (d[i].hvm)
				printf("%u\n", d[i].vcpus);
			else
				printf("-\n");
			continue;
		}
		printf("%s{\"domid\": %u, ", i ? ", " : "", d[i].domid);
		pvk_cmd_json_str("name", d[i].name, true);
		pvk_cmd_json_str("state", st, true);
		printf("\"pid\": %d, ", d[i].pid);
		pvk_cmd_json_str("type", type, true);
		printf("\"vcpus\": %u}", d[i].vcpus);
	}
}

void pvk_cmd_sim_err(const char *dir, int rc)
{
	const char *hint = getenv("PVKIT_DOMID");
	char path[PATH_MAX];
	struct stat st;

	switch (rc) {
	case -ENOENT:
	case -ECONNREFUSED:
		pvk_cmd_err("no simulator is running in %s: run `pvkit sim "
			    "start` first (or point --dir/PVKIT_SIM_DIR at it)",
			    dir);
		break;
	case -EACCES:
		if (hint && *hint)
			pvk_cmd_err("PVKIT_DOMID=%s does not match the domain "
				    "this process runs in: unset it",
				    hint);
		else
			pvk_cmd_err("this process belongs to a guest domain "
				    "that has ended: it may not use the "
				    "simulator in %s",
				    dir);
		break;
	case -EPERM:
		snprintf(path, sizeof(path), "%s/simd.sock", dir);
		if (stat(path, &st) < 0)
			st.st_uid = (uid_t)-1;
		pvk_cmd_err("the simulator in %s belongs to uid %d; only it "
			    "and root may use it: start your own with --dir "
			    "DIR or PVKIT_SIM_DIR=DIR",
			    dir, (int)st.st_uid);
		break;
	case -EPROTONOSUPPORT:
		pvk_cmd_err("the pvkit-simd running in %s is from another "
			    "pvkit version: restart it (`pvkit sim stop`, then "
			    "`pvkit sim start`)",
			    dir);
		break;
	case -EMFILE:
		pvk_cmd_err("this domain holds too many connections to the "
			    "simulator in %s (one per process): end some of "
			    "its processes",
			    dir);
		break;
	default:
		pvk_cmd_err("cannot reach the simulator in %s: %s", dir,
			    strerror(-rc));
		break;
	}
}

static void usage(FILE *f)
{
	const struct pvk_cmd_group *const *g;

	fprintf(f, "Usage: pvkit [--dir DIR] GROUP COMMAND [ARGS]\n"
		   "       pvkit --version\n\n");
	for (g = __start_pvk_cmd_groups; g < __stop_pvk_cmd_groups; g++) {
		const struct pvk_cmd *c;

		fprintf(f, "%s: %s\n", (*g)->name, (*g)->help);
		for (c = (*g)->cmds; c->name; c++)
			fprintf(f, "  pvkit %s %s%s%s\n      %s\n", (*g)->name,
				c->name, c->args ? " " : "",
				c->args ? c->args : "", c->help);
	}
	fprintf(f,
		"\nThe simulator's state directory: --dir DIR, else "
		"$PVKIT_SIM_DIR, else %s.\n",
		PVK_SIM_DEFAULT_DIR);
}

/* Take --dir out of argv (up to a "--"), into the environment. */
static int strip_global(int argc, char **argv)
{
	int i, o = 1;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < argc)
				argv[o++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			setenv("PVKIT_SIM_DIR", argv[++i], 1);
			continue;
		}
		if (!strncmp(argv[i], "--dir=", 6)) {
			setenv("PVKIT_SIM_DIR", argv[i] + 6, 1);
			continue;
		}
		argv[o++] = argv[i];
	}
	argv[o] = NULL;
	return o;
}

int main(int argc, char **argv)
{
	const struct pvk_cmd_group *const *g;
	const struct pvk_cmd *c;

	argc = strip_global(argc, argv);
	if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("pvkit %s\n", PVK_VERSION);
		return 0;
	}
	for (g = __start_pvk_cmd_groups; g < __stop_pvk_cmd_groups; g++) {
		if (strcmp((*g)->name, argv[1]))
			continue;
		if ((*g)->default_cmd &&
		    (argc < 3 || (argv[2][0] == '-' && strcmp(argv[2], "-h") &&
				  strcmp(argv[2], "--help")))) {
			/* argv[1] becomes the default command's argv[0]. */
			for (c = (*g)->cmds; c->name; c++)
				if (!strcmp(c->name, (*g)->default_cmd)) {
					argv[1] = (char *)c->name;
					return c->run(argc - 1, argv + 1);
				}
		}
		if (argc < 3) {
			pvk_cmd_err("'%s' needs a command; one of:", argv[1]);
			for (c = (*g)->cmds; c->name; c++)
				pvk_cmd_usage((*g)->name, c);
			return 2;
		}
		if (!strcmp(argv[2], "help") || !strcmp(argv[2], "-h") ||
		    !strcmp(argv[2], "--help")) {
			printf("%s: %s\n", (*g)->name, (*g)->help);
			for (c = (*g)->cmds; c->name; c++)
				printf("  pvkit %s %s%s%s\n      %s\n",
				       (*g)->name, c->name, c->args ? " " : "",
				       c->args ? c->args : "", c->help);
			return 0;
		}
		for (c = (*g)->cmds; c->name; c++) {
			if (strcmp(c->name, argv[2]))
				continue;
			/* --help anywhere before a "--", for every command. */
			if (pvk_cmd_help((*g)->name, argc - 2, argv + 2))
				return 0;
			return c->run(argc - 2, argv + 2);
		}
		pvk_cmd_err("unknown command '%s %s'; run `pvkit help`",
			    argv[1], argv[2]);
		return 2;
	}
	pvk_cmd_err("unknown command group '%s'; run `pvkit help`", argv[1]);
	return 2;
}
