/* The "kms" key provider (kmsprov.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "bodybuf.h"
#include "cms.h"
#include "creds.h"
#include "kms.h"
#include "kmsprov.h"
#include "log.h"
#include "package.h"
#include "util.h"

struct kmsprov {
	struct key_provider kp;
	struct kms_config cfg;
	char endpoint[512], proxy[160], ca[4096];
	struct nsm *nsm;
	pthread_mutex_t lock; /* creds, host_region, last_error */
	struct aws_creds creds;
	bool have_creds;
	char host_region[AWS_REGION_MAX];
	char last_error[512];
	unsigned long calls;
};

/* Replaces *c with the provider's credentials if the host sent others. */
static bool fresher_creds(struct kmsprov *p, struct aws_creds *c)
{
	bool changed = false;

	pthread_mutex_lock(&p->lock);
	if (p->have_creds && strcmp(p->creds.access_key_id, c->access_key_id) != 0) {
		aws_creds_wipe(c);
		*c = p->creds;
		changed = true;
	}
	pthread_mutex_unlock(&p->lock);
	return changed;
}

static int unwrap(struct key_provider *kp, const struct pkg_key *key,
		  uint8_t dek[static PKG_DEK_LEN], char *err, size_t errsz)
{
	struct kmsprov *p = (struct kmsprov *)kp;
	struct kms_config cfg = p->cfg;
	struct kms_decrypted d = { 0 };
	struct aws_creds *c = NULL;
	unsigned char *spki = NULL;
	uint8_t *doc = NULL;
	char text[256];
	EVP_PKEY *rsa = NULL;
	size_t docn = 0, got = 0;
	int spkin, r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_lock(&p->lock);
	if (p->have_creds)
		*c = p->creds;
	if (!cfg.region[0])
		memcpy(cfg.region, p->host_region, sizeof(cfg.region));
	p->calls++;
	pthread_mutex_unlock(&p->lock);
	if (!c->access_key_id[0]) {
		r = err_set(err, errsz, -ENOKEY,
			    "no AWS credentials yet: the host sends them (enclave-fs "
			    "--aws-credentials imds|env|profile)");
		goto out;
	}
	if (c->expiration && c->expiration <= (int64_t)time(NULL)) {
		r = err_set(err, errsz, -EKEYEXPIRED,
			    "the AWS credentials from the host expired: the host did not refresh them");
		goto out;
	}
	rsa = EVP_RSA_gen(2048);
	spkin = rsa ? i2d_PUBKEY(rsa, &spki) : -1;
	if (spkin <= 0) {
		r = err_set(err, errsz, -ENOMEM, "cannot make the recipient key");
		goto out;
	}
	r = nsm_attestation(p->nsm, NULL, 0, NULL, 0, spki, (size_t)spkin, &doc, &docn, text,
			    sizeof(text));
	if (r < 0) {
		err_set(err, errsz, r, "the NSM gave no attestation: %s", text);
		goto out;
	}
	r = kms_decrypt_recipient(&cfg, c, key->wrapped, key->wrapped_len, key->id,
				  key->context_json, doc, docn, &d, err, errsz);
	if (r == -EACCES && fresher_creds(p, c)) {
		/* They expired while we asked, and the host has sent new ones. */
		kms_decrypted_release(&d);
		r = kms_decrypt_recipient(&cfg, c, key->wrapped, key->wrapped_len, key->id,
					  key->context_json, doc, docn, &d, err, errsz);
	}
	if (r < 0)
		goto out;
	r = cms_decrypt(d.cfr, d.cfr_len, rsa, dek, PKG_DEK_LEN, &got, text, sizeof(text));
	if (r == 0 && got != PKG_DEK_LEN)
		r = -EKEYREJECTED;
	if (r < 0) {
		OPENSSL_cleanse(dek, PKG_DEK_LEN);
		err_set(err, errsz, r, "cannot open KMS's CiphertextForRecipient: %s",
			r == -EKEYREJECTED && got != PKG_DEK_LEN && got ? "not a 32-byte key" : text);
	}
out:
	if (r < 0) {
		pthread_mutex_lock(&p->lock);
		snprintf(p->last_error, sizeof(p->last_error), "%s", err);
		pthread_mutex_unlock(&p->lock);
	}
	kms_decrypted_release(&d);
	free(doc);
	OPENSSL_free(spki);
	EVP_PKEY_free(rsa);
	aws_creds_wipe(c);
	free(c);
	return r;
}

