// SPDX-License-Identifier: Apache-2.0
/* The cloud-init NoCloud disk ("cidata") from annotations (build.h, spec.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/vm/build.h"
#include "agent/vm/iso.h"

/* A YAML scalar that says exactly s, whatever s holds: a JSON string is one. */
static char *yaml_quote(const char *s)
{
	cJSON *j = cJSON_CreateString(s);
	char *q = j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	return q;
}

int build_add_cidata(struct build *b, struct err *err)
{
	const struct vm_spec *s = &b->spec;
	const Runtime__V1__PodSandboxConfig *sb = b->req->sandbox;
	const char *pod = sb && sb->metadata && sb->metadata->name && *sb->metadata->name
				  ? sb->metadata->name
				  : b->rec.id;
	static const char empty_user_data[] = "#cloud-config\n";
	struct vm_iso_file files[3];
	size_t nr = 0;
	char *meta = NULL, *qid = NULL, *qhost = NULL;
	int fd, r;

	if (!vm_spec_wants_cidata(s))
		return 0;
	if (!s->meta_data) {
		size_t len;

		qid = yaml_quote(b->rec.id);
		qhost = yaml_quote(pod);
		len = (qid ? strlen(qid) : 0) + (qhost ? strlen(qhost) : 0) + 64;
		meta = qid && qhost ? malloc(len) : NULL;
		if (!meta) {
			free(qid);
			free(qhost);
			return err_set(err, -ENOMEM, "out of memory");
		}
		snprintf(meta, len, "instance-id: %s\nlocal-hostname: %s\n", qid, qhost);
	}
	files[nr++] =
		(struct vm_iso_file){ "user-data", s->user_data ? s->user_data : empty_user_data,
				      strlen(s->user_data ? s->user_data : empty_user_data), 0644 };
	files[nr++] = (struct vm_iso_file){ "meta-data", s->meta_data ? s->meta_data : meta,
					    strlen(s->meta_data ? s->meta_data : meta), 0644 };
	/* The pod's annotation wins over the network-config rendered from the CNI result. */
	const char *netcfg = s->network_config ? s->network_config : b->req->network_config;

	if (netcfg)
		files[nr++] =
			(struct vm_iso_file){ "network-config", netcfg, strlen(netcfg), 0644 };
	fd = build_iso_create(b, "cidata.iso", err);
	r = fd < 0 ? fd : vm_iso_from_files(files, nr, "CIDATA", fd, err);
	if (fd >= 0)
		close(fd);
	free(meta);
	free(qid);
	free(qhost);
	return r ? r : build_add_drive(b, "cidata", "cidata.iso", true, "CIDATA", err);
}
