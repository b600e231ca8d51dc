// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent/image/registry.h"
#include "lib/base64.h"
#include "lib/http_client.h"
#include "lib/json.h"

#define URL_MAX	  4096
#define TOKEN_MAX (64u << 10)
#define HDR_MAX	  8192

struct registry {
	struct registry_options opt;
	struct http_client *http;
	char base[512]; /* "https://host[:port]" */
	char repo[REF_NAME_MAX + 1];
	char *username, *password, *identity_token;
	char *authorization; /* "Bearer …" or "Basic …"; NULL: anonymous */
};

/* ---- small pieces -------------------------------------------------------- */

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/* application/x-www-form-urlencoded, for the token endpoint's query. */
static void url_escape(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s && n + 4 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
}

/* "scheme://authority" of url, into out. */
static void url_origin(const char *url, char *out, size_t size)
{
	const char *p = strstr(url, "://");
	size_t n = p ? (size_t)(strchrnul(p + 3, '/') - url) : 0;

	if (n >= size)
		n = size - 1;
	memcpy(out, url, n);
	out[n] = '\0';
}

/*
 * Where a redirect's Location points, per RFC 3986 §5.2 for the forms a
 * registry or blob store sends: an absolute URL, a scheme-relative one
 * ("//host/path", which leaves the registry's origin), an absolute path, or
 * a path relative to the current URL's directory. -EPROTO when it does not
 * fit or carries control characters.
 */
static int redirect_target(const char *url, const char *origin, const char *loc, char *out,
			   size_t size)
{
	const char *scheme_end = strstr(url, "://"), *query, *dir;
	int n;

	for (const char *c = loc; *c; c++)
		if ((unsigned char)*c < 0x21 || *c == 0x7f)
			return -EPROTO;
	if (strstr(loc, "://"))
		n = snprintf(out, size, "%s", loc);
	else if (loc[0] == '/' && loc[1] == '/')
		n = snprintf(out, size, "%.*s%s", (int)(scheme_end ? scheme_end - url + 1 : 0), url,
			     loc);
	else if (loc[0] == '/')
		n = snprintf(out, size, "%s%s", origin, loc);
	else {
		query = strchrnul(url, '?');
		dir = query;
		while (dir > url && dir[-1] != '/')
			dir--;
		if (dir - url < (ptrdiff_t)strlen(origin)) /* no path: the root's */
			n = snprintf(out, size, "%s/%s", origin, loc);
		else
			n = snprintf(out, size, "%.*s%s", (int)(dir - url), url, loc);
	}
	return n < 0 || (size_t)n >= size ? -EPROTO : 0;
}

static bool is_insecure(const struct registry_options *opt, const char *host)
{
	for (size_t i = 0; opt->insecure && opt->insecure[i]; i++)
		if (!strcasecmp(opt->insecure[i], host))
			return true;
	return false;
}

/*
 * One parameter of a WWW-Authenticate challenge (key="value" or key=value),
 * unescaped into out; false when absent.
 */
static bool challenge_param(const char *ch, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);
	const char *p = ch;

	while ((p = strcasestr(p, key))) {
		const char *v = p + klen;
		size_t n = 0;

		if ((p != ch && p[-1] != ' ' && p[-1] != ',') || *v != '=') {
			p = v;
			continue;
		}
		v++;
		if (*v == '"') {
			for (v++; *v && *v != '"' && n + 1 < size; v++) {
				if (*v == '\\' && v[1])
					v++;
				out[n++] = *v;
			}
		} else {
			for (; *v && *v != ',' && *v != ' ' && n + 1 < size; v++)
				out[n++] = *v;
		}
		out[n] = '\0';
		return true;
	}
	return false;
}

/* ---- requests ------------------------------------------------------------ */

struct fetch {
	const char *url;
	const char *accept;
	size_t max;
	http_client_data_fn on_data; /* streamed: blobs */
	void *ctx;
	unsigned int timeout_ms; /* 0: the session's */
};

/*
 * A blob's whole transfer may take a minute plus a millisecond per KiB (at
 * least 1 MiB/s): a stalled registry cannot hold a pull forever.
 */
static unsigned int blob_timeout_ms(uint64_t size)
{
	uint64_t ms = 60000 + size / 1024;

	return ms > UINT32_MAX ? UINT32_MAX : (unsigned int)ms;
}

