// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-mmio devices described by ACPI. QEMU microvm appends
 * virtio_mmio.device= words to the command line only when ACPI is off;
 * with ACPI on (its default) each transport is a DSDT device with _HID
 * "LNRO0005" whose _CRS holds a Memory32Fixed window and an Extended
 * Interrupt. Interpreting AML is far beyond this firmware, so this scans
 * the bytes: after each "LNRO0005" string, the first two resource
 * descriptors of those kinds before the next such device belong to it.
 * That matches how QEMU (and Firecracker-style generators) lay the device
 * out: _HID, _UID, _CCA, then _CRS's buffer.
 */
#include "bootinfo.h"
#include "libc.h"
#include "topology.h"
#include "virtio.h"

#define HID	       "LNRO0005"
#define SCAN_WINDOW    256  /* bytes after the _HID in which the _CRS must lie */
#define RES_MEM32FIXED 0x86 /* large item, length 9: info, base, size */
#define RES_EXT_IRQ    0x89 /* large item: flags, count, count * u32 */

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static const uint8_t *find(const uint8_t *p, const uint8_t *end, const char *s, size_t n)
{
	for (; p + n <= end; p++)
		if (!memcmp(p, s, n))
			return p;
	return NULL;
}

static bool parse_device(const uint8_t *p, const uint8_t *end, struct virtio_slot *s)
{
	bool mem = false, irq = false;

	for (; p + 3 <= end && !(mem && irq); p++) {
		if (!mem && p[0] == RES_MEM32FIXED && p[1] == 9 && p[2] == 0 && p + 12 <= end) {
			s->base = le32(p + 4);
			s->size = le32(p + 8);
			mem = true;
		} else if (!irq && p[0] == RES_EXT_IRQ && p[1] >= 6 && p[2] == 0 && p + 9 <= end &&
			   p[4] >= 1) {
			s->irq = le32(p + 5);
			irq = true;
		}
	}
	return mem && irq && s->size >= 0x200 && s->base && s->base + s->size <= (1ULL << 32);
}

unsigned int virtio_acpi_slots(struct virtio_slot *slots, unsigned int max)
{
	uint64_t rsdp = bootinfo.rsdp ? bootinfo.rsdp : acpi_find_rsdp();
	const uint8_t *aml, *end, *p, *next;
	unsigned int n = 0;
	uint32_t len;

	aml = acpi_dsdt(rsdp, &len);
	if (!aml)
		return 0;
	end = aml + len;
	for (p = find(aml, end, HID, 8); p && n < max; p = next) {
		const uint8_t *stop;

		next = find(p + 8, end, HID, 8);
		stop = next ? next : end;
		if (stop > p + SCAN_WINDOW)
			stop = p + SCAN_WINDOW;
		if (parse_device(p + 8, stop, &slots[n]))
			n++;
	}
	return n;
}
