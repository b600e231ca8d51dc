// SPDX-License-Identifier: Apache-2.0
#include "io.h"
#include "kbd.h"

#define KBD_DATA_PORT	0x60
#define KBD_STATUS_PORT 0x64
#define KBD_STATUS_OBF	0x01 /* a byte waits in the output buffer */

/* Scan code set 1, as the controller translates by default. */
#define SC_CTRL	    0x1d
#define SC_ALT	    0x38
#define SC_EXTENDED 0xe0
#define SC_DEL	    0x53 /* after SC_EXTENDED */
#define SC_BREAK    0x80

void kbd_drain(void)
{
	while (inb(KBD_STATUS_PORT) & KBD_STATUS_OBF)
		(void)inb(KBD_DATA_PORT);
}

bool kbd_read(uint8_t *sc)
{
	if (!(inb(KBD_STATUS_PORT) & KBD_STATUS_OBF))
		return false;
	*sc = inb(KBD_DATA_PORT);
	return true;
}

bool kbd_cad_feed(struct kbd_cad *k, uint8_t sc)
{
	k->bytes++;
	if (sc == SC_EXTENDED) {
		k->extended = true;
		return false;
	}
	if (!k->extended && (sc & ~SC_BREAK) == SC_CTRL)
		k->ctrl = !(sc & SC_BREAK);
	else if (!k->extended && (sc & ~SC_BREAK) == SC_ALT)
		k->alt = !(sc & SC_BREAK);
	else if (k->extended && sc == SC_DEL && k->ctrl && k->alt)
		return true;
	k->extended = false;
	return false;
}
