/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * pvkit-front.h -- the xenbus plumbing pvkit's frontend modules share:
 * pages granted to the backend for a connection, event channels bound to
 * late-EOI interrupts, xenstore transactions and per-queue node
 * directories, the broken latch and its log line, and the dispatch of
 * the backend's state.  Everything is static (inline): each module gets
 * its own copy, so both may be built in at once.
 */
#ifndef PVKIT_FRONT_H
#define PVKIT_FRONT_H

#include <linux/atomic.h>
#include <linux/device.h>
#include <linux/interrupt.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/page.h>
#include <xen/xenbus.h>

/*
 * Allocate @n zeroed pages and grant each to the backend (read-only if
 * @ro).  On failure what was done stays in @pages/@grefs (unused entries
 * NULL / INVALID_GRANT_REF) for pvkfront_pages_end().  Returns 0 or
 * -errno.
 */
static inline int pvkfront_pages_grant(struct xenbus_device *dev,
				       struct page **pages, grant_ref_t *grefs,
				       unsigned int n, bool ro)
{
	unsigned int i;
	int ref;

	for (i = 0; i < n; i++) {
		pages[i] = NULL;
		grefs[i] = INVALID_GRANT_REF;
	}
	for (i = 0; i < n; i++) {
		pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!pages[i])
			return -ENOMEM;
		ref = gnttab_grant_foreign_access(
			dev->otherend_id, xen_page_to_gfn(pages[i]), ro);
		if (ref < 0)
			return ref;
		grefs[i] = ref;
	}
	return 0;
}

/*
 * End the grants of @n pages and free them; a page the backend still has
 * mapped is freed by the grant table once it lets go of it.
 */
static inline void pvkfront_pages_end(struct page **pages, grant_ref_t *grefs,
				      unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (!pages[i])
			continue;
		if (grefs[i] != INVALID_GRANT_REF)
			gnttab_end_foreign_access(grefs[i], pages[i]);
		else
			__free_page(pages[i]);
		pages[i] = NULL;
		grefs[i] = INVALID_GRANT_REF;
	}
}

/*
 * A new event channel to the backend in *@port, bound to @handler (late
 * EOI: the handler calls xen_irq_lateeoi) as *@irq.  On failure *@port
 * may be left allocated for pvkfront_evtchn_unbind().  0 or -errno.
 */
static inline int pvkfront_evtchn_bind(struct xenbus_device *dev,
				       evtchn_port_t *port, int *irq,
				       irq_handler_t handler, const char *name,
				       void *data)
{
	int err;

	*irq = 0;
	err = xenbus_alloc_evtchn(dev, port);
	if (err)
		return err;
	err = bind_evtchn_to_irqhandler_lateeoi(*port, handler, 0, name, data);
	if (err < 0)
		return err;
	*irq = err;
	return 0;
}

/* Undo pvkfront_evtchn_bind() (waits for a running handler). */
static inline void pvkfront_evtchn_unbind(struct xenbus_device *dev,
					  evtchn_port_t *port, int *irq,
					  void *data)
{
	if (*irq > 0)
		unbind_from_irqhandler(*irq, data);
	else if (*port)
		xenbus_free_evtchn(dev, *port);
	*irq = 0;
	*port = 0;
}

/* Run @fn in a xenstore transaction, again while the commit conflicts;
 * an error of @fn aborts it.  0 or -errno. */
static inline int pvkfront_transact(int (*fn)(struct xenbus_transaction xbt,
					      void *arg),
				    void *arg)
{
	struct xenbus_transaction xbt;
	int err;

	do {
		err = xenbus_transaction_start(&xbt);
		if (err)
			return err;
		err = fn(xbt, arg);
		if (err) {
			xenbus_transaction_end(xbt, 1);
			return err;
		}
		err = xenbus_transaction_end(xbt, 0);
	} while (err == -EAGAIN);
	return err;
}

/*
 * Write the nodes of @nr queues with @fn(xbt, @arg, i, dir): one queue's
 * go into the device's directory, several into <dev>/queue-<i> with
 * multi-queue-num-queues beside them.  0 or -errno.
 */
