/* SPDX-License-Identifier: MIT */
/*
 * pvkit disk serve-nbd: export a PV disk, seen through blkfront from inside
 * a (simulated or real) guest domain, as an NBD server, so that stock
 * tools -- nbdinfo, nbdcopy, qemu-img, fio's nbd engine -- can use it.
 *
 * Protocol: fixed newstyle handshake; options EXPORT_NAME, GO, INFO,
 * LIST, ABORT (others answered NBD_REP_ERR_UNSUP, so clients fall back to
 * simple replies); commands READ, WRITE, FLUSH, TRIM, DISC.  Requests are
 * pipelined: each becomes an asynchronous blkfront io and is answered
 * when it completes, in completion order.  One client at a time.
 *
 * The client is as untrusted as any peer: every length and offset is
 * checked before it sizes a buffer or reaches blkfront; a request the
 * protocol does not allow ends the connection.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvkit/blkfront.h>
#include <pvkit/hv.h>

#include "devcmd.h"

int pvk_cmd_disk_serve_nbd(int argc, char **argv);

#define NBD_MAGIC 0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_IHAVEOPT 0x49484156454f5054ull
#define NBD_REP_MAGIC 0x3e889045565a9ull
#define NBD_REQ_MAGIC 0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u

#define NBD_FLAG_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_NO_ZEROES (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_C_NO_ZEROES (1u << 1)

#define NBD_FLAG_HAS_FLAGS (1u << 0)
#define NBD_FLAG_READ_ONLY (1u << 1)
#define NBD_FLAG_SEND_FLUSH (1u << 2)
#define NBD_FLAG_SEND_TRIM (1u << 5)

#define NBD_OPT_EXPORT_NAME 1
#define NBD_OPT_ABORT 2
#define NBD_OPT_LIST 3
#define NBD_OPT_INFO 6
#define NBD_OPT_GO 7

#define NBD_REP_ACK 1
#define NBD_REP_SERVER 2
#define NBD_REP_INFO 3
#define NBD_REP_ERR_UNSUP 0x80000001u
#define NBD_REP_ERR_INVALID 0x80000003u
#define NBD_REP_ERR_UNKNOWN 0x80000006u

#define NBD_INFO_EXPORT 0
#define NBD_INFO_BLOCK_SIZE 3

#define NBD_CMD_READ 0
#define NBD_CMD_WRITE 1
#define NBD_CMD_DISC 2
#define NBD_CMD_FLUSH 3
#define NBD_CMD_TRIM 4

#define NBD_EPERM 1
#define NBD_EIO 5
#define NBD_ENOMEM 12
#define NBD_EINVAL 22
#define NBD_ENOSPC 28
#define NBD_ENOTSUP 95

#define NBD_MAX_OPT_LEN 4096u
#define NBD_MAX_REQ (32u << 20)

struct nbd_req {
	struct pvk_blkfront_io io;
	uint64_t cookie;
	uint16_t type;
	uint32_t len;
	uint8_t *buf; /* aligned bounce for unaligned requests */
	uint32_t skip; /* bytes of buf before the client's data */
};

struct nbd_srv {
	struct pvk_blkfront *bf;
	struct pvk_blkfront_info info;
	const char *name;
	int fd; /* the client */
	bool no_zeroes;
	unsigned int qd;
	uint64_t requests;
	/* for open_vbd */
	struct pvk_hv *hv;
	const char *vdev;
	const struct pvk_blkfront_opts *opts;
};

