/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "t_dmodel.h"

static void *serve(void *arg)
{
	struct t_dmthread *t = arg;
	struct pollfd p[2];
	int err;

	for (;;) {
		p[0] = (struct pollfd){ .fd = pvk_dmodel_fd(t->dm),
					.events = POLLIN };
		p[1] = (struct pollfd){ .fd = t->stop_fd, .events = POLLIN };
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			return NULL;
		err = pvk_dmodel_handle(t->dm);
		if (err < 0) {
			t->err = err;
			return NULL;
		}
	}
}

int t_dmthread_start(struct t_dmthread *t, struct pvk_dmodel *dm)
{
	int err;

	t->dm = dm;
	t->err = 0;
	t->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (t->stop_fd < 0)
		return -errno;
	err = pthread_create(&t->thread, NULL, serve, t);
	if (err) {
		close(t->stop_fd);
		return -err;
	}
	return 0;
}

void t_dmthread_stop(struct t_dmthread *t)
{
	uint64_t one = 1;

	if (write(t->stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(t->thread, NULL);
	close(t->stop_fd);
}
