/* SPDX-License-Identifier: MIT */
/*
 * bench/lab-echo.c -- the lab's network peer (bench/lab.sh runs it in a
 * network namespace on the lab's bridge):
 *
 *   lab-echo [--echo PORT] [--sink PORT]
 *
 * UDP port --echo (default 7) sends every datagram back to its sender.
 * UDP port --sink (default 9) counts the datagrams it receives and checks
 * their payload (struct: an 8-byte little-endian sequence number, then
 * bytes lab_fill() makes of it); a datagram "PVKLAB-COUNT" there is answered
 * with "PVKLAB-COUNT <datagrams> <good> <bytes>" and the counts start again.
 * Runs until killed.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lab-net.h"

static int udp_bind(unsigned int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	int big = 8 << 20, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

static unsigned int port_arg(const char *opt, const char *v)
{
	char *end;
	unsigned long p = strtoul(v, &end, 10);

	if (*end || !*v || p == 0 || p > 65535) {
		fprintf(stderr, "lab-echo: %s %s: a UDP port, 1 to 65535\n",
			opt, v);
		exit(2);
	}
	return (unsigned int)p;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "echo", required_argument, NULL, 'e' },
		{ "sink", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long frames = 0, good = 0, bytes = 0;
	unsigned int echo = LAB_ECHO_PORT, sink = LAB_SINK_PORT;
	static uint8_t buf[65536], want[65536];
	struct pollfd p[2];
	int c;

	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		if (c == 'e')
			echo = port_arg("--echo", optarg);
		else if (c == 's')
			sink = port_arg("--sink", optarg);
		else
			return 2;
	}
	p[0] = (struct pollfd){ .fd = udp_bind(echo), .events = POLLIN };
	p[1] = (struct pollfd){ .fd = udp_bind(sink), .events = POLLIN };
	if (p[0].fd < 0 || p[1].fd < 0) {
		fprintf(stderr, "lab-echo: ports %u, %u: %s\n", echo, sink,
			strerror(-(p[0].fd < 0 ? p[0].fd : p[1].fd)));
		return 1;
	}
	printf("lab-echo: echo on %u, sink on %u\n", echo, sink);
	fflush(stdout);
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return 1;
		if (p[0].revents & POLLIN) {
			n = recvfrom(p[0].fd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
			if (n >= 0)
				sendto(p[0].fd, buf, (size_t)n, 0,
				       (struct sockaddr *)&from, fl);
		}
		if (!(p[1].revents & POLLIN))
			continue;
		fl = sizeof(from);
		n = recvfrom(p[1].fd, buf, sizeof(buf), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;
		if ((size_t)n == strlen(LAB_COUNT_ASK) &&
		    !memcmp(buf, LAB_COUNT_ASK, (size_t)n)) {
			int k = snprintf((char *)buf, 128, "%s %llu %llu %llu",
					 LAB_COUNT_ASK, frames, good, bytes);

			sendto(p[1].fd, buf, (size_t)k, 0,
			       (struct sockaddr *)&from, fl);
			frames = good = bytes = 0;
			continue;
		}
		frames++;
		bytes += (unsigned long long)n;
		if (n >= 8) {
			uint64_t seq;

			memcpy(&seq, buf, 8);
			lab_fill(want, (size_t)n, seq);
			good += !memcmp(buf, want, (size_t)n);
		}
	}
}