static bool retryable(int rc, long status)
{
	return rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EIO || status == 429 ||
	       (status >= 500 && status <= 599);
}

/*
 * One GET with the session's credentials, retried with backoff, following
 * redirects (without credentials once they leave the registry's origin).
 * The answer's status is the caller's to read.
 */
static int fetch_do(struct registry *r, const struct fetch *f, struct http_client_resp *resp,
		    struct err *err)
{
	static const char *const want[] = { "WWW-Authenticate", "Docker-Content-Digest", "Location",
					    NULL };
	char url[URL_MAX], next[URL_MAX], origin[URL_MAX], accept[HDR_MAX];
	unsigned int backoff = r->opt.backoff_ms ? r->opt.backoff_ms : REGISTRY_BACKOFF_MS;
	unsigned int retries = r->opt.retries ? r->opt.retries : REGISTRY_RETRIES;
	int redirects = 0, rc;

	snprintf(url, sizeof(url), "%s", f->url);
	for (unsigned int attempt = 0;; attempt++) {
		const char *headers[3] = { NULL };
		char *auth = NULL; /* a token may be up to TOKEN_MAX: not cut to a buffer */
		size_t nh = 0;
		struct http_client_req req = {
			.method = "GET",
			.url = url,
			.headers = headers,
			.max_response = f->max,
			.ca_file = r->opt.ca_file,
			.want_headers = want,
			.on_data = f->on_data,
			.ctx = f->ctx,
			.timeout_ms = f->timeout_ms ? f->timeout_ms : r->opt.timeout_ms,
		};
		struct err e = { 0 };

		url_origin(url, origin, sizeof(origin));
		if (f->accept) {
			snprintf(accept, sizeof(accept), "Accept: %s", f->accept);
			headers[nh++] = accept;
		}
		if (r->authorization && !strcmp(origin, r->base)) {
			if (asprintf(&auth, "Authorization: %s", r->authorization) < 0)
				return err_set(err, -ENOMEM, "out of memory");
			headers[nh++] = auth;
		}
		http_client_resp_free(resp);
		rc = http_client_do(r->http, &req, resp, &e);
		free(auth);
		if (!rc && resp->status >= 300 && resp->status < 400 && resp->status != 304) {
			const char *loc = resp->headers[2];

			if (!loc || ++redirects > REGISTRY_MAX_REDIRECTS)
				return err_set(err, -EPROTO, "GET %s: a redirect without end",
					       f->url);
			if (redirect_target(url, origin, loc, next, sizeof(next)))
				return err_set(err, -EPROTO, "GET %s: a redirect to a bad location",
					       f->url);
			memcpy(url, next, sizeof(url));
			attempt--;
			continue;
		}
		/* A streamed body may have gone out in part: its caller retries. */
		if (f->on_data || !retryable(rc, rc ? 0 : resp->status) || attempt >= retries) {
			if (rc)
				return err_set(err, rc, "%s", e.msg);
			return 0;
		}
		sleep_ms(backoff << attempt);
	}
}

static int status_error(const char *what, long status, struct err *err)
{
	if (status == 404)
		return err_set(err, -ENOENT, "%s: not found", what);
	if (status == 401 || status == 403)
		return err_set(err, -EACCES, "%s: access denied (HTTP %ld)", what, status);
	return err_set(err, -EIO, "%s: HTTP %ld", what, status);
}

/* ---- authentication ------------------------------------------------------- */

/* "Basic <base64 user:password>", or NULL without memory. */
static char *basic_credentials(const struct registry *r)
{
	char *plain = NULL, *enc, *out = NULL;

	if (asprintf(&plain, "%s:%s", r->username, r->password ? r->password : "") < 0)
		return NULL;
	enc = base64_encode(plain, strlen(plain));
	free(plain);
	if (enc && asprintf(&out, "Basic %s", enc) < 0)
		out = NULL;
	free(enc);
	return out;
}

static int set_basic(struct registry *r, struct err *err)
{
	char *basic;

	if (!r->username)
		return err_set(err, -EACCES, "%s: the registry wants credentials", r->base);
	basic = basic_credentials(r);
	if (!basic)
		return err_set(err, -ENOMEM, "out of memory");
	free(r->authorization);
	r->authorization = basic;
	return 0;
}

static int token_from_answer(struct registry *r, const struct http_client_resp *resp,
			     struct err *err)
{
	cJSON *o;
	const char *token = NULL;
	int rc;

