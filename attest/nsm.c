/* The NSM client (nsm.h): request encoders that write exactly what the NSM's
 * own library writes, bounded response decoders on libcbor, and the ioctl. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cbor.h>

#include "cbor-util.h"
#include "cborw.h"
#include "devnsm.h"
#include "nsm.h"
#include "util.h"

/* The kernel's uAPI (linux/nsm.h), declared here for kernels whose headers
 * predate it. */
struct nsm_iovec {
	uint64_t addr;
	uint64_t len;
};
struct nsm_raw {
	struct nsm_iovec request;
	struct nsm_iovec response;
};
#define NSM_IOCTL_RAW _IOWR(0x0A, 0x0, struct nsm_raw)
_Static_assert(NSM_IOCTL_RAW == 0xC0200A00u, "NSM_IOCTL_RAW");

#define NSM_DOC_MAX 16384
#define NSM_RANDOM_MAX 256

/* --- requests ------------------------------------------------------------------------ */

static int done(struct cbw *w, size_t *outn)
{
	size_t n;

	if (cbw_done(w, &n) < 0 || n > NSM_REQUEST_MAX)
		return -EMSGSIZE;
	*outn = n;
	return 0;
}

int nsm_enc_attestation(const uint8_t *user_data, size_t udn, const uint8_t *nonce, size_t nn,
			const uint8_t *public_key, size_t pkn, uint8_t *out, size_t outsz, size_t *outn)
{
	struct cbw w;

	cbw_init(&w, out, outsz);
	cbw_map(&w, 1);
	cbw_text(&w, "Attestation");
	cbw_map(&w, 3);
	cbw_text(&w, "user_data");
	cbw_opt_bytes(&w, user_data, udn);
	cbw_text(&w, "nonce");
	cbw_opt_bytes(&w, nonce, nn);
	cbw_text(&w, "public_key");
	cbw_opt_bytes(&w, public_key, pkn);
	return done(&w, outn);
}

static int enc_index(const char *variant, const char *field, unsigned v, uint8_t *out,
		     size_t outsz, size_t *outn)
{
	struct cbw w;

	cbw_init(&w, out, outsz);
	cbw_map(&w, 1);
	cbw_text(&w, variant);
	cbw_map(&w, 1);
	cbw_text(&w, field);
	cbw_uint(&w, v);
	return done(&w, outn);
}

int nsm_enc_describe_pcr(unsigned index, uint8_t *out, size_t outsz, size_t *outn)
{
	return enc_index("DescribePCR", "index", index, out, outsz, outn);
}

int nsm_enc_extend_pcr(unsigned index, const uint8_t *data, size_t n, uint8_t *out, size_t outsz,
		       size_t *outn)
{
	struct cbw w;

	cbw_init(&w, out, outsz);
	cbw_map(&w, 1);
	cbw_text(&w, "ExtendPCR");
	cbw_map(&w, 2);
	cbw_text(&w, "index");
	cbw_uint(&w, index);
	cbw_text(&w, "data");
	cbw_bytes(&w, data, n);
	return done(&w, outn);
}

int nsm_enc_lock_pcr(unsigned index, uint8_t *out, size_t outsz, size_t *outn)
{
	return enc_index("LockPCR", "index", index, out, outsz, outn);
}

int nsm_enc_lock_pcrs(unsigned range, uint8_t *out, size_t outsz, size_t *outn)
{
	return enc_index("LockPCRs", "range", range, out, outsz, outn);
}

static int enc_unit(const char *variant, uint8_t *out, size_t outsz, size_t *outn)
{
	struct cbw w;

	cbw_init(&w, out, outsz);
	cbw_text(&w, variant);
	return done(&w, outn);
}

int nsm_enc_get_random(uint8_t *out, size_t outsz, size_t *outn)
{
	return enc_unit("GetRandom", out, outsz, outn);
}

int nsm_enc_describe_nsm(uint8_t *out, size_t outsz, size_t *outn)
{
	return enc_unit("DescribeNSM", out, outsz, outn);
}