static int open_vbd(void *arg)
{
	struct nbd_srv *s = arg;

	return pvk_blkfront_open(&s->bf, s->hv, s->vdev, s->opts);
}

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = read(fd, (char *)buf + done, len - done);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR && !stop_flag)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = send(fd, (const char *)buf + done, len - done,
			 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Discard @len bytes of option data we do not use. */
static int skip_bytes(int fd, uint32_t len)
{
	char junk[512];
	int rc;

	while (len) {
		uint32_t n = len < sizeof(junk) ? len : sizeof(junk);

		rc = read_full(fd, junk, n);
		if (rc < 0)
			return rc;
		len -= n;
	}
	return 0;
}

static uint16_t trans_flags(const struct nbd_srv *s)
{
	uint16_t f = NBD_FLAG_HAS_FLAGS;

	if (s->info.read_only)
		f |= NBD_FLAG_READ_ONLY;
	if (s->info.flush || s->info.barrier)
		f |= NBD_FLAG_SEND_FLUSH;
	if (s->info.discard && !s->info.read_only)
		f |= NBD_FLAG_SEND_TRIM;
	return f;
}

static int opt_reply(struct nbd_srv *s, uint32_t opt, uint32_t type,
		     const void *data, uint32_t len)
{
	struct __attribute__((packed)) {
		uint64_t magic;
		uint32_t opt, type, len;
	} h = { htobe64(NBD_REP_MAGIC), htobe32(opt), htobe32(type),
		htobe32(len) };
	int rc = write_full(s->fd, &h, sizeof(h));

	return rc < 0 || !len ? rc : write_full(s->fd, data, len);
}

static int send_info(struct nbd_srv *s, uint32_t opt)
{
	struct __attribute__((packed)) {
		uint16_t type;
		uint64_t size;
		uint16_t flags;
	} ex = { htobe16(NBD_INFO_EXPORT), htobe64(s->info.size_bytes),
		 htobe16(trans_flags(s)) };
	struct __attribute__((packed)) {
		uint16_t type;
		uint32_t min, pref, max;
	} bs = { htobe16(NBD_INFO_BLOCK_SIZE), htobe32(s->info.sector_size),
		 htobe32(4096), htobe32(NBD_MAX_REQ) };
	int rc;

	rc = opt_reply(s, opt, NBD_REP_INFO, &ex, sizeof(ex));
	if (!rc)
		rc = opt_reply(s, opt, NBD_REP_INFO, &bs, sizeof(bs));
	if (!rc)
		rc = opt_reply(s, opt, NBD_REP_ACK, NULL, 0);
	return rc;
}

static bool name_ok(const struct nbd_srv *s, const char *name)
{
	return !*name || !strcmp(name, s->name);
}

/*
 * Fixed newstyle negotiation.  Returns 1 when the client moves to the
 * transmission phase, 0 when it ended the session, or -errno.
 */
static int negotiate(struct nbd_srv *s)
{
	struct __attribute__((packed)) {
		uint64_t magic, opt_magic;
		uint16_t flags;
	} hello = { htobe64(NBD_MAGIC), htobe64(NBD_IHAVEOPT),
		    htobe16(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES) };
	uint32_t cflags;
	int rc;

	rc = write_full(s->fd, &hello, sizeof(hello));
	if (!rc)
		rc = read_full(s->fd, &cflags, sizeof(cflags));
	if (rc < 0)
		return rc;
	cflags = be32toh(cflags);
	if (!(cflags & NBD_FLAG_C_FIXED_NEWSTYLE))
		return -EPROTO;
	s->no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;

	for (;;) {
		struct __attribute__((packed)) {
			uint64_t magic;
			uint32_t opt, len;
		} oh;
		char data[NBD_MAX_OPT_LEN + 1];
		uint32_t opt, len, nlen;

		rc = read_full(s->fd, &oh, sizeof(oh));
		if (rc < 0)
			return rc;
		if (be64toh(oh.magic) != NBD_IHAVEOPT)
			return -EPROTO;
		opt = be32toh(oh.opt);
		len = be32toh(oh.len);
		if (len > NBD_MAX_OPT_LEN) {
			rc = skip_bytes(s->fd, len);
			if (!rc)
				rc = opt_reply(s, opt, NBD_REP_ERR_INVALID,
					       NULL, 0);
			if (rc < 0)
				return rc;
			continue;
		}
		rc = read_full(s->fd, data, len);
		if (rc < 0)
			return rc;
		data[len] = '\0';

		switch (opt) {
		case NBD_OPT_EXPORT_NAME: {
			struct __attribute__((packed)) {
				uint64_t size;
				uint16_t flags;
				uint8_t zero[124];
			} ex = { htobe64(s->info.size_bytes),
				 htobe16(trans_flags(s)),
				 { 0 } };

			if (!name_ok(s, data))
				return -ENOENT; /* no way to refuse politely */
			rc = write_full(s->fd, &ex,
					s->no_zeroes ? 10 : sizeof(ex));
			return rc < 0 ? rc : 1;
		}
		case NBD_OPT_ABORT:
			opt_reply(s, opt, NBD_REP_ACK, NULL, 0);
			return 0;
		case NBD_OPT_LIST: {
			char buf[4 + 256];
			uint32_t n = (uint32_t)strnlen(s->name, 256);
			uint32_t be = htobe32(n);

			memcpy(buf, &be, 4);
			memcpy(buf + 4, s->name, n);
			rc = len ? opt_reply(s, opt, NBD_REP_ERR_INVALID, NULL,
					     0) :
				   opt_reply(s, opt, NBD_REP_SERVER, buf,
					     4 + n);
			if (!rc && !len)
				rc = opt_reply(s, opt, NBD_REP_ACK, NULL, 0);
			break;
		}
		case NBD_OPT_INFO:
		case NBD_OPT_GO: {
			uint16_t nreq;

			if (len < 6) {
				rc = opt_reply(s, opt, NBD_REP_ERR_INVALID,
					       NULL, 0);
				break;
			}
			memcpy(&nlen, data, 4);
			nlen = be32toh(nlen);
			if (nlen > len - 6) {
				rc = opt_reply(s, opt, NBD_REP_ERR_INVALID,
					       NULL, 0);
				break;
			}
			memcpy(&nreq, data + 4 + nlen, 2);
			if (6 + nlen + 2u * be16toh(nreq) != len) {
				rc = opt_reply(s, opt, NBD_REP_ERR_INVALID,
					       NULL, 0);
				break;
			}
			memmove(data, data + 4, nlen);
			data[nlen] = '\0';
			if (!name_ok(s, data)) {
				rc = opt_reply(s, opt, NBD_REP_ERR_UNKNOWN,
					       NULL, 0);
				break;
			}
			rc = send_info(s, opt);
			if (!rc && opt == NBD_OPT_GO)
				return 1;
			break;
		}
		default:
			rc = opt_reply(s, opt, NBD_REP_ERR_UNSUP, NULL, 0);
			break;
		}
		if (rc < 0)
			return rc;
	}
}

static int simple_reply(struct nbd_srv *s, uint64_t cookie, uint32_t err,
			const void *data, uint32_t len)
{
	struct __attribute__((packed)) {
		uint32_t magic, err;
		uint64_t cookie;
	} r = { htobe32(NBD_SIMPLE_REPLY_MAGIC), htobe32(err), cookie };
	int rc = write_full(s->fd, &r, sizeof(r));

	return rc < 0 || err || !len ? rc : write_full(s->fd, data, len);
}

static uint32_t nbd_errno(int err)
{
	switch (err) {
	case 0:
		return 0;
	case -EROFS:
	case -EPERM:
		return NBD_EPERM;
	case -ENOMEM:
		return NBD_ENOMEM;
	case -EINVAL:
		return NBD_EINVAL;
	case -ENOSPC:
		return NBD_ENOSPC;
	case -EOPNOTSUPP:
		return NBD_ENOTSUP;
	default:
		return NBD_EIO;
	}
}

static void req_free(struct nbd_req *r)
{
	if (r)
		free(r->buf);
	free(r);
}

/* Answer every completed io; wait for at least @min. */
static int complete(struct nbd_srv *s, unsigned int min, int timeout_ms)
{
	struct pvk_blkfront_io *done[64];
	int n, i, rc = 0;

	n = pvk_blkfront_reap(s->bf, done, min, 64, timeout_ms);
	if (n == -ENOENT)
		return 0;
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		struct nbd_req *r = done[i]->user;
		int err = done[i]->result;

		if (!rc)
			rc = simple_reply(s, r->cookie, nbd_errno(err),
					  r->buf ? r->buf + r->skip : NULL,
					  r->type == NBD_CMD_READ ? r->len : 0);
		req_free(r);
	}
	return rc < 0 ? rc : n;
}

