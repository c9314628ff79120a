// SPDX-License-Identifier: MIT
/*
 * pvkit-backd under systemd, without libsystemd: readiness and status on
 * $NOTIFY_SOCKET (sd_notify(3)'s datagram protocol), and log lines for the
 * journal when stderr is its stream ($JOURNAL_STREAM names stderr's
 * device and inode): a "<N>" syslog priority prefix and no timestamp of
 * our own, which the journal adds (sd-daemon(3)).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backd_systemd.h"

int backd_sd_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	ssize_t n;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@'))
		return 0;
	len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = 0; /* abstract namespace */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
	return n < 0 ? -errno : 1;
}

bool backd_sd_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	       fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

/* The syslog priority of a bus log line, by what it says. */
static int priority(const char *line)
{
	if (strstr(line, "broken") || strstr(line, "cannot") ||
	    strstr(line, "refused") || strstr(line, "failed"))
		return 3; /* LOG_ERR */
	if (strstr(line, "warning"))
		return 4; /* LOG_WARNING */
	return 6; /* LOG_INFO */
}

void backd_sd_log(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "<%d>%s\n", priority(line), line);
}
