// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "lib/http_client.h"

struct http_client {
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
};

/* One request's transfer state, seen by the write callback. */
struct xfer {
	CURL *curl;
	const struct http_client_req *req;
	struct http_client_resp *resp;
	size_t max;
	size_t body_cap;
	int abort_rc; /* why the callback stopped the transfer */
	char *line;   /* streaming: the line being gathered */
	size_t line_len, line_cap;
};

int http_client_global_init(struct err *err)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (rc != CURLE_OK)
		return err_set(err, -EIO, "libcurl: %s", curl_easy_strerror(rc));
	return 0;
}

struct http_client *http_client_new(struct err *err)
{
	struct http_client *c = calloc(1, sizeof(*c));

	if (c)
		c->curl = curl_easy_init();
	if (!c || !c->curl) {
		free(c);
		err_set(err, -ENOMEM, "libcurl: cannot make a handle");
		return NULL;
	}
	return c;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}

void http_client_resp_free(struct http_client_resp *resp)
{
	for (unsigned int i = 0; i < HTTP_CLIENT_MAX_WANT; i++)
		free(resp->headers[i]);
	free(resp->content_type);
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

/* Makes room for need more bytes and a NUL after them. */
static int grow(char **buf, size_t *cap, size_t len, size_t need)
{
	size_t want = *cap ? *cap : 4096;
	char *nb;

	while (want - len < need + 1)
		want *= 2;
	if (want == *cap)
		return 0;
	nb = realloc(*buf, want);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*cap = want;
	return 0;
}

static int deliver_line(struct xfer *x)
{
	int r = 0;

	if (x->line_len) {
		x->line[x->line_len] = '\0';
		r = x->req->on_line(x->req->ctx, x->line, x->line_len);
	}
	x->line_len = 0;
	return r;
}

/* Streaming: cut into lines, each at most max bytes. */
static int take_lines(struct xfer *x, const char *p, size_t n)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) : n;
		int r;

		if (seg > x->max - x->line_len)
			return -EFBIG;
		r = grow(&x->line, &x->line_cap, x->line_len, seg);
		if (r)
			return r;
		memcpy(x->line + x->line_len, p, seg);
		x->line_len += seg;
		if (!nl)
			break;
		r = deliver_line(x);
		if (r)
			return r;
		p += seg + 1;
		n -= seg + 1;
	}
	return 0;
}

static int take_body(struct xfer *x, const char *p, size_t n)
{
	struct http_client_resp *resp = x->resp;
	int r;

	if (n > x->max - resp->body_len)
		return -EFBIG;
	r = grow(&resp->body, &x->body_cap, resp->body_len, n);
	if (r)
		return r;
	memcpy(resp->body + resp->body_len, p, n);
	resp->body_len += n;
	resp->body[resp->body_len] = '\0';
	return 0;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb;
	long status = 0;
	int r;

	if (x->req->on_data) {
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
		r = x->req->on_data(x->req->ctx, status, ptr, n);
	} else {
		r = x->req->on_line ? take_lines(x, ptr, n) : take_body(x, ptr, n);
	}

	if (r) {
		x->abort_rc = r;
		return 0; /* anything but n: curl stops with CURLE_WRITE_ERROR */
	}
	return n;
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_FUNCTION_ARGUMENT:
		return -EINVAL;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_WEIRD_SERVER_REPLY:
		return -EPROTO;
	default:
		return -EIO;
	}
}

static bool has_header(const char *const *headers, const char *name)
{
	size_t len = strlen(name);

	for (; headers && *headers; headers++) {
		if (!strncasecmp(*headers, name, len) && (*headers)[len] == ':')
			return true;
	}
	return false;
}

/* The caller's headers, minus what curl would add on its own. */
static struct curl_slist *make_headers(const struct http_client_req *req, bool *oom)
{
	struct curl_slist *list = NULL, *n;
	const char *const *h;

	*oom = false;
	for (h = req->headers; h && *h; h++) {
		n = curl_slist_append(list, *h);
		if (!n)
			goto fail;
		list = n;
	}
	/* No "Expect: 100-continue" round trip, and no form type on a body we did not label. */
	n = curl_slist_append(list, "Expect:");
	if (!n)
		goto fail;
	list = n;
	if (req->body && !has_header(req->headers, "Content-Type")) {
		n = curl_slist_append(list, "Content-Type:");
		if (!n)
			goto fail;
		list = n;
	}
	return list;
fail:
	curl_slist_free_all(list);
	*oom = true;
	return NULL;
}

/* Everything the request asks for; false if curl refused an option. */
static bool set_options(struct http_client *c, const struct http_client_req *req, struct xfer *x,
			struct curl_slist *headers)
{
	CURL *h = c->curl;
	bool stream = req->on_line || req->on_data;
	long timeout = req->timeout_ms ? (long)req->timeout_ms
		       : stream	       ? 0
				       : HTTP_CLIENT_TIMEOUT_MS;
	long connect_ms = req->connect_timeout_ms ? (long)req->connect_timeout_ms
						  : HTTP_CLIENT_CONNECT_TIMEOUT_MS;
	bool ok = true;

