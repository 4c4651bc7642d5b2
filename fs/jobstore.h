/* The job records of a mount, kept in the cache dir as CACHE/jobs/ID/:
 *
 *   cmd    the job line and a newline
 *   state  one line: running, exited, killed, timeout, cancelled, failed or
 *          lost, then ": message" for failed and lost
 *   log    stdout and stderr as they arrive
 *   exit   empty while the job runs (made with the record); its status as a
 *          shell reports one, written last when the job ends
 *   manifest  {"name","version","entry"} of what the enclave runs, as it said
 *   digest the SHA-256 of the package the enclave ran, 64 hex digits
 *   origin where it runs: the enclave instance (32 hex digits) and the
 *          enclave's id of the job, "INSTANCE ID\n" (absent when the enclave
 *          sent no instance)
 *
 * Records outlive the mount and the enclave, so ids keep counting across
 * remounts; a record still "running" when it is opened again is marked lost,
 * because its mount ended. A lost record with an origin may come back: when
 * the enclave instance it ran in reports the job (JOBS), the record is
 * running again (jobstore_reconcile), its log grows on, and its end is
 * recorded as any job's. state and exit are replaced atomically (rename), log
 * only grows. The caller serializes calls.
 */
#ifndef EFS_JOBSTORE_H
#define EFS_JOBSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "jobclient.h" /* the job states and their exit statuses */

struct jobstore;

/* Where a job runs: the enclave instance (appmsg.h JOBS) and its id there. */
struct job_origin {
	uint8_t instance[JOBS_INSTANCE_LEN];
	uint32_t enclave_id;
};

/* A lost record that runs again, and its id in the enclave. */
struct job_match {
	uint32_t id, enclave_id;
};

/* Opens (creating) cachefd/jobs; marks records left running as lost and
 * reports them through *lost (a malloc'd array of *nlost ids, or NULL).
 * Lost records with an origin are remembered for jobstore_reconcile. */
int jobstore_open(int cachefd, struct jobstore **out, uint32_t **lost, size_t *nlost);
void jobstore_free(struct jobstore *js);

/* The highest id used so far (0 if none). */
uint32_t jobstore_last(const struct jobstore *js);
/* Creates the record of a new job with the next id; origin, manifest and
 * digest (the files' text) may be NULL. */
int jobstore_create(struct jobstore *js, const char *line, const struct job_origin *origin,
		    const char *manifest, const char *digest, uint32_t *id);
int jobstore_append_log(struct jobstore *js, uint32_t id, const void *p, size_t n);
/* Sets the final state (word from the list above, proto's enum job_state),
 * its message and the exit status, then closes the log. */
int jobstore_finish(struct jobstore *js, uint32_t id, uint8_t state, const char *text, int exit_status);

/* An enclave instance told which jobs it holds (held: ascending, JOBS):
 * each lost record of that instance whose job it holds is running again
 * (exit emptied, state "running", log open) and is returned in *out (a
 * malloc'd array of *nout, or NULL). Every other remembered lost record
 * stays lost for good in this mount: its enclave instance is not the one
 * connected, or no longer holds the job. 0, or -ENOMEM (nothing changed),
 * or the -errno of a record that could not be reopened: that one stays
 * lost and is not in *out, which holds the others all the same. */
int jobstore_reconcile(struct jobstore *js, const uint8_t instance[static JOBS_INSTANCE_LEN],
		       const uint32_t *held, size_t nheld, struct job_match **out, size_t *nout);

/* The word of a state (appmsg.h JOB_*). */
const char *jobstore_state_word(uint8_t state);

#endif
