/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The boot GDT. The same table is written into guest memory and turned into
 * the hidden segment state KVM loads, so the two can never disagree.
 */
#ifndef KVMLET_VMM_BOOT_GDT_H
#define KVMLET_VMM_BOOT_GDT_H

#include <linux/kvm.h>
#include <stdint.h>

#include "memory/guest_memory.h"

/* Writes the table at PLAT_GDT_ADDR; returns its limit. */
uint16_t gdt_write(struct guest_memory *gm);

/* The KVM segment for one of the PLAT_SEL_* selectors. */
struct kvm_segment gdt_segment(uint16_t selector);

#endif
