/* SPDX-License-Identifier: Apache-2.0 */
/* The legacy 8259 pair: only ever masked. */
#ifndef FW_PIC_H
#define FW_PIC_H

#include "io.h"

/*
 * Ring 3 runs with IF=1 and the BSP's LINT0 is in ExtINT mode, so an
 * unmasked (and never initialised: vector base 0) PIC would turn ISA lines
 * into fake exceptions; it would also duplicate every IOAPIC interrupt.
 */
static inline void pic_mask_all(void)
{
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

#endif
