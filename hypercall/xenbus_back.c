/* SPDX-License-Identifier: MIT */
/*
 * The backend bus (pvkit/xenbus.h): backend directory watches, device
 * probe and removal, and the level-triggered xenbus state machine that
 * every backend driver shares.  The drivers' ops do the rest.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/xenbus.h>
#include <pvkit/spin.h>

#define BUS_MAX_DRIVERS 8
#define HANDOVER_NODE "pvkit-handover"
/* Reconnections per device: a burst of RECONNECT_BURST, then one per
 * reconnect_ms (RECONNECT_MS, or $PVKIT_RECONNECT_MS; 0: no limit): a
 * frontend that reconnects in a loop because connecting keeps failing --
 * no event channel, no grant, values we refuse -- costs a wake-up a
 * second, not a core. */
#define RECONNECT_BURST 8
#define RECONNECT_MS 1000
#define RECONNECT_MS_MAX PVK_XENBUS_RECONNECT_MS_MAX
#define PUBLISH_RETRY_MS 500

struct bus_drv {
	const struct pvk_xenbus_driver *drv;
	void *arg;
	char base[96]; /* /local/domain/<self>/backend/<type> */
	char token[PVK_XENBUS_TYPE_MAX + 4]; /* "be/<type>" */
};

struct pvk_xenbus_bus {
	struct pvk_hv *hv;
	pvk_log_fn *log;
	void *log_arg;
	pthread_mutex_t log_lock;
	uint32_t self;
	bool rel_watched, shutting_down;
	struct bus_drv drvs[BUS_MAX_DRIVERS];
	unsigned int nr_drvs;
	struct pvk_xenbus_backdev *devs;
	int epfd, tfd, xsfd; /* the bus fd: xenstore's fd and a timer */
	uint64_t reconnect_ms;
};

typedef struct pvk_xenbus_backdev bdev_t;

static const char *const phase_names[] = {
	[PVK_XENBUS_PH_FAILED] = "failed",
	[PVK_XENBUS_PH_INITWAIT] = "InitWait",
	[PVK_XENBUS_PH_CONNECTED] = "Connected",
	[PVK_XENBUS_PH_CLOSING] = "Closing",
	[PVK_XENBUS_PH_CLOSED] = "Closed",
};

const char *pvk_xenbus_phase_name(int phase)
{
	if (phase < 0 || phase > PVK_XENBUS_PH_CLOSED)
		return "invalid";
	return phase_names[phase];
}

static void log_stderr(void *arg, const char *line)
{
	struct timespec ts;
	struct tm tm;
	char t[32];

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(t, sizeof(t), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld pvkit-backd: %s\n", t, ts.tv_nsec / 1000000,
		line);
}

void pvk_xenbus_bus_log(struct pvk_xenbus_bus *bus, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&bus->log_lock);
	bus->log(bus->log_arg, line);
	pthread_mutex_unlock(&bus->log_lock);
}

struct pvk_hv *pvk_xenbus_bus_hv(struct pvk_xenbus_bus *bus)
{
	return bus->hv;
}

int pvk_xenbus_backdev_watch_fe(struct pvk_xenbus_backdev *d, const char *name)
{
	char path[PVK_XENBUS_PATH_MAX + 40];
	unsigned int i;
	int err;

	if (!name || !*name || strlen(name) >= sizeof(d->fe_nodes[0]) ||
	    strchr(name, '.'))
		return -EINVAL;
	for (i = 0; i < d->nr_fe_nodes; i++)
		if (!strcmp(d->fe_nodes[i], name))
			return 0;
	if (d->nr_fe_nodes == PVK_XENBUS_FE_WATCH_MAX)
		return -ENOSPC;
	snprintf(d->fn_token, sizeof(d->fn_token), "fn/%s/%u/%u", d->drv->type,
		 d->xb.fe_domid, d->xb.devid);
	snprintf(path, sizeof(path), "%s/%s", d->xb.fe_path, name);
	err = pvk_xs_watch(d->bus->hv, path, d->fn_token);
	if (err < 0)
		return err;
	snprintf(d->fe_nodes[d->nr_fe_nodes++], sizeof(d->fe_nodes[0]), "%s",
		 name);
	return 0;
}

int pvk_xenbus_backdev_read_uint(bdev_t *d, const char *name, unsigned long def,
				 unsigned long *v)
{
	char path[PVK_XENBUS_PATH_MAX + 64];
	int err;

	snprintf(path, sizeof(path), "%s/%s", d->xb.be_path, name);
	err = pvk_xs_read_uint(d->bus->hv, PVK_XS_NO_TXN, path, v);
	if (err == -ENOENT) {
		*v = def;
		return 0;
	}
	return err;
}