/* --- responses ------------------------------------------------------------------------ */

/* Loads r[n] (all of it) and finds the response VARIANT: its fields map in
 * *fields (borrowing *top), or for a unit response *fields = NULL. The
 * Error response becomes -EPROTO with its name in why. */
static int response(const uint8_t *r, size_t n, const char *variant, cbor_item_t **top,
		    cbor_item_t **fields, char *why, size_t whysz)
{
	struct cbor_load_result lr;
	cbor_item_t *t;
	struct cbor_pair *p;

	size_t used;

	*top = *fields = NULL;
	if (n == 0 || n > NSM_RESPONSE_MAX)
		return err_set(why, whysz, -EBADMSG, "response of %zu bytes", n);
	/* Before libcbor sizes anything from a header. */
	if (attest_cbor_check(r, n, 8, &used) < 0 || used != n)
		return err_set(why, whysz, -EBADMSG, "the response is not one CBOR item");
	t = cbor_load(r, n, &lr);
	if (!t || lr.error.code != CBOR_ERR_NONE || lr.read != n) {
		if (t)
			cbor_decref(&t);
		return err_set(why, whysz, -EBADMSG, "the response is not one CBOR item");
	}
	*top = t;
	if (attest_cbor_text_is(t, variant))
		return 0;
	if (!cbor_isa_map(t) || cbor_map_size(t) != 1)
		return err_set(why, whysz, -EBADMSG, "the response is not %s", variant);
	p = cbor_map_handle(t);
	if (attest_cbor_text_is(p[0].key, "Error")) {
		char name[32] = "?";
		size_t len;

		if (cbor_isa_string(p[0].value) && cbor_string_is_definite(p[0].value) &&
		    (len = cbor_string_length(p[0].value)) < sizeof(name) &&
		    !memchr(cbor_string_handle(p[0].value), 0, len)) {
			memcpy(name, cbor_string_handle(p[0].value), len);
			name[len] = 0;
		}
		return err_set(why, whysz, -EPROTO, "NSM error %s", name);
	}
	if (!attest_cbor_text_is(p[0].key, variant) || !cbor_isa_map(p[0].value))
		return err_set(why, whysz, -EBADMSG, "the response is not %s", variant);
	*fields = p[0].value;
	return 0;
}

static bool bytes_max(const cbor_item_t *v, size_t max)
{
	return v && cbor_isa_bytestring(v) && cbor_bytestring_is_definite(v) &&
	       cbor_bytestring_length(v) <= max;
}

static bool uint_max(const cbor_item_t *v, uint64_t max, uint64_t *out)
{
	if (!v || !cbor_isa_uint(v) || cbor_get_int(v) > max)
		return false;
	*out = cbor_get_int(v);
	return true;
}

#define CLOSE(top) \
	do {                        \
		if (top)            \
			cbor_decref(&top); \
	} while (0)

int nsm_dec_attestation(const uint8_t *r, size_t n, uint8_t **doc, size_t *docn, char *why,
			size_t whysz)
{
	cbor_item_t *top, *f, *v = NULL;
	int rc = response(r, n, "Attestation", &top, &f, why, whysz);

	if (rc == 0 && (!f || cbor_map_size(f) != 1 || !(v = attest_cbor_field(f, "document")) ||
			!bytes_max(v, NSM_DOC_MAX) || cbor_bytestring_length(v) == 0))
		rc = err_set(why, whysz, -EBADMSG, "Attestation: no document of 1 to %d bytes",
			  NSM_DOC_MAX);
	if (rc == 0) {
		*docn = cbor_bytestring_length(v);
		*doc = malloc(*docn);
		if (!*doc)
			rc = err_set(why, whysz, -ENOMEM, "out of memory");
		else
			memcpy(*doc, cbor_bytestring_handle(v), *docn);
	}
	CLOSE(top);
	return rc;
}

