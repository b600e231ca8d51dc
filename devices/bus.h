/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Port I/O and MMIO dispatch. Devices claim address ranges before the vCPUs
 * start; after that the bus is read-only and lookups take no lock.
 */
#ifndef KVMLET_DEVICES_BUS_H
#define KVMLET_DEVICES_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct bus_ops {
	void (*read)(void *opaque, uint64_t offset, void *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const void *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name;
};

struct bus {
	struct bus_range *ranges; /* sorted by base, non-overlapping */
	unsigned int nr;
	unsigned int cap;
};

/* -EEXIST if the range overlaps one already claimed, -EINVAL if empty. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque, const char *name);
void bus_free(struct bus *bus);

/*
 * Sends an access to the device owning [addr, addr + len). Returns false if
 * no device does; the caller decides what unclaimed accesses mean.
 */
bool bus_access(const struct bus *bus, uint64_t addr, void *data, uint32_t len, bool is_write);

#endif