static void dev_switch(bdev_t *d, enum pvk_xenbus_state st, int phase,
		       const char *why)
{
	int err = pvk_xenbus_switch_state(&d->xb, st);

	d->phase = phase;
	if (err < 0)
		pvk_xenbus_bus_log(d->bus, "%s: writing state %s: %s", d->name,
				   pvk_xenbus_state_name(st), strerror(-err));
	else
		pvk_xenbus_bus_log(d->bus, "%s: %s%s%s", d->name,
				   pvk_xenbus_state_name(st), why ? " - " : "",
				   why ? why : "");
}

/* The driver's features, in a transaction that first checks the device
 * directory is still there: a toolstack that removed it meanwhile (a
 * forced detach) must not see it come back. */
static int publish_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	bdev_t *d = arg;
	char *v;
	int err;

	err = pvk_xs_read(hv, t, d->xb.be_path, &v);
	if (err < 0)
		return err;
	free(v);
	return d->drv->publish ? d->drv->publish(d, t) : 0;
}

static void bus_arm(struct pvk_xenbus_bus *bus);

/* Offer the device (InitWait).  A failure (xenstore kept conflicting,
 * quota) is tried again after PUBLISH_RETRY_MS: nothing else would. */
static void dev_publish(bdev_t *d, const char *why)
{
	int err = pvk_xs_transaction(d->bus->hv, 0, publish_txn, d);

	if (err == -ENOENT) /* removed: the scan drops it */
		return;
	if (err < 0) {
		pvk_xenbus_bus_log(d->bus,
				   "%s: publishing features: %s (trying "
				   "again in %d ms)",
				   d->name, strerror(-err), PUBLISH_RETRY_MS);
		d->deferred = true;
		d->retry_at_ms = pvk_spin_clock_ms() + PUBLISH_RETRY_MS;
		bus_arm(d->bus);
		return;
	}
	d->deferred = false;
	d->fe_closed_in_order = false;
	dev_switch(d, PVK_XENBUS_INITWAIT, PVK_XENBUS_PH_INITWAIT, why);
}

/* Arm the bus timer for the earliest deferred device (or disarm it). */
static void bus_arm(struct pvk_xenbus_bus *bus)
{
	struct itimerspec it = { 0 };
	uint64_t first = UINT64_MAX, now = pvk_spin_clock_ms();
	bdev_t *d;

	for (d = bus->devs; d; d = d->next)
		if (d->deferred && d->retry_at_ms < first)
			first = d->retry_at_ms;
	if (first != UINT64_MAX) {
		first = first > now ? first - now : 1;
		it.it_value.tv_sec = (time_t)(first / 1000);
		it.it_value.tv_nsec = (long)(first % 1000) * 1000000;
	}
	timerfd_settime(bus->tfd, 0, &it, NULL);
}

/* Offer the device again (InitWait) after a disconnection, at most at
 * the reconnection rate (GCRA: a burst, then one per RECONNECT_MS);
 * otherwise wait in Closed and let the bus timer bring it back. */
static void dev_republish(bdev_t *d, const char *why)
{
	uint64_t now = pvk_spin_clock_ms(), tat = d->reconnect_tat_ms;
	const uint64_t slack = (RECONNECT_BURST - 1) * d->bus->reconnect_ms;

	if (tat < now)
		tat = now;
	if (tat - now > slack) {
		if (!d->deferred)
			pvk_xenbus_bus_log(
				d->bus,
				"%s: reconnecting too often: the "
				"next try in %llu ms",
				d->name,
				(unsigned long long)(tat - now - slack));
		d->deferred = true;
		d->retry_at_ms = tat - slack;
		bus_arm(d->bus);
		return;
	}
	d->deferred = false;
	d->reconnect_tat_ms = tat + d->bus->reconnect_ms;
	dev_publish(d, why);
}

static void dev_go_closing(bdev_t *d, const char *why)
{
	d->drv->disconnect(d);
	dev_switch(d, PVK_XENBUS_CLOSING, PVK_XENBUS_PH_CLOSING, why);
}

void pvk_xenbus_backdev_close(bdev_t *d, const char *why)
{
	if (d->phase == PVK_XENBUS_PH_CONNECTED ||
	    d->phase == PVK_XENBUS_PH_INITWAIT)
		dev_go_closing(d, why);
}

static void dev_connect(bdev_t *d)
{
	char msg[256] = "";
	int err;

	err = d->drv->connect(d, msg, sizeof(msg));
	if (err < 0) {
		if (!msg[0])
			snprintf(msg, sizeof(msg), "connecting: %s",
				 strerror(-err));
		dev_go_closing(d, msg);
		return;
	}
	dev_switch(d, PVK_XENBUS_CONNECTED, PVK_XENBUS_PH_CONNECTED,
		   msg[0] ? msg : NULL);
}

