/* The host's side of the kms key provider: it hands its AWS credentials
 * (and region) to its enclave over the attested session, at every new
 * connection and again before they expire (DESIGN §5). The enclave has no
 * network of its own and no instance metadata service: this is how the
 * instance role's short-lived credentials reach it.
 *
 * creds_feed_poll is called from the host's loop: it says whether a message
 * is due (a new connection, or the refresh time of the credentials sent
 * last) and builds it, loading the credentials again when the ones held are
 * due for refresh. A failed load is retried every CREDS_FEED_RETRY_MS and
 * reported once per distinct error through why. The message body is a
 * JSON object {"access_key_id","secret_access_key","session_token",
 * "expiration","region"} (enclave/kmsprov.h); the caller sends it, then wipes and
 * frees it with creds_feed_free_msg.
 */
#ifndef EFS_FEED_H
#define EFS_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"

#define CREDS_FEED_RETRY_MS 30000

struct creds_feed;

/* region NULL: aws_region_load() at the first load (an error then is
 * reported, and the enclave falls back to key ARNs' regions). */
int creds_feed_new(enum aws_creds_source src, const char *region, struct creds_feed **out);
void creds_feed_free(struct creds_feed *f);

/* gen: the connection's generation (a new value means a new connection).
 * Returns 1 with *msg and *n to send, 0 when nothing is due, < 0 when the
 * credentials could not be loaded (why says why, only when the error
 * changed; else why is ""). *next_ms: milliseconds until it should be
 * called again (-1: never). */
int creds_feed_poll(struct creds_feed *f, uint64_t gen, char **msg, size_t *n, int *next_ms,
		    char *why, size_t whysz);
void creds_feed_free_msg(char *msg, size_t n);

/* Whether an enclave's STATUS (JSON) says it runs a kms key provider: the
 * only enclaves credentials are sent to (a plain mirror target sends no
 * STATUS, and refuses the message). */
bool creds_feed_status_wants(const char *json, size_t len);

/* What .status says about it: {"source","access_key_id" (8 chars),"expires","region","error"}. */
char *creds_feed_status(struct creds_feed *f);

#endif
