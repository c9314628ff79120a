/* SPDX-License-Identifier: MIT */
/*
 * t_toolstack.h -- a toolstack test double shared by the tests and
 * benchmarks that drive a backend in-process on the loop hypervisor: it
 * writes a split device's two directories the way libxl does (directories
 * made and given their permissions first, state nodes last, in one
 * transaction).
 */
#ifndef PVK_TESTS_T_TOOLSTACK_H
#define PVK_TESTS_T_TOOLSTACK_H

#include <stdint.h>

#include <pvkit/hv.h>

struct t_dev {
	const char *type; /* backend directory: "vif", "pvkmock" */
	const char *fe_type; /* the guest's: "vif" */
	uint32_t be, fe, devid;
	/* What the backend's frontend node says; NULL: the right path. */
	const char *fe_path;
	/* More backend nodes, "name=value", NULL-terminated; may be NULL. */
	const char *const *be_nodes;
	const char *const *fe_nodes;
};

/* Write @d as @tool (the control domain): 0 or -errno. */
int t_dev_attach(struct pvk_hv *tool, const struct t_dev *d);

#endif /* PVK_TESTS_T_TOOLSTACK_H */
