/* The development NSM (devnsm.h): the NSM's requests answered in process,
 * attestation documents signed for real with a development chain. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cbor.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest.h"
#include "cbor-util.h"
#include "cborw.h"
#include "devnsm.h"
#include "nsm.h"
#include "util.h"

#define NPCRS 32
#define LOCKED_AT_BOOT 16
#define RANDOM_LEN 256
#define EXTEND_MAX 4096
#define LEAF_HOURS 3

struct devnsm {
	pthread_mutex_t mu; /* protects pcr and locked */
	uint8_t pcr[NPCRS][NSM_PCR_LEN];
	bool locked[NPCRS];
	char module_id[32];
	EVP_PKEY *leaf_key;
	uint8_t *leaf_der, *inter_der, *root_der;
	int leaf_n, inter_n, root_n;
};

/* --- certificates --------------------------------------------------------------------- */

static bool add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	bool ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = e && X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

/* A certificate for key, signed by issuer_key (issuer NULL: self-signed). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		       long valid_s, const char *constraints, const char *usage)
{
	X509 *x = X509_new();
	uint8_t serial[16];
	BIGNUM *bn = NULL;

	if (!x || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), valid_s) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)) ||
	    !X509_set_pubkey(x, key) ||
	    !add_ext(x, issuer ? issuer : x, NID_basic_constraints, constraints) ||
	    !add_ext(x, issuer ? issuer : x, NID_key_usage, usage) ||
	    !add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash") ||
	    !X509_sign(x, issuer_key, EVP_sha384()))
		goto fail;
	BN_free(bn);
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

/* Writes data to dir/name with mode, whole or not at all. */
static int write_file(const char *dir, const char *name, mode_t mode,
		      int (*writer)(FILE *, void *), void *arg)
{
	char path[4096], tmp[4096];
	FILE *f = NULL;
	int fd, r = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0 || !(f = fdopen(fd, "w")) || !writer(f, arg) || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0)
		r = errno ? -errno : -EIO;
	if (f)
		r = fclose(f) != 0 && r == 0 ? -errno : r;
	else
		close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

static int write_key(FILE *f, void *k)
{
	return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}

static int write_cert(FILE *f, void *x)
{
	return PEM_write_X509(f, x);
}

int devroot_create(const char *dir, char *why, size_t whysz)
{
	char path[4096];
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	struct stat st;
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(why, whysz, "%s: %s", dir, strerror(-r));
		return r;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, DEVROOT_KEY);
	if (lstat(path, &st) == 0) {
		snprintf(why, whysz, "%s already holds a development root", dir);
		return -EEXIST;
	}
	k = EVP_EC_gen("P-384");
	x = k ? make_cert(k, "enclave-fs development root", NULL, k, 10L * 365 * 86400,
			  "critical,CA:TRUE", "critical,keyCertSign,cRLSign")
	      : NULL;
	if (!x) {
		r = -ENOMEM;
		snprintf(why, whysz, "cannot make the development root");
		goto out;
	}
	/* The certificate first: a root.key without root.pem would stop a
	 * second attempt. */
	r = write_file(dir, DEVROOT_CERT, 0644, write_cert, x);
	if (r == 0)
		r = write_file(dir, DEVROOT_KEY, 0600, write_key, k);
	if (r < 0)
		snprintf(why, whysz, "%s: cannot write the development root: %s", dir, strerror(-r));
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return r;
}

static int load_root(const char *dir, EVP_PKEY **k, X509 **x, char *why, size_t whysz)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, DEVROOT_KEY);
	f = fopen(path, "re");
	*k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/%s", dir, DEVROOT_CERT);
	f = fopen(path, "re");
	*x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!*k || !*x || X509_check_private_key(*x, *k) != 1) {
		EVP_PKEY_free(*k);
		X509_free(*x);
		return err_set(why, whysz, -EINVAL, "%s: no development root (%s and %s; enclave-seal dev-root)",
			    dir, DEVROOT_KEY, DEVROOT_CERT);
	}
	return 0;
}

