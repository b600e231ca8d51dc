/* SPDX-License-Identifier: Apache-2.0 */
/* The ways the firmware ends the VM (kvmlet.end= picks one, see main.c). */
#ifndef FW_EXIT_H
#define FW_EXIT_H

#include <stdint.h>

/* Debug-exit port: the VMM exits with @status (QEMU: 2 * @status + 1). */
void fw_exit(uint8_t status) __attribute__((noreturn));
/* Reset through the i8042 controller, as Linux's reboot=k does. */
void fw_reset(void) __attribute__((noreturn));
/* Triple fault on purpose: the VMM should report a guest crash. */
void fw_triple_fault(void) __attribute__((noreturn));

#endif
