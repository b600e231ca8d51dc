// SPDX-License-Identifier: Apache-2.0
/*
 * bzImage kernels, entered through the Linux 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst): the protected-mode kernel is copied to
 * its preferred address and started at offset 0x200 in long mode.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "vmm/boot/internal.h"

#define BZ_HDR_OFFSET	       0x1f1 /* setup_header within the image and boot_params */
#define BZ_BOOT_FLAG	       0xaa55
#define BZ_HEADER_MAGIC	       0x53726448 /* "HdrS" */
#define BZ_MIN_VERSION	       0x020c	  /* 2.12: xloadflags, so XLF_KERNEL_64 can be checked */
#define BZ_ENTRY64_OFFSET      0x200
#define BZ_DEFAULT_SETUP_SECTS 4

bool bzimage_probe(const uint8_t *img, size_t size)
{
	struct setup_header h;

	if (size < BZ_HDR_OFFSET + sizeof(h))
		return false;
	memcpy(&h, img + BZ_HDR_OFFSET, sizeof(h));
	return h.boot_flag == BZ_BOOT_FLAG && h.header == BZ_HEADER_MAGIC;
}

int bzimage_load(struct guest_memory *gm, const uint8_t *img, size_t size, struct kernel_image *ki,
		 struct err *err)
{
	struct setup_header h;
	uint64_t hdr_end, setup_size, payload, load, reserve;
	unsigned int sects;
	int r;

	if (!bzimage_probe(img, size))
		return err_set(err, -EINVAL, "not a bzImage");
	/* The header is as long as its own jump instruction says (byte 0x201). */
	hdr_end = 0x202 + (uint64_t)img[0x201];
	memset(&h, 0, sizeof(h));
	memcpy(&h, img + BZ_HDR_OFFSET,
	       hdr_end - BZ_HDR_OFFSET < sizeof(h) ? hdr_end - BZ_HDR_OFFSET : sizeof(h));

	if (h.version < BZ_MIN_VERSION)
		return err_set(err, -EINVAL, "bzImage boot protocol %u.%02u is too old (need 2.12)",
			       h.version >> 8, h.version & 0xff);
	if (!(h.xloadflags & XLF_KERNEL_64))
		return err_set(err, -EINVAL, "bzImage has no 64-bit entry point (XLF_KERNEL_64)");

	sects = h.setup_sects ? h.setup_sects : BZ_DEFAULT_SETUP_SECTS;
	setup_size = (uint64_t)(sects + 1) * 512;
	if (setup_size >= size)
		return err_set(err, -EINVAL,
			       "bzImage is truncated: %zu bytes, setup alone needs %llu", size,
			       (unsigned long long)setup_size);
	payload = size - setup_size;
	if ((uint64_t)h.syssize * 16 > payload)
		return err_set(
			err, -EINVAL,
			"bzImage is truncated: kernel needs %llu bytes after setup, file has %llu",
			(unsigned long long)h.syssize * 16, (unsigned long long)payload);

	load = h.pref_address;
	if (load < PLAT_HIMEM_START)
		return err_set(err, -EINVAL, "bzImage preferred address 0x%llx is below 1 MiB",
			       (unsigned long long)load);
	/* init_size covers in-place decompression; it bounds the kernel's footprint. */
	reserve = h.init_size > payload ? h.init_size : payload;
	r = boot_check_segment(gm, load, reserve, err);
	if (r)
		return r;
	memcpy(gm_ptr(gm, load, payload), img + setup_size, payload);

	memset(ki, 0, sizeof(*ki));
	ki->mode = BOOT_MODE_LINUX64;
	ki->entry = load + BZ_ENTRY64_OFFSET;
	ki->load_start = load;
	ki->load_end = load + reserve;
	ki->cmdline_max = h.cmdline_size;
	ki->initrd_max = h.initrd_addr_max;
	ki->has_setup_header = true;
	ki->hdr = h;
	return 0;
}
