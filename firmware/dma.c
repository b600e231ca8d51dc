// SPDX-License-Identifier: Apache-2.0
#include <kvmlet/platform.h>
#include "bootinfo.h"
#include "dma.h"
#include "image.h"
#include "libc.h"

static uint64_t next, end;

/* The rest of the RAM entry that holds the image, below the MMIO hole. */
static void dma_init(void)
{
	uint64_t start = (uint64_t)_image_end;

	next = end = start;
	for (unsigned int i = 0; i < bootinfo.nr_memmap; i++) {
		const struct hvm_memmap_table_entry *e = &bootinfo.memmap[i];

		if (e->type == PVH_MEMMAP_TYPE_RAM && start >= e->addr && start < e->addr + e->size)
			end = MIN(e->addr + e->size, PLAT_MMIO_HOLE_START);
	}
}

void *dma_alloc(size_t size, size_t align)
{
	uint64_t p;

	if (!end)
		dma_init();
	p = (next + align - 1) & ~(uint64_t)(align - 1);
	if (p < next || p + size > end || p + size < p)
		return NULL;
	next = p + size;
	return memset((void *)p, 0, size);
}

uint64_t dma_mark(void)
{
	if (!end)
		dma_init();
	return next;
}

void dma_release(uint64_t mark)
{
	next = mark;
}
