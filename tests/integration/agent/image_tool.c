// SPDX-License-Identifier: Apache-2.0
/*
 * kvmlet-image-tool: the image store and puller from a command line, for
 * the integration tests (the CRI server drives the same calls):
 *
 *   kvmlet-image-tool ROOT [--insecure HOST]... [--user U --password P]
 *                     [--identity-token T] [--registry-token T]
 *                     pull REF [REF...]    (several: concurrent pulls)
 *                   | status REF | list | rm REF
 *
 * Results are JSON on stdout; errors go to stderr with exit status 1
 * (2 for "not found").
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "agent/image/pull.h"
#include "lib/http_client.h"

struct job {
	struct puller *p;
	const struct registry_auth *auth;
	const char *ref;
	char id[DIGEST_STR_LEN + 1];
	struct err err;
};

static void *pull_one(void *arg)
{
	struct job *j = arg;

	pull_image(j->p, j->ref, j->auth, j->id, &j->err);
	return NULL;
}

static cJSON *strv(char **v, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static cJSON *image_json(const struct store_image *img)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", img->id);
	cJSON_AddStringToObject(o, "manifest_digest", img->manifest_digest);
	cJSON_AddNumberToObject(o, "size", (double)img->size);
	if (img->has_uid)
		cJSON_AddNumberToObject(o, "uid", (double)img->uid);
	if (img->username)
		cJSON_AddStringToObject(o, "username", img->username);
	cJSON_AddItemToObject(o, "repo_tags", strv(img->repo_tags, img->nr_repo_tags));
	cJSON_AddItemToObject(o, "repo_digests", strv(img->repo_digests, img->nr_repo_digests));
	cJSON_AddItemToObject(o, "blobs", strv(img->blobs, img->nr_blobs));
	return o;
}

static void print_json(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);

	puts(s);
	free(s);
	cJSON_Delete(o);
}

static int fail_rc(int rc, const struct err *err)
{
	fprintf(stderr, "kvmlet-image-tool: %s\n", err->msg[0] ? err->msg : strerror(-rc));
	return rc == -ENOENT ? 2 : 1;
}

static int fail(const struct err *err)
{
	return fail_rc(err->code, err);
}

static int cmd_pull(struct store *s, const struct registry_options *ro,
		    const struct registry_auth *auth, char **refs, int nr)
{
	struct puller_options po = { .store = s, .registry = *ro };
	struct puller *p;
	struct job *jobs = calloc((size_t)nr, sizeof(*jobs));
	pthread_t *t = calloc((size_t)nr, sizeof(*t));
	cJSON *out = cJSON_CreateArray();
	struct err err = { 0 };
	int rc = 0;

	if (puller_new(&po, &p, &err))
		return fail(&err);
	for (int i = 0; i < nr; i++) {
		jobs[i] = (struct job){ .p = p, .auth = auth, .ref = refs[i] };
		pthread_create(&t[i], NULL, pull_one, &jobs[i]);
	}
	for (int i = 0; i < nr; i++) {
		pthread_join(t[i], NULL);
		if (jobs[i].err.code) {
			rc = fail(&jobs[i].err);
			continue;
		}
		cJSON_AddItemToArray(out, cJSON_CreateString(jobs[i].id));
	}
	print_json(out);
	puller_free(p);
	free(jobs);
	free(t);
	return rc;
}

int main(int argc, char **argv)
{
	const char *insecure[16] = { NULL };
	struct registry_auth auth = { 0 };
	struct registry_options ro = { .insecure = insecure, .retries = 2, .backoff_ms = 50 };
	struct store_options so = { 0 };
	struct store *s;
	struct err err = { 0 };
	int i = 2, nr_insecure = 0, rc = 0;

	if (argc < 3) {
		fprintf(stderr,
			"usage: kvmlet-image-tool ROOT [options] pull|status|list|rm ...\n");
		return 1;
	}
	so.root = argv[1];
	for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--insecure") && nr_insecure < 15)
			insecure[nr_insecure++] = argv[i + 1];
		else if (!strcmp(argv[i], "--user"))
			auth.username = argv[i + 1];
		else if (!strcmp(argv[i], "--password"))
			auth.password = argv[i + 1];
		else if (!strcmp(argv[i], "--identity-token"))
			auth.identity_token = argv[i + 1];
		else if (!strcmp(argv[i], "--registry-token"))
			auth.registry_token = argv[i + 1];
	}
	if (i >= argc || http_client_global_init(&err) || store_open(&so, &s, &err))
		return err.code ? fail(&err) : 1;
	if (!strcmp(argv[i], "pull") && i + 1 < argc) {
		rc = cmd_pull(s, &ro, &auth, argv + i + 1, argc - i - 1);
	} else if (!strcmp(argv[i], "status") && i + 1 < argc) {
		struct store_image img;

		rc = store_image_get(s, argv[i + 1], &img, &err);
		if (rc) {
			rc = fail_rc(rc, &err);
		} else {
			print_json(image_json(&img));
			store_image_free(&img);
		}
	} else if (!strcmp(argv[i], "list")) {
		struct store_image *list;
		size_t nr;
		cJSON *a = cJSON_CreateArray();

		if (store_image_list(s, &list, &nr, &err))
			return fail(&err);
		for (size_t k = 0; k < nr; k++)
			cJSON_AddItemToArray(a, image_json(&list[k]));
		print_json(a);
		store_image_list_free(list, nr);
	} else if (!strcmp(argv[i], "rm") && i + 1 < argc) {
		rc = store_image_remove(s, argv[i + 1], &err);
		if (rc)
			rc = fail_rc(rc, &err);
	} else {
		fprintf(stderr, "kvmlet-image-tool: unknown command %s\n", argv[i]);
		rc = 1;
	}
	store_close(s);
	return rc;
}
