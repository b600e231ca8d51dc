/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The lifecycle every device implements, legacy and virtio alike: pause,
 * resume, save, restore, stats and destroy, through one small ops table.
 * The VMM keeps its devices in a registry (devices/registry.h) and walks it
 * for snapshots, migration, metrics, pausing and teardown, so that adding a
 * device touches none of those.
 *
 * A device embeds struct device and points it at its ops; every op may be
 * NULL, meaning there is nothing to do. The virtio transport implements the
 * table once for all virtio devices over struct virtio_dev_ops.
 *
 * Threads: pause, resume, save, restore and destroy run on the VMM's event
 * loop with every vCPU parked (or not yet started); stats runs on any thread
 * at any time and only reads counters atomically (devices/stats.h).
 */
#ifndef KVMLET_DEVICES_DEVICE_H
#define KVMLET_DEVICES_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/prom.h"
#include "lib/state.h"

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

/*
 * Snapshot section ids of the devices (docs/snapshot.md). Ids are never
 * reused: a layout change bumps the section's version.
 */
enum device_section {
	DEVICE_SECTION_SERIAL = 16, /* the 16550A */
	DEVICE_SECTION_VIRTIO = 17, /* numbered: u32 slot, name, transport and device state */
	DEVICE_SECTION_I8042 = 18,
};

/* Every device section is at version 1 today. */
#define DEVICE_SECTION_VERSION 1

struct device;

/*
 * One sample a device reports. The Prometheus family and labels name it for
 * GET /metrics; json_object and json_field place it in Firecracker's
 * metrics file, as a delta since the previous line: in "<object>_<id>" for
 * a device with an id (and summed over such devices into "<object>", as
 * Firecracker's "block" is), in "<object>" for a device without one. With
 * json_kvmlet the field is not Firecracker's: it goes to the same object
 * under "kvmlet" and is never summed. json_object NULL: not in the file.
 */
struct device_metric {
	const struct prom_family *family;
	const char *const *labels; /* PROM_LABELS(...), or NULL */
	const char *json_object;
	const char *json_field;
	bool json_kvmlet;
};

struct device_stats_out {
	void (*emit)(void *ctx, const struct device *dev, const struct device_metric *m,
		     uint64_t value);
	void *ctx;
};

static inline void device_emit(const struct device_stats_out *out, const struct device *dev,
			       const struct device_metric *m, uint64_t value)
{
	out->emit(out->ctx, dev, m, value);
}

struct device_ops {
	/* Snapshot section of this kind of device. */
	uint32_t section;
	/*
	 * Several devices share the section: each section body starts with a
	 * u32, the device's place among them in registry order.
	 */
	bool numbered;
	/*
	 * Stops the device's work on guest memory that is already under way
	 * (in-flight I/O completes to the rings), after the vCPUs parked.
	 * A failure is logged; the pause goes on.
	 */
	int (*pause)(struct device *dev);
	/* Before the vCPUs run again. */
	void (*resume)(struct device *dev);
	/* The section body (the caller frames the section and writes the number). */
	void (*save)(struct device *dev, struct state_writer *w);
	/* Reads the whole body, refusing anything malformed or trailing. */
	int (*restore)(struct device *dev, struct state_reader *r, struct err *err);
	/* Calls out->emit for each sample, in the same order every time. */
	void (*stats)(struct device *dev, const struct device_stats_out *out);
	void (*destroy)(struct device *dev);
};

struct device {
	const struct device_ops *ops;
	const char *kind; /* "serial", "virtio-blk": what registry_find() matches */
	const char *id;	  /* the user's id (drive_id, iface_id); NULL for singletons */
	const char *name; /* for messages and the snapshot: "virtio-blk d0" */
};

#endif
