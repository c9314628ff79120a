/* SPDX-License-Identifier: MIT */
/*
 * pvk-xen-tcp: one TCP transfer with a clear end, for the real-Xen lane's
 * network cells (busybox nc stops at the first EOF in either direction,
 * so a listener whose stdin ends cuts the transfer short).
 *
 *   pvk-xen-tcp recv PORT FILE [SECS]   listen on PORT (IPv4, any
 *       address); once listening, go to the background and return 0.
 *       The background part accepts one connection, copies it to FILE
 *       until the peer's EOF, closes, and writes FILE.rc: "0 BYTES USECS"
 *       or "1 REASON".
 *   pvk-xen-tcp send HOST PORT [SECS]   connect to HOST:PORT (IPv4
 *       address), send stdin, half-close, and wait for the receiver to
 *       close after taking everything.  Prints "BYTES USECS" on stdout.
 *
 * SECS (default 120) bounds the whole run of either side; a transfer
 * that stalls for 30 s fails at once.  Exit status: 0, 1 on an error,
 * 2 on usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (64u << 10)
#define STALL_SECS 30

static char buf[BUF_SIZE];

static unsigned long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int parse_uint(const char *s, unsigned int max, unsigned int *v)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || !*s || *end || *s == '-' || n > max)
		return -EINVAL;
	*v = n;
	return 0;
}

static void set_stall_timeout(int fd)
{
	struct timeval tv = { .tv_sec = STALL_SECS };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copy @in to @out until EOF; count the bytes in @total. */
static int copy(int in, int out, unsigned long long *total)
{
	for (;;) {
		ssize_t r = read(in, buf, sizeof(buf));
		int err;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		err = write_all(out, buf, (size_t)r);
		if (err < 0)
			return err;
		*total += (unsigned long long)r;
	}
}

static int write_rc(const char *file, const char *text)
{
	char path[4096], tmp[4112];
	FILE *f;

	snprintf(path, sizeof(path), "%s.rc", file);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	if (fclose(f) != 0)
		return -errno;
	return rename(tmp, path) < 0 ? -errno : 0;
}

static void receive(int lfd, const char *file)
{
	char text[256];
	unsigned long long total = 0, t0;
	int fd, out, err;

	fd = accept(lfd, NULL, NULL);
	if (fd < 0) {
		snprintf(text, sizeof(text), "1 accept: %s\n", strerror(errno));
		goto report;
	}
	close(lfd);
	set_stall_timeout(fd);
	out = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0) {
		snprintf(text, sizeof(text), "1 %s: %s\n", file,
			 strerror(errno));
		goto close_fd;
	}
	t0 = now_us();
	err = copy(fd, out, &total);
	if (close(out) < 0 && !err)
		err = -errno;
	if (err)
		snprintf(text, sizeof(text), "1 after %llu bytes: %s\n", total,
			 strerror(-err));
	else
		snprintf(text, sizeof(text), "0 %llu %llu\n", total,
			 now_us() - t0);
close_fd:
	close(fd);
report:
	write_rc(file, text);
}

static int cmd_recv(const char *port_s, const char *file, unsigned int secs)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned int port;
	int one = 1, lfd, fd;
	pid_t pid;

	if (parse_uint(port_s, 65535, &port) < 0 || port == 0) {
		fprintf(stderr, "pvk-xen-tcp: bad port '%s'\n", port_s);
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 1) < 0) {
		fprintf(stderr, "pvk-xen-tcp: listen on %u: %s\n", port,
			strerror(errno));
		return 1;
	}
	unlink(file);
	{
		char rc[4096];

		snprintf(rc, sizeof(rc), "%s.rc", file);
		unlink(rc);
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "pvk-xen-tcp: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid > 0)
		return 0;
	setsid();
	/* Hold no caller's pipe open (a $(...) would wait for it). */
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	alarm(secs); /* SIGALRM ends a receiver nobody connects to */
	receive(lfd, file);
	_exit(0);
}

static int cmd_send(const char *host, const char *port_s, unsigned int secs)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned long long total = 0, t0;
	unsigned int port;
	int fd, err;
	ssize_t r;

	if (parse_uint(port_s, 65535, &port) < 0 || port == 0 ||
	    inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "pvk-xen-tcp: bad address %s:%s\n", host,
			port_s);
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);
	alarm(secs);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "pvk-xen-tcp: connect to %s:%u: %s\n", host,
			port, strerror(errno));
		return 1;
	}
	set_stall_timeout(fd);
	t0 = now_us();
	err = copy(STDIN_FILENO, fd, &total);
	if (err) {
		fprintf(stderr, "pvk-xen-tcp: send after %llu bytes: %s\n",
			total, strerror(-err));
		return 1;
	}
	if (shutdown(fd, SHUT_WR) < 0) {
		fprintf(stderr, "pvk-xen-tcp: shutdown: %s\n", strerror(errno));
		return 1;
	}
	/* The receiver closes once it has read everything. */
	do
		r = read(fd, buf, sizeof(buf));
	while (r > 0 || (r < 0 && errno == EINTR));
	if (r < 0) {
		fprintf(stderr, "pvk-xen-tcp: waiting for the receiver: %s\n",
			strerror(errno));
		return 1;
	}
	close(fd);
	printf("%llu %llu\n", total, now_us() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int secs = 120;

	if (argc >= 4 && argc <= 5 && !strcmp(argv[1], "recv")) {
		if (argc == 5 && parse_uint(argv[4], 86400, &secs) < 0)
			goto usage;
		return cmd_recv(argv[2], argv[3], secs);
	}
	if (argc >= 4 && argc <= 5 && !strcmp(argv[1], "send")) {
		if (argc == 5 && parse_uint(argv[4], 86400, &secs) < 0)
			goto usage;
		return cmd_send(argv[2], argv[3], secs);
	}
usage:
	fprintf(stderr, "usage: pvk-xen-tcp recv PORT FILE [SECS]\n"
			"       pvk-xen-tcp send HOST PORT [SECS]\n");
	return 2;
}
