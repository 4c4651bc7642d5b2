/* The enclave link of a mount: one thread that owns the sync engine (host
 * role, rooted at the cache dir), the connection to enclaved (a development
 * enclave it starts as a child, or an address it connects to), and what the
 * enclave reports: package verdicts, job states and logs, its status.
 *
 * FUSE threads talk to it through the functions below. Changes they made in
 * the cache are queued in order with link_changed(); link_package_verdict()
 * and link_run() block until the enclave answers. Lock order: FUSE threads
 * take link->mu only, never while the engine runs.
 */
#ifndef EFS_LINK_H
#define EFS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest.h"
#include "watch.h"

struct link_config {
	const char *cache;       /* the cache dir (engine root) */
	const char *connect;     /* enclaved's address; NULL: a development enclave */
	const char *enclaved;    /* development: the enclaved binary */
	const char *dev_state;   /* development: its state dir */
	const char *const *keks; /* development: KEK files handed to it */
	size_t nkeks;
	unsigned max_jobs;       /* development: 0 for enclaved's default */
	unsigned verbose;        /* development: -v count handed to it */
	/* The attested session (attest/session.h). */
	const char *key_path;    /* this host's key */
	const char *trust_root;  /* the root attestation must chain to; NULL: AWS Nitro */
	const char *root_name;   /* what .status calls it */
	const char *dev_root;    /* development: the dev root dir handed to enclaved */
	bool allow_debug;
	const struct attest_pin *pins;
	size_t npins;
	/* The AWS credentials handed to the enclave's kms provider (kms/feed.h). */
	int aws_source;          /* enum aws_creds_source */
	const char *aws_region;  /* NULL: from the environment, profile or IMDS */
	/* development: how its enclaved reaches KMS (enclaved --kms-*) */
	const char *kms_endpoint, *kms_proxy, *kms_ca;
	/* Called (link thread, link lock held: it must not call back) when a
	 * job's record got its exit status. */
	void (*job_ended)(uint32_t id);
	/* Called (link thread, maybe with the link lock held: it must not
	 * call back) for each path of output/ or jobs/ that the link changed
	 * in the cache: name, when the name is new, gone (both names of a
	 * rename) or another file's now; else its attributes or data. */
	void (*changed)(const char *rel, bool name);
};

struct link;

int link_new(const struct link_config *cfg, struct link **out);
/* Starts the thread. */
int link_start(struct link *l);
/* Waits up to timeout_ms for a conversation with an attested enclave: 0,
 * or -EKEYREJECTED (the enclave was refused), -ECHILD (the development
 * enclave ended before it could serve) or -ETIMEDOUT, with the reason in
 * why (the link's or the enclave's last error). */
int link_wait_ready(struct link *l, int timeout_ms, char *why, size_t whysz);
/* Cancels running jobs (waiting a bounded time for their end), says goodbye,
 * stops the development enclave and joins the thread. */
void link_stop(struct link *l);
void link_free(struct link *l);

/* A change in an owned tree of the cache, made by a FUSE operation. */
void link_changed(struct link *l, enum watch_kind kind, bool is_dir, const char *path, const char *to);

/* Waits for the enclave's verdict on the package encrypted/NAME whose
 * SHA-256 is digest: 0 once it is open, its errno if it failed (msg gets the
 * enclave's message), -EIO if the enclave went away. */
int link_package_verdict(struct link *l, const char *name, const uint8_t digest[static 32], char *msg,
			 size_t msgsz);

/* Starts a job after a barrier: 0 and *job, or the enclave's refusal
 * (-EINVAL, -ENOENT, -EPERM, -EBUSY, ...) with its message, or -EIO; or,
 * when the barrier covers a file the enclave did not store, that failure's
 * errno (-ENOSPC: its store is full) with a message naming the file, and
 * no job is started. */
int link_run(struct link *l, const char *line, uint32_t *job, char *msg, size_t msgsz);
/* Cancels a running job: 0, or -ESRCH if it is not running here. */
int link_cancel(struct link *l, uint32_t job);
/* The last job started on the mount (0 if none). */
uint32_t link_last_job(struct link *l);
/* A job line refused before it reached the link (its syntax): .run and
 * .status then carry msg. */
void link_run_refused(struct link *l, const char *msg);
/* What .run reads on an open file that started nothing itself: the last job
 * line's outcome on the mount, "ID\n" or "error: REASON\n" (empty before
 * the first). Its length. */
int link_run_text(struct link *l, char *buf, size_t n);
/* .status: a malloc'd JSON text. */
int link_status(struct link *l, char **json, size_t *len);
/* -ENOSPC when a file of size bytes cannot fit in the enclave's store as
 * last reported (held + size > max), else 0 (also when unknown). */
int link_store_check(struct link *l, uint64_t size);

#endif