static void provider_free(struct key_provider *kp)
{
	struct kmsprov *p = (struct kmsprov *)kp;

	aws_creds_wipe(&p->creds);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int kms_provider_new(const struct keyd_config *cfg, struct nsm *nsm, struct key_provider **out,
		     char *why, size_t whysz)
{
	struct kmsprov *p;

	*out = NULL;
	if (cfg->kms_proxy && kms_proxy_valid(cfg->kms_proxy) < 0)
		return err_set(why, whysz, -EINVAL, "--kms-proxy %s: expected vsock:CID:PORT or unix:PATH",
			       cfg->kms_proxy);
	if (cfg->region && !aws_region_valid(cfg->region))
		return err_set(why, whysz, -EINVAL, "--region %s: not an AWS region", cfg->region);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->kp.name = "kms";
	p->kp.unwrap = unwrap;
	p->kp.free = provider_free;
	p->nsm = nsm;
	pthread_mutex_init(&p->lock, NULL);
	if (cfg->region)
		snprintf(p->cfg.region, sizeof(p->cfg.region), "%s", cfg->region);
	if (cfg->kms_endpoint) {
		snprintf(p->endpoint, sizeof(p->endpoint), "%s", cfg->kms_endpoint);
		p->cfg.endpoint = p->endpoint;
	}
	if (cfg->kms_proxy) {
		snprintf(p->proxy, sizeof(p->proxy), "%s", cfg->kms_proxy);
		p->cfg.proxy = p->proxy;
	}
	if (cfg->kms_ca) {
		snprintf(p->ca, sizeof(p->ca), "%s", cfg->kms_ca);
		p->cfg.ca_file = p->ca;
	}
	*out = &p->kp;
	return 0;
}

static int str_field(json_t *o, const char *name, char *out, size_t outsz, bool required)
{
	json_t *v = json_object_get(o, name);
	const char *s;

	if (!v || json_is_null(v)) {
		out[0] = '\0';
		return required ? -EBADMSG : 0;
	}
	if (!json_is_string(v))
		return -EBADMSG;
	s = json_string_value(v);
	if (json_string_length(v) >= outsz || strlen(s) != json_string_length(v))
		return -EBADMSG;
	memcpy(out, s, json_string_length(v) + 1);
	return 0;
}

int kms_provider_set_creds(struct key_provider *kp, const char *json, size_t n, char *why,
			   size_t whysz)
{
	struct kmsprov *p = (struct kmsprov *)kp;
	struct aws_creds c;
	char region[AWS_REGION_MAX];
	json_error_t e;
	json_t *o = json_loadb(json, n, JSON_REJECT_DUPLICATES, &e), *exp;
	int r = -EBADMSG;

	memset(&c, 0, sizeof(c));
	if (!json_is_object(o))
		goto out;
	exp = json_object_get(o, "expiration");
	if (str_field(o, "access_key_id", c.access_key_id, sizeof(c.access_key_id), true) < 0 ||
	    str_field(o, "secret_access_key", c.secret_access_key, sizeof(c.secret_access_key),
		      true) < 0 ||
	    str_field(o, "session_token", c.session_token, sizeof(c.session_token), false) < 0 ||
	    str_field(o, "region", region, sizeof(region), false) < 0 || !c.access_key_id[0] ||
	    !c.secret_access_key[0] || (region[0] && !aws_region_valid(region)) ||
	    (exp && !json_is_integer(exp)) || (exp && json_integer_value(exp) < 0))
		goto out;
	c.expiration = exp ? (int64_t)json_integer_value(exp) : 0;
	pthread_mutex_lock(&p->lock);
	aws_creds_wipe(&p->creds);
	p->creds = c;
	p->have_creds = true;
	if (region[0])
		memcpy(p->host_region, region, sizeof(region));
	pthread_mutex_unlock(&p->lock);
	log_info("AWS credentials %.8s... from the host%s", c.access_key_id,
		 c.expiration ? "" : " (no expiry)");
	r = 0;
out:
	if (r < 0)
		err_set(why, whysz, r, "malformed credentials message");
	aws_creds_wipe(&c);
	json_wipe_decref(o);
	return r;
}

json_t *kms_provider_status(struct key_provider *kp)
{
	struct kmsprov *p = (struct kmsprov *)kp;
	struct kms_stats st;
	json_t *o, *c = json_null();

	kms_stats_get(&st);
	pthread_mutex_lock(&p->lock);
	if (p->have_creds)
		c = json_pack("{s:s#, s:I}", "access_key_id", p->creds.access_key_id,
			      (int)(strlen(p->creds.access_key_id) < 8 ? strlen(p->creds.access_key_id) : 8),
			      "expires", (json_int_t)p->creds.expiration);
	o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:s}", "region",
		      p->cfg.region[0] ? p->cfg.region : p->host_region, "endpoint",
		      p->cfg.endpoint ? p->cfg.endpoint : "", "proxy", p->cfg.proxy ? p->cfg.proxy : "",
		      "credentials", c, "calls", (json_int_t)st.requests, "retries",
		      (json_int_t)st.retries, "failures", (json_int_t)st.failures, "last_error",
		      p->last_error);
	pthread_mutex_unlock(&p->lock);
	return o;
}