int nsm_dec_describe_pcr(const uint8_t *r, size_t n, bool *locked, uint8_t data[NSM_PCR_LEN],
			 char *why, size_t whysz)
{
	cbor_item_t *top, *f, *l = NULL, *d = NULL;
	int rc = response(r, n, "DescribePCR", &top, &f, why, whysz);

	if (rc == 0 && (!f || cbor_map_size(f) != 2 || !(l = attest_cbor_field(f, "lock")) || !cbor_is_bool(l) ||
			!(d = attest_cbor_field(f, "data")) || !bytes_max(d, NSM_PCR_LEN) ||
			cbor_bytestring_length(d) != NSM_PCR_LEN))
		rc = err_set(why, whysz, -EBADMSG, "DescribePCR: not {lock, data[%d]}", NSM_PCR_LEN);
	if (rc == 0) {
		*locked = cbor_get_bool(l);
		memcpy(data, cbor_bytestring_handle(d), NSM_PCR_LEN);
	}
	CLOSE(top);
	return rc;
}

int nsm_dec_extend_pcr(const uint8_t *r, size_t n, uint8_t data[NSM_PCR_LEN], char *why,
		       size_t whysz)
{
	cbor_item_t *top, *f, *d = NULL;
	int rc = response(r, n, "ExtendPCR", &top, &f, why, whysz);

	if (rc == 0 && (!f || cbor_map_size(f) != 1 || !(d = attest_cbor_field(f, "data")) ||
			!bytes_max(d, NSM_PCR_LEN) || cbor_bytestring_length(d) != NSM_PCR_LEN))
		rc = err_set(why, whysz, -EBADMSG, "ExtendPCR: not {data[%d]}", NSM_PCR_LEN);
	if (rc == 0)
		memcpy(data, cbor_bytestring_handle(d), NSM_PCR_LEN);
	CLOSE(top);
	return rc;
}

int nsm_dec_lock(const uint8_t *r, size_t n, char *why, size_t whysz)
{
	cbor_item_t *top, *f;
	int rc = response(r, n, "LockPCR", &top, &f, why, whysz);

	if (rc == -EBADMSG) {
		CLOSE(top);
		rc = response(r, n, "LockPCRs", &top, &f, why, whysz);
	}
	if (rc == 0 && f)
		rc = err_set(why, whysz, -EBADMSG, "LockPCR: fields in a unit response");
	CLOSE(top);
	return rc;
}

int nsm_dec_get_random(const uint8_t *r, size_t n, uint8_t *buf, size_t bufsz, size_t *got,
		       char *why, size_t whysz)
{
	cbor_item_t *top, *f, *d = NULL;
	int rc = response(r, n, "GetRandom", &top, &f, why, whysz);

	if (rc == 0 && (!f || cbor_map_size(f) != 1 || !(d = attest_cbor_field(f, "random")) ||
			!bytes_max(d, NSM_RANDOM_MAX)))
		rc = err_set(why, whysz, -EBADMSG, "GetRandom: not {random[<= %d]}", NSM_RANDOM_MAX);
	if (rc == 0) {
		*got = cbor_bytestring_length(d) < bufsz ? cbor_bytestring_length(d) : bufsz;
		memcpy(buf, cbor_bytestring_handle(d), *got);
	}
	CLOSE(top);
	return rc;
}