	ok &= curl_easy_setopt(h, CURLOPT_URL, req->url) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf) == CURLE_OK;
	/* Never SIGALRM for timeouts: the daemons are threaded. */
	ok &= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
	ok &= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
	ok &= curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
	      CURLE_OK;
#endif
	ok &= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout) == CURLE_OK;
	if (req->unix_socket)
		ok &= curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, req->unix_socket) == CURLE_OK;
	if (!stream)
		ok &= curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max) ==
		      CURLE_OK;
	if (req->body) {
		ok &= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) ==
		      CURLE_OK;
		ok &= curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body) == CURLE_OK;
	} else if (!strcmp(req->method, "GET")) {
		ok &= curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) == CURLE_OK;
	}
	ok &= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_WRITEDATA, x) == CURLE_OK;
	if (req->ca_file)
		ok &= curl_easy_setopt(h, CURLOPT_CAINFO, req->ca_file) == CURLE_OK;
	if (req->cert_file)
		ok &= curl_easy_setopt(h, CURLOPT_SSLCERT, req->cert_file) == CURLE_OK;
	if (req->key_file)
		ok &= curl_easy_setopt(h, CURLOPT_SSLKEY, req->key_file) == CURLE_OK;
	return ok;
}

static unsigned int nr_wanted(const struct http_client_req *req)
{
	unsigned int n = 0;

	while (req->want_headers && req->want_headers[n])
		n++;
	return n;
}

/* Status, Content-Type and the wanted headers of the final answer (not of a 100 Continue). */
static int take_head(struct http_client *c, const struct http_client_req *req,
		     struct http_client_resp *resp)
{
	char *ct = NULL;

	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	if (curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct) {
		resp->content_type = strdup(ct);
		if (!resp->content_type)
			return -ENOMEM;
	}
	for (unsigned int i = 0; i < nr_wanted(req); i++) {
		struct curl_header *h;

		if (curl_easy_header(c->curl, req->want_headers[i], 0, CURLH_HEADER, -1, &h) !=
		    CURLHE_OK)
			continue;
		/* Index 0 is the first of its name; the contract is the last one. */
		if (h->amount > 1 && curl_easy_header(c->curl, req->want_headers[i], h->amount - 1,
						      CURLH_HEADER, -1, &h) != CURLHE_OK)
			continue;
		resp->headers[i] = strdup(h->value);
		if (!resp->headers[i])
			return -ENOMEM;
	}
	return 0;
}

int http_client_do(struct http_client *c, const struct http_client_req *req,
		   struct http_client_resp *resp, struct err *err)
{
	struct xfer x = { .curl = c->curl, .req = req, .resp = resp };
	struct curl_slist *headers;
	CURLcode rc;
	bool oom;
	int r;

	memset(resp, 0, sizeof(*resp));
	if (!req->method || !*req->method || !req->url)
		return err_set(err, -EINVAL, "HTTP request without a method or URL");
	if (nr_wanted(req) > HTTP_CLIENT_MAX_WANT)
		return err_set(err, -EINVAL, "%s %s: more than %d response headers wanted",
			       req->method, req->url, HTTP_CLIENT_MAX_WANT);
	x.max = req->max_response ? req->max_response : HTTP_CLIENT_MAX_RESPONSE;
	headers = make_headers(req, &oom);
	if (oom)
		return err_set(err, -ENOMEM, "%s %s: out of memory", req->method, req->url);
	/* Options of the last request go, its connections stay for reuse. */
	curl_easy_reset(c->curl);
	c->errbuf[0] = '\0';
	if (!set_options(c, req, &x, headers)) {
		curl_slist_free_all(headers);
		return err_set(err, -EINVAL, "%s %s: libcurl refused an option", req->method,
			       req->url);
	}
	rc = curl_easy_perform(c->curl);
	if (rc == CURLE_OK && req->on_line)
		x.abort_rc = deliver_line(&x);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	free(x.line);

	if (x.abort_rc == -EFBIG || rc == CURLE_FILESIZE_EXCEEDED)
		return err_set(err, -EFBIG, "%s %s: the answer%s is larger than %zu bytes",
			       req->method, req->url, req->on_line ? "'s line" : "", x.max);
	if (x.abort_rc)
		return err_set(err, x.abort_rc, "%s %s: %s", req->method, req->url,
			       strerror(-x.abort_rc));
	if (rc != CURLE_OK)
		return err_set(err, curl_errno(rc), "%s %s: %s", req->method, req->url,
			       c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
	r = take_head(c, req, resp);
	if (r)
		return err_set(err, r, "%s %s: out of memory", req->method, req->url);
	return 0;
}
