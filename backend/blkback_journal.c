// SPDX-License-Identifier: MIT
/*
 * blkback_journal.c -- the crash journal of a connected vbd (the protocol
 * is in blkback_priv.h): a file of the state directory, shared-mapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blkback_priv.h"

#define BJ_MAGIC "PVKBJ01"

/* The rings the journal is for: resumed only if the frontend still
 * describes exactly these. */
struct bj_file {
	char magic[8];
	uint32_t fe_domid, devid, nr_queues, ring_order, nr_ents, qbytes;
	uint32_t pad[10];
	struct bb_queue_conf q[BB_MAX_QUEUES];
};

static size_t hdr_len(void)
{
	return (sizeof(struct bj_file) + 4095) & ~(size_t)4095;
}

static size_t q_len(uint32_t nr_ents)
{
	size_t n = sizeof(struct bj_queue) + nr_ents * sizeof(struct bj_ent);

	return (n + 4095) & ~(size_t)4095;
}

struct bj_queue *bj_queue(struct bb_dev *dev, uint32_t q)
{
	if (!dev->journal)
		return NULL;
	return (struct bj_queue *)((char *)dev->journal + hdr_len() +
				   (size_t)q * dev->journal->qbytes);
}

static bool describes(const struct bj_file *j, const struct bb_dev *dev,
		      const struct bb_connect *c, uint32_t nr_ents)
{
	uint32_t i, pages = 1u << c->ring_order;

	if (memcmp(j->magic, BJ_MAGIC, sizeof(j->magic)) ||
	    j->fe_domid != dev->fe_domid || j->devid != dev->devid ||
	    j->nr_queues != c->nr_queues || j->ring_order != c->ring_order ||
	    j->nr_ents != nr_ents || j->qbytes != q_len(nr_ents))
		return false;
	for (i = 0; i < c->nr_queues; i++)
		if (j->q[i].evtchn != c->q[i].evtchn ||
		    memcmp(j->q[i].ring_refs, c->q[i].ring_refs,
			   pages * sizeof(uint32_t)))
			return false;
	return true;
}

int bj_open(struct bb_dev *dev, const struct bb_connect *c, uint32_t nr_ents,
	    char *msg, size_t len)
{
	const char *dir = dev->bb->cfg.state_dir;
	size_t total = hdr_len() + c->nr_queues * q_len(nr_ents);
	struct bj_file *j;
	struct stat st;
	uint32_t i;
	int fd, err;

	if (snprintf(dev->journal_path, sizeof(dev->journal_path),
		     "%s/%s-%u-%u.journal", dir, dev->bb->type, dev->fe_domid,
		     dev->devid) >= (int)sizeof(dev->journal_path)) {
		snprintf(msg, len, "state directory path too long");
		return -ENAMETOOLONG;
	}
	fd = open(dev->journal_path,
		  c->recover ? O_RDWR | O_CLOEXEC :
			       O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		err = -errno;
		snprintf(msg, len, "journal %s: %s", dev->journal_path,
			 strerror(errno));
		return err;
	}
	if (fstat(fd, &st) < 0 ||
	    (c->recover ? (size_t)st.st_size != total :
			  ftruncate(fd, (off_t)total) < 0)) {
		err = c->recover ? -ESTALE : -errno;
		snprintf(msg, len, "journal %s: %s", dev->journal_path,
			 c->recover ? "not the size of these rings" :
				      strerror(errno));
		goto close_fd;
	}
	j = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (j == MAP_FAILED) {
		err = -errno;
		snprintf(msg, len, "journal %s: mmap: %s", dev->journal_path,
			 strerror(errno));
		goto close_fd;
	}
	close(fd);
	dev->journal = j;
	dev->journal_len = total;
	if (c->recover) {
		if (!describes(j, dev, c, nr_ents)) {
			snprintf(msg, len,
				 "journal %s describes other rings (the "
				 "frontend reconnected since)",
				 dev->journal_path);
			bj_close(dev);
			return -ESTALE;
		}
		return 0;
	}
	*j = (struct bj_file){ .fe_domid = dev->fe_domid,
			       .devid = dev->devid,
			       .nr_queues = c->nr_queues,
			       .ring_order = c->ring_order,
			       .nr_ents = nr_ents,
			       .qbytes = (uint32_t)q_len(nr_ents) };
	memcpy(j->q, c->q, sizeof(j->q));
	for (i = 0; i < c->nr_queues; i++)
		bj_queue(dev, i)->nr_ents = nr_ents;
	return 0;

close_fd:
	close(fd);
	if (!c->recover)
		unlink(dev->journal_path);
	return err;
}

void bj_seal(struct bb_dev *dev)
{
	if (!dev->journal)
		return;
	/* Valid once complete: a crash before this leaves no magic. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(dev->journal->magic, BJ_MAGIC, sizeof(dev->journal->magic));
}

void bj_close(struct bb_dev *dev)
{
	if (!dev->journal)
		return;
	munmap(dev->journal, dev->journal_len);
	dev->journal = NULL;
	unlink(dev->journal_path);
}
