// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "agent/image/digest.h"

static const char prefix[] = "sha256:";

int digest_init(struct digest *d)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	d->md = ctx;
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		digest_abort(d);
		return -ENOMEM;
	}
	return 0;
}

void digest_update(struct digest *d, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(d->md, data, len);
}

void digest_final(struct digest *d, char out[DIGEST_STR_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *p = out + sizeof(prefix) - 1;

	EVP_DigestFinal_ex(d->md, md, &n);
	digest_abort(d);
	memcpy(out, prefix, sizeof(prefix) - 1);
	for (unsigned int i = 0; i < n && i < DIGEST_HEX_LEN / 2; i++) {
		*p++ = hex[md[i] >> 4];
		*p++ = hex[md[i] & 15];
	}
	*p = '\0';
}

void digest_abort(struct digest *d)
{
	EVP_MD_CTX_free(d->md);
	d->md = NULL;
}

int digest_buffer(const void *data, size_t len, char out[DIGEST_STR_LEN + 1])
{
	struct digest d;
	int r = digest_init(&d);

	if (r)
		return r;
	digest_update(&d, data, len);
	digest_final(&d, out);
	return 0;
}

bool digest_valid(const char *s)
{
	if (strncmp(s, prefix, sizeof(prefix) - 1))
		return false;
	s += sizeof(prefix) - 1;
	for (int i = 0; i < DIGEST_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[DIGEST_HEX_LEN] == '\0';
}

int digest_check(const char *s, struct err *err)
{
	if (digest_valid(s))
		return 0;
	if (strncmp(s, prefix, sizeof(prefix) - 1) && strchr(s, ':'))
		return err_set(err, -EINVAL, "digest '%.80s': only sha256 is supported", s);
	return err_set(err, -EINVAL, "digest '%.80s' is not sha256:<64 lowercase hex digits>", s);
}

const char *digest_hex(const char *valid)
{
	return valid + sizeof(prefix) - 1;
}
