/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The i8042 keyboard, polled, and the one key combination the firmware
 * cares about: Ctrl+Alt+Del, which is how Firecracker's SendCtrlAltDel
 * reaches a guest. Used by the kbd test and the pod mode.
 */
#ifndef FW_KBD_H
#define FW_KBD_H

#include <stdbool.h>
#include <stdint.h>

/* Scan code set 1 state between bytes. */
struct kbd_cad {
	bool ctrl, alt, extended;
	unsigned int bytes; /* scan codes seen */
};

/* Throws away what the controller holds: it is not an answer to anything. */
void kbd_drain(void);
/* A scan code if one waits (one port read, a VM exit, when none does). */
bool kbd_read(uint8_t *sc);
/* Takes one scan code; true once Ctrl+Alt+Del is complete. */
bool kbd_cad_feed(struct kbd_cad *k, uint8_t sc);

#endif
