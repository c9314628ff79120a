// SPDX-License-Identifier: MIT
/*
 * xenlib_real.c -- the libxen* provider for a real Xen host: the table is
 * the libraries' own functions; prepare() is the detection hv.h describes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xenstore.h>

#include "xenlib.h"

static void quiet_vmessage(struct xentoollog_logger *logger,
			   xentoollog_level level, int errnoval,
			   const char *context, const char *format, va_list al)
{
}

static void quiet_progress(struct xentoollog_logger *logger,
			   const char *context, const char *doing_what,
			   int percent, unsigned long done, unsigned long total)
{
}

static void quiet_destroy(struct xentoollog_logger *logger)
{
}

struct xentoollog_logger pvk_xenlib_quiet_logger = {
	.vmessage = quiet_vmessage,
	.progress = quiet_progress,
	.destroy = quiet_destroy,
};

static int read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

/*
 * Xen is there when sysfs says so AND a real operation works: in a
 * container /dev/xen/evtchn may open and then fail every ioctl with
 * ENOTTY, so allocate an unbound port and close it.
 */
static int real_probe(void)
{
	xenevtchn_handle *xce;
	char type[16];
	int port, ret;

	ret = read_small("/sys/hypervisor/type", type, sizeof(type));
	if (ret < 0)
		return -ENODEV;
	if (strncmp(type, "xen", 3) != 0 || (type[3] && type[3] != '\n'))
		return -ENODEV;
	xce = xenevtchn_open(&pvk_xenlib_quiet_logger, 0);
	if (!xce)
		return -ENODEV;
	port = xenevtchn_bind_unbound_port(xce, 0);
	if (port >= 0)
		xenevtchn_unbind(xce, (evtchn_port_t)port);
	xenevtchn_close(xce);
	return port >= 0 ? 0 : -ENODEV;
}

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_result;

static void probe(void)
{
	probe_result = real_probe();
}

static int real_prepare(void)
{
	pthread_once(&probe_once, probe);
	return probe_result;
}

/* dom0 says so in /proc/xen/capabilities; a guest finds its id in its
 * own xenstore home, where the toolstack wrote it. */
static int real_self_domid(uint32_t *domid)
{
	struct xs_handle *xs;
	char caps[64], *val, *end;
	unsigned long v;
	unsigned int len;
	int ret;

	if (read_small("/proc/xen/capabilities", caps, sizeof(caps)) >= 0 &&
	    strstr(caps, "control_d")) {
		*domid = 0;
		return 0;
	}
	xs = xs_open(0);
	if (!xs)
		return errno ? -errno : -EIO;
	val = xs_read(xs, XBT_NULL, "domid", &len);
	ret = val ? 0 : (errno ? -errno : -EIO);
	xs_close(xs);
	if (ret)
		return ret;
	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno || end == val || *end || v > 0x7FEF)
		ret = -EPROTO;
	else
		*domid = (uint32_t)v;
	free(val);
	return ret;
}

/* /dev/xen/evtchn: a non-blocking read() fails with EAGAIN, and
 * xenevtchn_pending() is that read(). */
static int real_evtchn_nonblock(xenevtchn_handle *h)
{
	int fd = xenevtchn_fd(h), fl;

	if (fd < 0)
		return -1;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

const struct pvk_xenlib pvk_xenlib_real = {
	.name = "xen",
	.prepare = real_prepare,
	.self_domid = real_self_domid,

	.evtchn_open = xenevtchn_open,
	.evtchn_close = xenevtchn_close,
	.evtchn_fd = xenevtchn_fd,
	.evtchn_notify = xenevtchn_notify,
	.evtchn_bind_unbound_port = xenevtchn_bind_unbound_port,
	.evtchn_bind_interdomain = xenevtchn_bind_interdomain,
	.evtchn_unbind = xenevtchn_unbind,
	.evtchn_pending = xenevtchn_pending,
	.evtchn_unmask = xenevtchn_unmask,
	.evtchn_nonblock = real_evtchn_nonblock,

	.gnttab_open = xengnttab_open,
	.gnttab_close = xengnttab_close,
	.gnttab_map_domain_grant_refs = xengnttab_map_domain_grant_refs,
	.gnttab_unmap = xengnttab_unmap,
	.gnttab_grant_copy = xengnttab_grant_copy,
	.gnttab_set_max_grants = xengnttab_set_max_grants,

	.gntshr_open = xengntshr_open,
	.gntshr_close = xengntshr_close,
	.gntshr_share_pages = xengntshr_share_pages,
	.gntshr_munmap = xengntshr_unshare,

	.xc_open = xc_interface_open,
	.xc_close = xc_interface_close,
	.xc_domain_getinfolist = xc_domain_getinfolist,

	.dm_open = xendevicemodel_open,
	.dm_close = xendevicemodel_close,
	.dm_create_ioreq_server = xendevicemodel_create_ioreq_server,
	.dm_get_ioreq_server_info = xendevicemodel_get_ioreq_server_info,
	.dm_map_io_range = xendevicemodel_map_io_range_to_ioreq_server,
	.dm_unmap_io_range = xendevicemodel_unmap_io_range_from_ioreq_server,
	.dm_set_ioreq_server_state = xendevicemodel_set_ioreq_server_state,
	.dm_destroy_ioreq_server = xendevicemodel_destroy_ioreq_server,
	.dm_set_isa_irq_level = xendevicemodel_set_isa_irq_level,
	.fmem_open = xenforeignmemory_open,
	.fmem_close = xenforeignmemory_close,
	.fmem_map = xenforeignmemory_map,
	.fmem_unmap = xenforeignmemory_unmap,
	.fmem_map_resource = xenforeignmemory_map_resource,
	.fmem_unmap_resource = xenforeignmemory_unmap_resource,
};
