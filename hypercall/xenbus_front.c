// SPDX-License-Identifier: MIT
/*
 * hypercall/xenbus_front.c -- the frontend's half of the xenbus state
 * machine, shared by the frontend drivers (see pvkit/xenbus.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit/xenbus.h>

int pvk_xenbus_front_switch(struct pvk_xenbus_front *f,
			    enum pvk_xenbus_state st)
{
	int rc = pvk_xenbus_switch_state(&f->dev, st);

	if (rc == 0)
		f->fe_state = st;
	return rc;
}

int pvk_xenbus_front_rm(struct pvk_xenbus_front *f, pvk_xs_txn_t txn,
			const char *name)
{
	char path[PVK_XENBUS_PATH_MAX + 64];
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s",
			     pvk_xenbus_own_path(&f->dev),
			     name) >= sizeof(path))
		return -ENAMETOOLONG;
	rc = pvk_xs_rm(f->dev.hv, txn, path);
	return rc == -ENOENT ? 0 : rc;
}

bool pvk_xenbus_front_exists(struct pvk_xenbus_front *f)
{
	char *v = NULL;
	int rc = pvk_xenbus_read(&f->dev, PVK_XS_NO_TXN, false, "backend", &v);

	free(v);
	return rc != -ENOENT && rc != -EACCES; /* see read_state() */
}

/* The toolstack clears "online" before it removes a device. */
static bool backend_offline(struct pvk_xenbus_front *f)
{
	unsigned long v = 1;

	if (pvk_xenbus_read_feature(&f->dev, PVK_XS_NO_TXN, "online", 1, &v) <
	    0)
		return false;
	return v == 0;
}

static bool dead(const struct pvk_xenbus_front *f)
{
	return f->phase == PVK_XENBUS_FE_BROKEN ||
	       f->phase == PVK_XENBUS_FE_GONE;
}

static void teardown(struct pvk_xenbus_front *f, const char *why)
{
	if (f->phase == PVK_XENBUS_FE_CONNECTED ||
	    f->phase == PVK_XENBUS_FE_PUBLISHED)
		f->ops->teardown(f->drv, why);
}

static void gone(struct pvk_xenbus_front *f)
{
	if (f->phase != PVK_XENBUS_FE_GONE)
		f->ops->gone(f->drv);
}

/* A negotiation that failed for a reason of our own (memory, xenstore)
 * must not leave the device waiting for a connection that never comes. */
static int negotiated(struct pvk_xenbus_front *f, int rc)
{
	char why[96];

	if (rc < 0 && !dead(f)) {
		f->err = rc;
		snprintf(why, sizeof(why), "cannot connect to the backend: %s",
			 strerror(-rc));
		f->ops->fail(f->drv, why);
	}
	return rc;
}

static int talk(struct pvk_xenbus_front *f)
{
	int rc = f->ops->talk(f->drv);

	if (rc < 0)
		return rc;
	f->phase = PVK_XENBUS_FE_PUBLISHED;
	return pvk_xenbus_front_switch(f, f->publish_state);
}