	if (resp->status != 200)
		return status_error("token endpoint", resp->status, err);
	o = json_parse(resp->body ? resp->body : "", resp->body_len, err);
	if (!o)
		return err_prefix(err, -EPROTO, "token endpoint: ");
	rc = json_get_string("token", o, "token", false, &token, err);
	if (!rc && (!token || !*token))
		rc = json_get_string("token", o, "access_token", false, &token, err);
	if (!rc && (!token || !*token))
		rc = err_set(err, -EPROTO, "token endpoint: no token in the answer");
	/* It goes into a header line: nothing that could end the line or the field. */
	for (const char *c = token; !rc && *c; c++)
		if ((unsigned char)*c < 0x21 || *c == 0x7f)
			rc = err_set(err, -EPROTO,
				     "token endpoint: the token has control "
				     "characters or spaces");
	if (!rc) {
		free(r->authorization);
		if (asprintf(&r->authorization, "Bearer %s", token) < 0) {
			r->authorization = NULL;
			rc = err_set(err, -ENOMEM, "out of memory");
		}
	}
	cJSON_Delete(o);
	return rc;
}

/* Asks the realm of a Bearer challenge for a pull token for our repository. */
static int bearer_token(struct registry *r, const char *challenge, struct err *err)
{
	char realm[1024], service[512] = "", scope[600], esc_service[1600], esc_scope[1800];
	char url[2 * URL_MAX];
	char *basic = NULL;
	const char *headers[2] = { NULL };
	struct http_client_resp resp = { 0 };
	struct http_client_req req = { .method = "GET",
				       .url = url,
				       .headers = headers,
				       .max_response = TOKEN_MAX,
				       .ca_file = r->opt.ca_file,
				       .timeout_ms = r->opt.timeout_ms };
	int rc;

	if (!challenge_param(challenge, "realm", realm, sizeof(realm)))
		return err_set(err, -EPROTO, "%s: a Bearer challenge without a realm", r->base);
	/* Credentials go to the realm: in clear text only if the registry is plain HTTP too. */
	if (strncmp(realm, "https://", 8) &&
	    (strncmp(realm, "http://", 7) || strncmp(r->base, "http://", 7)))
		return err_set(err, -EPROTO, "%s: token realm '%.200s' is not an https URL",
			       r->base, realm);
	challenge_param(challenge, "service", service, sizeof(service));
	if (!challenge_param(challenge, "scope", scope, sizeof(scope)))
		snprintf(scope, sizeof(scope), "repository:%s:pull", r->repo);
	url_escape(service, esc_service, sizeof(esc_service));
	url_escape(scope, esc_scope, sizeof(esc_scope));
	if (r->identity_token) {
		/* An OAuth2 refresh token: POSTed, as docker's token flow does. */
		char *body = NULL;
		char esc_tok[4096];

		url_escape(r->identity_token, esc_tok, sizeof(esc_tok));
		if (asprintf(&body,
			     "grant_type=refresh_token&client_id=kvmlet&service=%s&scope=%s"
			     "&refresh_token=%s",
			     esc_service, esc_scope, esc_tok) < 0)
			return err_set(err, -ENOMEM, "out of memory");
		snprintf(url, sizeof(url), "%s", realm);
		headers[0] = "Content-Type: application/x-www-form-urlencoded";
		req.method = "POST";
		req.body = body;
		req.body_len = strlen(body);
		rc = http_client_do(r->http, &req, &resp, err);
		free(body);
	} else {
		snprintf(url, sizeof(url), "%s%sservice=%s&scope=%s", realm,
			 strchr(realm, '?') ? "&" : "?", esc_service, esc_scope);
		if (r->username) {
			char *cred = basic_credentials(r);

			if (!cred || asprintf(&basic, "Authorization: %s", cred) < 0) {
				free(cred);
				return err_set(err, -ENOMEM, "out of memory");
			}
			free(cred);
			headers[0] = basic;
		}
		rc = http_client_do(r->http, &req, &resp, err);
		free(basic);
	}
	if (!rc)
		rc = token_from_answer(r, &resp, err);
	http_client_resp_free(&resp);
	return rc;
}

