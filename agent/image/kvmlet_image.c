// SPDX-License-Identifier: Apache-2.0
/*
 * kvmlet-image: packs a kernel, an initrd and disks into a VM image, an OCI
 * image layout that `skopeo copy oci:DIR:TAG docker://...` pushes as is.
 *
 *   kvmlet-image build [--kernel F] [--initrd F] [--cmdline S] [--disk F]...
 *                      --output DIR --tag T
 *
 * Layers: one for /boot (kernel and initrd), then one per disk, so a pull
 * fetches disks in parallel. Prints the manifest digest. Exit status: 0,
 * 1 when the image could not be written, 2 for usage errors.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/image/pack.h"

#define EXIT_FAILED 1
#define EXIT_USAGE  2
#define MAX_DISKS   16
#define QEMU_UID    107 /* KubeVirt's containerDisk: disks readable by qemu */

struct options {
	const char *kernel, *initrd, *cmdline, *output, *tag;
	const char *disks[MAX_DISKS];
	size_t n_disks;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: kvmlet-image build [--kernel FILE] [--initrd FILE] [--cmdline ARGS]\n"
		   "                          [--disk FILE]... --output DIR --tag TAG\n"
		   "\n"
		   "Writes a VM image (docs/images.md) as an OCI image layout in DIR:\n"
		   "  --kernel FILE   the kernel (PVH ELF, vmlinux or bzImage), as /boot/vmlinuz\n"
		   "  --initrd FILE   an initrd, as /boot/initrd\n"
		   "  --cmdline ARGS  default kernel arguments (label " PACK_LABEL_CMDLINE ")\n"
		   "  --disk FILE     a disk (raw or qcow2), as /disk/<its name>; repeat for\n"
		   "                  more, in name order: the first is the boot disk\n"
		   "  --output DIR    the layout directory (created; blobs already there stay)\n"
		   "  --tag TAG       the name skopeo's oci:DIR:TAG refers to\n"
		   "  --help          this text\n"
		   "Prints the manifest's digest. Exit status: 0, 1 if writing failed, 2 for\n"
		   "usage errors.\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "disk", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "tag", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'k':
			o->kernel = optarg;
			break;
		case 'i':
			o->initrd = optarg;
			break;
		case 'c':
			o->cmdline = optarg;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 't':
			o->tag = optarg;
			break;
		case 'd':
			if (o->n_disks == MAX_DISKS) {
				fprintf(stderr, "kvmlet-image: at most %d disks\n", MAX_DISKS);
				return -1;
			}
			o->disks[o->n_disks++] = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kvmlet-image: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!o->output || !o->tag || !*o->tag) {
		fprintf(stderr, "kvmlet-image: --output and --tag are required\n");
		return -1;
	}
	if (!o->kernel && !o->n_disks) {
		fprintf(stderr, "kvmlet-image: nothing to pack (no --kernel, no --disk)\n");
		return -1;
	}
	if (o->initrd && !o->kernel) {
		fprintf(stderr, "kvmlet-image: --initrd needs --kernel\n");
		return -1;
	}
	return 0;
}

/* "disk/<base name>"; names must rise, so name order is the order given. */
static int disk_names(const struct options *o, char names[][300])
{
	for (size_t i = 0; i < o->n_disks; i++) {
		char *copy = strdup(o->disks[i]);
		const char *base = copy ? basename(copy) : NULL;

		if (!base || !*base || !strcmp(base, "/") || !strcmp(base, ".") ||
		    !strcmp(base, "..") ||
		    (size_t)snprintf(names[i], 300, "disk/%s", base) >= 300) {
			fprintf(stderr, "kvmlet-image: bad disk name '%s'\n", o->disks[i]);
			free(copy);
			return -1;
		}
		free(copy);
		if (i && strcmp(names[i - 1], names[i]) >= 0) {
			fprintf(stderr,
				"kvmlet-image: disks are used in name order; '%s' must come "
				"before '%s' (the first --disk is the boot disk)\n",
				names[i] + 5, names[i - 1] + 5);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static char names[MAX_DISKS][300];
	struct pack_file boot[2], disks[MAX_DISKS];
	struct pack_layer layers[MAX_DISKS + 1];
	struct options o = { 0 };
	struct pack_image img = { .layers = layers, .mtime = 0 };
	char manifest[DIGEST_STR_LEN + 1];
	struct err err = { 0 };
	size_t nb = 0;

	if (argc < 2 || strcmp(argv[1], "build")) {
		usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : EXIT_USAGE;
	}
	if (parse_args(argc - 1, argv + 1, &o) || disk_names(&o, names)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* /boot/initrd sorts before /boot/vmlinuz. */
	if (o.initrd)
		boot[nb++] = (struct pack_file){ o.initrd, "boot/initrd", 0, 0, 0444 };
	if (o.kernel) {
		boot[nb++] = (struct pack_file){ o.kernel, "boot/vmlinuz", 0, 0, 0444 };
		layers[img.n_layers++] = (struct pack_layer){ boot, nb };
	}
	for (size_t i = 0; i < o.n_disks; i++) {
		disks[i] = (struct pack_file){ o.disks[i], names[i], QEMU_UID, QEMU_UID, 0444 };
		layers[img.n_layers++] = (struct pack_layer){ &disks[i], 1 };
	}
	img.cmdline = o.cmdline;
	img.tag = o.tag;
	if (pack_write_layout(o.output, &img, manifest, &err)) {
		fprintf(stderr, "kvmlet-image: %s\n", err.msg);
		return EXIT_FAILED;
	}
	printf("%s\n", manifest);
	return 0;
}