int pvk_xenbus_front_step(struct pvk_xenbus_front *f)
{
	int be, rc = 0;

	if (dead(f))
		return 0;
	be = pvk_xenbus_read_state(&f->dev, true);
	if (be < 0) {
		if (be == -EPROTO)
			f->ops->fail(f->drv, "backend state node malformed");
		return be;
	}
	switch (be) {
	case PVK_XENBUS_UNKNOWN:
		/* The backend's directory went away: removed, or the peer
		 * is being re-created.  Only a missing frontend dir is final. */
		teardown(f, "state vanished");
		if (!pvk_xenbus_front_exists(f))
			gone(f);
		break;
	case PVK_XENBUS_INITIALISING:
	case PVK_XENBUS_INITIALISED:
		if (f->phase == PVK_XENBUS_FE_CONNECTED)
			teardown(f, "restarted");
		break;
	case PVK_XENBUS_INITWAIT:
		if (f->closing || f->phase == PVK_XENBUS_FE_PUBLISHED)
			break;
		if (!pvk_xenbus_front_exists(f)) {
			/* Removed: publishing would recreate the directory. */
			teardown(f, "device removed");
			gone(f);
			break;
		}
		/* Connected and the backend waits for us again: it was
		 * restarted and has forgotten the old rings. */
		teardown(f, "restarted");
		rc = negotiated(f, talk(f));
		break;
	case PVK_XENBUS_CONNECTED:
		if (f->phase == PVK_XENBUS_FE_PUBLISHED) {
			rc = negotiated(f, f->ops->connect(f->drv));
		} else if (f->phase == PVK_XENBUS_FE_CONNECTED) {
			if (f->ops->changed)
				rc = f->ops->changed(f->drv);
		} else if (!f->closing && f->fe_state != PVK_XENBUS_CLOSED) {
			/* Still connected to an earlier frontend's rings:
			 * ask it to close, then start over from Closed. */
			rc = pvk_xenbus_front_switch(f, PVK_XENBUS_CLOSED);
		}
		break;
	case PVK_XENBUS_CLOSING:
	case PVK_XENBUS_CLOSED:
		teardown(f, pvk_xenbus_state_name(be));
		if (backend_offline(f) || !pvk_xenbus_front_exists(f)) {
			/* Detached: say Closed (as Linux's frontends do), so
			 * the toolstack need not wait for its timeout. */
			if (f->fe_state != PVK_XENBUS_CLOSED)
				pvk_xenbus_front_switch(f, PVK_XENBUS_CLOSED);
			gone(f);
			break;
		}
		if (be == PVK_XENBUS_CLOSING || f->closing) {
			if (f->fe_state != PVK_XENBUS_CLOSED)
				rc = pvk_xenbus_front_switch(f,
							     PVK_XENBUS_CLOSED);
		} else if (f->fe_state != PVK_XENBUS_INITIALISING) {
			/* Closed and still online: ask for a new connection. */
			rc = pvk_xenbus_front_switch(f,
						     PVK_XENBUS_INITIALISING);
		}
		break;
	default:
		break;
	}
	return rc;
}

int pvk_xenbus_front_handle(struct pvk_xenbus_front *f)
{
	char *path, *token;
	bool mine = false;
	int rc;

	while ((rc = pvk_xs_read_watch(f->dev.hv, &path, &token)) > 0) {
		if (!strcmp(token, f->token))
			mine = true;
		free(path);
		free(token);
	}
	if (rc < 0)
		return rc;
	return mine ? pvk_xenbus_front_step(f) : 0;
}

int pvk_xenbus_front_init(struct pvk_xenbus_front *f, struct pvk_hv *hv,
			  const char *type, uint32_t devid,
			  const struct pvk_xenbus_front_ops *ops, void *drv,
			  enum pvk_xenbus_state publish_state)
{
	int rc;

	f->ops = ops;
	f->drv = drv;
	f->publish_state = publish_state;
	f->phase = PVK_XENBUS_FE_DISCONNECTED;
	f->err = 0;
	f->be_state_path[0] = '\0';
	rc = pvk_xenbus_frontend_init(&f->dev, hv, type, devid);
	if (rc < 0)
		return rc;
	f->fe_state = pvk_xenbus_read_state(&f->dev, false);
	snprintf(f->token, sizeof(f->token), "pvk-fe/%s/%u/%p", type, devid,
		 (void *)f);
	rc = pvk_xenbus_watch_peer_state(&f->dev, f->token);
	if (rc < 0)
		return rc;
	snprintf(f->be_state_path, sizeof(f->be_state_path), "%s/state",
		 pvk_xenbus_peer_path(&f->dev));
	return 0;
}

void pvk_xenbus_front_fini(struct pvk_xenbus_front *f)
{
	char *path, *token;

	if (!f->be_state_path[0])
		return;
	pvk_xs_unwatch(f->dev.hv, f->be_state_path, f->token);
	/* Drop events already queued for our token. */
	while (pvk_xs_read_watch(f->dev.hv, &path, &token) > 0) {
		free(path);
		free(token);
	}
	f->be_state_path[0] = '\0';
}
