/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counters each device keeps for metrics. The device's thread (the event
 * loop) is the only writer; the API thread reads them at any time, so every
 * field is updated with relaxed atomic stores (stats_add) and read with
 * relaxed atomic loads: a reader may see one counter a little ahead of
 * another, never a torn value.
 */
#ifndef KVMLET_DEVICES_STATS_H
#define KVMLET_DEVICES_STATS_H

#include <stdint.h>

#define stats_add(field, n) __atomic_fetch_add(&(field), (uint64_t)(n), __ATOMIC_RELAXED)
#define stats_get(field)    __atomic_load_n(&(field), __ATOMIC_RELAXED)

struct blk_stats {
	uint64_t read_ops, write_ops, flush_ops, discard_ops, write_zeroes_ops, get_id_ops;
	uint64_t read_bytes, write_bytes;
	uint64_t io_errors;	  /* requests answered VIRTIO_BLK_S_IOERR */
	uint64_t invalid_requests; /* malformed or unsupported: IOERR/UNSUPP */
};

struct net_stats {
	uint64_t tx_packets, tx_bytes, tx_drops;
	uint64_t rx_packets, rx_bytes, rx_drops;
	uint64_t errors; /* malformed chains and backend failures */
};

struct vsock_stats {
	uint64_t conns_opened, conns_closed, conns_reset;
	uint64_t tx_bytes; /* guest to host */
	uint64_t rx_bytes; /* host to guest */
	uint64_t invalid_packets;
};

struct rng_stats {
	uint64_t requests, bytes;
};

#endif