int devnsm_new(const struct devnsm_config *cfg, struct devnsm **out, char *why, size_t whysz)
{
	struct devnsm *d = calloc(1, sizeof(*d));
	EVP_PKEY *rk = NULL, *ik = NULL;
	X509 *rx = NULL, *ix = NULL, *lx = NULL;
	uint8_t id[8];
	char cn[64];
	int r;

	if (!d)
		return -ENOMEM;
	pthread_mutex_init(&d->mu, NULL);
	r = load_root(cfg->root_dir, &rk, &rx, why, whysz);
	if (r < 0)
		goto fail;
	RAND_bytes(id, sizeof(id));
	snprintf(d->module_id, sizeof(d->module_id), "dev-%02x%02x%02x%02x%02x%02x%02x%02x", id[0],
		 id[1], id[2], id[3], id[4], id[5], id[6], id[7]);
	ik = EVP_EC_gen("P-384");
	d->leaf_key = EVP_EC_gen("P-384");
	snprintf(cn, sizeof(cn), "%s.development.enclave-fs", d->module_id);
	ix = ik ? make_cert(ik, "enclave-fs development intermediate", rx, rk, 20L * 86400,
			    "critical,CA:TRUE,pathlen:0", "critical,keyCertSign,cRLSign")
		: NULL;
	lx = ix && d->leaf_key ? make_cert(d->leaf_key, cn, ix, ik, LEAF_HOURS * 3600L,
					   "critical,CA:FALSE", "critical,digitalSignature,nonRepudiation")
			       : NULL;
	r = -ENOMEM;
	if (!lx) {
		err_set(why, whysz, -EINVAL, "cannot make the development certificates");
		goto fail;
	}
	d->root_der = NULL;
	d->inter_der = NULL;
	d->leaf_der = NULL;
	d->root_n = i2d_X509(rx, &d->root_der);
	d->inter_n = i2d_X509(ix, &d->inter_der);
	d->leaf_n = i2d_X509(lx, &d->leaf_der);
	if (d->root_n <= 0 || d->inter_n <= 0 || d->leaf_n <= 0)
		goto fail;
	memcpy(d->pcr[0], cfg->pcr0, NSM_PCR_LEN);
	memcpy(d->pcr[1], cfg->pcr1, NSM_PCR_LEN);
	memcpy(d->pcr[2], cfg->pcr2, NSM_PCR_LEN);
	for (int i = 0; i < LOCKED_AT_BOOT; i++)
		d->locked[i] = true;
	r = 0;
	*out = d;
	d = NULL;
fail:
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	X509_free(rx);
	X509_free(ix);
	X509_free(lx);
	devnsm_free(d);
	return r;
}

void devnsm_free(struct devnsm *d)
{
	if (!d)
		return;
	EVP_PKEY_free(d->leaf_key);
	OPENSSL_free(d->leaf_der);
	OPENSSL_free(d->inter_der);
	OPENSSL_free(d->root_der);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

int devnsm_hash_file(const char *path, uint8_t out[48])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t buf[65536];
	unsigned int n = 48;
	ssize_t k;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0 || !c || !EVP_DigestInit_ex(c, EVP_sha384(), NULL)) {
		r = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	while ((k = read(fd, buf, sizeof(buf))) > 0)
		if (!EVP_DigestUpdate(c, buf, (size_t)k)) {
			r = -EIO;
			goto out;
		}
	if (k < 0 || !EVP_DigestFinal_ex(c, out, &n))
		r = k < 0 ? -errno : -EIO;
out:
	EVP_MD_CTX_free(c);
	if (fd >= 0)
		close(fd);
	return r;
}

/* --- answering --------------------------------------------------------------------------- */

/* An optional byte field: present as bytes (at most max) or null/absent. */
static bool opt_bytes(const cbor_item_t *m, const char *name, size_t max, const uint8_t **p,
		      size_t *n)
{
	const cbor_item_t *v = attest_cbor_field(m, name);

	*p = NULL;
	*n = 0;
	if (!v || cbor_is_null(v))
		return true;
	if (!cbor_isa_bytestring(v) || !cbor_bytestring_is_definite(v) ||
	    cbor_bytestring_length(v) > max)
		return false;
	*p = cbor_bytestring_handle(v);
	*n = cbor_bytestring_length(v);
	if (!*p)
		*p = (const uint8_t *)"";
	return true;
}

