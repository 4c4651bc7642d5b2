/* AWS Signature Version 4 (header form). See sigv4.h for the rules; the
 * shared suite in tests/fixtures/sigv4 pins every one of them.
 *
 * Everything is built in a small growable string; the only secret is the
 * secret access key and the derived keys, which live in fixed buffers here
 * and are cleansed before returning.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sigv4.h"

#define SIGV4_ALGO "AWS4-HMAC-SHA256"
#define SIGV4_FIELD_MAX 65536 /* any single name, value, path or query */

struct sb {
	char *p;
	size_t n, cap;
	int err;
};

static void sb_addn(struct sb *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->cap - b->n <= n) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap - b->n <= n) {
			if (cap > SIZE_MAX / 2) {
				b->err = -ENOMEM;
				return;
			}
			cap *= 2;
		}
		char *p = realloc(b->p, cap);

		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void sb_add(struct sb *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

static void sb_addc(struct sb *b, char c)
{
	sb_addn(b, &c, 1);
}

/* Hands the string to the caller (an empty string if nothing was added). */
static char *sb_detach(struct sb *b)
{
	if (!b->err && !b->p)
		sb_addn(b, "", 0);
	if (b->err) {
		free(b->p);
		b->p = NULL;
		return NULL;
	}
	char *p = b->p;

	b->p = NULL;
	b->n = b->cap = 0;
	return p;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static void sb_uri_encode(struct sb *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (unreserved(c)) {
			sb_addc(b, (char)c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			sb_addn(b, e, 3);
		}
	}
}

static void hexify(const uint8_t *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int sha256_hex(const void *p, size_t n, char out[static 65])
{
	uint8_t md[32];
	unsigned int mdn = 0;

	if (!EVP_Digest(p ? p : "", n, md, &mdn, EVP_sha256(), NULL) || mdn != 32)
		return -ENOMEM;
	hexify(md, 32, out);
	return 0;
}

static int hmac256(const void *key, size_t keyn, const void *msg, size_t msgn,
		   uint8_t out[static 32])
{
	unsigned int n = 0;

	if (!HMAC(EVP_sha256(), key, (int)keyn, msg, msgn, out, &n) || n != 32)
		return -ENOMEM;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX from s into out (at most n bytes); a "%" not
 * followed by two hex digits is kept as it is. */
static size_t pct_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int h, l;

		if (s[i] == '%' && n - i > 2 && (h = hexval(s[i + 1])) >= 0 &&
		    (l = hexval(s[i + 2])) >= 0) {
			out[o++] = (char)(h << 4 | l);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	return o;
}

static bool valid_token(const char *s)
{
	if (!s || !*s || strlen(s) > 256)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c))
			return false;
	}
	return true;
}

/* Printable ASCII without '/' (it would split the credential scope). */
static bool valid_scope_part(const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max + 1) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '/' || s[i] == ',' || s[i] == ';')
			return false;
	return true;
}

