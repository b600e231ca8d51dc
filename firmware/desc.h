/* SPDX-License-Identifier: Apache-2.0 */
/* GDT, IDT and per-CPU TSSs. */
#ifndef FW_DESC_H
#define FW_DESC_H

/*
 * Fills what ring 0 left for ring 3: every IDT gate and the BSP's TSS.
 * The BSP calls it first thing, before any port I/O.
 */
void desc_init(void);
/*
 * Sets up the AP TSSs and their descriptors, before APs are started. Also
 * before they are restarted: LTR marks a descriptor busy and faults on a
 * busy one, so this marks them available again.
 */
void desc_prepare_aps(void);
/* Marks every IDT gate not present: the next exception shuts the VM down. */
void desc_wreck_idt(void);

#endif
