/* SPDX-License-Identifier: Apache-2.0 */
/* The ways the firmware ends the VM (kvmlet.end= picks one, see main.c). */
#ifndef FW_EXIT_H
#define FW_EXIT_H

#include <stdint.h>

/* Debug-exit port: the VMM exits with @status (QEMU: 2 * @status + 1). */
void fw_exit(uint8_t status) __attribute__((noreturn));
/* Reset through the i8042 controller, as Linux's reboot=k does. */
void fw_reset(void) __attribute__((noreturn));
/*
 * guest-shutdown through the agent: once the verdict is out the VM powers
 * off (debug-exit with the verdict's status) or resets, whatever
 * kvmlet.end= says.
 */
enum fw_power { FW_POWER_NONE, FW_POWER_OFF, FW_POWER_RESET };
void fw_power_request(enum fw_power p);
enum fw_power fw_power_requested(void);
/* Triple fault on purpose: the VMM should report a guest crash. */
void fw_triple_fault(void) __attribute__((noreturn));

#endif
