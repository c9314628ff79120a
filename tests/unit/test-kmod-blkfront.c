/* SPDX-License-Identifier: MIT */
/*
 * test-kmod-blkfront: the logic the pvkit-blkfront kernel module shares
 * with userspace (guest-kernel-patches/linux/blkfront-core.h), compiled
 * here exactly as the module compiles it:
 *  - negotiation: ring order, queues, indirect segments and depth clamp
 *    whatever the backend advertises to what the frontend supports;
 *  - sector sizes: only powers of two from 512 to a page;
 *  - request building: a request's bytes map onto whole-page segments;
 *  - responses: ids out of range or not in flight, a wrong operation or an
 *    unknown status are protocol violations, whatever else the slot says.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../guest-kernel-patches/linux/blkfront-core.h"

static const struct pvkbf_limits lim = {
	.max_ring_order = 4,
	.max_queues = 4,
	.max_indirect = 32,
	.max_depth = 32,
};

static void test_pick_rings(void **state)
{
	struct pvkbf_limits big = lim;
	struct pvkbf_rings r;

	r = pvkbf_pick_rings(&lim, 0, 0); /* nothing advertised */
	assert_int_equal(r.order, 0);
	assert_int_equal(r.nr_queues, 1);
	r = pvkbf_pick_rings(&lim, 2, 1);
	assert_int_equal(r.order, 2);
	assert_int_equal(r.nr_queues, 1);
	r = pvkbf_pick_rings(&lim, 0xffffffffu, 0xffffffffu); /* hostile */
	assert_int_equal(r.order, 4);
	assert_int_equal(r.nr_queues, 4);
	big.max_ring_order = 9; /* our own limit is clamped to the ABI's */
	r = pvkbf_pick_rings(&big, 7, 3);
	assert_int_equal(r.order, PVK_RING_MAX_ORDER);
	assert_int_equal(r.nr_queues, 3);
}

