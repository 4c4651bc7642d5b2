/* The key process's filter of the NSM requests enclaved's main process
 * relays (keyd.h): what the process that parses host frames may ask of the
 * NSM. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>

#include <cbor.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cbor-util.h"
#include "keyd.h"
#include "nsm.h"
#include "util.h"

static bool is_null_or_absent(const cbor_item_t *m, const char *name)
{
	cbor_item_t *v = attest_cbor_field(m, name);

	return !v || (cbor_is_null(v));
}

int keyd_nsm_allowed(const uint8_t *req, size_t n, unsigned app_pcr, char *why, size_t whysz)
{
	struct cbor_load_result res;
	cbor_item_t *it = NULL, *body;
	struct cbor_pair *p;
	size_t used;
	int r = -EPERM;

	if (n == 0 || n > NSM_REQUEST_MAX || attest_cbor_check(req, n, 4, &used) < 0 || used != n)
		return err_set(why, whysz, -EBADMSG, "malformed NSM request");
	it = cbor_load(req, n, &res);
	if (!it || res.error.code != CBOR_ERR_NONE)
		return err_set(why, whysz, -EBADMSG, "malformed NSM request");
	if (cbor_isa_string(it)) {
		if (attest_cbor_text_is(it, "DescribeNSM") || attest_cbor_text_is(it, "GetRandom"))
			r = 0;
		else
			err_set(why, whysz, -EPERM, "NSM request not allowed");
		goto out;
	}
	if (!cbor_isa_map(it) || cbor_map_size(it) != 1) {
		r = err_set(why, whysz, -EBADMSG, "malformed NSM request");
		goto out;
	}
	p = cbor_map_handle(it);
	body = p[0].value;
	if (!cbor_isa_map(body)) {
		r = err_set(why, whysz, -EBADMSG, "malformed NSM request");
		goto out;
	}
	if (attest_cbor_text_is(p[0].key, "DescribePCR")) {
		r = 0;
	} else if (attest_cbor_text_is(p[0].key, "ExtendPCR")) {
		cbor_item_t *idx = attest_cbor_field(body, "index");

		if (idx && cbor_isa_uint(idx) && cbor_get_int(idx) == app_pcr)
			r = 0;
		else
			err_set(why, whysz, -EPERM, "only PCR%u may be extended", app_pcr);
	} else if (attest_cbor_text_is(p[0].key, "Attestation")) {
		cbor_item_t *pk = attest_cbor_field(body, "public_key");
		const unsigned char *q;
		EVP_PKEY *k = NULL;

		/* An RSA key in a document is what KMS encrypts a data key to:
		 * only keyd's own may go there. */
		if (pk && cbor_isa_bytestring(pk) && cbor_bytestring_is_definite(pk) &&
		    is_null_or_absent(body, "user_data")) {
			q = cbor_bytestring_handle(pk);
			k = d2i_PUBKEY(NULL, &q, (long)cbor_bytestring_length(pk));
		}
		if (k && EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
		    q == cbor_bytestring_handle(pk) + cbor_bytestring_length(pk))
			r = 0;
		else
			err_set(why, whysz, -EPERM,
				"attestation only for an EC session key, without user data");
		EVP_PKEY_free(k);
	} else {
		err_set(why, whysz, -EPERM, "NSM request not allowed");
	}
out:
	cbor_decref(&it);
	return r;
}

