// SPDX-License-Identifier: MIT
/*
 * pvk-sd-notify-recv PATH SECS: what systemd's end of sd_notify(3) does,
 * for a test: bind a datagram socket at PATH, print each message received
 * (one line per message, newlines inside as " | ") until SECS pass with
 * none.  Exits 0 if at least one message came, 1 if none.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	int fd, got = 0, i;
	struct pollfd p;
	ssize_t n;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: pvk-sd-notify-recv PATH SECS\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("pvk-sd-notify-recv");
		return 2;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (poll(&p, 1, atoi(argv[2]) * 1000) > 0) {
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0)
			break;
		buf[n] = 0;
		for (i = 0; i < n; i++)
			if (buf[i] == '\n')
				buf[i] = '|';
		printf("%s\n", buf);
		fflush(stdout);
		got++;
	}
	unlink(argv[1]);
	return got ? 0 : 1;
}