/* Answer everything in flight, even if the client is gone. */
static int drain(struct nbd_srv *s)
{
	int rc, err = 0, tries = 0;

	while (pvk_blkfront_in_flight(s->bf) && tries++ < 600) {
		rc = complete(s, 1, 100);
		if (rc < 0 && !err)
			err = rc;
	}
	return err;
}

static int submit(struct nbd_srv *s, struct nbd_req *r)
{
	int rc;

	while ((rc = pvk_blkfront_submit(s->bf, &r->io)) == -EAGAIN) {
		rc = complete(s, 1, 1000);
		if (rc < 0)
			return rc;
	}
	if (rc < 0) {
		rc = simple_reply(s, r->cookie, nbd_errno(rc), NULL, 0);
		req_free(r);
		return rc;
	}
	return pvk_blkfront_kick(s->bf);
}

/*
 * A request that is not sector-aligned: drain, then read-modify-write
 * synchronously through an aligned bounce buffer.
 */
static int unaligned(struct nbd_srv *s, struct nbd_req *r, uint64_t off)
{
	uint64_t ss = s->info.sector_size;
	uint64_t start = off / ss * ss;
	uint64_t end = (off + r->len + ss - 1) / ss * ss;
	uint8_t *data = r->buf;
	ssize_t n;
	int rc;

	rc = drain(s);
	if (rc < 0)
		return rc;
	r->buf = malloc(end - start);
	if (!r->buf) {
		r->buf = data;
		return simple_reply(s, r->cookie, NBD_ENOMEM, NULL, 0);
	}
	r->skip = (uint32_t)(off - start);
	n = pvk_blkfront_pread(s->bf, r->buf, end - start, start);
	if (n >= 0 && r->type == NBD_CMD_WRITE) {
		memcpy(r->buf + r->skip, data, r->len);
		n = pvk_blkfront_pwrite(s->bf, r->buf, end - start, start);
	}
	free(data);
	return simple_reply(s, r->cookie, nbd_errno(n < 0 ? (int)n : 0),
			    r->buf + r->skip,
			    r->type == NBD_CMD_READ ? r->len : 0);
}

