/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process exit codes of kvmlet-vmm, shared with the firmware's self-tests so
 * that a test's verdict survives the trip through the VMM unchanged.
 * docs/platform.md has the table.
 */
#ifndef KVMLET_EXIT_CODES_H
#define KVMLET_EXIT_CODES_H

#define KVMLET_EXIT_OK		0 /* guest powered off, or wrote 0 */
#define KVMLET_EXIT_VMM_ERROR	1 /* KVM or host failure while running */
#define KVMLET_EXIT_BAD_INPUT	2 /* invalid options, images or host setup */
#define KVMLET_EXIT_GUEST_FAIL	3 /* firmware self-test failure */
#define KVMLET_EXIT_GUEST_CRASH 4 /* triple fault, emulation failure */
/* The guest now runs in another kvmlet-vmm (live migration, docs/migration.md). */
#define KVMLET_EXIT_MIGRATED	5
#define KVMLET_EXIT_GUEST_RESET 6 /* guest reset the machine (reboot, panic=N) */
/* Termination by signal N after a clean shutdown: 128 + N. */

#endif
