/* SPDX-License-Identifier: MIT */
/*
 * bench/lab-net.h -- what the lab (bench-lab) and its network peer
 * (lab-echo) agree on: the ports, the count question, and the payload of
 * a datagram: its 8-byte sequence number (host order: both ends are this
 * machine), then bytes made of it, so that the receiver can check every
 * byte.
 */
#ifndef PVK_BENCH_LAB_NET_H
#define PVK_BENCH_LAB_NET_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LAB_ECHO_PORT 7u
#define LAB_SINK_PORT 9u
#define LAB_COUNT_ASK "PVKLAB-COUNT"

static inline void lab_fill(uint8_t *p, size_t len, uint64_t seq)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ull + 1;

	if (len >= 8)
		memcpy(p, &seq, 8);
	for (size_t i = 8; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

#endif /* PVK_BENCH_LAB_NET_H */