/* One command.  Returns 1 to go on, 0 on NBD_CMD_DISC, or -errno. */
static int command(struct nbd_srv *s)
{
	struct __attribute__((packed)) {
		uint32_t magic;
		uint16_t flags, type;
		uint64_t cookie, off;
		uint32_t len;
	} h;
	uint64_t off, ss = s->info.sector_size;
	struct nbd_req *r;
	uint32_t len;
	int rc;

	rc = read_full(s->fd, &h, sizeof(h));
	if (rc < 0)
		return rc;
	if (be32toh(h.magic) != NBD_REQ_MAGIC)
		return -EPROTO;
	off = be64toh(h.off);
	len = be32toh(h.len);
	s->requests++;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cookie = h.cookie; /* opaque: echoed as received */
	r->type = be16toh(h.type);
	r->len = len;
	r->io.user = r;

	switch (r->type) {
	case NBD_CMD_DISC:
		req_free(r);
		rc = drain(s);
		return rc < 0 ? rc : 0;
	case NBD_CMD_FLUSH:
		if (!s->info.flush && !s->info.barrier) {
			rc = simple_reply(s, r->cookie, 0, NULL, 0);
			req_free(r);
			return rc < 0 ? rc : 1;
		}
		r->io.op = PVK_BLKFRONT_FLUSH;
		rc = submit(s, r);
		return rc < 0 ? rc : 1;
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
		if (len > NBD_MAX_REQ) {
			/* Its payload would desynchronise the stream. */
			req_free(r);
			return -EPROTO;
		}
		if (r->type == NBD_CMD_WRITE || len) {
			r->buf = malloc(len ? len : 1);
			if (!r->buf) {
				req_free(r);
				return -ENOMEM;
			}
		}
		if (r->type == NBD_CMD_WRITE) {
			rc = read_full(s->fd, r->buf, len);
			if (rc < 0) {
				req_free(r);
				return rc;
			}
		}
		if (!len || off > s->info.size_bytes ||
		    len > s->info.size_bytes - off) {
			rc = simple_reply(s, r->cookie, len ? NBD_EINVAL : 0,
					  NULL, 0);
			req_free(r);
			return rc < 0 ? rc : 1;
		}
		if (r->type == NBD_CMD_WRITE && s->info.read_only) {
			rc = simple_reply(s, r->cookie, NBD_EPERM, NULL, 0);
			req_free(r);
			return rc < 0 ? rc : 1;
		}
		if (off % ss || len % ss) {
			rc = unaligned(s, r, off);
			req_free(r);
			return rc < 0 ? rc : 1;
		}
		r->io.op = r->type == NBD_CMD_READ ? PVK_BLKFRONT_READ :
						     PVK_BLKFRONT_WRITE;
		r->io.offset = off;
		r->io.len = len;
		r->io.buf = r->buf;
		rc = submit(s, r);
		return rc < 0 ? rc : 1;
	case NBD_CMD_TRIM: {
		/* Advisory: discard the aligned inside of the range. */
		uint64_t a = (off + ss - 1) / ss * ss, b;

		if (off > s->info.size_bytes ||
		    len > s->info.size_bytes - off) {
			rc = simple_reply(s, r->cookie, NBD_EINVAL, NULL, 0);
			req_free(r);
			return rc < 0 ? rc : 1;
		}
		b = (off + len) / ss * ss;
		if (!s->info.discard || s->info.read_only || b <= a) {
			rc = simple_reply(s, r->cookie,
					  s->info.read_only ? NBD_EPERM : 0,
					  NULL, 0);
			req_free(r);
			return rc < 0 ? rc : 1;
		}
		r->io.op = PVK_BLKFRONT_DISCARD;
		r->io.offset = a;
		r->io.len = b - a;
		rc = submit(s, r);
		return rc < 0 ? rc : 1;
	}
	default:
		/* Unknown commands may carry no payload we could skip. */
		rc = simple_reply(s, r->cookie, NBD_EINVAL, NULL, 0);
		req_free(r);
		return rc < 0 ? rc : 1;
	}
}

