/* The key process: enclaved's keys live in a process of their own (DESIGN §5,
 * doc/SECURITY.md "Key process").
 *
 * enclaved forks it first, before it reads anything from a host. It holds
 * the key providers (kek: the key-encryption keys; kms: the KMS client, the
 * AWS credentials, a fresh RSA key per Decrypt), the NSM handle, and a
 * bounded cache of unwrapped data keys by package header digest. It is not
 * dumpable, and it dies with its parent. The process that parses host
 * frames never holds a data key, a KEK or the NSM: it asks through one
 * SOCK_SEQPACKET socket, one request and one answer at a time:
 *
 *   main -> keyd                                    keyd -> main
 *   (start)                                         HELLO   i32 0 | status JSON, or i32 -errno | why
 *   NSM     raw NSM request                         i32 r | NSM response, or i32 -errno | why
 *           (DescribeNSM, GetRandom, DescribePCR, ExtendPCR of the
 *           application PCR only, Attestation with an EC public key and
 *           no user data: never an RSA key, which KMS would accept as a
 *           Recipient)
 *   STATUS  -                                       i32 0 | status JSON
 *   CREDS   AWS credentials JSON (from the host)    i32 r | why
 *   FORGET  32-byte header digest                   i32 0
 *   CHANNEL SCM_RIGHTS: one end of a new socket     i32 r
 *           pair, for one package worker
 *
 * On a channel the package worker sends one UNWRAP request (the package's
 * first bytes: magic, length, header) and gets back i32 r | dek[32] |
 * header digest[32] | why[512]; keyd then closes it. So a worker gets the
 * data key of the one package it opens, and nothing else.
 *
 * Every request is hostile input to keyd: sizes, types and fields are
 * checked before use. keyd's own errors never contain key bytes.
 */
#ifndef EFS_KEYD_H
#define EFS_KEYD_H

#include <stddef.h>
#include <stdint.h>

#include "keyprov.h"

enum keyd_type {
	KEYD_HELLO = 1,
	KEYD_NSM,
	KEYD_STATUS,
	KEYD_CREDS,
	KEYD_FORGET,
	KEYD_CHANNEL,
	KEYD_UNWRAP,
};

#define KEYD_MSG_MAX (16 + 65536 + 16)
#define KEYD_WHY_MAX 512
#define KEYD_CACHE_MAX 64
#define KEYD_CREDS_MAX 16384

struct keyd_config {
	const char *const *kek_files;
	size_t nkek;
	int dev;                  /* the development NSM */
	const char *dev_root;     /* its root (made if missing) */
	const char *nsm_config;   /* PCR2's text (devsetup) */
	int kms;                  /* start the kms provider */
	const char *kms_endpoint; /* NULL: https://kms.REGION.amazonaws.com */
	const char *kms_proxy;    /* NULL (dev: direct), "vsock:CID:PORT", "unix:PATH" */
	const char *kms_ca;       /* NULL: the system bundle */
	const char *region;       /* NULL: from the host's credentials message */
	unsigned app_pcr;
};

/* The unwrap answer on a channel. */
struct keyd_unwrap_answer {
	int32_t r;
	uint8_t dek[PKG_DEK_LEN];
	uint8_t digest[32];
	char why[KEYD_WHY_MAX];
};

/* Forks the key process. On 0, *sock is main's end and *pid the child;
 * status receives the HELLO status JSON (malloc'd). On failure why says
 * what keyd could not start (a KEK file, the NSM). */
int keyd_start(const struct keyd_config *cfg, int *sock, int *pid, char **status, char *why,
	       size_t whysz);

/* main's side. Each call is one request and its answer; calls are
 * serialised by a lock inside (the install worker thread and the main thread
 * both ask). */
int keyd_nsm(int sock, const uint8_t *req, size_t reqn, uint8_t *resp, size_t *respn);
int keyd_status(int sock, char **json);
int keyd_creds(int sock, const char *json, size_t n, char *why, size_t whysz);
int keyd_forget(int sock, const uint8_t digest[static 32]);
int keyd_channel(int sock, int fd);

/* The package worker's side: the key provider that asks keyd over chan
 * for the data key of the package whose first bytes are head[0..n). name
 * is the header's provider; digest receives the header digest keyd used. */
struct key_provider *keyd_chan_provider_new(int chan, const char *name, const uint8_t *head,
					    size_t n);

/* The NSM request filter (exposed for tests). */
int keyd_nsm_allowed(const uint8_t *req, size_t n, unsigned app_pcr, char *why, size_t whysz);

#endif
