// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"

/* Index of the last range with base <= addr, or -1. */
static int bus_find(const struct bus *bus, uint64_t addr)
{
	int lo = 0, hi = (int)bus->nr - 1, found = -1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;

		if (bus->ranges[mid].base <= addr) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque, const char *name)
{
	int i;

	if (len == 0 || base + len - 1 < base)
		return -EINVAL;
	i = bus_find(bus, base + len - 1);
	/* Compare last bytes: a range may end at the very top of the address space. */
	if (i >= 0 && bus->ranges[i].base + (bus->ranges[i].len - 1) >= base)
		return -EEXIST;
	if (bus->nr == bus->cap) {
		unsigned int cap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range *r = realloc(bus->ranges, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		bus->ranges = r;
		bus->cap = cap;
	}
	i++; /* insert after the last range that starts below us */
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->nr - i) * sizeof(*bus->ranges));
	bus->ranges[i] = (struct bus_range){ base, len, ops, opaque, name };
	bus->nr++;
	return 0;
}

void bus_free(struct bus *bus)
{
	free(bus->ranges);
	memset(bus, 0, sizeof(*bus));
}

bool bus_access(const struct bus *bus, uint64_t addr, void *data, uint32_t len, bool is_write)
{
	int i = bus_find(bus, addr);
	const struct bus_range *r;
	uint64_t off;

	if (i < 0)
		return false;
	r = &bus->ranges[i];
	off = addr - r->base;
	if (off >= r->len || len > r->len - off)
		return false;
	if (is_write)
		r->ops->write(r->opaque, off, data, len);
	else
		r->ops->read(r->opaque, off, data, len);
	return true;
}
