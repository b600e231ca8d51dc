/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The driver side of virtio over MMIO (virtio 1.2, 4.2; transport version
 * 2 only) and of split virtqueues (2.7), polled from ring 3.
 *
 * Devices are found through the "virtio_mmio.device=<size>@<addr>:<irq>"
 * words that both kvmlet-vmm and QEMU append to the command line. Every
 * register access is a VM exit (tens of microseconds on the development
 * hosts), so the hot paths touch only rings in RAM, and QueueNotify only
 * when the device asked for a kick (EVENT_IDX or VRING_USED_F_NO_NOTIFY).
 */
#ifndef FW_VIRTIO_H
#define FW_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#define VIRTIO_MAX_SLOTS  32
#define VIRTIO_MAX_QUEUES 3   /* net: rx, tx (+ a spare); vsock: rx, tx, event; blk, rng: one */
#define VIRTQ_MAX_SIZE	  256 /* the most any ring here is given */

/* VendorID of kvmlet-vmm's devices ("KVLT"); test_hostile expects more of them. */
#define VIRTIO_VENDOR_KVMLET 0x4b564c54

/* One virtio_mmio.device= word. */
struct virtio_slot {
	uint64_t base;
	uint64_t size;
	uint32_t irq; /* a GSI */
};

struct virtq;

struct virtio_dev {
	struct virtio_slot slot;
	uint32_t device_id; /* VIRTIO_ID_*; 0 for an empty QEMU transport */
	uint32_t vendor_id;
	uint64_t offered;  /* device features */
	uint64_t features; /* negotiated */
	struct virtq *vqs[VIRTIO_MAX_QUEUES];
};

/* One buffer of a request, for virtq_add(). */
struct vq_seg {
	uint64_t addr;
	uint32_t len;
	bool write; /* device-writable; these must come after the readable ones */
};

struct virtq {
	struct virtio_dev *dev;
	uint16_t index;
	uint16_t size;
	bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool irq;	/* completions should interrupt */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t free_head; /* free descriptors are chained through .next */
	uint16_t nr_free;
	uint16_t avail_idx;  /* the next avail->idx */
	uint16_t kicked_idx; /* avail->idx when the device was last notified */
	uint16_t last_used;  /* the next used entry to look at */
	void **cookie;	     /* per head: what virtq_get() hands back */
	uint64_t kicks;	     /* QueueNotify writes (VM exits) */
};

/*
 * Every virtio-mmio transport: the virtio_mmio.device= words on the command
 * line, then those only the ACPI DSDT describes (QEMU microvm with ACPI
 * on); returns how many.
 */
unsigned int virtio_find_slots(const char *cmdline, struct virtio_slot *slots, unsigned int max);
/* virtio_acpi.c: the DSDT's LNRO0005 devices. */
unsigned int virtio_acpi_slots(struct virtio_slot *slots, unsigned int max);

/*
 * Reads magic, version and device ID. False (with the reason in @why) for
 * a bad magic or a legacy (version 1) transport; an empty transport
 * returns true with device_id 0.
 */
bool virtio_probe(struct virtio_dev *d, const struct virtio_slot *s, char *why, size_t len);

/*
 * The devices of type @device_id, in command-line order: fills @devs and
 * returns how many. Slots that fail virtio_probe() are reported once per
 * call on the console ("virtio@0x...: ...") and skipped.
 */
unsigned int virtio_find(uint32_t device_id, struct virtio_dev *devs, unsigned int max);

/*
 * Reset, ACKNOWLEDGE, DRIVER, then accept @wanted & offered. VERSION_1 must
 * be offered; FEATURES_OK is set and read back. False, with a reason, if
 * the device refuses (the device is left failed-but-reset-able).
 */
bool virtio_negotiate(struct virtio_dev *d, uint64_t wanted, char *why, size_t len);

static inline bool virtio_has(const struct virtio_dev *d, unsigned int bit)
{
	return d->features & (1ULL << bit);
}

/*
 * Queue @index with min(QueueNumMax, @max_size) entries (rounded down to
 * a power of two), rings from the DMA arena. Between virtio_negotiate()
 * and virtio_driver_ok(). False if the queue does not exist or is live.
 */
bool virtio_queue_setup(struct virtio_dev *d, unsigned int index, unsigned int max_size, char *why,
			size_t len);
/* DRIVER_OK; false (with why) if the device set DEVICE_NEEDS_RESET or FAILED instead. */
bool virtio_driver_ok(struct virtio_dev *d, char *why, size_t len);
/* Writes 0 to Status and waits for it to read back 0. */
void virtio_reset(struct virtio_dev *d);

uint32_t virtio_read(const struct virtio_dev *d, uint32_t reg);
void virtio_write(const struct virtio_dev *d, uint32_t reg, uint32_t val);
uint32_t virtio_status(const struct virtio_dev *d);

/* Device configuration space, at @off from 0x100; 64-bit reads are generation-checked. */
uint8_t virtio_config8(const struct virtio_dev *d, uint32_t off);
uint16_t virtio_config16(const struct virtio_dev *d, uint32_t off);
uint32_t virtio_config32(const struct virtio_dev *d, uint32_t off);
uint64_t virtio_config64(const struct virtio_dev *d, uint32_t off);

/* A short name for a device type: "blk", "net", "rng" or "dev<id>". */
const char *virtio_type_name(uint32_t device_id, char *buf, size_t len);

/*
 * Queues a chain of @n buffers (readable first) without making it visible;
 * returns the head, or -1 if fewer than @n descriptors are free.
 */
int virtq_add(struct virtq *vq, const struct vq_seg *segs, unsigned int n, void *cookie);
/*
 * The same through one descriptor pointing at @table (@n entries, filled
 * here, in DMA memory that must stay put until the chain completes).
 */
int virtq_add_indirect(struct virtq *vq, struct vring_desc *table, const struct vq_seg *segs,
		       unsigned int n, void *cookie);
/* Publishes added chains and notifies the device if it wants a kick. */
void virtq_kick(struct virtq *vq);
/* Makes @head available as is (hostile tests build their own chains). */
void virtq_publish_raw(struct virtq *vq, uint16_t head);
/* The next completed chain's cookie (and bytes written); NULL if none. */
void *virtq_get(struct virtq *vq, uint32_t *len);
/* virtq_get(), polling for up to @timeout_us. */
void *virtq_wait(struct virtq *vq, uint32_t *len, uint64_t timeout_us);
/* Entries the device has put in the used ring that virtq_get() has not taken. */
uint16_t virtq_pending_used(const struct virtq *vq);
/* Ask for (or stop asking for) an interrupt per completion. */
void virtq_set_irq(struct virtq *vq, bool on);

#endif
