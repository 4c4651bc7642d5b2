/* The attested session: what every connection between a host and an enclave
 * runs before the first sync frame (doc/PROTOCOL.md, "The attested session").
 *
 *   host -> enclave   "EFSA" u8 version=1 u8 32 nonce[32]              (clear)
 *   enclave -> host   "EFSA" u8 status u32 length body[length]          (clear)
 *                     status 0: body = attestation document whose nonce is
 *                     the host's and whose public_key is the DER
 *                     SubjectPublicKeyInfo of the enclave's TLS key;
 *                     status 1: body = a refusal in text
 *   TLS 1.3 over the same stream: the enclave is the server and presents a
 *   certificate of the attested key (the host accepts no other key); the host
 *   presents a certificate of its own key (the enclave binds to the first
 *   host key that completes a session, or to the one it was started with)
 *   enclave -> host   (in TLS) u8 verdict u16 length text[length]
 *                     verdict 0: accepted; 1: refused, text says why
 *   then the sync protocol, in TLS.
 *
 * After the handshake a pump thread carries the stream: the caller gets the
 * other end of a socket pair and speaks plaintext on it, exactly as it did on
 * the raw socket. The pump ends (and closes both of its ends) when either side
 * closes or fails. Functions return 0 or a negative errno and never print; a
 * refusal's reason goes to why[whysz]. */
#ifndef EFS_SESSION_H
#define EFS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "attest.h"
#include "nsm.h"

#define SESSION_NONCE_LEN 32
#define SESSION_FPR_HEX 65 /* SHA-256 of a SubjectPublicKeyInfo, hex, NUL */
#define SESSION_TIMEOUT_MS 30000

/* --- the host's side ------------------------------------------------------------ */

struct session_host;

struct session_host_config {
	const char *key_path;   /* the host key (PEM, made 0600 if missing) */
	const char *trust_root; /* PEM path; NULL: the AWS Nitro root */
	const char *root_name;  /* shown in the status: "aws-nitro", "development" or the path */
	bool allow_debug;
	size_t npins;
	const struct attest_pin *pins;
};

/* What the last handshake learned, for the host's status. */
struct session_identity {
	bool verified;
	char root[256];
	char module_id[ATTEST_MODULE_ID_MAX + 1];
	uint64_t timestamp_ms;
	bool debug;
	bool have_pcr[ATTEST_PCRS_MAX];
	uint8_t pcr[ATTEST_PCRS_MAX][ATTEST_PCR_LEN];
	bool pins_matched; /* false when there are pins and they did not */
	char host_fpr[SESSION_FPR_HEX];
	char error[512]; /* why the last handshake was refused, or "" */
};

int session_host_new(const struct session_host_config *c, struct session_host **out, char *why,
		     size_t whysz);
void session_host_free(struct session_host *h);
const char *session_host_fpr(const struct session_host *h);

/* Runs the host's side on the connected stream fd (which it takes over,
 * also on failure) and returns in *plain the caller's end of the pumped
 * stream. id is filled in both cases. -EKEYREJECTED: the enclave's document,
 * key or pins were refused, or the enclave refused this host (id->error says
 * which); -ETIMEDOUT, -ECONNRESET, -EPROTO otherwise. */
int session_connect(struct session_host *h, int fd, int *plain, struct session_identity *id);

/* --- the enclave's side -------------------------------------------------------- */

struct session_enclave;

/* nsm answers the attestation requests; host_key pins the host from the start
 * (a SHA-256 fingerprint in hex, or the path of a PEM public key), NULL binds
 * to the first host that completes a session. */
int session_enclave_new(struct nsm *nsm, const char *host_key, struct session_enclave **out,
			char *why, size_t whysz);
void session_enclave_free(struct session_enclave *s);
/* The bound host's fingerprint, or "" while none is bound. */
const char *session_enclave_host(const struct session_enclave *s);

/* Runs the enclave's side on fd (taken over); *plain as above. -EKEYREJECTED
 * when the host is not the bound one (the host is told why). */
int session_accept(struct session_enclave *s, int fd, int *plain, char *why, size_t whysz);

/* --- the session without the pump ------------------------------------------------- */

/* A finished session: TLS on its fd. A caller that runs its own poll loop
 * (the sync engine, through struct engine_io) reads and writes it directly,
 * without the pump's thread and socket pair: *_read and *_write behave like
 * read(2) and write(2) on a non-blocking fd. session_conn_free() ends TLS and
 * frees it, but leaves the fd to the caller. */
struct session_conn;

int session_connect_conn(struct session_host *h, int fd, struct session_conn **out,
			 struct session_identity *id);
int session_accept_conn(struct session_enclave *s, int fd, struct session_conn **out, char *why,
			size_t whysz);
int session_conn_fd(const struct session_conn *c);
ssize_t session_conn_read(void *c, void *p, size_t n);
ssize_t session_conn_write(void *c, const void *p, size_t n);
bool session_conn_pending(void *c);
/* Writes take whole records into memory and send them in large writes;
 * while wants_write is true, the caller polls for POLLOUT and calls flush
 * (0, or -errno when the connection failed). */
bool session_conn_wants_write(void *c);
int session_conn_flush(void *c);
void session_conn_free(void *c);
/* Hands c (and its fd) to a pump thread; *plain gets the caller's end. */
int session_conn_pump(struct session_conn *c, int *plain);
/* Waits up to timeout_ms for every pump thread to end (each ends when both
 * of its ends are closed, at most 30 s after its caller's end closed);
 * true when none is left. A process calls it before exit() runs
 * OpenSSL's cleanup. */
bool session_pumps_wait(int timeout_ms);

/* --- pieces the tools and tests use ---------------------------------------------- */

/* The SHA-256 of a public key's DER SubjectPublicKeyInfo, hex. */
struct evp_pkey_st;
int session_key_fpr(struct evp_pkey_st *k, char out[SESSION_FPR_HEX]);
/* Reads a PEM private key, or makes a P-384 one there (mode 0600, written
 * whole or not at all) when the file does not exist. */
int session_load_or_make_key(const char *path, struct evp_pkey_st **out, char *why, size_t whysz);
/* The clear part of the handshake, for tools that relay or replay it. */
int session_send_hello(int fd, const uint8_t nonce[SESSION_NONCE_LEN]);
int session_recv_hello(int fd, uint8_t nonce[SESSION_NONCE_LEN], int timeout_ms);
int session_send_doc(int fd, int status, const uint8_t *body, size_t n);
int session_recv_doc(int fd, int *status, uint8_t **body, size_t *n, int timeout_ms);

#endif