static int serve_client(struct nbd_srv *s)
{
	struct pollfd pfd[2];
	int rc;

	rc = negotiate(s);
	if (rc <= 0)
		return rc;
	pfd[0].fd = s->fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = pvk_blkfront_fd(s->bf);
	pfd[1].events = POLLIN;
	while (!stop_flag) {
		/* Completions first: replies free the client to send more. */
		rc = complete(s, 0, 0);
		if (rc < 0)
			return rc;
		if (poll(pfd, 2, pvk_blkfront_in_flight(s->bf) ? 50 : 1000) <
		    0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			rc = command(s);
			if (rc <= 0)
				return rc;
		}
	}
	return drain(s);
}

static int listen_on(const char *unix_path, int port)
{
	int fd, one = 1;

	if (unix_path) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		if (strlen(unix_path) >= sizeof(a.sun_path))
			return -ENAMETOOLONG;
		strcpy(a.sun_path, unix_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		unlink(unix_path);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			goto fail;
	} else {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr =
						 htonl(INADDR_LOOPBACK) };

		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			goto fail;
	}
	if (listen(fd, 4) < 0)
		goto fail;
	return fd;
fail:
	one = -errno;
	close(fd);
	return one;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvkit disk serve-nbd [VDEV] (--unix PATH | --tcp PORT)\n"
		"           [--name EXPORT] [--once] [--queue-depth N]\n"
		"           [--max-ring-order N] [--max-queues N] [--no-indirect]\n"
		"           [--no-persistent] [--poll-us N]\n"
		"Run inside a guest domain (`pvkit domain create NAME -- pvkit "
		"disk serve-nbd ...`):\n"
		"opens VDEV (default xvda; waits up to 10 s for it to be attached) through blkfront and serves it over "
		"NBD on a unix socket\nor on 127.0.0.1:PORT, one client at a "
		"time, until SIGTERM (or the first client\nleaves, with --once).\n");
}

