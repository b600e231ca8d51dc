/* SPDX-License-Identifier: Apache-2.0 */
/* The MP table that tells the guest about its vCPUs and interrupt routing. */
#ifndef KVMLET_VMM_MPTABLE_H
#define KVMLET_VMM_MPTABLE_H

#include "lib/err.h"
#include "memory/guest_memory.h"

/* The most vCPUs an MP table (8-bit APIC IDs, one taken by the IOAPIC) can describe. */
#define MPTABLE_MAX_CPUS 254

int mptable_write(struct guest_memory *gm, unsigned int nr_cpus, struct err *err);

/* The MPS checksum: bytes sum to zero. Exposed for tests. */
uint8_t mptable_checksum(const void *p, size_t len);

#endif