static bool index_of(const cbor_item_t *m, const char *name, uint64_t *v)
{
	const cbor_item_t *x = attest_cbor_field(m, name);

	if (!x || !cbor_isa_uint(x))
		return false;
	*v = cbor_get_int(x);
	return true;
}

static void error_response(struct cbw *w, const char *code)
{
	cbw_map(w, 1);
	cbw_text(w, "Error");
	cbw_text(w, code);
}

/* Signs the document's payload: COSE_Sign1 [h'a1013822', {}, payload, r||s]. */
static int sign_document(struct devnsm *d, const uint8_t *payload, size_t pn, struct cbw *w)
{
	static const uint8_t prot[] = { 0xa1, 0x01, 0x38, 0x22 };
	uint8_t *tbs = malloc(pn + 32), sig[96], *der = NULL;
	struct cbw t;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	ECDSA_SIG *es = NULL;
	size_t tn = 0, dn = 0;
	int r = -EIO;

	if (!tbs || !c)
		goto out;
	cbw_init(&t, tbs, pn + 32);
	cbw_array(&t, 4);
	cbw_text(&t, "Signature1");
	cbw_bytes(&t, prot, sizeof(prot));
	cbw_bytes(&t, "", 0);
	cbw_bytes(&t, payload, pn);
	if (cbw_done(&t, &tn) < 0 || EVP_DigestSignInit(c, NULL, EVP_sha384(), NULL, d->leaf_key) != 1 ||
	    EVP_DigestSign(c, NULL, &dn, tbs, tn) != 1 || !(der = OPENSSL_malloc(dn)) ||
	    EVP_DigestSign(c, der, &dn, tbs, tn) != 1)
		goto out;
	{
		const unsigned char *q = der;
		const BIGNUM *br, *bs;

		es = d2i_ECDSA_SIG(NULL, &q, (long)dn);
		if (!es)
			goto out;
		ECDSA_SIG_get0(es, &br, &bs);
		if (BN_bn2binpad(br, sig, 48) != 48 || BN_bn2binpad(bs, sig + 48, 48) != 48)
			goto out;
	}
	cbw_array(w, 4);
	cbw_bytes(w, prot, sizeof(prot));
	cbw_map(w, 0);
	cbw_bytes(w, payload, pn);
	cbw_bytes(w, sig, sizeof(sig));
	r = 0;
out:
	ECDSA_SIG_free(es);
	OPENSSL_free(der);
	EVP_MD_CTX_free(c);
	free(tbs);
	return r;
}