static void test_pick_geom(void **state)
{
	struct pvkbf_limits l = lim;
	struct pvkbf_geom g;

	g = pvkbf_pick_geom(&l, 0, 32); /* no indirect */
	assert_int_equal(g.segs, 11);
	assert_int_equal(g.ind_pages, 0);
	assert_int_equal(g.depth, 32);
	g = pvkbf_pick_geom(&l, 8, 32); /* fewer than a direct request */
	assert_int_equal(g.segs, 11);
	assert_int_equal(g.ind_pages, 0);
	g = pvkbf_pick_geom(&l, 256, 512);
	assert_int_equal(g.segs, 32);
	assert_int_equal(g.ind_pages, 1);
	assert_int_equal(g.depth, 32);
	l.max_indirect = 1000;
	g = pvkbf_pick_geom(&l, 600, 16);
	assert_int_equal(g.segs, 600);
	assert_int_equal(g.ind_pages, 2); /* 512 descriptors a page */
	assert_int_equal(g.depth, 16); /* never more ids than ring slots */
	l.max_indirect = 0xffffffffu;
	g = pvkbf_pick_geom(&l, 0xffffffffu, 0); /* hostile */
	assert_int_equal(g.segs, PVK_BLKIF_MAX_INDIRECT_SEGMENTS);
	assert_int_equal(g.ind_pages, PVK_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
	assert_int_equal(g.depth, 1);
	l.max_indirect = 0; /* indirect off by parameter */
	g = pvkbf_pick_geom(&l, 4096, 32);
	assert_int_equal(g.segs, 11);
	assert_int_equal(g.ind_pages, 0);
}

static void test_sector_sizes(void **state)
{
	/* Not a power of two, below 512, above a page, absurd. */
	static const unsigned int bad[] = {
		0, 1, 256, 511, 513, 1000, 3072, 8192, 0x80000000u, 0xffffffffu,
	};
	unsigned int lbs = 0, pbs = 0, i;

	assert_int_equal(pvkbf_sector_sizes(512, 0, &lbs, &pbs), 0);
	assert_int_equal(lbs, 512);
	assert_int_equal(pbs, 512);
	assert_int_equal(pvkbf_sector_sizes(4096, 0, &lbs, &pbs), 0);
	assert_int_equal(lbs, 4096);
	assert_int_equal(pbs, 4096);
	assert_int_equal(pvkbf_sector_sizes(512, 4096, &lbs, &pbs), 0);
	assert_int_equal(lbs, 512);
	assert_int_equal(pbs, 4096);
	/* A physical size below the logical one, or not a power of two,
	 * falls back to the logical size. */
	assert_int_equal(pvkbf_sector_sizes(4096, 512, &lbs, &pbs), 0);
	assert_int_equal(pbs, 4096);
	assert_int_equal(pvkbf_sector_sizes(1024, 3000, &lbs, &pbs), 0);
	assert_int_equal(pbs, 1024);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(pvkbf_sector_sizes(bad[i], 0, &lbs, &pbs),
				 -EINVAL);
}

static void test_flush_op(void **state)
{
	assert_int_equal(pvkbf_flush_op(true, true),
			 PVK_BLKIF_OP_FLUSH_DISKCACHE);
	assert_int_equal(pvkbf_flush_op(true, false),
			 PVK_BLKIF_OP_FLUSH_DISKCACHE);
	assert_int_equal(pvkbf_flush_op(false, true),
			 PVK_BLKIF_OP_WRITE_BARRIER);
	assert_int_equal(pvkbf_flush_op(false, false), -1);
}

static void test_fill_segs(void **state)
{
	pvk_grant_ref_t grefs[PVK_BLKIF_MAX_INDIRECT_SEGMENTS];
	struct pvk_blkif_request_segment seg[PVK_BLKIF_MAX_INDIRECT_SEGMENTS];
	unsigned int i;

	for (i = 0; i < PVK_BLKIF_MAX_INDIRECT_SEGMENTS; i++)
		grefs[i] = 100 + i;
	assert_int_equal(pvkbf_fill_segs(512, grefs, seg, 11), 1);
	assert_int_equal(seg[0].gref, 100);
	assert_int_equal(seg[0].first_sect, 0);
	assert_int_equal(seg[0].last_sect, 0);
	assert_int_equal(pvkbf_fill_segs(4096, grefs, seg, 11), 1);
	assert_int_equal(seg[0].last_sect, 7);
	assert_int_equal(pvkbf_fill_segs(4096 + 1024, grefs, seg, 11), 2);
	assert_int_equal(seg[0].last_sect, 7);
	assert_int_equal(seg[1].gref, 101);
	assert_int_equal(seg[1].last_sect, 1);
	assert_int_equal(pvkbf_fill_segs(11 * 4096, grefs, seg, 11), 11);
	for (i = 0; i < 11; i++) {
		assert_int_equal(seg[i].gref, 100 + i);
		assert_true(pvk_blkif_check_segment(&seg[i]));
		assert_int_equal(seg[i].last_sect, 7);
	}
	/* One sector too many, a partial sector, nothing. */
	assert_int_equal(pvkbf_fill_segs(11 * 4096 + 512, grefs, seg, 11),
			 -EINVAL);
	assert_int_equal(pvkbf_fill_segs(4096 + 100, grefs, seg, 11), -EINVAL);
	assert_int_equal(pvkbf_fill_segs(0, grefs, seg, 11), -EINVAL);
	assert_int_equal(pvkbf_fill_segs(PVK_BLKIF_MAX_INDIRECT_SEGMENTS * 4096,
					 grefs, seg,
					 PVK_BLKIF_MAX_INDIRECT_SEGMENTS),
			 PVK_BLKIF_MAX_INDIRECT_SEGMENTS);
	assert_int_equal(seg[PVK_BLKIF_MAX_INDIRECT_SEGMENTS - 1].gref,
			 100 + PVK_BLKIF_MAX_INDIRECT_SEGMENTS - 1);
}

static void test_rsp_id(void **state)
{
	struct pvk_blkif_response rsp = { 0 };
	const char *why = NULL;

	rsp.id = 31;
	assert_int_equal(pvkbf_rsp_id(&rsp, 32, &why), 31);
	assert_null(why);
	rsp.id = 0;
	assert_int_equal(pvkbf_rsp_id(&rsp, 32, &why), 0);
	rsp.id = 32;
	assert_int_equal(pvkbf_rsp_id(&rsp, 32, &why), -EPROTO);
	assert_non_null(why);
	why = NULL;
	rsp.id = 1ull << 32; /* truncating it to 32 bits would give 0 */
	assert_int_equal(pvkbf_rsp_id(&rsp, 32, &why), -EPROTO);
	assert_non_null(why);
	rsp.id = ~0ull;
	assert_int_equal(pvkbf_rsp_id(&rsp, 32, &why), -EPROTO);
}

static void test_rsp_match(void **state)
{
	struct pvkbf_expect rw = { .inflight = true, .op = PVK_BLKIF_OP_WRITE };
	struct pvkbf_expect ind = { .inflight = true,
				    .op = PVK_BLKIF_OP_INDIRECT,
				    .ind_op = PVK_BLKIF_OP_READ };
	struct pvkbf_expect idle = { .inflight = false,
				     .op = PVK_BLKIF_OP_WRITE };
	struct pvk_blkif_response rsp = { .operation = PVK_BLKIF_OP_WRITE };
	static const int16_t bad_status[] = { 1, 2, -3, 0x7fff, -0x8000 };
	const char *why = NULL;
	unsigned int i;

	rsp.status = PVK_BLKIF_RSP_OKAY;
	assert_int_equal(pvkbf_rsp_match(&rsp, &rw, &why), PVKBF_OK);
	rsp.status = PVK_BLKIF_RSP_ERROR;
	assert_int_equal(pvkbf_rsp_match(&rsp, &rw, &why), PVKBF_ERROR);
	rsp.status = PVK_BLKIF_RSP_EOPNOTSUPP;
	assert_int_equal(pvkbf_rsp_match(&rsp, &rw, &why), PVKBF_NOTSUPP);
	assert_null(why);

	/* Answered twice (or never asked). */
	rsp.status = PVK_BLKIF_RSP_OKAY;
	assert_int_equal(pvkbf_rsp_match(&rsp, &idle, &why), -EPROTO);
	assert_string_equal(why, "response for an id not in flight");

	/* The operation must be the one sent. */
	rsp.operation = PVK_BLKIF_OP_READ;
	assert_int_equal(pvkbf_rsp_match(&rsp, &rw, &why), -EPROTO);
	assert_string_equal(why,
			    "response operation differs from the request's");

	/* Indirect: INDIRECT or the carried operation, nothing else. */
	rsp.operation = PVK_BLKIF_OP_INDIRECT;
	assert_int_equal(pvkbf_rsp_match(&rsp, &ind, &why), PVKBF_OK);
	rsp.operation = PVK_BLKIF_OP_READ;
	assert_int_equal(pvkbf_rsp_match(&rsp, &ind, &why), PVKBF_OK);
	rsp.operation = PVK_BLKIF_OP_WRITE;
	assert_int_equal(pvkbf_rsp_match(&rsp, &ind, &why), -EPROTO);
	/* ... and a direct request is never answered as indirect. */
	rsp.operation = PVK_BLKIF_OP_INDIRECT;
	assert_int_equal(pvkbf_rsp_match(&rsp, &rw, &why), -EPROTO);

	rsp.operation = PVK_BLKIF_OP_WRITE;
	for (i = 0; i < sizeof(bad_status) / sizeof(bad_status[0]); i++) {
		why = NULL;
		rsp.status = bad_status[i];
		assert_int_equal(pvkbf_rsp_match(&rsp, &rw, &why), -EPROTO);
		assert_string_equal(why, "unknown response status");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick_rings),
		cmocka_unit_test(test_pick_geom),
		cmocka_unit_test(test_sector_sizes),
		cmocka_unit_test(test_flush_op),
		cmocka_unit_test(test_fill_segs),
		cmocka_unit_test(test_rsp_id),
		cmocka_unit_test(test_rsp_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