static inline int
pvkfront_write_queues(struct xenbus_transaction xbt, struct xenbus_device *dev,
		      unsigned int nr,
		      int (*fn)(struct xenbus_transaction xbt, void *arg,
				unsigned int i, const char *dir),
		      void *arg)
{
	unsigned int i;
	char *dir;
	int err;

	if (nr == 1)
		return fn(xbt, arg, 0, dev->nodename);
	err = xenbus_printf(xbt, dev->nodename, "multi-queue-num-queues", "%u",
			    nr);
	for (i = 0; !err && i < nr; i++) {
		dir = kasprintf(GFP_KERNEL, "%s/queue-%u", dev->nodename, i);
		if (!dir)
			return -ENOMEM;
		err = fn(xbt, arg, i, dir);
		kfree(dir);
	}
	return err;
}

/*
 * Latch *@broken; the first caller logs the one line naming the
 * violation: "backend protocol violation on queue Q: WHY (DETAIL);
 * device disabled" (DETAIL, the values, may be NULL).  Returns whether
 * this call latched it.
 */
static inline bool pvkfront_set_broken(struct xenbus_device *dev, bool *broken,
				       unsigned int queue, const char *why,
				       const char *detail)
{
	if (xchg(broken, true))
		return false;
	if (detail)
		dev_err(&dev->dev,
			"backend protocol violation on queue %u: %s (%s); device disabled\n",
			queue, why, detail);
	else
		dev_err(&dev->dev,
			"backend protocol violation on queue %u: %s; device disabled\n",
			queue, why);
	return true;
}

/* What a frontend does as the backend's state changes. */
struct pvkfront_states {
	/* Backend InitWait, we are Initialising: build and publish the
	 * rings; an error is reported as fatal. */
	int (*backend_initwait)(struct xenbus_device *dev);
	/* Backend Connected (whatever our state: the callback checks). */
	void (*connected)(struct xenbus_device *dev);
	/* Backend Closing or Closed and we are not Closed: undo all;
	 * we then go Closed. */
	void (*teardown)(struct xenbus_device *dev);
};

/*
 * For a driver's probe: the device's state to Initialising.  A new device
 * is already; one unbound earlier is Closed (xenbus_dev_remove()), and a
 * backend that followed it to Closed offers the device again (InitWait)
 * only when it reads Initialising.  Returns 0 or -errno.
 */
static inline int pvkfront_probe_state(struct xenbus_device *dev)
{
	if (dev->state == XenbusStateInitialising)
		return 0;
	dev_info(&dev->dev, "was %s: asking the backend to reconnect\n",
		 xenbus_strstate(dev->state));
	return xenbus_switch_state(dev, XenbusStateInitialising);
}

/* A driver's otherend_changed, under @mutex. */
static inline void pvkfront_backend_changed(struct xenbus_device *dev,
					    enum xenbus_state state,
					    struct mutex *mutex,
					    const struct pvkfront_states *ops)
{
	int err;

	dev_dbg(&dev->dev, "backend %s, we are %s\n", xenbus_strstate(state),
		xenbus_strstate(dev->state));
	mutex_lock(mutex);
	switch (state) {
	case XenbusStateInitWait:
		if (dev->state != XenbusStateInitialising)
			break;
		err = ops->backend_initwait(dev);
		if (err)
			xenbus_dev_fatal(dev, err, "setting up the rings");
		break;
	case XenbusStateConnected:
		ops->connected(dev);
		break;
	case XenbusStateClosed:
		/* Initialising: a rebind waits for the backend to offer the
		 * device again (InitWait); nothing is set up to undo. */
		if (dev->state == XenbusStateInitialising)
			break;
		fallthrough;
	case XenbusStateClosing:
		if (dev->state == XenbusStateClosed)
			break;
		ops->teardown(dev);
		xenbus_frontend_closed(dev);
		break;
	default:
		break;
	}
	mutex_unlock(mutex);
}

#endif /* PVKIT_FRONT_H */
