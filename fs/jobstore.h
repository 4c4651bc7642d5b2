/* The job records of a mount, kept in the cache dir as CACHE/jobs/ID/:
 *
 *   cmd    the job line and a newline
 *   state  one line: running, exited, killed, timeout, cancelled, failed or
 *          lost, then ": message" for failed and lost
 *   log    stdout and stderr as they arrive
 *   exit   written last when the job ends: its status as a shell reports one
 *
 * Records outlive the mount and the enclave, so ids keep counting across
 * remounts; a record still "running" when it is opened again belongs to a
 * job that was lost. state and exit are replaced atomically (rename), log
 * only grows. The caller serializes calls.
 */
#ifndef EFS_JOBSTORE_H
#define EFS_JOBSTORE_H

#include <stddef.h>
#include <stdint.h>

#define JOB_EXIT_TIMEOUT 124
#define JOB_EXIT_FAILED 125
#define JOB_EXIT_CANCELLED 130
#define JOB_EXIT_LOST 255

struct jobstore;

/* Opens (creating) cachefd/jobs; marks records left running as lost and
 * reports them through *lost (a malloc'd array of *nlost ids, or NULL). */
int jobstore_open(int cachefd, struct jobstore **out, uint32_t **lost, size_t *nlost);
void jobstore_free(struct jobstore *js);

/* The highest id used so far (0 if none). */
uint32_t jobstore_last(const struct jobstore *js);
/* Creates the record of a new job with the next id. */
int jobstore_create(struct jobstore *js, const char *line, uint32_t *id);
int jobstore_append_log(struct jobstore *js, uint32_t id, const void *p, size_t n);
/* Sets the final state (word from the list above, proto's enum job_state),
 * its message and the exit status, then closes the log. */
int jobstore_finish(struct jobstore *js, uint32_t id, uint8_t state, const char *text, int exit_status);

/* The word of a state (proto.h JOB_*). */
const char *jobstore_state_word(uint8_t state);

#endif
