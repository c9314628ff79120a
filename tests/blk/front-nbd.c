/* SPDX-License-Identifier: MIT */
/*
 * tests/blk/front-nbd.c -- `pvkit disk serve-nbd` against stock NBD
 * clients (nbdinfo, nbdcopy, qemu-img, qemu-io from Debian's libnbd-bin
 * and qemu-utils).  The server code is included so that it runs on a
 * blkfront opened on the loop hypervisor against the test-double backend;
 * the clients are real programs talking to it over a unix socket.
 * Exit 77 (skip) when the clients are not installed.
 */
#include "../../tools/cmd_disk_nbd.c"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "front_double.h"

#define T_DISK (8u << 20)

static struct {
	struct pvk_loop *loop;
	uint32_t guest;
	struct pvk_hv *ghv;
	struct t_dbl *dbl;
	struct nbd_srv srv;
	int lfd;
	pthread_t th;
	char dir[64], sock[128], uri[200];
	int disconnects;
} g;

static void *t_server(void *arg)
{
	(void)arg;
	while (!stop_flag) {
		g.srv.fd = accept4(g.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (g.srv.fd < 0)
			break;
		if (serve_client(&g.srv) == 0)
			g.disconnects++;
		drain(&g.srv);
		close(g.srv.fd);
	}
	return NULL;
}

static int t_run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fprintf(stderr, "+ %s\n", cmd);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int t_setup(void **state)
{
	struct t_dbl_cfg cfg = {
		.disk_bytes = T_DISK,
		.max_ring_order = 2,
		.max_queues = 2,
		.max_indirect = 64,
		.persistent = true,
		.flush = true,
		.discard = true,
	};
	struct pvk_blkfront_opts opts = { .queue_depth = 32 };

	(void)state;
	snprintf(g.dir, sizeof(g.dir), "%s/pvk-nbd-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(g.dir));
	snprintf(g.sock, sizeof(g.sock), "%s/nbd.sock", g.dir);
	snprintf(g.uri, sizeof(g.uri), "nbd+unix:///?socket=%s", g.sock);
	assert_int_equal(pvk_loop_create(&g.loop), 0);
	assert_int_equal(pvk_loop_domain_create(g.loop, "guest", &g.guest), 0);
	assert_int_equal(pvk_hv_open_loop(&g.ghv, g.loop, g.guest), 0);
	assert_int_equal(t_dbl_start(&g.dbl, g.loop, g.guest, 51712, &cfg), 0);
	assert_int_equal(pvk_blkfront_open(&g.srv.bf, g.ghv, "xvda", &opts), 0);
	pvk_blkfront_info(g.srv.bf, &g.srv.info);
	g.srv.name = "xvda";
	g.lfd = listen_on(g.sock, -1);
	assert_true(g.lfd >= 0);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pthread_create(&g.th, NULL, t_server, NULL), 0);
	return 0;
}

static int t_teardown(void **state)
{
	(void)state;
	stop_flag = 1;
	shutdown(g.lfd, SHUT_RDWR);
	pthread_join(g.th, NULL);
	close(g.lfd);
	pvk_blkfront_close(g.srv.bf);
	t_dbl_stop(g.dbl);
	pvk_hv_close(g.ghv);
	pvk_loop_destroy(g.loop);
	t_run("rm -rf '%s'", g.dir);
	return 0;
}

static void t_nbdinfo(void **state)
{
	(void)state;
	assert_int_equal(
		t_run("nbdinfo --json '%s' > '%s/info.json'", g.uri, g.dir), 0);
	assert_int_equal(t_run("grep -q '\"export-size\": %u' '%s/info.json'",
			       T_DISK, g.dir),
			 0);
	assert_int_equal(t_run("grep -q '\"can_flush\": true' '%s/info.json' "
			       "&& grep -q '\"can_trim\": true' '%s/info.json'",
			       g.dir, g.dir),
			 0);
}

static void t_nbdcopy_roundtrip(void **state)
{
	(void)state;
	/* A random image in, back out, byte for byte. */
	assert_int_equal(t_run("head -c %u /dev/urandom > '%s/a.img'", T_DISK,
			       g.dir),
			 0);
	assert_int_equal(t_run("nbdcopy '%s/a.img' '%s'", g.dir, g.uri), 0);
	assert_int_equal(t_run("nbdcopy '%s' '%s/b.img'", g.uri, g.dir), 0);
	assert_int_equal(t_run("cmp '%s/a.img' '%s/b.img'", g.dir, g.dir), 0);
	/* What the backend holds is what was written. */
	{
		FILE *f;
		uint8_t *a = malloc(T_DISK);
		char p[200];

		assert_non_null(a);
		snprintf(p, sizeof(p), "%s/a.img", g.dir);
		f = fopen(p, "rb");
		assert_non_null(f);
		assert_int_equal(fread(a, 1, T_DISK, f), T_DISK);
		fclose(f);
		assert_memory_equal(a, t_dbl_disk(g.dbl), T_DISK);
		free(a);
	}
}

static void t_qemu(void **state)
{
	(void)state;
	if (t_run("command -v qemu-img >/dev/null && command -v qemu-io >/dev/null")) {
		fprintf(stderr, "qemu-img/qemu-io not installed: skipped\n");
		return;
	}
	assert_int_equal(
		t_run("qemu-img info '%s' | grep -q 'virtual size: 8 MiB'",
		      g.uri),
		0);
	assert_int_equal(t_run("qemu-img convert -O raw '%s' '%s/c.img'", g.uri,
			       g.dir),
			 0);
	assert_int_equal(t_run("qemu-img compare -f raw -F raw '%s/c.img' '%s'",
			       g.dir, g.uri),
			 0);
	/* Unaligned write and read, flush, and discard. */
	assert_int_equal(t_run("qemu-io -f raw -c 'write -P 0x5a 1000 3000' "
			       "-c flush -c 'read -P 0x5a 1000 3000' '%s' "
			       ">/dev/null",
			       g.uri),
			 0);
	assert_int_equal(t_run("qemu-io -f raw -c 'discard 1048576 65536' "
			       "-c 'read -P 0 1048576 65536' '%s' >/dev/null",
			       g.uri),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_nbdinfo),
		cmocka_unit_test(t_nbdcopy_roundtrip),
		cmocka_unit_test(t_qemu),
	};

	if (system("command -v nbdinfo >/dev/null && command -v nbdcopy "
		   ">/dev/null")) {
		printf("SKIP: nbdinfo/nbdcopy not installed "
		       "(apt-get install libnbd-bin qemu-utils)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, t_setup, t_teardown);
}
