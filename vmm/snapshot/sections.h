/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Section ids of a snapshot body (and of a migration stream) that belong to
 * the machine, defined once here; devices' sections (16 and up) are defined
 * with the device interface, in devices/device.h. docs/snapshot.md
 * describes each layout. Ids are never reused: a layout change bumps the
 * section's version instead.
 */
#ifndef KVMLET_VMM_SNAPSHOT_SECTIONS_H
#define KVMLET_VMM_SNAPSHOT_SECTIONS_H

enum snapshot_section {
	SNAPSHOT_SECTION_CONFIG = 1,	    /* the VM configuration as JSON */
	SNAPSHOT_SECTION_VM = 2,	    /* vm_state: irqchips, PIT, clock */
	SNAPSHOT_SECTION_VCPU = 3,	    /* vcpu_state: one per vCPU */
	SNAPSHOT_SECTION_MEMORY = 4,	    /* guest RAM layout and memory file */
	SNAPSHOT_SECTION_DEVICE_FIRST = 16, /* enum device_section from here on */
};

#endif