static int attestation(struct devnsm *d, const cbor_item_t *m, struct cbw *w)
{
	const uint8_t *ud, *nonce, *pk;
	size_t udn, nn, pkn, pn;
	uint8_t *payload;
	struct cbw p;
	struct timespec ts;
	int r;

	if (!opt_bytes(m, "user_data", ATTEST_FIELD_MAX, &ud, &udn) ||
	    !opt_bytes(m, "nonce", ATTEST_FIELD_MAX, &nonce, &nn) ||
	    !opt_bytes(m, "public_key", ATTEST_FIELD_MAX, &pk, &pkn)) {
		error_response(w, "InputTooLarge");
		return 0;
	}
	payload = malloc(ATTEST_DOC_MAX);
	if (!payload)
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &ts);
	cbw_init(&p, payload, ATTEST_DOC_MAX);
	cbw_map(&p, 9);
	cbw_text(&p, "module_id");
	cbw_text(&p, d->module_id);
	cbw_text(&p, "digest");
	cbw_text(&p, "SHA384");
	cbw_text(&p, "timestamp");
	cbw_uint(&p, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
	cbw_text(&p, "pcrs");
	cbw_map(&p, NPCRS);
	pthread_mutex_lock(&d->mu);
	for (unsigned i = 0; i < NPCRS; i++) {
		cbw_uint(&p, i);
		cbw_bytes(&p, d->pcr[i], NSM_PCR_LEN);
	}
	pthread_mutex_unlock(&d->mu);
	cbw_text(&p, "certificate");
	cbw_bytes(&p, d->leaf_der, (size_t)d->leaf_n);
	cbw_text(&p, "cabundle");
	cbw_array(&p, 2);
	cbw_bytes(&p, d->root_der, (size_t)d->root_n);
	cbw_bytes(&p, d->inter_der, (size_t)d->inter_n);
	cbw_text(&p, "public_key");
	cbw_opt_bytes(&p, pk, pkn);
	cbw_text(&p, "user_data");
	cbw_opt_bytes(&p, ud, udn);
	cbw_text(&p, "nonce");
	cbw_opt_bytes(&p, nonce, nn);
	if (cbw_done(&p, &pn) < 0) {
		free(payload);
		error_response(w, "InputTooLarge");
		return 0;
	}
	cbw_map(w, 1);
	cbw_text(w, "Attestation");
	cbw_map(w, 1);
	cbw_text(w, "document");
	/* The document's byte string head: its length is known once signed,
	 * so the document is built aside first. */
	{
		uint8_t *doc = malloc(ATTEST_DOC_MAX + 256);
		struct cbw dw;
		size_t dn;

		if (!doc) {
			free(payload);
			return -ENOMEM;
		}
		cbw_init(&dw, doc, ATTEST_DOC_MAX + 256);
		r = sign_document(d, payload, pn, &dw);
		if (r == 0 && cbw_done(&dw, &dn) == 0)
			cbw_bytes(w, doc, dn);
		else if (r == 0)
			r = -EMSGSIZE;
		free(doc);
	}
	free(payload);
	return r;
}

static void pcr_data(struct cbw *w, const char *variant, const uint8_t v[NSM_PCR_LEN], int lock)
{
	cbw_map(w, 1);
	cbw_text(w, variant);
	cbw_map(w, lock >= 0 ? 2 : 1);
	if (lock >= 0) {
		cbw_text(w, "lock");
		cbw_bool(w, lock);
	}
	cbw_text(w, "data");
	cbw_bytes(w, v, NSM_PCR_LEN);
}

