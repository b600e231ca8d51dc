/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Section ids of a snapshot body (and of a migration stream), defined once
 * here; docs/snapshot.md describes each layout. Ids are never reused: a
 * layout change bumps the section's version instead.
 */
#ifndef KVMLET_VMM_SNAPSHOT_SECTIONS_H
#define KVMLET_VMM_SNAPSHOT_SECTIONS_H

enum snapshot_section {
	SNAPSHOT_SECTION_CONFIG = 1,	    /* the VM configuration as JSON */
	SNAPSHOT_SECTION_VM = 2,	    /* vm_state: irqchips, PIT, clock */
	SNAPSHOT_SECTION_VCPU = 3,	    /* vcpu_state: one per vCPU */
	SNAPSHOT_SECTION_MEMORY = 4,	    /* guest RAM layout and memory file */
	SNAPSHOT_SECTION_DEVICE_FIRST = 16, /* device sections from here on */
	SNAPSHOT_SECTION_SERIAL = 16,	    /* the 16550A: serial_save() */
	SNAPSHOT_SECTION_VIRTIO = 17,	    /* u32 slot, name, virtio_dev_save() */
	SNAPSHOT_SECTION_I8042 = 18,	    /* i8042_save() */
};

#endif
