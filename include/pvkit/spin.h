/* SPDX-License-Identifier: MIT */
/*
 * pvkit/spin.h -- adaptive polling before sleeping, for any driver that
 * waits on an event channel (header only, freestanding).
 */
#ifndef PVKIT_SPIN_H
#define PVKIT_SPIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Polling before blocking on an event channel, sized as KVM sizes its
 * halt polling.  A wake-up costs the notifier a system call and, when the
 * sleeper's CPU has gone idle, an interrupt to that CPU (tens of
 * microseconds inside a VM); a peer that is polling is told by the shared
 * ring alone.  So, before sleeping, a driver may poll its rings for up to
 * pvk_spin_budget() ns, yielding the CPU between looks (sched_yield), so
 * that a peer sharing that CPU still runs.  After each sleep it reports
 * how long it slept: a sleep no longer than the maximum means polling
 * would have caught the event, and the budget grows (doubling, from
 * 1/8 of the maximum); a longer one means the peer is idle, and the
 * budget halves, reaching 0 (no polling at all) after a few idle sleeps.
 * Use: init once; then per wait: poll up to budget; if nothing came,
 * t = now, block, pvk_spin_slept(s, now - t).  max_us 0: never poll.
 * Polling pays at low queue depth, where a wake-up is a large part of
 * each request's latency; with more in flight, batching already spares
 * the wake-ups and a polling CPU only takes time from the I/O, so the
 * drivers poll only with at most PVK_SPIN_MAX_INFLIGHT requests in
 * flight.
 */
#define PVK_SPIN_MAX_INFLIGHT 2
struct pvk_spin {
	uint64_t max_ns, cur_ns;
};

static inline void pvk_spin_init(struct pvk_spin *s, uint32_t max_us)
{
	s->max_ns = (uint64_t)max_us * 1000u;
	s->cur_ns = s->max_ns;
}

static inline uint64_t pvk_spin_budget(const struct pvk_spin *s)
{
	return s->cur_ns;
}

static inline void pvk_spin_slept(struct pvk_spin *s, uint64_t slept_ns)
{
	if (slept_ns <= s->max_ns) {
		s->cur_ns = s->cur_ns ? s->cur_ns * 2 : s->max_ns / 8;
		if (s->cur_ns > s->max_ns)
			s->cur_ns = s->max_ns;
	} else {
		s->cur_ns /= 2;
		if (s->cur_ns < s->max_ns / 8)
			s->cur_ns = 0;
	}
}

#if __STDC_HOSTED__ && !defined(__KERNEL__)
#include <time.h>
#endif

#ifdef CLOCK_MONOTONIC
/*
 * CLOCK_MONOTONIC, in ns and in ms: what the drivers time their sleeps,
 * deadlines and retries by (where the C library declares clock_gettime:
 * POSIX, not a strict ISO C mode).
 */
static inline uint64_t pvk_spin_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t pvk_spin_clock_ms(void)
{
	return pvk_spin_clock_ns() / 1000000u;
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_SPIN_H */
