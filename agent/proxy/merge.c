// SPDX-License-Identifier: Apache-2.0
/* Combining two runtimes' answers (merge.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/proxy/merge.h"
#include "runtime/v1/api.pb-c.h"

#define UNAVAILABLE_REASON "UpstreamUnavailable"

/*
 * Packs m and checks that the result decodes: protobuf-c keeps unknown
 * fields it accepted (a field number 0 in a long tag, for one) and packs
 * them back in a form it then refuses, so a hostile answer could
 * otherwise come out as one kubelet cannot read.
 */
static int pack(const ProtobufCMessage *m, uint8_t **out, size_t *out_len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	ProtobufCMessage *check;

	*out = NULL;
	*out_len = 0;
	if (!n)
		return 0;
	*out = malloc(n);
	if (!*out)
		return -ENOMEM;
	*out_len = protobuf_c_message_pack(m, *out);
	check = protobuf_c_message_unpack(m->descriptor, NULL, *out_len, *out);
	if (!check) {
		free(*out);
		*out = NULL;
		*out_len = 0;
		return -EINVAL;
	}
	protobuf_c_message_free_unpacked(check, NULL);
	return 0;
}

static const ProtobufCFieldDescriptor *repeated_field(const ProtobufCMessageDescriptor *desc,
						      const char *name)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(desc, name);

	if (!f || f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return NULL;
	return f;
}

int merge_lists(const ProtobufCMessageDescriptor *desc, const char *const *fields, const uint8_t *a,
		size_t alen, const uint8_t *b, size_t blen, uint8_t **out, size_t *out_len)
{
	ProtobufCMessage *ma = protobuf_c_message_unpack(desc, NULL, alen, a);
	ProtobufCMessage *mb = protobuf_c_message_unpack(desc, NULL, blen, b);
	size_t nf = 0, saved_n[4];
	void **saved_v[4];
	int r = 0;

	*out = NULL;
	*out_len = 0;
	if (!ma || !mb) {
		r = -EINVAL;
		goto out;
	}
	for (; fields[nf] && !r; nf++) {
		const ProtobufCFieldDescriptor *f = repeated_field(desc, fields[nf]);
		size_t *na, nb;
		void ***va, **vb, **all;

		if (!f || nf == sizeof(saved_n) / sizeof(saved_n[0])) {
			r = -EINVAL;
			break;
		}
		na = (size_t *)((char *)ma + f->quantifier_offset);
		va = (void ***)((char *)ma + f->offset);
		nb = *(size_t *)((char *)mb + f->quantifier_offset);
		vb = *(void ***)((char *)mb + f->offset);
		saved_n[nf] = *na;
		saved_v[nf] = *va;
		all = malloc((*na + nb + 1) * sizeof(*all));
		if (!all) {
			r = -ENOMEM;
			break;
		}
		if (*na)
			memcpy(all, *va, *na * sizeof(*all));
		if (nb)
			memcpy(all + *na, vb, nb * sizeof(*all));
		*na += nb;
		*va = all;
	}
	if (!r)
		r = pack(ma, out, out_len);
	/* Give ma back its own arrays, so each message frees only what it owns. */
	for (size_t i = 0; i < nf; i++) {
		const ProtobufCFieldDescriptor *f = repeated_field(desc, fields[i]);
		void ***va;

		if (!f)
			break;
		va = (void ***)((char *)ma + f->offset);
		if (*va != saved_v[i])
			free(*va);
		*va = saved_v[i];
		*(size_t *)((char *)ma + f->quantifier_offset) = saved_n[i];
	}
out:
	if (ma)
		protobuf_c_message_free_unpacked(ma, NULL);
	if (mb)
		protobuf_c_message_free_unpacked(mb, NULL);
	return r;
}

/* Strings made here, freed after packing. */
struct strs {
	char *s[256];
	size_t n;
};

/* a, b and c joined, owned by st. */
static char *strs_join(struct strs *st, const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s;

	if (st->n == sizeof(st->s) / sizeof(st->s[0]) || !(s = malloc(la + lb + lc + 1)))
		return NULL;
	memcpy(s, a, la);
	memcpy(s + la, b, lb);
	memcpy(s + la + lb, c, lc + 1);
	st->s[st->n++] = s;
	return s;
}

static const Runtime__V1__RuntimeCondition *cond_find(const Runtime__V1__StatusResponse *r,
						      const char *type)
{
	for (size_t i = 0; r && r->status && i < r->status->n_conditions; i++)
		if (r->status->conditions[i] && !strcmp(r->status->conditions[i]->type, type))
			return r->status->conditions[i];
	return NULL;
}

