/* SPDX-License-Identifier: MIT */
/*
 * pvk-xen-blkio: dd for pvkit's userspace blkfront, used by the real-Xen
 * lane's cells in the domU.
 *
 *   pvk-xen-blkio VDEV info             print what was negotiated
 *   pvk-xen-blkio VDEV read OFF LEN     LEN bytes at byte OFF to stdout
 *   pvk-xen-blkio VDEV write OFF        stdin to byte OFF, then flush
 *
 * Data moves through the asynchronous interface in CHUNK-sized ios with
 * up to DEPTH in flight, so a transfer spreads over every negotiated
 * queue and uses indirect requests when the backend offers them.  It
 * insists on real Xen: a lane that silently ran on the simulator would
 * prove nothing.  Exit status: 0, 1 on an I/O or protocol error, 2 on
 * usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvkit/blkfront.h>
#include <pvkit/hv.h>

#define CHUNK (128u << 10)
#define DEPTH 32u
#define MAX_LEN (64u << 20)

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || !*s || *end || *s == '-' ? -EINVAL : 0;
}

static void print_info(struct pvk_blkfront *bf, FILE *f)
{
	struct pvk_blkfront_info i;

	pvk_blkfront_info(bf, &i);
	fprintf(f,
		"devid=%u backend-id=%u sectors=%llu sector-size=%u ro=%d "
		"ring-order=%u ring-entries=%u queues=%u max-segments=%u "
		"indirect=%u persistent=%d flush=%d barrier=%d discard=%d\n",
		i.devid, i.backend_id, (unsigned long long)i.sectors,
		i.sector_size, i.read_only, i.ring_order, i.ring_entries,
		i.nr_queues, i.max_segments, i.max_indirect_segs, i.persistent,
		i.flush, i.barrier, i.discard);
}

/* Move @len bytes between @buf and the disk at @off, DEPTH ios at once. */
static int transfer(struct pvk_blkfront *bf, uint8_t op, uint8_t *buf,
		    uint64_t off, uint64_t len)
{
	struct pvk_blkfront_io ios[DEPTH], *done[DEPTH], *free_ios[DEPTH];
	unsigned int nfree = DEPTH, i;
	uint64_t pos = 0;
	int n, err = 0;

	for (i = 0; i < DEPTH; i++)
		free_ios[i] = &ios[i];
	while (pos < len || nfree < DEPTH) {
		while (!err && pos < len && nfree > 0) {
			struct pvk_blkfront_io *io = free_ios[--nfree];
			uint64_t n_bytes = len - pos < CHUNK ? len - pos :
							       CHUNK;

			memset(io, 0, sizeof(*io));
			io->op = op;
			io->offset = off + pos;
			io->len = n_bytes;
			io->buf = buf + pos;
			err = pvk_blkfront_submit(bf, io);
			if (err < 0) {
				free_ios[nfree++] = io;
				if (err == -EAGAIN) {
					err = 0;
					break;
				}
				fprintf(stderr, "submit at %llu: %s\n",
					(unsigned long long)(off + pos),
					strerror(-err));
				break;
			}
			pos += n_bytes;
		}
		if (nfree == DEPTH)
			break;
		n = pvk_blkfront_reap(bf, done, 1, DEPTH, 30000);
		if (n < 0) {
			fprintf(stderr, "reap: %s\n", strerror(-n));
			return n;
		}
		if (n == 0) {
			fprintf(stderr, "no completion in 30 s\n");
			return -ETIMEDOUT;
		}
		for (i = 0; i < (unsigned int)n; i++) {
			if (done[i]->result < 0 && !err) {
				err = done[i]->result;
				fprintf(stderr, "io at %llu: %s\n",
					(unsigned long long)done[i]->offset,
					strerror(-err));
			}
			free_ios[nfree++] = done[i];
		}
	}
	return err;
}

static int read_all(int fd, uint8_t *buf, uint64_t max, uint64_t *len)
{
	ssize_t n;

	*len = 0;
	while (*len < max) {
		n = read(fd, buf + *len, max - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		*len += (uint64_t)n;
	}
	return -EFBIG;
}

static int write_all(int fd, const uint8_t *buf, uint64_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (uint64_t)n;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: pvk-xen-blkio VDEV info\n"
			"       pvk-xen-blkio VDEV read OFF LEN\n"
			"       pvk-xen-blkio VDEV write OFF < DATA\n");
}

int main(int argc, char **argv)
{
	struct pvk_blkfront *bf = NULL;
	struct pvk_hv *hv = NULL;
	uint64_t off = 0, len = 0;
	uint8_t *buf = NULL;
	const char *cmd;
	int err, rc = 1;

	if (argc < 3) {
		usage();
		return 2;
	}
	cmd = argv[2];
	if (!(strcmp(cmd, "info") == 0 && argc == 3) &&
	    !(strcmp(cmd, "read") == 0 && argc == 5 &&
	      parse_u64(argv[3], &off) == 0 && parse_u64(argv[4], &len) == 0 &&
	      len <= MAX_LEN) &&
	    !(strcmp(cmd, "write") == 0 && argc == 4 &&
	      parse_u64(argv[3], &off) == 0)) {
		usage();
		return 2;
	}

	err = pvk_hv_open(&hv, PVK_HV_XEN);
	if (err < 0) {
		fprintf(stderr, "pvk-xen-blkio: pvk_hv_open: %s\n",
			strerror(-err));
		return 1;
	}
	if (strcmp(pvk_hv_backend(hv), "xen") != 0) {
		fprintf(stderr, "pvk-xen-blkio: running on %s, not real Xen\n",
			pvk_hv_backend(hv));
		goto close_hv;
	}
	err = pvk_blkfront_open(&bf, hv, argv[1], NULL);
	if (err < 0) {
		fprintf(stderr, "pvk-xen-blkio: open %s: %s\n", argv[1],
			strerror(-err));
		goto close_hv;
	}
	/* read's stdout is the data. */
	print_info(bf, strcmp(cmd, "info") == 0 ? stdout : stderr);
	if (strcmp(cmd, "info") == 0) {
		rc = 0;
		goto close_bf;
	}
	buf = aligned_alloc(4096, MAX_LEN);
	if (!buf) {
		fprintf(stderr, "pvk-xen-blkio: out of memory\n");
		goto close_bf;
	}
	if (strcmp(cmd, "write") == 0) {
		err = read_all(0, buf, MAX_LEN, &len);
		if (err < 0) {
			fprintf(stderr, "pvk-xen-blkio: stdin: %s\n",
				strerror(-err));
			goto free_buf;
		}
		err = transfer(bf, PVK_BLKFRONT_WRITE, buf, off, len);
		if (err == 0)
			err = pvk_blkfront_flush(bf);
	} else {
		err = transfer(bf, PVK_BLKFRONT_READ, buf, off, len);
	}
	if (err < 0) {
		fprintf(stderr, "pvk-xen-blkio: %s %s: %s%s%s\n", cmd, argv[1],
			strerror(-err),
			pvk_blkfront_broken_reason(bf) ? ", broken: " : "",
			pvk_blkfront_broken_reason(bf) ?: "");
		goto free_buf;
	}
	if (strcmp(cmd, "read") == 0) {
		err = write_all(1, buf, len);
		if (err < 0) {
			fprintf(stderr, "pvk-xen-blkio: stdout: %s\n",
				strerror(-err));
			goto free_buf;
		}
	}
	rc = 0;
free_buf:
	free(buf);
close_bf:
	pvk_blkfront_close(bf);
close_hv:
	pvk_hv_close(hv);
	return rc;
}
