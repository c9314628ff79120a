/* SPDX-License-Identifier: MIT */
/*
 * cmd.h -- the pvkit CLI's command table.  Each command group lives in its
 * own tools/cmd_<group>.c and registers itself with PVK_CMD_GROUP(); the
 * dispatcher (tools/pvkit.c) finds every registered group, so adding
 * `pvkit disk ...` is one new file plus a line in tools/pvkit.mk.
 *
 * A command's run() gets argv with argv[0] = the command's name and
 * returns the process exit status: 0 success, 1 failure (after printing
 * what went wrong, which value, and what to do), 2 usage error.
 */
#ifndef PVK_TOOLS_CMD_H
#define PVK_TOOLS_CMD_H

#include <stdbool.h>
#include <stdio.h>

struct pvk_cmd {
	const char *name;
	const char *args; /* synopsis of the arguments */
	const char *help; /* one line */
	int (*run)(int argc, char **argv);
};

struct pvk_cmd_group {
	const char *name;
	const char *help;
	const struct pvk_cmd *cmds; /* ends with { NULL } */
	/* Command run when none is named (`pvkit stats`, `pvkit stats
	 * --raw`), or NULL: then a command is required. */
	const char *default_cmd;
};

#define PVK_CMD_GROUP(var)                                               \
	static const struct pvk_cmd_group *const pvk_cmd_group_ptr_##var \
		__attribute__((used, section("pvk_cmd_groups"))) = &(var)

/* Print "usage: pvkit GROUP CMD ARGS" for @cmd of @group to stderr. */
void pvk_cmd_usage(const char *group, const struct pvk_cmd *cmd);
/* Print "pvkit: " + message to stderr. */
void pvk_cmd_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The simulator's state directory (--dir, $PVKIT_SIM_DIR or default),
 * absolute. */
const char *pvk_cmd_sim_dir(void);
/* If argv (a command's, up to a "--") asks for -h/--help, print the
 * command's usage to stdout and return true: the command returns 0. */
bool pvk_cmd_help(const char *group, int argc, char **argv);
/*
 * Machine-readable output (--json, README "Machine-readable output"):
 * print "@k": "@v" as a JSON member, escaped (NULL as ""), then ", " if
 * @comma.
 */
void pvk_cmd_json_str(const char *k, const char *v, bool comma);
struct pvk_sim_domain;
/* The simulator's domains as a table (ID NAME STATE PID) or, @json, an
 * array of {"domid", "name", "state", "pid"}. */
void pvk_cmd_print_domains(const struct pvk_sim_domain *d, int n, bool json);
/* Explain a pvk_sim_open() failure @rc for the simulator in @dir: what
 * went wrong and what to do. */
void pvk_cmd_sim_err(const char *dir, int rc);

#endif /* PVK_TOOLS_CMD_H */