static bool valid_value(const char *s)
{
	size_t n = s ? strnlen(s, SIGV4_FIELD_MAX + 1) : SIGV4_FIELD_MAX + 1;

	if (n > SIGV4_FIELD_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static bool valid_date(const char *d)
{
	for (int i = 0; i < 16; i++) {
		if (i == 8 ? d[i] != 'T' : i == 15 ? d[i] != 'Z' : (d[i] < '0' || d[i] > '9'))
			return false;
	}
	return d[16] == '\0';
}

struct chdr {
	char *name;  /* lower case */
	char *value; /* trimmed, inner runs collapsed */
	size_t order;
};

static int chdr_cmp(const void *a, const void *b)
{
	const struct chdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static char *lower_dup(const char *s)
{
	char *d = strdup(s);

	for (char *p = d; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

static char *trim_dup(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 1), *o = d;
	bool space = false;

	if (!d)
		return NULL;
	while (*s == ' ' || *s == '\t')
		s++;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t') {
			space = true;
			continue;
		}
		if (space)
			*o++ = ' ';
		space = false;
		*o++ = *s;
	}
	*o = '\0';
	return d;
}

static void canonical_path(struct sb *b, const char *path, bool normalize)
{
	size_t n = strlen(path);

	if (!normalize) {
		size_t i = 0;

		while (i < n) {
			size_t j = i;

			while (j < n && path[j] != '/')
				j++;
			sb_uri_encode(b, path + i, j - i);
			if (j < n)
				sb_addc(b, '/');
			i = j + 1;
		}
		return;
	}

	/* Segments kept so far, as offsets into path. */
	size_t *st = calloc(n / 2 + 2, 2 * sizeof(*st));
	size_t depth = 0;

	if (!st) {
		b->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j < n && path[j] != '/')
			j++;
		size_t len = j - i;

		if (len == 0 || (len == 1 && path[i] == '.')) {
			/* "//" and "/./" add nothing */
		} else if (len == 2 && path[i] == '.' && path[i + 1] == '.') {
			if (depth)
				depth--;
		} else {
			st[2 * depth] = i;
			st[2 * depth + 1] = len;
			depth++;
		}
		i = j + 1;
	}
	for (size_t k = 0; k < depth; k++) {
		sb_addc(b, '/');
		sb_uri_encode(b, path + st[2 * k], st[2 * k + 1]);
	}
	if (depth == 0 || path[n - 1] == '/')
		sb_addc(b, '/');
	free(st);
}

struct qparam {
	char *k, *v; /* encoded */
};

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->k, y->k);

	return c ? c : strcmp(x->v, y->v);
}

static char *encode_dup(const char *s, size_t n)
{
	char *tmp = malloc(n + 1);
	struct sb e = { 0 };

	if (!tmp)
		return NULL;
	size_t dn = pct_decode(s, n, tmp);

	sb_uri_encode(&e, tmp, dn);
	free(tmp);
	return sb_detach(&e);
}

static void canonical_query(struct sb *b, const char *q)
{
	size_t n = q ? strlen(q) : 0, np = 0, cap = 1;
	struct qparam *ps;

	for (size_t i = 0; i < n; i++)
		cap += q[i] == '&';
	ps = calloc(cap, sizeof(*ps));
	if (!ps) {
		b->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i, eq;

		while (j < n && q[j] != '&')
			j++;
		if (j > i) {
			for (eq = i; eq < j && q[eq] != '='; eq++)
				;
			ps[np].k = encode_dup(q + i, eq - i);
			ps[np].v = eq < j ? encode_dup(q + eq + 1, j - eq - 1) : encode_dup("", 0);
			np++;
			if (!ps[np - 1].k || !ps[np - 1].v)
				b->err = -ENOMEM;
		}
		i = j + 1;
	}
	if (!b->err) {
		qsort(ps, np, sizeof(*ps), qparam_cmp);
		for (size_t i = 0; i < np; i++) {
			if (i)
				sb_addc(b, '&');
			sb_add(b, ps[i].k);
			sb_addc(b, '=');
			sb_add(b, ps[i].v);
		}
	}
	for (size_t i = 0; i < np; i++) {
		free(ps[i].k);
		free(ps[i].v);
	}
	free(ps);
}

static bool reserved_name(const char *lname)
{
	return !strcmp(lname, "authorization") || !strcmp(lname, "x-amz-date") ||
	       !strcmp(lname, "x-amz-security-token") || !strcmp(lname, "x-amz-content-sha256");
}

void sigv4_signed_release(struct sigv4_signed *s)
{
	if (!s)
		return;
	free(s->canonical_request);
	free(s->string_to_sign);
	for (size_t i = 0; i < 4; i++) {
		free(s->add[i].name);
		free(s->add[i].value);
	}
	memset(s, 0, sizeof(*s));
}