int nsm_dec_describe_nsm(const uint8_t *r, size_t n, struct nsm_description *d, char *why,
			 size_t whysz)
{
	cbor_item_t *top, *f, *v = NULL;
	uint64_t x = 0;
	int rc = response(r, n, "DescribeNSM", &top, &f, why, whysz);

	memset(d, 0, sizeof(*d));
	if (rc == 0 && (!f || cbor_map_size(f) != 7))
		rc = err_set(why, whysz, -EBADMSG, "DescribeNSM: not 7 fields");
	if (rc == 0 && (!uint_max(attest_cbor_field(f, "version_major"), UINT16_MAX, &x) ||
			!(d->version_major = (uint16_t)x, uint_max(attest_cbor_field(f, "version_minor"),
								   UINT16_MAX, &x)) ||
			!(d->version_minor = (uint16_t)x, uint_max(attest_cbor_field(f, "version_patch"),
								   UINT16_MAX, &x)) ||
			!(d->version_patch = (uint16_t)x,
			  uint_max(attest_cbor_field(f, "max_pcrs"), UINT16_MAX, &x))))
		rc = err_set(why, whysz, -EBADMSG, "DescribeNSM: a version or max_pcrs is not a u16");
	if (rc == 0)
		d->max_pcrs = (uint16_t)x;
	if (rc == 0) {
		v = attest_cbor_field(f, "module_id");
		if (!v || !cbor_isa_string(v) || !cbor_string_is_definite(v) ||
		    cbor_string_length(v) >= sizeof(d->module_id) ||
		    memchr(cbor_string_handle(v), 0, cbor_string_length(v)))
			rc = err_set(why, whysz, -EBADMSG, "DescribeNSM: module_id");
		else
			memcpy(d->module_id, cbor_string_handle(v), cbor_string_length(v));
	}
	if (rc == 0) {
		v = attest_cbor_field(f, "digest");
		if (!v || !cbor_isa_string(v) || !cbor_string_is_definite(v) ||
		    cbor_string_length(v) >= sizeof(d->digest) ||
		    memchr(cbor_string_handle(v), 0, cbor_string_length(v)))
			rc = err_set(why, whysz, -EBADMSG, "DescribeNSM: digest");
		else
			memcpy(d->digest, cbor_string_handle(v), cbor_string_length(v));
	}
	if (rc == 0) {
		v = attest_cbor_field(f, "locked_pcrs");
		if (!v || !cbor_isa_array(v) ||
		    cbor_array_size(v) > sizeof(d->locked_pcrs) / sizeof(d->locked_pcrs[0]))
			rc = err_set(why, whysz, -EBADMSG, "DescribeNSM: locked_pcrs");
		for (size_t i = 0; rc == 0 && i < cbor_array_size(v); i++) {
			if (!uint_max(cbor_array_handle(v)[i], UINT16_MAX, &x))
				rc = err_set(why, whysz, -EBADMSG, "DescribeNSM: locked_pcrs[%zu]", i);
			else
				d->locked_pcrs[d->nlocked++] = (uint16_t)x;
		}
	}
	CLOSE(top);
	return rc;
}

/* --- the device ----------------------------------------------------------------------- */

int nsm_open_device(struct nsm *n)
{
	n->dev = NULL;
	n->fd = open(NSM_DEV_PATH, O_RDWR | O_CLOEXEC);
	return n->fd < 0 ? -errno : 0;
}

