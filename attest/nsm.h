/* The Nitro Security Module, as a client sees it: requests and responses in
 * CBOR (the externally tagged encoding the NSM uses: a unit request is a bare
 * text string, a request with fields a one-entry map {"Name": {field: value}}),
 * carried by ioctl(NSM_IOCTL_RAW) on /dev/nsm, or handed to the in-process
 * development NSM (devnsm.h).
 *
 * The codec functions are pure (no I/O) so tests can compare them with golden
 * bytes; nsm_* calls do the round trip. Responses are decoded from exactly the
 * bytes the device returned (response.len after the ioctl), every field
 * bounded. Functions return 0 or a negative errno: -EBADMSG for a malformed
 * response, -EPROTO for an NSM error response (its name in why), -EMSGSIZE
 * for a request over NSM_REQUEST_MAX. */
#ifndef EFS_NSM_H
#define EFS_NSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NSM_REQUEST_MAX 0x1000
#define NSM_RESPONSE_MAX 0x3000
#define NSM_PCR_LEN 48
#define NSM_DEV_PATH "/dev/nsm"

/* How requests reach an NSM: the device fd, an in-process handler, or a
 * relay to the process that holds one (enclaved's key process, keyd.h). */
struct devnsm;
struct nsm {
	int fd;              /* /dev/nsm, or -1 */
	struct devnsm *dev;  /* the development NSM, or NULL */
	int (*relay)(void *ud, const uint8_t *req, size_t reqn, uint8_t *resp, size_t *respn);
	void *relay_ud;      /* relay: NULL or the relay's function and data */
};

/* Opens /dev/nsm (O_RDWR|O_CLOEXEC). */
int nsm_open_device(struct nsm *n);
void nsm_close(struct nsm *n); /* closes the fd; does not free dev */

/* One raw exchange: req[reqn] in, up to *respn bytes out; *respn becomes the
 * length the NSM returned. */
int nsm_raw(struct nsm *n, const uint8_t *req, size_t reqn, uint8_t *resp, size_t *respn);

/* Request encoders: write into out[outsz], set *outn. -EMSGSIZE if too small
 * or over NSM_REQUEST_MAX. Optional byte fields: p == NULL encodes null. */
int nsm_enc_attestation(const uint8_t *user_data, size_t udn, const uint8_t *nonce, size_t nn,
			const uint8_t *public_key, size_t pkn, uint8_t *out, size_t outsz, size_t *outn);
int nsm_enc_describe_pcr(unsigned index, uint8_t *out, size_t outsz, size_t *outn);
int nsm_enc_extend_pcr(unsigned index, const uint8_t *data, size_t n, uint8_t *out, size_t outsz,
		       size_t *outn);
int nsm_enc_lock_pcr(unsigned index, uint8_t *out, size_t outsz, size_t *outn);
int nsm_enc_lock_pcrs(unsigned range, uint8_t *out, size_t outsz, size_t *outn);
int nsm_enc_get_random(uint8_t *out, size_t outsz, size_t *outn);
int nsm_enc_describe_nsm(uint8_t *out, size_t outsz, size_t *outn);

/* The NSM's view of itself (DescribeNSM). */
struct nsm_description {
	uint16_t version_major, version_minor, version_patch;
	char module_id[129];
	uint16_t max_pcrs;
	uint16_t locked_pcrs[64];
	size_t nlocked;
	char digest[16];
};

/* Response decoders (pure). */
int nsm_dec_attestation(const uint8_t *r, size_t n, uint8_t **doc, size_t *docn, char *why,
			size_t whysz); /* *doc malloc'd */
int nsm_dec_describe_pcr(const uint8_t *r, size_t n, bool *locked, uint8_t data[NSM_PCR_LEN],
			 char *why, size_t whysz);
int nsm_dec_extend_pcr(const uint8_t *r, size_t n, uint8_t data[NSM_PCR_LEN], char *why,
		       size_t whysz);
int nsm_dec_lock(const uint8_t *r, size_t n, char *why, size_t whysz); /* LockPCR, LockPCRs */
int nsm_dec_get_random(const uint8_t *r, size_t n, uint8_t *buf, size_t bufsz, size_t *got,
		       char *why, size_t whysz);
int nsm_dec_describe_nsm(const uint8_t *r, size_t n, struct nsm_description *d, char *why,
			 size_t whysz);

/* Round trips. */
int nsm_attestation(struct nsm *n, const uint8_t *user_data, size_t udn, const uint8_t *nonce,
		    size_t nn, const uint8_t *public_key, size_t pkn, uint8_t **doc, size_t *docn,
		    char *why, size_t whysz);
int nsm_describe_pcr(struct nsm *n, unsigned index, bool *locked, uint8_t data[NSM_PCR_LEN],
		     char *why, size_t whysz);
int nsm_extend_pcr(struct nsm *n, unsigned index, const uint8_t *data, size_t dn,
		   uint8_t out[NSM_PCR_LEN], char *why, size_t whysz);
int nsm_lock_pcr(struct nsm *n, unsigned index, char *why, size_t whysz);
int nsm_get_random(struct nsm *n, uint8_t *buf, size_t bufsz, size_t *got, char *why,
		   size_t whysz);
int nsm_describe_nsm(struct nsm *n, struct nsm_description *d, char *why, size_t whysz);

#endif
