/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The firmware's own footprint, from kvmlet-testguest.lds: the loaded image
 * (text, data, bss), then a "noinit" area the ELF does not describe. Big
 * buffers that need no zeroing (AP stacks, spare page tables, the command
 * line copy) live there, so that loaders do not spend time and memory
 * clearing them at every boot; they are used only once the memory map has
 * confirmed the area is RAM (bootinfo_copy()).
 */
#ifndef FW_IMAGE_H
#define FW_IMAGE_H

#define __noinit __attribute__((section(".noinit")))

extern char _image_start[], _noinit_start[], _image_end[];

#endif