/* Answers a 401's challenge; the request is then made again. */
static int authenticate(struct registry *r, const char *challenge, struct err *err)
{
	if (!challenge)
		return err_set(err, -EACCES, "%s: 401 without a challenge", r->base);
	if (!strncasecmp(challenge, "Bearer", 6))
		return bearer_token(r, challenge, err);
	if (!strncasecmp(challenge, "Basic", 5))
		return set_basic(r, err);
	return err_set(err, -EPROTO, "%s: unsupported challenge '%.40s'", r->base, challenge);
}

/* fetch_do, answering one 401 with authentication. */
static int fetch_auth(struct registry *r, const struct fetch *f, struct http_client_resp *resp,
		      struct err *err)
{
	int rc = fetch_do(r, f, resp, err);

	if (rc || resp->status != 401)
		return rc;
	rc = authenticate(r, resp->headers[0], err);
	if (rc)
		return rc;
	return fetch_do(r, f, resp, err);
}

/* ---- sessions ------------------------------------------------------------- */

void registry_close(struct registry *r)
{
	if (!r)
		return;
	http_client_free(r->http);
	free(r->username);
	free(r->password);
	free(r->identity_token);
	free(r->authorization);
	free(r);
}

static struct registry *registry_new(const struct registry_options *opt, struct err *err)
{
	struct registry *r = calloc(1, sizeof(*r));

	if (!r) {
		err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	r->opt = *opt;
	r->http = http_client_new(err);
	if (!r->http) {
		free(r);
		return NULL;
	}
	return r;
}

int registry_open(const struct registry_options *opt, const char *domain, const char *repo,
		  const struct registry_auth *auth, struct registry **out, struct err *err)
{
	const char *host = strcmp(domain, "docker.io") ? domain : "registry-1.docker.io";
	struct registry *r;
	struct http_client_resp resp = { 0 };
	struct fetch probe = { .url = NULL, .max = 64 << 10 };
	char url[URL_MAX];
	int rc;

	*out = NULL;
	r = registry_new(opt, err);
	if (!r)
		return err->code;
	snprintf(r->base, sizeof(r->base), "%s://%s", is_insecure(opt, domain) ? "http" : "https",
		 host);
	snprintf(r->repo, sizeof(r->repo), "%s", repo);
	if (auth) {
		r->username = dup_or_null(auth->username);
		r->password = dup_or_null(auth->password);
		r->identity_token = dup_or_null(auth->identity_token);
		if (auth->registry_token && *auth->registry_token &&
		    asprintf(&r->authorization, "Bearer %s", auth->registry_token) < 0)
			r->authorization = NULL;
	}
	snprintf(url, sizeof(url), "%s/v2/", r->base);
	probe.url = url;
	rc = fetch_do(r, &probe, &resp, err);
	if (!rc && resp.status == 401 && !(auth && auth->registry_token && *auth->registry_token))
		rc = authenticate(r, resp.headers[0], err);
	else if (!rc && resp.status != 200 && resp.status != 401)
		rc = status_error(url, resp.status, err);
	http_client_resp_free(&resp);
	if (rc) {
		registry_close(r);
		return err_prefix(err, rc, "registry %s: ", domain);
	}
	*out = r;
	return 0;
}

int registry_clone(const struct registry *src, struct registry **out, struct err *err)
{
	struct registry *r = registry_new(&src->opt, err);

	*out = NULL;
	if (!r)
		return err->code;
	memcpy(r->base, src->base, sizeof(r->base));
	memcpy(r->repo, src->repo, sizeof(r->repo));
	r->username = src->username ? strdup(src->username) : NULL;
	r->password = src->password ? strdup(src->password) : NULL;
	r->identity_token = src->identity_token ? strdup(src->identity_token) : NULL;
	r->authorization = src->authorization ? strdup(src->authorization) : NULL;
	if ((src->username && !r->username) || (src->password && !r->password) ||
	    (src->identity_token && !r->identity_token) ||
	    (src->authorization && !r->authorization)) {
		registry_close(r);
		return err_set(err, -ENOMEM, "out of memory");
	}
	*out = r;
	return 0;
}

/* ---- manifests and blobs -------------------------------------------------- */

void registry_manifest_free(struct registry_manifest *m)
{
	free(m->body);
	free(m->content_type);
	memset(m, 0, sizeof(*m));
}

int registry_get_manifest(struct registry *r, const char *tag_or_digest,
			  struct registry_manifest *m, struct err *err)
{
	char url[URL_MAX], what[URL_MAX + 16];
	struct http_client_resp resp = { 0 };
	struct fetch f = { .url = url, .accept = MANIFEST_ACCEPT, .max = MANIFEST_MAX_SIZE };
	bool by_digest = digest_valid(tag_or_digest);
	const char *header;
	int rc;