void nsm_close(struct nsm *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

int nsm_raw(struct nsm *n, const uint8_t *req, size_t reqn, uint8_t *resp, size_t *respn)
{
	struct nsm_raw raw = { .request = { (uint64_t)(uintptr_t)req, reqn },
			       .response = { (uint64_t)(uintptr_t)resp, *respn } };

	if (reqn > NSM_REQUEST_MAX)
		return -EMSGSIZE;
	if (n->relay)
		return n->relay(n->relay_ud, req, reqn, resp, respn);
	if (n->dev)
		return devnsm_process(n->dev, req, reqn, resp, respn);
	if (n->fd < 0)
		return -EBADF;
	if (ioctl(n->fd, NSM_IOCTL_RAW, &raw) < 0)
		return -errno;
	/* The driver says how much it wrote: only that is the response. */
	if (raw.response.len > *respn)
		return -EBADMSG;
	*respn = (size_t)raw.response.len;
	return 0;
}

/* Sends req and returns the response in a malloc'd buffer. */
static int exchange(struct nsm *n, const uint8_t *req, size_t reqn, uint8_t **resp,
		    size_t *respn, char *why, size_t whysz)
{
	uint8_t *b = malloc(NSM_RESPONSE_MAX);
	size_t len = NSM_RESPONSE_MAX;
	int r;

	if (!b)
		return err_set(why, whysz, -ENOMEM, "out of memory");
	r = nsm_raw(n, req, reqn, b, &len);
	if (r < 0) {
		free(b);
		return err_set(why, whysz, r, "NSM request failed: %s", strerror(-r));
	}
	*resp = b;
	*respn = len;
	return 0;
}

int nsm_attestation(struct nsm *n, const uint8_t *user_data, size_t udn, const uint8_t *nonce,
		    size_t nn, const uint8_t *public_key, size_t pkn, uint8_t **doc, size_t *docn,
		    char *why, size_t whysz)
{
	uint8_t req[NSM_REQUEST_MAX], *resp;
	size_t reqn, respn;
	int r = nsm_enc_attestation(user_data, udn, nonce, nn, public_key, pkn, req, sizeof(req),
				    &reqn);

	if (r < 0)
		return err_set(why, whysz, r, "the attestation request is too large");
	r = exchange(n, req, reqn, &resp, &respn, why, whysz);
	if (r == 0) {
		r = nsm_dec_attestation(resp, respn, doc, docn, why, whysz);
		free(resp);
	}
	return r;
}

int nsm_describe_pcr(struct nsm *n, unsigned index, bool *locked, uint8_t data[NSM_PCR_LEN],
		     char *why, size_t whysz)
{
	uint8_t req[64], *resp;
	size_t reqn, respn;
	int r = nsm_enc_describe_pcr(index, req, sizeof(req), &reqn);

	if (r == 0)
		r = exchange(n, req, reqn, &resp, &respn, why, whysz);
	if (r == 0) {
		r = nsm_dec_describe_pcr(resp, respn, locked, data, why, whysz);
		free(resp);
	}
	return r;
}

int nsm_extend_pcr(struct nsm *n, unsigned index, const uint8_t *data, size_t dn,
		   uint8_t out[NSM_PCR_LEN], char *why, size_t whysz)
{
	uint8_t req[NSM_REQUEST_MAX], *resp;
	size_t reqn, respn;
	int r = nsm_enc_extend_pcr(index, data, dn, req, sizeof(req), &reqn);

	if (r < 0)
		return err_set(why, whysz, r, "the extension is too large");
	r = exchange(n, req, reqn, &resp, &respn, why, whysz);
	if (r == 0) {
		r = nsm_dec_extend_pcr(resp, respn, out, why, whysz);
		free(resp);
	}
	return r;
}

int nsm_lock_pcr(struct nsm *n, unsigned index, char *why, size_t whysz)
{
	uint8_t req[64], *resp;
	size_t reqn, respn;
	int r = nsm_enc_lock_pcr(index, req, sizeof(req), &reqn);

	if (r == 0)
		r = exchange(n, req, reqn, &resp, &respn, why, whysz);
	if (r == 0) {
		r = nsm_dec_lock(resp, respn, why, whysz);
		free(resp);
	}
	return r;
}

int nsm_get_random(struct nsm *n, uint8_t *buf, size_t bufsz, size_t *got, char *why,
		   size_t whysz)
{
	uint8_t req[32], *resp;
	size_t reqn, respn;
	int r = nsm_enc_get_random(req, sizeof(req), &reqn);

	if (r == 0)
		r = exchange(n, req, reqn, &resp, &respn, why, whysz);
	if (r == 0) {
		r = nsm_dec_get_random(resp, respn, buf, bufsz, got, why, whysz);
		free(resp);
	}
	return r;
}

int nsm_describe_nsm(struct nsm *n, struct nsm_description *d, char *why, size_t whysz)
{
	uint8_t req[32], *resp;
	size_t reqn, respn;
	int r = nsm_enc_describe_nsm(req, sizeof(req), &reqn);

	if (r == 0)
		r = exchange(n, req, reqn, &resp, &respn, why, whysz);
	if (r == 0) {
		r = nsm_dec_describe_nsm(resp, respn, d, why, whysz);
		free(resp);
	}
	return r;
}
