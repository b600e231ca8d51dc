// SPDX-License-Identifier: Apache-2.0
/*
 * kvmlet-vm-tool: drives the VM backend (agent/vm/vm.h) one operation per
 * process, for the integration tests, until the pod layer drives it. Each
 * run opens the backend from its state directory, as the agent does after a
 * restart, so every step also checks that nothing lives only in memory.
 *
 *   kvmlet-vm-tool CONFIG create ID IMAGE_DIR KERNEL CMDLINE [options]
 *       --netns PATH --log PATH --log-dir DIR --log-rel REL
 *       --cgroup-parent P --memory BYTES
 *       --cpu QUOTA/PERIOD --annotation K=V --mount HOST:CONTAINER
 *       --device HOST:PERMS --disk REL --pod NAME
 *   kvmlet-vm-tool CONFIG start|remove|reopen|status|stats|list ID
 *   kvmlet-vm-tool CONFIG stop ID SECONDS
 *   kvmlet-vm-tool CONFIG exec ID TIMEOUT_MS CAP ARGV...
 *   kvmlet-vm-tool CONFIG sandbox-stats CGROUP_PARENT
 *
 * CONFIG is STATE_DIR,JAIL_BASE,VMM,JAILER,SHIM,UID_BASE,UID_COUNT[,OVERHEAD_MIB]
 * (default 64). Output
 * is one JSON object; errors go to stderr as "error <errno>: message" with
 * exit status 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/image/store.h"
#include "agent/vm/vm.h"

#define MAX_ITEMS 16

static int fail(int r, const struct err *err)
{
	fprintf(stderr, "error %d: %s\n", -r, err->msg);
	return 1;
}

static int parse_config(char *s, struct vm_host_config *c)
{
	char *f[8];
	int n = 0;

	for (char *tok = strtok(s, ","); tok && n < 8; tok = strtok(NULL, ","))
		f[n++] = tok;
	if (n < 7)
		return -1;
	c->state_dir = f[0];
	c->jail_base = f[1];
	c->vmm_path = f[2];
	c->jailer_path = f[3];
	c->shim_path = f[4];
	c->uid_base = (uint32_t)strtoul(f[5], NULL, 10);
	c->uid_count = (uint32_t)strtoul(f[6], NULL, 10);
	c->default_memory_mib = 64;
	c->overhead_mib = n == 8 ? strtoull(f[7], NULL, 10) : 64;
	return 0;
}

struct create_args {
	Runtime__V1__ContainerConfig cfg;
	Runtime__V1__ContainerMetadata meta;
	Runtime__V1__LinuxContainerConfig linux_;
	Runtime__V1__LinuxContainerResources res;
	Runtime__V1__PodSandboxConfig sb;
	Runtime__V1__PodSandboxMetadata sb_meta;
	Runtime__V1__ContainerConfig__AnnotationsEntry ann[MAX_ITEMS], *ann_p[MAX_ITEMS];
	Runtime__V1__Mount mnt[MAX_ITEMS], *mnt_p[MAX_ITEMS];
	Runtime__V1__Device dev[MAX_ITEMS], *dev_p[MAX_ITEMS];
	char *disks[MAX_ITEMS];
	struct store_image img;
	struct vm_request req;
};

static int split(char *s, char sep, char **a, char **b)
{
	char *p = strchr(s, sep);

	if (!p)
		return -1;
	*p = '\0';
	*a = s;
	*b = p + 1;
	return 0;
}

static int create(struct vm_backend *b, int argc, char **argv)
{
	static struct create_args c;
	struct err err = { 0 };
	int r;

	if (argc < 5)
		return 2;
	runtime__v1__container_config__init(&c.cfg);
	runtime__v1__container_metadata__init(&c.meta);
	runtime__v1__linux_container_config__init(&c.linux_);
	runtime__v1__linux_container_resources__init(&c.res);
	runtime__v1__pod_sandbox_config__init(&c.sb);
	runtime__v1__pod_sandbox_metadata__init(&c.sb_meta);
	c.meta.name = (char *)"vm";
	c.cfg.metadata = &c.meta;
	c.cfg.linux = &c.linux_;
	c.linux_.resources = &c.res;
	c.sb.metadata = &c.sb_meta;
	c.sb_meta.name = (char *)"pod";
	c.cfg.annotations = c.ann_p;
	c.cfg.mounts = c.mnt_p;
	c.cfg.devices = c.dev_p;
	c.img.kernel = argv[3];
	c.img.cmdline = argv[4];
	c.img.disks = c.disks;
	snprintf(c.img.id, sizeof(c.img.id), "sha256:test");
	c.req.id = argv[1];
	c.req.sandbox_id = "sandbox";
	c.req.netns_path = "";
	c.req.cgroup_parent = "";
	c.req.log_path = "";
	c.req.sandbox = &c.sb;
	c.req.config = &c.cfg;
	c.req.image = &c.img;
	c.req.image_dir = argv[2];
	for (int i = 5; i + 1 < argc; i += 2) {
		const char *o = argv[i];
		char *v = argv[i + 1], *x, *y;

		if (!strcmp(o, "--netns")) {
			c.req.netns_path = v;
		} else if (!strcmp(o, "--log")) {
			c.req.log_path = v;
		} else if (!strcmp(o, "--log-dir")) {
			c.req.log_directory = v;
		} else if (!strcmp(o, "--log-rel")) {
			c.req.log_relpath = v;
		} else if (!strcmp(o, "--cgroup-parent")) {
			c.req.cgroup_parent = v;
		} else if (!strcmp(o, "--pod")) {
			c.sb_meta.name = v;
		} else if (!strcmp(o, "--memory")) {
			c.res.memory_limit_in_bytes = strtoll(v, NULL, 10);
		} else if (!strcmp(o, "--cpu") && !split(v, '/', &x, &y)) {
			c.res.cpu_quota = strtoll(x, NULL, 10);
			c.res.cpu_period = strtoll(y, NULL, 10);
		} else if (!strcmp(o, "--annotation") && c.cfg.n_annotations < MAX_ITEMS &&
			   !split(v, '=', &x, &y)) {
			size_t n = c.cfg.n_annotations++;

			runtime__v1__container_config__annotations_entry__init(&c.ann[n]);
			c.ann[n].key = x;
			c.ann[n].value = y;
			c.ann_p[n] = &c.ann[n];
		} else if (!strcmp(o, "--mount") && c.cfg.n_mounts < MAX_ITEMS &&
			   !split(v, ':', &x, &y)) {
			size_t n = c.cfg.n_mounts++;

			runtime__v1__mount__init(&c.mnt[n]);
			c.mnt[n].host_path = x;
			c.mnt[n].container_path = y;
			c.mnt[n].readonly = 1;
			c.mnt_p[n] = &c.mnt[n];
		} else if (!strcmp(o, "--device") && c.cfg.n_devices < MAX_ITEMS &&
			   !split(v, ':', &x, &y)) {
			size_t n = c.cfg.n_devices++;

			runtime__v1__device__init(&c.dev[n]);
			c.dev[n].host_path = x;
			c.dev[n].container_path = x;
			c.dev[n].permissions = y;
			c.dev_p[n] = &c.dev[n];
		} else if (!strcmp(o, "--disk") && c.img.nr_disks < MAX_ITEMS) {
			c.disks[c.img.nr_disks++] = v;
		} else {
			return 2;
		}
	}
	r = b->ops->create(b->ctx, &c.req, &err);
	if (r)
		return fail(r, &err);
	printf("{\"created\": \"%s\"}\n", argv[1]);
	return 0;
}

static const char *const state_names[] = { "CREATED", "RUNNING", "EXITED" };

static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_bytes(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	memcpy(s, p, n);
	s[n] = '\0';
	print_json_string(s);
	free(s);
}

static int run(struct vm_backend *b, int argc, char **argv)
{
	const char *op = argv[0];
	struct err err = { 0 };
	int r = 0;

	if (!strcmp(op, "create"))
		return create(b, argc, argv);
	if (!strcmp(op, "list")) {
		char **ids;
		size_t n;

		r = b->ops->list(b->ctx, &ids, &n, &err);
		if (r)
			return fail(r, &err);
		printf("{\"ids\": [");
		for (size_t i = 0; i < n; i++) {
			printf("%s\"%s\"", i ? ", " : "", ids[i]);
			free(ids[i]);
		}
		printf("]}\n");
		free(ids);
		return 0;
	}
	if (argc < 2)
		return 2;
	if (!strcmp(op, "start")) {
		r = b->ops->start(b->ctx, argv[1], &err);
	} else if (!strcmp(op, "remove")) {
		r = b->ops->remove(b->ctx, argv[1], &err);
	} else if (!strcmp(op, "reopen")) {
		r = b->ops->reopen_log(b->ctx, argv[1], &err);
	} else if (!strcmp(op, "stop") && argc == 3) {
		r = b->ops->stop(b->ctx, argv[1], strtoll(argv[2], NULL, 10), &err);
	} else if (!strcmp(op, "status")) {
		struct vm_status s;

		r = b->ops->status(b->ctx, argv[1], &s, &err);
		if (!r) {
			printf("{\"state\": \"%s\", \"started_at\": %" PRId64
			       ", \"finished_at\": %" PRId64 ", \"exit_code\": %d, \"reason\": ",
			       state_names[s.state], s.started_at, s.finished_at, s.exit_code);
			print_json_string(s.reason);
			printf(", \"message\": ");
			print_json_string(s.message);
			printf(", \"cid\": %u, \"memory\": %" PRIu64 ", \"vcpus\": %u}\n",
			       s.vsock_cid, s.guest_memory_bytes, s.vcpus);
		}
	} else if (!strcmp(op, "stats") || !strcmp(op, "sandbox-stats")) {
		struct vm_stats s;

		r = !strcmp(op, "stats") ? b->ops->stats(b->ctx, argv[1], &s, &err)
					 : b->ops->sandbox_stats(b->ctx, argv[1], &s, &err);
		if (!r)
			printf("{\"cpu_ns\": %" PRIu64 ", \"working_set\": %" PRIu64
			       ", \"usage\": %" PRIu64 ", \"disk_bytes\": %" PRIu64
			       ", \"disk_inodes\": %" PRIu64 "}\n",
			       s.cpu_usage_ns, s.memory_working_set, s.memory_usage,
			       s.disk_used_bytes, s.disk_inodes);
	} else if (!strcmp(op, "exec") && argc >= 5) {
		struct vm_exec_result x;

		r = b->ops->exec(b->ctx, argv[1], (const char *const *)argv + 4, (size_t)(argc - 4),
				 strtoll(argv[2], NULL, 10), strtoull(argv[3], NULL, 10), &x, &err);
		if (!r) {
			printf("{\"exit_code\": %d, \"stdout\": ", x.exit_code);
			print_bytes(x.out, x.out_len);
			printf(", \"stderr\": ");
			print_bytes(x.err, x.err_len);
			printf("}\n");
			vm_exec_result_free(&x);
		}
	} else {
		return 2;
	}
	if (r)
		return fail(r, &err);
	if (strcmp(op, "status") && strcmp(op, "stats") && strcmp(op, "sandbox-stats") &&
	    strcmp(op, "exec"))
		printf("{\"ok\": true}\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct vm_host_config cfg;
	struct vm_backend b;
	struct err err = { 0 };
	int r;

	if (argc < 3 || parse_config(argv[1], &cfg)) {
		fprintf(stderr, "usage: see the comment at the top of vm_tool.c\n");
		return 2;
	}
	r = vm_host_open(&cfg, &b, &err);
	if (r)
		return fail(r, &err);
	r = run(&b, argc - 2, argv + 2);
	if (r == 2)
		fprintf(stderr, "usage: see the comment at the top of vm_tool.c\n");
	vm_host_close(&b);
	return r;
}
