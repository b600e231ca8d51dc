// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI ImageService handlers over a real store in a temporary directory,
 * without gRPC and with a fake pull: the answers' fields, the forms of
 * names ImageStatus takes, absent images (image unset, RemoveImage OK),
 * filters, ImageFsInfo, and the AuthConfig a pull is given.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/cri/methods.h"
#include "agent/cri/runtime.h"
#include "agent/image/registry.h"
#include "agent/image/store.h"
#include "lib/base64.h"
#include "runtime/v1/api.pb-c.h"

#define IS     "/runtime.v1.ImageService/"
#define ID     "sha256:aaaa111111111111111111111111111111111111111111111111111111111111"
#define MD     "sha256:bbbb222222222222222222222222222222222222222222222222222222222222"
#define REF    "127.0.0.1:5000/kvmlet/fw:v1"
/* protobuf-c and struct store_image take char *; these are only read. */
#define S(lit) ((char *)(lit))

struct fixture {
	char root[64];
	struct store *s;
	struct cri_runtime rt;
	/* What the fake pull saw. */
	char user[64], password[64];
	int pull_rc;
};

static int fake_pull(void *ctx, const char *ref, const struct registry_auth *auth,
		     char id[DIGEST_STR_LEN + 1], struct err *err)
{
	struct fixture *f = ctx;

	snprintf(f->user, sizeof(f->user), "%s", auth->username ? auth->username : "");
	snprintf(f->password, sizeof(f->password), "%s", auth->password ? auth->password : "");
	if (f->pull_rc)
		return err_set(err, f->pull_rc, "pulling %s: no such tag", ref);
	strcpy(id, ID);
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_options so = { 0 };
	struct err err = { 0 };
	char *labels[] = { S("io.kvmlet.kernel.cmdline"), S("console=ttyS0"), NULL };
	char *blobs[] = { S(MD), NULL };
	struct store_image img = { .size = 4242,
				   .has_uid = true,
				   .uid = 107,
				   .nr_labels = 1,
				   .labels = labels,
				   .rootfs = S("rootfs"),
				   .kernel = S("rootfs/boot/vmlinuz"),
				   .cmdline = S("console=ttyS0"),
				   .nr_blobs = 1,
				   .blobs = blobs };
	struct image_ref ref;
	char dir[PATH_MAX];

	strcpy(f->root, "/tmp/kvmlet-cri-images-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	so.root = f->root;
	assert_int_equal(store_open(&so, &f->s, &err), 0);
	strcpy(img.id, ID);
	strcpy(img.manifest_digest, MD);
	assert_int_equal(ref_parse(REF, &ref, &err), 0);
	assert_int_equal(store_image_prepare(f->s, ID, dir, sizeof(dir), &err), 0);
	assert_int_equal(store_image_add(f->s, &img, &ref, &err), 0);
	cri_runtime_init(&f->rt, NULL, NULL);
	cri_runtime_set_images(&f->rt, f->s, fake_pull, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	cri_runtime_destroy(&f->rt);
	store_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Runs path with a packed request; returns the code, *resp unpacked if OK. */
static enum cri_code call(struct fixture *f, const char *path, const ProtobufCMessage *req,
			  ProtobufCMessage **resp, struct cri_status *st)
{
	const struct cri_method *m = cri_method_find(path);
	uint8_t *buf, *out;
	size_t len = req ? protobuf_c_message_get_packed_size(req) : 0, out_len;
	enum cri_code code;

	assert_non_null(m);
	buf = malloc(len + 1);
	assert_non_null(buf);
	if (req)
		len = protobuf_c_message_pack(req, buf);
	code = cri_method_invoke(m, &f->rt, buf, len, &out, &out_len, st);
	free(buf);
	*resp = code == CRI_OK ? protobuf_c_message_unpack(m->response, NULL, out_len, out) : NULL;
	if (code == CRI_OK)
		assert_non_null(*resp);
	free(out);
	return code;
}

static Runtime__V1__ImageStatusResponse *status(struct fixture *f, const char *name, bool verbose)
{
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__ImageStatusRequest q = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
	ProtobufCMessage *r;
	struct cri_status st;

	spec.image = (char *)name;
	q.image = &spec;
	q.verbose = verbose;
	assert_int_equal(call(f, IS "ImageStatus", &q.base, &r, &st), CRI_OK);
	return (Runtime__V1__ImageStatusResponse *)r;
}

static void test_status_forms(void **state)
{
	static const char *const names[] = { REF, "127.0.0.1:5000/kvmlet/fw@" MD, ID, "aaaa1111",
					     ID + 7 };
	struct fixture *f = *state;
	Runtime__V1__ImageStatusResponse *r;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		r = status(f, names[i], false);
		assert_non_null(r->image);
		assert_string_equal(r->image->id, ID);
		assert_int_equal(r->n_info, 0);
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	r = status(f, REF, true);
	assert_int_equal(r->image->n_repo_tags, 1);
	assert_string_equal(r->image->repo_tags[0], REF);
	assert_int_equal(r->image->n_repo_digests, 1);
	assert_string_equal(r->image->repo_digests[0], "127.0.0.1:5000/kvmlet/fw@" MD);
	assert_int_equal(r->image->size, 4242);
	assert_non_null(r->image->uid);
	assert_int_equal(r->image->uid->value, 107);
	assert_string_equal(r->image->username, "");
	assert_string_equal(r->image->spec->image, ID);
	assert_false(r->image->pinned);
	assert_int_equal(r->n_info, 1);
	assert_string_equal(r->info[0]->key, "info");
	assert_non_null(strstr(r->info[0]->value, "\"kernel\":\"rootfs/boot/vmlinuz\""));
	assert_non_null(strstr(r->info[0]->value, "\"cmdline\":\"console=ttyS0\""));
	protobuf_c_message_free_unpacked(&r->base, NULL);

	/* Absent: OK with no image, as kubelet expects. */
	r = status(f, "127.0.0.1:5000/kvmlet/fw:v2", true);
	assert_null(r->image);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	r = status(f, "sha256:cccc", false);
	assert_null(r->image);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__ImageFilter filter = RUNTIME__V1__IMAGE_FILTER__INIT;
	Runtime__V1__ListImagesRequest q = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
	Runtime__V1__ListImagesResponse *r;
	struct cri_status st;

	assert_int_equal(call(f, IS "ListImages", &q.base, (ProtobufCMessage **)&r, &st), CRI_OK);
	assert_int_equal(r->n_images, 1);
	assert_string_equal(r->images[0]->id, ID);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	filter.image = &spec;
	q.filter = &filter;
	spec.image = S("nope:v1");
	assert_int_equal(call(f, IS "ListImages", &q.base, (ProtobufCMessage **)&r, &st), CRI_OK);
	assert_int_equal(r->n_images, 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	spec.image = S(REF);
	assert_int_equal(call(f, IS "ListImages", &q.base, (ProtobufCMessage **)&r, &st), CRI_OK);
	assert_int_equal(r->n_images, 1);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_remove(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__RemoveImageRequest q = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
	Runtime__V1__ImageStatusResponse *s;
	ProtobufCMessage *r;
	struct cri_status st;
	char dir[PATH_MAX];
	struct stat sb;

	assert_int_equal(call(f, IS "RemoveImage", &q.base, &r, &st), CRI_INVALID_ARGUMENT);
	q.image = &spec;
	spec.image = S(REF);
	assert_int_equal(call(f, IS "RemoveImage", &q.base, &r, &st), CRI_OK);
	protobuf_c_message_free_unpacked(r, NULL);
	s = status(f, ID, false);
	assert_null(s->image);
	protobuf_c_message_free_unpacked(&s->base, NULL);
	snprintf(dir, sizeof(dir), "%s/images/%s", f->root, ID + 7);
	assert_int_equal(stat(dir, &sb), -1);
	/* Again: already gone is OK, as in containerd. */
	assert_int_equal(call(f, IS "RemoveImage", &q.base, &r, &st), CRI_OK);
	protobuf_c_message_free_unpacked(r, NULL);
}

static void test_fs_info(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__ImageFsInfoResponse *r;
	struct cri_status st;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	assert_int_equal(call(f, IS "ImageFsInfo", NULL, (ProtobufCMessage **)&r, &st), CRI_OK);
	assert_int_equal(r->n_image_filesystems, 1);
	assert_int_equal(r->n_container_filesystems, 0);
	assert_true(r->image_filesystems[0]->timestamp >= (int64_t)ts.tv_sec * 1000000000);
	assert_true(r->image_filesystems[0]->fs_id->mountpoint[0] == '/');
	assert_true(r->image_filesystems[0]->used_bytes->value > 0);
	assert_true(r->image_filesystems[0]->inodes_used->value >= 3);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_pull(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__AuthConfig auth = RUNTIME__V1__AUTH_CONFIG__INIT;
	Runtime__V1__PullImageRequest q = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
	Runtime__V1__PullImageResponse *r;
	struct cri_status st;

	assert_int_equal(call(f, IS "PullImage", &q.base, (ProtobufCMessage **)&r, &st),
			 CRI_INVALID_ARGUMENT);
	q.image = &spec;
	spec.image = S(REF);
	q.auth = &auth;
	auth.username = S("kvm");
	auth.password = S("let");
	assert_int_equal(call(f, IS "PullImage", &q.base, (ProtobufCMessage **)&r, &st), CRI_OK);
	assert_string_equal(r->image_ref, ID); /* the id, as containerd answers */
	assert_string_equal(f->user, "kvm");
	assert_string_equal(f->password, "let");
	protobuf_c_message_free_unpacked(&r->base, NULL);

	/* "auth" is base64 "user:password", as in a docker config. */
	auth.username = auth.password = NULL;
	auth.auth = S("dXNlcjpwYTpzcw=="); /* user:pa:ss */
	assert_int_equal(call(f, IS "PullImage", &q.base, (ProtobufCMessage **)&r, &st), CRI_OK);
	assert_string_equal(f->user, "user");
	assert_string_equal(f->password, "pa:ss");
	protobuf_c_message_free_unpacked(&r->base, NULL);
	auth.auth = S("not base64!");
	assert_int_equal(call(f, IS "PullImage", &q.base, (ProtobufCMessage **)&r, &st),
			 CRI_INVALID_ARGUMENT);
	assert_non_null(strstr(st.message, "not base64"));
	/* Long credentials (registry tokens) pass; past the bound the error says so. */
	{
		size_t n = 8192;
		char *plain = malloc(70 * 1024), *enc;

		assert_non_null(plain);
		memcpy(plain, "user:", 5);
		memset(plain + 5, 'p', n - 5);
		enc = base64_encode(plain, n);
		auth.auth = enc;
		assert_int_equal(call(f, IS "PullImage", &q.base, (ProtobufCMessage **)&r, &st),
				 CRI_OK);
		protobuf_c_message_free_unpacked(&r->base, NULL);
		assert_string_equal(f->user, "user");
		assert_int_equal(strspn(f->password, "p"), sizeof(f->password) - 1);
		free(enc);
		n = 64 * 1024 + 1;
		memset(plain + 5, 'p', n - 5);
		enc = base64_encode(plain, n);
		auth.auth = enc;
		assert_int_equal(call(f, IS "PullImage", &q.base, (ProtobufCMessage **)&r, &st),
				 CRI_INVALID_ARGUMENT);
		assert_non_null(strstr(st.message, "over 65536 bytes"));
		free(enc);
		free(plain);
	}

	auth.auth = NULL;
	f->pull_rc = -ENOENT;
	assert_int_equal(call(f, IS "PullImage", &q.base, (ProtobufCMessage **)&r, &st),
			 CRI_NOT_FOUND);
	assert_non_null(strstr(st.message, "no such tag"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pull, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
