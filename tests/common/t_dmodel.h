/* SPDX-License-Identifier: MIT */
/*
 * t_dmodel.h -- tests of emulated devices: a device model (pvkit/dmodel.h)
 * served by a thread of its own, as pvkit-dm's main loop would, while the
 * test's thread is the guest's vCPU.
 */
#ifndef PVK_TESTS_T_DMODEL_H
#define PVK_TESTS_T_DMODEL_H

#include <pthread.h>

#include <pvkit/dmodel.h>

struct t_dmthread {
	struct pvk_dmodel *dm;
	pthread_t thread;
	int stop_fd;
	int err; /* pvk_dmodel_handle's first failure; it stops then */
};

/* Serve @dm until t_dmthread_stop(); 0 or -errno. */
int t_dmthread_start(struct t_dmthread *t, struct pvk_dmodel *dm);
void t_dmthread_stop(struct t_dmthread *t);

#endif /* PVK_TESTS_T_DMODEL_H */
