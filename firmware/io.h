/* SPDX-License-Identifier: Apache-2.0 */
/* Port I/O, MMIO and physical-address access from ring 3. */
#ifndef FW_IO_H
#define FW_IO_H

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t val)
{
	asm volatile("outb %0, %1" : : "a"(val), "Nd"(port) : "memory");
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t val;

	asm volatile("inb %1, %0" : "=a"(val) : "Nd"(port) : "memory");
	return val;
}

/*
 * The whole low 4 GiB is identity-mapped, so a physical address is a
 * pointer. The empty asm hides the constant from the compiler, which would
 * otherwise warn about dereferencing small integer addresses.
 */
static inline void *phys_ptr(uint64_t addr)
{
	void *p;

	asm("" : "=r"(p) : "0"(addr));
	return p;
}

static inline uint8_t mmio_read8(uint64_t addr)
{
	return *(volatile uint8_t *)phys_ptr(addr);
}

static inline uint16_t mmio_read16(uint64_t addr)
{
	return *(volatile uint16_t *)phys_ptr(addr);
}

static inline uint32_t mmio_read32(uint64_t addr)
{
	return *(volatile uint32_t *)phys_ptr(addr);
}

static inline void mmio_write32(uint64_t addr, uint32_t val)
{
	*(volatile uint32_t *)phys_ptr(addr) = val;
}

static inline void mmio_write8(uint64_t addr, uint8_t val)
{
	*(volatile uint8_t *)phys_ptr(addr) = val;
}

#endif