static bdev_t *dev_find(struct pvk_xenbus_bus *bus, const struct bus_drv *bd,
			uint32_t fe, uint32_t devid)
{
	bdev_t *d;

	for (d = bus->devs; d; d = d->next)
		if (d->drv == bd->drv && d->xb.fe_domid == fe &&
		    d->xb.devid == devid)
			return d;
	return NULL;
}

/* Unlink and free; the driver's state first. */
static void dev_free(bdev_t *d)
{
	struct pvk_xenbus_bus *bus = d->bus;
	bdev_t **pp;

	d->drv->disconnect(d);
	if (d->fe_watched) {
		char path[PVK_XENBUS_PATH_MAX + 8];

		snprintf(path, sizeof(path), "%s/state", d->xb.fe_path);
		pvk_xs_unwatch(bus->hv, path, d->fe_token);
	}
	for (unsigned int i = 0; i < d->nr_fe_nodes; i++) {
		char path[PVK_XENBUS_PATH_MAX + 40];

		snprintf(path, sizeof(path), "%s/%s", d->xb.fe_path,
			 d->fe_nodes[i]);
		pvk_xs_unwatch(bus->hv, path, d->fn_token);
	}
	d->drv->remove(d);
	for (pp = &bus->devs; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	free(d);
}

static void dev_drop(bdev_t *d, const char *why)
{
	pvk_xenbus_bus_log(d->bus, "%s: removed (%s)", d->name, why);
	dev_free(d);
}

static void drop_note(bdev_t *d)
{
	char path[PVK_XENBUS_PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/%s", d->xb.be_path, HANDOVER_NODE);
	pvk_xs_rm(d->bus->hv, PVK_XS_NO_TXN, path);
}

/* Resume rings a previous instance handed over, if it left a note. */
static bool dev_resume(bdev_t *d)
{
	char *note = NULL, msg[256] = "";
	int err;

	if (pvk_xenbus_read(&d->xb, PVK_XS_NO_TXN, false, HANDOVER_NODE,
			    &note) < 0)
		return false;
	drop_note(d);
	err = d->drv->resume ? d->drv->resume(d, note, msg, sizeof(msg)) :
			       -EOPNOTSUPP;
	free(note);
	if (err < 0) {
		pvk_xenbus_bus_log(d->bus,
				   "%s: not resuming the rings handed over: "
				   "%s",
				   d->name, msg[0] ? msg : strerror(-err));
		return false;
	}
	d->phase = PVK_XENBUS_PH_CONNECTED;
	pvk_xenbus_bus_log(d->bus,
			   "%s: Connected - resumed the rings handed over by "
			   "the previous instance%s%s%s",
			   d->name, msg[0] ? " (" : "", msg, msg[0] ? ")" : "");
	return true;
}

/* Resume rings a crashed predecessor left, if the driver kept enough. */
static bool dev_recover(bdev_t *d)
{
	char msg[320] = "";
	int err;

	if (!d->drv->recover)
		return false;
	err = d->drv->recover(d, msg, sizeof(msg));
	if (err < 0) {
		pvk_xenbus_bus_log(d->bus,
				   "%s: cannot recover the rings of the "
				   "previous instance: %s",
				   d->name, msg[0] ? msg : strerror(-err));
		return false;
	}
	d->phase = PVK_XENBUS_PH_CONNECTED;
	pvk_xenbus_bus_log(d->bus,
			   "%s: Connected - recovered the rings of the "
			   "previous instance, which stopped without handing "
			   "them over%s%s%s",
			   d->name, msg[0] ? " (" : "", msg, msg[0] ? ")" : "");
	return true;
}

static void dev_probe(struct pvk_xenbus_bus *bus, const struct bus_drv *bd,
		      uint32_t fe, uint32_t devid)
{
	char path[PVK_XENBUS_PATH_MAX + 8];
	unsigned long online;
	int err, sb, sf;
	bdev_t *d;

	d = calloc(1, sizeof(*d));
	if (!d)
		return;
	d->bus = bus;
	d->drv = bd->drv;
	d->drv_arg = bd->arg;
	snprintf(d->name, sizeof(d->name), "%s %u/%u", bd->drv->name, fe,
		 devid);
	err = pvk_xenbus_backend_init_as(&d->xb, bus->hv, bd->drv->type,
					 bd->drv->fe_type, fe, devid);
	if (err < 0) {
		/* Half-written by a toolstack (or not a device): the next
		 * event under it probes again. */
		if (err != -ENOENT)
			pvk_xenbus_bus_log(bus,
					   "%s: ignored: bad frontend/"
					   "frontend-id (%s)",
					   d->name, strerror(-err));
		goto free_dev;
	}
	/* Not yet written, or being detached (online = 0): not ours. */
	sb = pvk_xenbus_read_state(&d->xb, false);
	if (sb <= PVK_XENBUS_UNKNOWN ||
	    pvk_xenbus_backdev_read_uint(d, "online", 1, &online) < 0 ||
	    online == 0)
		goto free_dev;
	err = bd->drv->probe(d);
	if (err == -EAGAIN)
		goto free_dev;
	d->next = bus->devs;
	bus->devs = d;
	if (err < 0) {
		d->phase = PVK_XENBUS_PH_FAILED;
		return;
	}

	snprintf(d->fe_token, sizeof(d->fe_token), "fe/%s/%u/%u", bd->drv->type,
		 fe, devid);
	snprintf(path, sizeof(path), "%s/state", d->xb.fe_path);
	if (pvk_xs_watch(bus->hv, path, d->fe_token) == 0)
		d->fe_watched = true;

	sf = pvk_xenbus_read_state(&d->xb, true);
	/* Rings a previous instance handed over are resumed; those it left
	 * by crashing cannot be: its consumer index is lost. */
	if (sb == PVK_XENBUS_CONNECTED && sf == PVK_XENBUS_CONNECTED &&
	    dev_resume(d))
		return;
	/* A note not used now is stale: the rings it described are gone or
	 * about to be, and must never be resumed after a later crash. */
	drop_note(d);
	if (sb == PVK_XENBUS_CONNECTED &&
	    (sf == PVK_XENBUS_CONNECTED || sf == PVK_XENBUS_INITIALISED) &&
	    dev_recover(d))
		return;
	if (sf == PVK_XENBUS_CONNECTED ||
	    (sf == PVK_XENBUS_INITIALISED &&
	     (sb == PVK_XENBUS_CONNECTED || sb == PVK_XENBUS_CLOSING ||
	      sb == PVK_XENBUS_CLOSED))) {
		dev_switch(d, PVK_XENBUS_CLOSING, PVK_XENBUS_PH_CLOSING,
			   "rings of a previous backend: frontend must "
			   "reconnect");
		return;
	}
	if (sf == PVK_XENBUS_CLOSING) {
		d->phase = PVK_XENBUS_PH_CLOSING;
		return;
	}
	dev_publish(d, NULL);
	return;

free_dev:
	free(d);
}

static bool domain_gone(struct pvk_xenbus_bus *bus, uint32_t domid)
{
	struct pvk_domain_info info;
	int err = pvk_hv_domain_info(bus->hv, domid, &info);

	return err == -ENOENT || (err == 0 && info.dying);
}

/* Drop @d and remove its backend directory, as libxl does when it
 * destroys the frontend's domain. */
static void dev_drop_rm(bdev_t *d, const char *why)
{
	struct pvk_hv *hv = d->bus->hv;
	char path[PVK_XENBUS_PATH_MAX];

	memcpy(path, d->xb.be_path, sizeof(path));
	dev_drop(d, why);
	pvk_xs_rm(hv, PVK_XS_NO_TXN, path);
}

/* Move @d one step towards what online, our state and the frontend's
 * state ask for.  May free @d. */
static void reconcile(bdev_t *d)
{
	struct pvk_xenbus_bus *bus = d->bus;
	unsigned long online = 1;
	int sb, sf;

	if (d->phase == PVK_XENBUS_PH_FAILED) {
		/* Never served; still let go with the domain. */
		if (domain_gone(bus, d->xb.fe_domid))
			dev_drop_rm(d, "frontend domain gone");
		else if (d->deferred && d->retry_at_ms <= pvk_spin_clock_ms())
			dev_publish(d, NULL); /* the first offer failed */
		return;
	}
	if (pvk_xenbus_backdev_read_uint(d, "online", 1, &online) < 0)
		online = 1;
	sb = pvk_xenbus_read_state(&d->xb, false);
	sf = pvk_xenbus_read_state(&d->xb, true);
	if (sf < 0)
		sf = PVK_XENBUS_UNKNOWN; /* garbage: as if absent */
	/* A toolstack detaching writes online=0 and our state Closing. */
	if (online == 0 ||
	    ((sb == PVK_XENBUS_CLOSING || sb == PVK_XENBUS_CLOSED) &&
	     (d->phase == PVK_XENBUS_PH_INITWAIT ||
	      d->phase == PVK_XENBUS_PH_CONNECTED)))
		d->want_close = true;

	switch (sf) {
	case PVK_XENBUS_INITIALISED:
	case PVK_XENBUS_CONNECTED:
		if (d->want_close || bus->shutting_down) {
			if (d->phase == PVK_XENBUS_PH_INITWAIT ||
			    d->phase == PVK_XENBUS_PH_CONNECTED)
				dev_go_closing(d, "detach requested");
		} else if (d->phase == PVK_XENBUS_PH_INITWAIT) {
			if (sf == PVK_XENBUS_CONNECTED ||
			    d->drv->connect_on_initialised)
				dev_connect(d);
		} else if (d->phase == PVK_XENBUS_PH_CLOSED) {
			dev_republish(d, NULL);
		}
		break;
	case PVK_XENBUS_CLOSING:
		if (d->phase == PVK_XENBUS_PH_CONNECTED ||
		    d->phase == PVK_XENBUS_PH_INITWAIT) {
			d->fe_closed_in_order = true;
			dev_go_closing(d, "frontend closing");
		}
		break;
	case PVK_XENBUS_CLOSED:
		if (d->phase == PVK_XENBUS_PH_CONNECTED ||
		    d->phase == PVK_XENBUS_PH_CLOSING ||
		    (d->phase == PVK_XENBUS_PH_INITWAIT && d->want_close)) {
			d->drv->disconnect(d);
			dev_switch(d, PVK_XENBUS_CLOSED, PVK_XENBUS_PH_CLOSED,
				   "frontend closed");
		}
		if (d->phase != PVK_XENBUS_PH_CLOSED)
			break;
		if (d->want_close) {
			dev_drop(d, "detached");
			return;
		}
		/* A frontend that closed in order on its own stays Closed
		 * until it says Initialising (below), as Linux's backends
		 * have it: it may be waiting to read our Closed
		 * (xen-netfront's remove polls for it every 5 s, for ever).
		 * One that dropped to Closed, or closed because we did, is
		 * offered the device again at once. */
		if (!d->fe_closed_in_order && !bus->shutting_down)
			dev_republish(d, "ready for the frontend to reconnect");
		break;
	case PVK_XENBUS_INITIALISING:
	case PVK_XENBUS_INITWAIT:
		if (d->want_close) {
			d->drv->disconnect(d);
			dev_switch(d, PVK_XENBUS_CLOSED, PVK_XENBUS_PH_CLOSED,
				   "detached before connecting");
			dev_drop(d, "detached");
			return;
		}
		if (d->phase == PVK_XENBUS_PH_CONNECTED)
			d->drv->disconnect(d);
		if (d->phase != PVK_XENBUS_PH_INITWAIT && !bus->shutting_down)
			dev_republish(d, "frontend restarted");
		break;
	default:
		if (d->phase == PVK_XENBUS_PH_CONNECTED)
			dev_go_closing(d, "frontend state vanished");
		if (domain_gone(bus, d->xb.fe_domid)) {
			dev_drop_rm(d, "frontend domain gone");
			return;
		}
		if (d->want_close) {
			dev_switch(d, PVK_XENBUS_CLOSED, PVK_XENBUS_PH_CLOSED,
				   "detached without a frontend");
			dev_drop(d, "detached");
		}
		break;
	}
}

static bool parse_uint(const char *s, uint32_t max, uint32_t *v)
{
	char *end;
	unsigned long n;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || n > max)
		return false;
	*v = (uint32_t)n;
	return true;
}

/* List a driver's backend directory: probe new devices, drop vanished. */
static void scan(struct pvk_xenbus_bus *bus, const struct bus_drv *bd)
{
	char **fes = NULL, **ids = NULL, path[PVK_XENBUS_PATH_MAX + 16];
	int nfe, nid, i, j;
	uint32_t fe, id;
	bdev_t *d, *next;

	for (d = bus->devs; d; d = d->next)
		if (d->drv == bd->drv)
			d->listed = false;
	nfe = pvk_xs_directory(bus->hv, PVK_XS_NO_TXN, bd->base, &fes);
	for (i = 0; i < nfe; i++) {
		if (!parse_uint(fes[i], PVK_DOMID_MAX, &fe))
			continue;
		snprintf(path, sizeof(path), "%s/%u", bd->base, fe);
		nid = pvk_xs_directory(bus->hv, PVK_XS_NO_TXN, path, &ids);
		for (j = 0; j < nid; j++) {
			if (!parse_uint(ids[j], UINT32_MAX, &id))
				continue;
			d = dev_find(bus, bd, fe, id);
			if (!d && !bus->shutting_down) {
				dev_probe(bus, bd, fe, id);
				d = dev_find(bus, bd, fe, id);
			}
			if (d)
				d->listed = true;
		}
		free(ids);
		ids = NULL;
	}
	free(fes);
	if (nfe < 0 && nfe != -ENOENT)
		return; /* do not drop devices on a failed read */
	for (d = bus->devs; d; d = next) {
		next = d->next;
		if (d->drv == bd->drv && !d->listed)
			dev_drop(d, "backend directory removed");
	}
}

static void reconcile_all(struct pvk_xenbus_bus *bus)
{
	bdev_t *d, *next;

	for (d = bus->devs; d; d = next) {
		next = d->next;
		reconcile(d);
	}
}

/*
 * Which devices an event concerns: a frontend state watch names one; under
 * a driver's directory, a known device's state or online node names it,
 * another of its nodes goes to the driver's node_changed (our own feature
 * writes end there, and are ignored without one); anything else (a device
 * appearing or going, @releaseDomain) asks for a rescan of that driver, or
 * of all.
 */
static void classify(struct pvk_xenbus_bus *bus, const char *path,
		     const char *token, bool *rescan)
{
	const struct bus_drv *bd;
	char leaf[64], type[PVK_XENBUS_TYPE_MAX];
	uint32_t fe, id;
	unsigned int i;
	size_t bl;
	bdev_t *d;
	int n;

	if (sscanf(token, "fn/%15[^/]/%u/%u%n", type, &fe, &id, &n) == 3 &&
	    !token[n]) {
		for (d = bus->devs; d; d = d->next) {
			bl = strlen(d->xb.fe_path);
			if (!strcmp(d->drv->type, type) &&
			    d->xb.fe_domid == fe && d->xb.devid == id &&
			    d->drv->fe_node_changed &&
			    !strncmp(path, d->xb.fe_path, bl) &&
			    path[bl] == '/')
				d->drv->fe_node_changed(d, path + bl + 1);
		}
		return;
	}
	if (sscanf(token, "fe/%15[^/]/%u/%u%n", type, &fe, &id, &n) == 3 &&
	    !token[n]) {
		for (d = bus->devs; d; d = d->next)
			if (!strcmp(d->drv->type, type) &&
			    d->xb.fe_domid == fe && d->xb.devid == id)
				d->dirty = true;
		return;
	}
	for (i = 0; i < bus->nr_drvs; i++) {
		bd = &bus->drvs[i];
		if (strcmp(token, bd->token))
			continue;
		bl = strlen(bd->base);
		if (!strncmp(path, bd->base, bl) && path[bl] == '/' &&
		    sscanf(path + bl, "/%u/%u/%63s", &fe, &id, leaf) == 3 &&
		    (d = dev_find(bus, bd, fe, id))) {
			if (!strcmp(leaf, "state") || !strcmp(leaf, "online"))
				d->dirty = true;
			else if (bd->drv->node_changed &&
				 d->phase != PVK_XENBUS_PH_FAILED)
				bd->drv->node_changed(d, leaf);
			return;
		}
		rescan[i] = true;
		return;
	}
	for (i = 0; i < bus->nr_drvs; i++)
		rescan[i] = true;
}

/* The bus fd is an epoll set of xenstore's watch fd and the timer: keep
 * it on the watch fd the handle has now. */
static int bus_track_xsfd(struct pvk_xenbus_bus *bus)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int fd = pvk_xs_watch_fd(bus->hv);

	if (fd == bus->xsfd)
		return 0;
	if (bus->xsfd >= 0)
		epoll_ctl(bus->epfd, EPOLL_CTL_DEL, bus->xsfd, NULL);
	bus->xsfd = -1;
	if (fd < 0)
		return fd;
	if (epoll_ctl(bus->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	bus->xsfd = fd;
	return 0;
}

int pvk_xenbus_bus_handle_events(struct pvk_xenbus_bus *bus)
{
	bool rescan[BUS_MAX_DRIVERS] = { false };
	bdev_t *d, *next;
	char *path, *token;
	unsigned int i;
	uint64_t expired, now;
	int n, err = 0;

	err = bus_track_xsfd(bus);
	if (err < 0)
		return err;
	if (read(bus->tfd, &expired, sizeof(expired)) > 0) {
		now = pvk_spin_clock_ms();
		for (d = bus->devs; d; d = d->next)
			if (d->deferred && d->retry_at_ms <= now)
				d->dirty = true;
	}
	while ((n = pvk_xs_read_watch(bus->hv, &path, &token)) == 1) {
		classify(bus, path, token, rescan);
		free(path);
		free(token);
	}
	if (n < 0)
		err = n;
	for (i = 0; i < bus->nr_drvs; i++) {
		if (!rescan[i])
			continue;
		scan(bus, &bus->drvs[i]);
		for (d = bus->devs; d; d = d->next)
			if (d->drv == bus->drvs[i].drv)
				d->dirty = true;
	}
	for (d = bus->devs; d; d = next) {
		next = d->next;
		if (!d->dirty)
			continue;
		d->dirty = false;
		reconcile(d);
	}
	bus_arm(bus);
	return err;
}

int pvk_xenbus_bus_fd(struct pvk_xenbus_bus *bus)
{
	return bus->epfd;
}

int pvk_xenbus_bus_count(struct pvk_xenbus_bus *bus,
			 const struct pvk_xenbus_driver *drv, int *connected)
{
	bdev_t *d;
	int n = 0, c = 0;

	for (d = bus->devs; d; d = d->next) {
		if (drv && d->drv != drv)
			continue;
		n++;
		c += d->phase == PVK_XENBUS_PH_CONNECTED;
	}
	if (connected)
		*connected = c;
	return n;
}

bdev_t *pvk_xenbus_bus_next(struct pvk_xenbus_bus *bus,
			    const struct pvk_xenbus_driver *drv, bdev_t *prev)
{
	bdev_t *d = prev ? prev->next : bus->devs;

	while (d && drv && d->drv != drv)
		d = d->next;
	return d;
}

static uint64_t reconnect_ms(void)
{
	const char *e = getenv("PVKIT_RECONNECT_MS");
	unsigned long v;
	char *end;

	if (!e || !*e)
		return RECONNECT_MS;
	errno = 0;
	v = strtoul(e, &end, 10);
	if (errno || *end || *e == '-' || v > RECONNECT_MS_MAX) {
		fprintf(stderr,
			"pvkit: PVKIT_RECONNECT_MS='%s' ignored: milliseconds "
			"between a device's reconnections, 0 to %u (0: no "
			"limit)\n",
			e, RECONNECT_MS_MAX);
		return RECONNECT_MS;
	}
	return v;
}

int pvk_xenbus_bus_set_reconnect_ms(struct pvk_xenbus_bus *bus, unsigned int ms)
{
	if (ms > RECONNECT_MS_MAX)
		return -EINVAL;
	bus->reconnect_ms = ms;
	return 0;
}

int pvk_xenbus_bus_create(struct pvk_xenbus_bus **out, struct pvk_hv *hv,
			  pvk_log_fn *log, void *log_arg)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct pvk_xenbus_bus *bus;
	int err;

	*out = NULL;
	bus = calloc(1, sizeof(*bus));
	if (!bus)
		return -ENOMEM;
	bus->hv = hv;
	bus->log = log ? log : log_stderr;
	bus->log_arg = log_arg;
	bus->self = pvk_hv_domid(hv);
	bus->xsfd = -1;
	bus->reconnect_ms = reconnect_ms();
	bus->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (bus->epfd < 0) {
		err = -errno;
		goto free_bus;
	}
	bus->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (bus->tfd < 0) {
		err = -errno;
		goto close_epfd;
	}
	if (epoll_ctl(bus->epfd, EPOLL_CTL_ADD, bus->tfd, &ev) < 0) {
		err = -errno;
		goto close_tfd;
	}
	err = bus_track_xsfd(bus);
	if (err < 0)
		goto close_tfd;
	pthread_mutex_init(&bus->log_lock, NULL);
	err = pvk_xs_watch(hv, "@releaseDomain", "rel");
	if (err < 0)
		goto destroy_lock;
	bus->rel_watched = true;
	*out = bus;
	return 0;

destroy_lock:
	pthread_mutex_destroy(&bus->log_lock);
close_tfd:
	close(bus->tfd);
close_epfd:
	close(bus->epfd);
free_bus:
	free(bus);
	return err;
}

static bool type_ok(const char *t)
{
	return t && *t && !strchr(t, '/') &&
	       strlen(t) < PVK_XENBUS_TYPE_MAX - 1;
}

int pvk_xenbus_bus_register(struct pvk_xenbus_bus *bus,
			    const struct pvk_xenbus_driver *drv, void *arg)
{
	struct bus_drv *bd;
	unsigned int i;
	int err;

	if (!drv || !type_ok(drv->type) || !type_ok(drv->fe_type) ||
	    !drv->name || !drv->probe || !drv->connect || !drv->disconnect ||
	    !drv->remove)
		return -EINVAL;
	for (i = 0; i < bus->nr_drvs; i++)
		if (!strcmp(bus->drvs[i].drv->type, drv->type))
			return -EEXIST;
	if (bus->nr_drvs == BUS_MAX_DRIVERS)
		return -ENOSPC;
	bd = &bus->drvs[bus->nr_drvs];
	bd->drv = drv;
	bd->arg = arg;
	snprintf(bd->base, sizeof(bd->base), "/local/domain/%u/backend/%s",
		 bus->self, drv->type);
	snprintf(bd->token, sizeof(bd->token), "be/%s", drv->type);
	err = pvk_xs_watch(bus->hv, bd->base, bd->token);
	if (err < 0)
		return err;
	bus->nr_drvs++;
	scan(bus, bd);
	reconcile_all(bus);
	return 0;
}

void pvk_xenbus_bus_unregister(struct pvk_xenbus_bus *bus,
			       const struct pvk_xenbus_driver *drv)
{
	bdev_t *d, *next;
	unsigned int i;

	for (d = bus->devs; d; d = next) {
		next = d->next;
		if (d->drv == drv)
			dev_free(d);
	}
	for (i = 0; i < bus->nr_drvs; i++) {
		if (bus->drvs[i].drv != drv)
			continue;
		pvk_xs_unwatch(bus->hv, bus->drvs[i].base, bus->drvs[i].token);
		memmove(&bus->drvs[i], &bus->drvs[i + 1],
			(bus->nr_drvs - i - 1) * sizeof(bus->drvs[0]));
		bus->nr_drvs--;
		break;
	}
}

/* Wait until every Closing device's frontend is Closed (or @timeout_ms),
 * writing Closed for those that are. */
static void wait_closed(struct pvk_xenbus_bus *bus, int timeout_ms)
{
	struct timespec t0, t;
	char *p, *tok;
	bool pending;
	bdev_t *d;
	long left;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pending = false;
		for (d = bus->devs; d; d = d->next) {
			int sf;

			if (d->phase != PVK_XENBUS_PH_CLOSING)
				continue;
			sf = pvk_xenbus_read_state(&d->xb, true);
			if (sf == PVK_XENBUS_CLOSED || sf <= 0)
				dev_switch(d, PVK_XENBUS_CLOSED,
					   PVK_XENBUS_PH_CLOSED, "shutdown");
			else
				pending = true;
		}
		if (!pending)
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 +
				     (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return;
		struct pollfd pfd = { .fd = pvk_xs_watch_fd(bus->hv),
				      .events = POLLIN };
		if (poll(&pfd, 1, (int)(left < 100 ? left : 100)) > 0)
			while (pvk_xs_read_watch(bus->hv, &p, &tok) == 1) {
				free(p);
				free(tok);
			}
	}
}

/* Every connected device stops taking requests; the drains overlap. */
static void quiesce_all(struct pvk_xenbus_bus *bus)
{
	bdev_t *d;

	for (d = bus->devs; d; d = d->next)
		if (d->phase == PVK_XENBUS_PH_CONNECTED && d->drv->quiesce)
			d->drv->quiesce(d);
}

int pvk_xenbus_bus_shutdown(struct pvk_xenbus_bus *bus, int timeout_ms)
{
	bdev_t *d;

	bus->shutting_down = true;
	quiesce_all(bus);
	/* Only connected devices have rings to give back; one in InitWait
	 * stays so (a restart publishes the same), and is not made to wait
	 * for a frontend that may never come. */
	for (d = bus->devs; d; d = d->next)
		if (d->phase == PVK_XENBUS_PH_CONNECTED)
			dev_go_closing(d, "backend shutting down");
	wait_closed(bus, timeout_ms);
	return 0;
}

struct note_arg {
	bdev_t *d;
	const char *note;
};

static int note_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	struct note_arg *na = arg;
	int err;

	(void)hv;
	/* Only for a device still ours and Connected. */
	if (pvk_xenbus_read_state(&na->d->xb, false) != PVK_XENBUS_CONNECTED)
		return -ESTALE;
	err = pvk_xenbus_printf(&na->d->xb, t, HANDOVER_NODE, "%s", na->note);
	return err < 0 ? err : 0;
}

