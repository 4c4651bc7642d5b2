/* libFuzzer harness for the attestation document decoder (attest/attest.h):
 * the input is a document as an enclave (or anyone on its socket) would
 * send it. What decodes must respect every bound the header promises; the
 * verifier then runs on it at a fixed time. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "attest.h"
#include "cbor-util.h"
#include "fuzz.h"

static volatile uint8_t sink;

static void check_bytes(const struct attest_bytes *b, size_t max)
{
	if (b->n > max || (b->n && !b->p))
		abort();
	/* every byte readable (a sanitizer build catches an overrun) */
	for (size_t i = 0; i < b->n; i++)
		sink ^= b->p[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attest_policy p = { .at_ms = 1725719859545LL, .allow_debug = true };
	struct attest_doc d;
	char why[256];
	size_t used;
	int r;

	if (attest_cbor_check(data, size, 16, &used) == 0 && used > size)
		abort();
	why[0] = 0;
	r = attest_decode(data, size, &d, why, sizeof(why));
	if (r != 0 && (r != -EBADMSG || !why[0] || d.storage))
		abort();
	if (r == 0) {
		if ((d.npcrs != 16 && d.npcrs != 32) || d.ncabundle < 1 ||
		    d.ncabundle > ATTEST_CABUNDLE_MAX ||
		    strnlen(d.module_id, sizeof(d.module_id)) > ATTEST_MODULE_ID_MAX ||
		    strnlen(d.digest, sizeof(d.digest)) >= sizeof(d.digest))
			abort();
		check_bytes(&d.certificate, ATTEST_CERT_MAX);
		for (size_t i = 0; i < d.ncabundle; i++)
			check_bytes(&d.cabundle[i], ATTEST_CERT_MAX);
		check_bytes(&d.public_key, ATTEST_FIELD_MAX);
		check_bytes(&d.user_data, ATTEST_FIELD_MAX);
		check_bytes(&d.nonce, ATTEST_FIELD_MAX);
		attest_doc_release(&d);
		r = attest_verify(data, size, &p, &d, why, sizeof(why));
		if (r == 0 || r == -EKEYREJECTED)
			attest_doc_release(&d);
		else if (d.storage)
			abort();
	}
	return 0;
}