static int answer(struct devnsm *d, const cbor_item_t *req, struct cbw *w)
{
	const cbor_item_t *m;
	struct cbor_pair *p;
	uint64_t idx;

	if (attest_cbor_text_is(req, "GetRandom")) {
		uint8_t rnd[RANDOM_LEN];

		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return -EIO;
		cbw_map(w, 1);
		cbw_text(w, "GetRandom");
		cbw_map(w, 1);
		cbw_text(w, "random");
		cbw_bytes(w, rnd, sizeof(rnd));
		return 0;
	}
	if (attest_cbor_text_is(req, "DescribeNSM")) {
		unsigned nlocked = 0;

		cbw_map(w, 1);
		cbw_text(w, "DescribeNSM");
		cbw_map(w, 7);
		cbw_text(w, "version_major");
		cbw_uint(w, 1);
		cbw_text(w, "version_minor");
		cbw_uint(w, 0);
		cbw_text(w, "version_patch");
		cbw_uint(w, 0);
		cbw_text(w, "module_id");
		cbw_text(w, d->module_id);
		cbw_text(w, "max_pcrs");
		cbw_uint(w, NPCRS);
		cbw_text(w, "locked_pcrs");
		pthread_mutex_lock(&d->mu);
		for (unsigned i = 0; i < NPCRS; i++)
			nlocked += d->locked[i];
		cbw_array(w, nlocked);
		for (unsigned i = 0; i < NPCRS; i++)
			if (d->locked[i])
				cbw_uint(w, i);
		pthread_mutex_unlock(&d->mu);
		cbw_text(w, "digest");
		cbw_text(w, "SHA384");
		return 0;
	}
	if (!cbor_isa_map(req) || cbor_map_size(req) != 1 ||
	    !cbor_isa_map((p = cbor_map_handle(req))[0].value)) {
		error_response(w, "InvalidArgument");
		return 0;
	}
	m = p[0].value;
	if (attest_cbor_text_is(p[0].key, "Attestation"))
		return attestation(d, m, w);
	if (attest_cbor_text_is(p[0].key, "DescribePCR") || attest_cbor_text_is(p[0].key, "ExtendPCR") ||
	    attest_cbor_text_is(p[0].key, "LockPCR")) {
		bool extend = attest_cbor_text_is(p[0].key, "ExtendPCR"), lock = attest_cbor_text_is(p[0].key, "LockPCR");
		const uint8_t *data = NULL;
		size_t dn = 0;

		if (!index_of(m, "index", &idx) ||
		    (extend && (!opt_bytes(m, "data", EXTEND_MAX, &data, &dn) || !data))) {
			error_response(w, "InvalidArgument");
			return 0;
		}
		if (idx >= NPCRS) {
			error_response(w, "InvalidIndex");
			return 0;
		}
		pthread_mutex_lock(&d->mu);
		if (extend && d->locked[idx]) {
			pthread_mutex_unlock(&d->mu);
			error_response(w, "ReadOnlyIndex");
			return 0;
		}
		if (extend) {
			EVP_MD_CTX *c = EVP_MD_CTX_new();
			unsigned int n = NSM_PCR_LEN;
			bool ok = c && EVP_DigestInit_ex(c, EVP_sha384(), NULL) &&
				  EVP_DigestUpdate(c, d->pcr[idx], NSM_PCR_LEN) &&
				  EVP_DigestUpdate(c, data, dn) && EVP_DigestFinal_ex(c, d->pcr[idx], &n);

			EVP_MD_CTX_free(c);
			if (!ok) {
				pthread_mutex_unlock(&d->mu);
				return -EIO;
			}
			pcr_data(w, "ExtendPCR", d->pcr[idx], -1);
		} else if (lock) {
			d->locked[idx] = true;
			cbw_text(w, "LockPCR");
		} else {
			pcr_data(w, "DescribePCR", d->pcr[idx], d->locked[idx]);
		}
		pthread_mutex_unlock(&d->mu);
		return 0;
	}
	if (attest_cbor_text_is(p[0].key, "LockPCRs")) {
		if (!index_of(m, "range", &idx)) {
			error_response(w, "InvalidArgument");
			return 0;
		}
		if (idx > NPCRS) {
			error_response(w, "InvalidIndex");
			return 0;
		}
		pthread_mutex_lock(&d->mu);
		for (uint64_t i = 0; i < idx; i++)
			d->locked[i] = true;
		pthread_mutex_unlock(&d->mu);
		cbw_text(w, "LockPCRs");
		return 0;
	}
	error_response(w, "InvalidArgument");
	return 0;
}

int devnsm_process(struct devnsm *d, const uint8_t *req, size_t reqn, uint8_t *resp,
		   size_t *respn)
{
	uint8_t *buf = malloc(NSM_RESPONSE_MAX + ATTEST_DOC_MAX);
	struct cbor_load_result lr;
	cbor_item_t *it = NULL;
	struct cbw w;
	size_t n;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	cbw_init(&w, buf, NSM_RESPONSE_MAX + ATTEST_DOC_MAX);
	if (reqn == 0 || reqn > NSM_REQUEST_MAX) {
		error_response(&w, reqn ? "InputTooLarge" : "InvalidArgument");
	} else {
		size_t used;

		/* Before libcbor sizes anything from a header. */
		if (attest_cbor_check(req, reqn, 8, &used) == 0 && used == reqn)
			it = cbor_load(req, reqn, &lr);
		if (!it || lr.error.code != CBOR_ERR_NONE || lr.read != reqn)
			error_response(&w, "InvalidArgument");
		else
			r = answer(d, it, &w);
	}
	if (it)
		cbor_decref(&it);
	if (r == 0 && cbw_done(&w, &n) < 0)
		r = -EMSGSIZE;
	if (r == 0) {
		/* Like the driver: as much as the caller's buffer holds. */
		if (n > *respn)
			n = *respn;
		memcpy(resp, buf, n);
		*respn = n;
	}
	free(buf);
	return r;
}