int pvk_xenbus_bus_handover(struct pvk_xenbus_bus *bus, int timeout_ms)
{
	char note[128];
	struct note_arg na;
	bool closing = false;
	bdev_t *d;
	int err;

	bus->shutting_down = true;
	quiesce_all(bus);
	for (d = bus->devs; d; d = d->next) {
		if (d->phase != PVK_XENBUS_PH_CONNECTED)
			continue;
		if (!d->drv->handover) {
			dev_go_closing(d, "backend shutting down");
			closing = true;
			continue;
		}
		note[0] = 0;
		/* Drained: every request taken is answered and pushed. */
		err = d->drv->handover(d, note, sizeof(note));
		if (err < 0) {
			dev_switch(d, PVK_XENBUS_CLOSING, PVK_XENBUS_PH_CLOSING,
				   note[0] ? note : "not handed over");
			continue;
		}
		na = (struct note_arg){ d, note };
		err = pvk_xs_transaction(bus->hv, 0, note_txn, &na);
		if (err < 0) {
			dev_switch(d, PVK_XENBUS_CLOSING, PVK_XENBUS_PH_CLOSING,
				   "could not leave a handover note");
			continue;
		}
		d->phase = PVK_XENBUS_PH_CLOSED; /* nothing more to do here */
		pvk_xenbus_bus_log(bus,
				   "%s: handed over: drained, stays Connected "
				   "for the next instance",
				   d->name);
	}
	if (closing)
		wait_closed(bus, timeout_ms);
	return 0;
}

void pvk_xenbus_bus_destroy(struct pvk_xenbus_bus *bus)
{
	if (!bus)
		return;
	while (bus->nr_drvs)
		pvk_xenbus_bus_unregister(bus, bus->drvs[bus->nr_drvs - 1].drv);
	if (bus->rel_watched)
		pvk_xs_unwatch(bus->hv, "@releaseDomain", "rel");
	pthread_mutex_destroy(&bus->log_lock);
	close(bus->tfd);
	close(bus->epfd);
	free(bus);
}