static int add_header(struct sigv4_signed *out, const char *name, const char *value)
{
	size_t i = out->nadd;

	out->add[i].name = strdup(name);
	out->add[i].value = strdup(value);
	out->nadd++;
	return out->add[i].name && out->add[i].value ? 0 : -ENOMEM;
}

static int derive_signature(const struct sigv4_creds *c, const char *day, const char *region,
			    const char *service, const char *sts, char sig[static 65])
{
	size_t sn = strlen(c->secret_access_key);
	char *k0 = malloc(sn + 5);
	uint8_t k[32], mac[32];
	int r;

	if (!k0)
		return -ENOMEM;
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, c->secret_access_key, sn + 1);
	r = hmac256(k0, sn + 4, day, 8, k);
	if (!r)
		r = hmac256(k, 32, region, strlen(region), k);
	if (!r)
		r = hmac256(k, 32, service, strlen(service), k);
	if (!r)
		r = hmac256(k, 32, "aws4_request", 12, k);
	if (!r)
		r = hmac256(k, 32, sts, strlen(sts), mac);
	if (!r)
		hexify(mac, 32, sig);
	OPENSSL_cleanse(k0, sn + 4);
	OPENSSL_cleanse(k, sizeof(k));
	free(k0);
	return r;
}

int sigv4_sign(const struct sigv4_request *rq, const struct sigv4_creds *c, const char *region,
	       const char *service, const char amz_date[static 17], unsigned flags,
	       struct sigv4_signed *out)
{
	bool token = c && c->session_token && *c->session_token;
	bool has_host = false;
	char body_hash[65], cr_hash[65], day[9];
	struct chdr *hs = NULL;
	size_t nh = 0;
	struct sb cr = { 0 }, sts = { 0 }, sh = { 0 }, auth = { 0 };
	int r = -EINVAL;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!rq || !c || !valid_token(rq->method) || !rq->path || rq->path[0] != '/' ||
	    strnlen(rq->path, SIGV4_FIELD_MAX + 1) > SIGV4_FIELD_MAX || !valid_value(rq->path) ||
	    (rq->query && (strnlen(rq->query, SIGV4_FIELD_MAX + 1) > SIGV4_FIELD_MAX ||
			   !valid_value(rq->query))) ||
	    (rq->nheaders && !rq->headers) || rq->nheaders > 256 ||
	    (rq->body_len && !rq->body) || (flags & ~(SIGV4_SIGN_BODY | SIGV4_NO_NORMALIZE)) ||
	    !valid_scope_part(c->access_key_id, 128) || !c->secret_access_key ||
	    !*c->secret_access_key || strnlen(c->secret_access_key, 1025) > 1024 ||
	    (token && !valid_value(c->session_token)) || !valid_scope_part(region, 64) ||
	    !valid_scope_part(service, 64) || !valid_date(amz_date))
		return -EINVAL;

	hs = calloc(rq->nheaders + 3, sizeof(*hs));
	if (!hs)
		return -ENOMEM;
	for (size_t i = 0; i < rq->nheaders; i++) {
		const struct sigv4_header *h = &rq->headers[i];

		if (!valid_token(h->name) || !valid_value(h->value))
			goto out;
		hs[nh].name = lower_dup(h->name);
		hs[nh].value = trim_dup(h->value);
		hs[nh].order = nh;
		nh++;
		if (!hs[nh - 1].name || !hs[nh - 1].value) {
			r = -ENOMEM;
			goto out;
		}
		if (reserved_name(hs[nh - 1].name))
			goto out;
		if (!strcmp(hs[nh - 1].name, "host"))
			has_host = true;
	}
	if (!has_host)
		goto out;
	r = -ENOMEM;
	if ((r = sha256_hex(rq->body, rq->body_len, body_hash)) < 0)
		goto out;

	/* the headers signing adds, in the order sigv4.h promises */
	if ((r = add_header(out, "X-Amz-Date", amz_date)) < 0)
		goto out;
	if (token && (r = add_header(out, "X-Amz-Security-Token", c->session_token)) < 0)
		goto out;
	if ((flags & SIGV4_SIGN_BODY) &&
	    (r = add_header(out, "x-amz-content-sha256", body_hash)) < 0)
		goto out;
	for (size_t i = 0; i < out->nadd; i++) {
		hs[nh].name = lower_dup(out->add[i].name);
		hs[nh].value = trim_dup(out->add[i].value);
		hs[nh].order = nh;
		nh++;
		if (!hs[nh - 1].name || !hs[nh - 1].value) {
			r = -ENOMEM;
			goto out;
		}
	}
	qsort(hs, nh, sizeof(*hs), chdr_cmp);

	sb_add(&cr, rq->method);
	sb_addc(&cr, '\n');
	canonical_path(&cr, rq->path, !(flags & SIGV4_NO_NORMALIZE));
	sb_addc(&cr, '\n');
	canonical_query(&cr, rq->query);
	sb_addc(&cr, '\n');
	for (size_t i = 0; i < nh; i++) {
		if (i && !strcmp(hs[i].name, hs[i - 1].name)) {
			sb_addc(&cr, ',');
		} else {
			if (i) {
				sb_addc(&cr, '\n');
				sb_addc(&sh, ';');
			}
			sb_add(&cr, hs[i].name);
			sb_addc(&cr, ':');
			sb_add(&sh, hs[i].name);
		}
		sb_add(&cr, hs[i].value);
	}
	sb_add(&cr, "\n\n");
	sb_add(&cr, sh.p ? sh.p : "");
	sb_addc(&cr, '\n');
	sb_add(&cr, body_hash);
	if ((r = cr.err ? cr.err : sh.err) < 0)
		goto out;
	if ((r = sha256_hex(cr.p, cr.n, cr_hash)) < 0)
		goto out;

	memcpy(day, amz_date, 8);
	day[8] = '\0';
	sb_add(&sts, SIGV4_ALGO "\n");
	sb_add(&sts, amz_date);
	sb_addc(&sts, '\n');
	sb_add(&sts, day);
	sb_addc(&sts, '/');
	sb_add(&sts, region);
	sb_addc(&sts, '/');
	sb_add(&sts, service);
	sb_add(&sts, "/aws4_request\n");
	sb_add(&sts, cr_hash);
	if ((r = sts.err) < 0)
		goto out;
	if ((r = derive_signature(c, day, region, service, sts.p, out->signature)) < 0)
		goto out;

	sb_add(&auth, SIGV4_ALGO " Credential=");
	sb_add(&auth, c->access_key_id);
	sb_addc(&auth, '/');
	sb_add(&auth, day);
	sb_addc(&auth, '/');
	sb_add(&auth, region);
	sb_addc(&auth, '/');
	sb_add(&auth, service);
	sb_add(&auth, "/aws4_request, SignedHeaders=");
	sb_add(&auth, sh.p);
	sb_add(&auth, ", Signature=");
	sb_add(&auth, out->signature);
	if ((r = auth.err) < 0)
		goto out;
	out->add[out->nadd].name = strdup("Authorization");
	out->add[out->nadd].value = sb_detach(&auth);
	out->nadd++;
	out->canonical_request = sb_detach(&cr);
	out->string_to_sign = sb_detach(&sts);
	r = out->add[out->nadd - 1].name && out->add[out->nadd - 1].value &&
			    out->canonical_request && out->string_to_sign
		    ? 0
		    : -ENOMEM;
out:
	for (size_t i = 0; i < nh; i++) {
		free(hs[i].name);
		free(hs[i].value);
	}
	free(hs);
	free(cr.p);
	free(sts.p);
	free(sh.p);
	free(auth.p);
	if (r < 0)
		sigv4_signed_release(out);
	return r;
}