	memset(m, 0, sizeof(*m));
	snprintf(url, sizeof(url), "%s/v2/%s/manifests/%.128s", r->base, r->repo, tag_or_digest);
	snprintf(what, sizeof(what), "manifest %s:%.128s", r->repo, tag_or_digest);
	rc = fetch_auth(r, &f, &resp, err);
	if (!rc && resp.status != 200)
		rc = status_error(what, resp.status, err);
	if (!rc)
		rc = digest_buffer(resp.body ? resp.body : "", resp.body_len, m->digest);
	header = resp.headers[1];
	if (!rc && by_digest && strcmp(m->digest, tag_or_digest))
		rc = err_set(err, -EIO, "%s: the content's digest is %s", what, m->digest);
	if (!rc && !by_digest && header && digest_valid(header) && strcmp(header, m->digest))
		rc = err_set(err, -EIO, "%s: Docker-Content-Digest %s, the content's digest %s",
			     what, header, m->digest);
	if (!rc) {
		m->body = resp.body ? resp.body : strdup("");
		m->len = resp.body_len;
		m->content_type = resp.content_type;
		resp.body = NULL;
		resp.content_type = NULL;
		if (!m->body)
			rc = err_set(err, -ENOMEM, "out of memory");
	}
	http_client_resp_free(&resp);
	if (rc)
		registry_manifest_free(m);
	return rc;
}

struct blob_sink {
	struct store_blob_writer *w;
	struct err *err;
	bool failed; /* the store refused the data: no retry */
};

/* Only a 200's body is the blob; redirects' and errors' bodies are dropped. */
static int blob_data(void *ctx, long status, const void *data, size_t len)
{
	struct blob_sink *b = ctx;
	int rc;

	if (status != 200)
		return 0;
	rc = store_blob_write(b->w, data, len, b->err);
	b->failed |= rc != 0;
	return rc;
}

/* One attempt; *again says whether another may succeed. */
static int blob_try(struct registry *r, const struct descriptor *d, struct store *s, bool *again,
		    struct err *err)
{
	char url[URL_MAX];
	struct http_client_resp resp = { 0 };
	struct err store_err = { 0 };
	struct blob_sink sink = { .err = &store_err };
	struct fetch f = { .url = url,
			   .on_data = blob_data,
			   .ctx = &sink,
			   .timeout_ms = blob_timeout_ms(d->size) };
	int rc;

	*again = false;
	snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", r->base, r->repo, d->digest);
	rc = store_blob_begin(s, d->digest, d->size, &sink.w, err);
	if (rc)
		return rc;
	rc = fetch_auth(r, &f, &resp, err);
	if (sink.failed) {
		rc = err_set(err, store_err.code, "%s", store_err.msg);
	} else if (rc) {
		*again = retryable(rc, 0);
	} else if (resp.status != 200) {
		*again = retryable(0, resp.status);
		rc = status_error(url, resp.status, err);
	}
	http_client_resp_free(&resp);
	if (rc) {
		store_blob_abort(sink.w);
		return rc;
	}
	/* Size and digest: a registry that lies is refused, not retried. */
	return store_blob_commit(sink.w, err);
}

int registry_get_blob(struct registry *r, const struct descriptor *d, struct store *s,
		      struct err *err)
{
	unsigned int retries = r->opt.retries ? r->opt.retries : REGISTRY_RETRIES;
	unsigned int backoff = r->opt.backoff_ms ? r->opt.backoff_ms : REGISTRY_BACKOFF_MS;

	for (unsigned int attempt = 0;; attempt++) {
		struct err e = { 0 };
		bool again;
		int rc = blob_try(r, d, s, &again, &e);

		if (!rc || !again || attempt >= retries) {
			char lead[DIGEST_STR_LEN + 8];

			/* The store's errors already name the blob: say it once. */
			snprintf(lead, sizeof(lead), "blob %s", d->digest);
			if (rc && !strncmp(e.msg, lead, strlen(lead)))
				err_set(err, rc, "%s", e.msg);
			else if (rc)
				err_set(err, rc, "%s: %s", lead, e.msg);
			return rc;
		}
		sleep_ms(backoff << attempt);
	}
}