/* Local condition l combined with the upstream's u (NULL: none, or the upstream failed). */
static bool cond_combine(Runtime__V1__RuntimeCondition *out, const Runtime__V1__RuntimeCondition *l,
			 const Runtime__V1__RuntimeCondition *u, const char *up_name,
			 const char *up_error, struct strs *st)
{
	*out = *l;
	if (!l->status)
		return true;
	if (u && u->status)
		return true;
	out->status = 0;
	if (u) {
		out->reason = u->reason;
		out->message = strs_join(st, "upstream ", up_name, ": ");
		out->message = out->message ? strs_join(st, out->message, u->message, "") : NULL;
	} else {
		out->reason = (char *)UNAVAILABLE_REASON;
		bool named = up_error && !strncmp(up_error, "upstream ", 9);

		out->message = strs_join(st, named ? "" : "upstream ", named ? "" : up_name,
					 named ? "" : ": ");
		out->message = out->message
				       ? strs_join(st, out->message,
						   up_error ? up_error : "no such condition", "")
				       : NULL;
	}
	return out->message != NULL;
}

int merge_status(const uint8_t *local, size_t llen, const uint8_t *up, size_t ulen,
		 const char *up_name, const char *up_error, uint8_t **out, size_t *out_len)
{
	Runtime__V1__StatusResponse *l = runtime__v1__status_response__unpack(NULL, llen, local);
	Runtime__V1__StatusResponse *u =
		up || !up_error ? runtime__v1__status_response__unpack(NULL, ulen, up) : NULL;
	Runtime__V1__StatusResponse res = RUNTIME__V1__STATUS_RESPONSE__INIT;
	Runtime__V1__RuntimeStatus rs = RUNTIME__V1__RUNTIME_STATUS__INIT;
	Runtime__V1__RuntimeCondition *conds = NULL, **cptr = NULL;
	Runtime__V1__StatusResponse__InfoEntry *info = NULL, **iptr = NULL;
	struct strs st = { .n = 0 };
	size_t nl, nu, n = 0, ni = 0;
	int r = 0;

	*out = NULL;
	*out_len = 0;
	if (!l || (!u && !up_error)) {
		r = -EINVAL;
		goto out;
	}
	nl = l->status ? l->status->n_conditions : 0;
	nu = u && u->status ? u->status->n_conditions : 0;
	conds = calloc(nl + nu + 1, sizeof(*conds));
	cptr = calloc(nl + nu + 1, sizeof(*cptr));
	info = calloc(l->n_info + (u ? u->n_info : 0) + 1, sizeof(*info));
	iptr = calloc(l->n_info + (u ? u->n_info : 0) + 1, sizeof(*iptr));
	if (!conds || !cptr || !info || !iptr) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nl && !r; i++) {
		const Runtime__V1__RuntimeCondition *lc = l->status->conditions[i];

		if (!cond_combine(&conds[n], lc, cond_find(u, lc->type), up_name, up_error, &st))
			r = -ENOMEM;
		cptr[n] = &conds[n];
		n++;
	}
	for (size_t i = 0; i < nu && !r; i++) {
		const Runtime__V1__RuntimeCondition *uc = u->status->conditions[i];

		if (cond_find(l, uc->type))
			continue;
		conds[n] = *uc;
		cptr[n] = &conds[n];
		n++;
	}
	for (size_t i = 0; i < l->n_info; i++)
		iptr[ni++] = l->info[i];
	for (size_t i = 0; u && i < u->n_info && !r; i++) {
		info[i] = *u->info[i];
		info[i].key = strs_join(&st, "upstream.", u->info[i]->key, "");
		if (!info[i].key)
			r = -ENOMEM;
		iptr[ni++] = &info[i];
	}
	if (!r) {
		rs.n_conditions = n;
		rs.conditions = cptr;
		res.status = &rs;
		res.n_info = ni;
		res.info = iptr;
		r = pack(&res.base, out, out_len);
	}
out:
	for (size_t i = 0; i < st.n; i++)
		free(st.s[i]);
	free(conds);
	free(cptr);
	free(info);
	free(iptr);
	if (l)
		runtime__v1__status_response__free_unpacked(l, NULL);
	if (u)
		runtime__v1__status_response__free_unpacked(u, NULL);
	return r;
}