int pvk_cmd_disk_serve_nbd(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "unix", required_argument, NULL, 'u' },
		{ "tcp", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'n' },
		{ "vdev", required_argument, NULL, 'v' },
		{ "once", no_argument, NULL, '1' },
		{ "queue-depth", required_argument, NULL, 'q' },
		{ "max-ring-order", required_argument, NULL, 'o' },
		{ "max-queues", required_argument, NULL, 'm' },
		{ "no-indirect", no_argument, NULL, 'I' },
		{ "no-persistent", no_argument, NULL, 'P' },
		{ "poll-us", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pvk_blkfront_opts opts = { .queue_depth = 64 };
	const char *unix_path = NULL, *vdev = "xvda", *name = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	struct nbd_srv s = { .fd = -1 };
	struct pvk_hv *hv = NULL;
	int c, port = -1, lfd = -1, rc, ret = 1;
	bool once = false;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			unix_path = optarg;
			break;
		case 't':
			port = atoi(optarg);
			break;
		case 'n':
			name = optarg;
			break;
		case 'v':
			vdev = optarg;
			break;
		case '1':
			once = true;
			break;
		case 'q':
			opts.queue_depth = (unsigned int)atoi(optarg);
			break;
		case 'o':
			opts.max_ring_order = (unsigned int)atoi(optarg);
			if (!opts.max_ring_order)
				opts.flags |= PVK_BLKFRONT_NO_MULTI_PAGE;
			break;
		case 'm':
			opts.max_queues = (unsigned int)atoi(optarg);
			break;
		case 'I':
			opts.flags |= PVK_BLKFRONT_NO_INDIRECT;
			break;
		case 'P':
			opts.flags |= PVK_BLKFRONT_NO_PERSISTENT;
			break;
		case 'p':
			opts.poll_us = (unsigned int)atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		vdev = argv[optind++];
	if (optind < argc || (!unix_path) == (port < 0) || port > 65535) {
		usage(stderr);
		return 2;
	}
	s.name = name ? name : vdev;
	s.qd = opts.queue_depth;

	if (pvk_dev_open_hv("disk serve-nbd", &hv) < 0)
		return 1;
	s.hv = hv;
	s.vdev = vdev;
	s.opts = &opts;
	rc = pvk_dev_open_retry(open_vbd, &s);
	if (rc < 0) {
		fprintf(stderr, "serve-nbd: open %s in domain %u: %s\n", vdev,
			pvk_hv_domid(hv), strerror(-rc));
		goto close_hv;
	}
	pvk_blkfront_info(s.bf, &s.info);
	lfd = listen_on(unix_path, port);
	if (lfd < 0) {
		fprintf(stderr, "serve-nbd: listen: %s\n", strerror(-lfd));
		goto close_bf;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (unix_path)
		printf("serve-nbd: %s (%llu bytes%s) of domain %u on unix:%s\n",
		       vdev, (unsigned long long)s.info.size_bytes,
		       s.info.read_only ? ", read-only" : "", pvk_hv_domid(hv),
		       unix_path);
	else
		printf("serve-nbd: %s (%llu bytes%s) of domain %u on tcp:127.0.0.1:%d\n",
		       vdev, (unsigned long long)s.info.size_bytes,
		       s.info.read_only ? ", read-only" : "", pvk_hv_domid(hv),
		       port);
	fflush(stdout);

	ret = 0;
	while (!stop_flag) {
		s.fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (s.fd < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "serve-nbd: accept: %s\n",
				strerror(errno));
			ret = 1;
			break;
		}
		if (!unix_path)
			setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
				   sizeof(int));
		rc = serve_client(&s);
		if (rc < 0 && rc != -ECONNRESET)
			fprintf(stderr, "serve-nbd: client: %s\n",
				strerror(-rc));
		drain(&s);
		close(s.fd);
		s.fd = -1;
		if (once)
			break;
	}
	close(lfd);
	if (unix_path)
		unlink(unix_path);
close_bf:
	pvk_blkfront_close(s.bf);
close_hv:
	pvk_hv_close(hv);
	return ret;
}
