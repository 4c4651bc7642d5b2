/* enclaved's state: the sync engine in the enclave role, the packages found
 * in encrypted/, and the jobs running from them. Everything here is touched
 * only by the main thread; the install worker (packages.c) gets its own copy
 * of what it needs and hands results back through a queue and an eventfd. */
#ifndef EFS_DAEMON_H
#define EFS_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "appmsg.h"
#include "engine.h"
#include "extract.h"
#include "keyprov.h"
#include "manifest.h"
#include "nsm.h"
#include "sandbox.h"
#include "session.h"

struct run_req;
struct install_result;
struct uids;

/* One installed version of a package: the directory its install produced,
 * app/installed/ID (ID a counter, never a name the host chose), held open.
 * Jobs get this fd, never a path looked up again. Freed, and its directory
 * removed, when neither its package (as the current version) nor a job
 * holds it any more. */
struct app {
	uint64_t id;
	int fd;                   /* O_RDONLY | O_DIRECTORY */
	struct manifest *manifest;
	uid_t uid;                /* its identity's job uid (uids.h) */
	unsigned refs;
};

struct package {
	char *name;               /* file name in encrypted/, pkg_name_valid() or failed */
	enum pkg_state state;
	int err;                  /* positive errno of a failure */
	const char *msg;          /* a fixed text from verdict.h, or text: never package content */
	char text[700];           /* a verdict and the key process's message */
	uint8_t hdr_digest[32];   /* the ready version's header digest (key cache), or zeros */
	uint8_t digest[32];
	unsigned gen;             /* bumped for every new version */
	struct app *app;          /* the current version when ready */
	bool installing;          /* the worker has it */
	bool again;               /* changed while installing: install once more */
	bool removed;
	struct run_req *waiting;  /* RUNs that wait for the install */
	struct package *next;
};

/* The last lines of a job's stderr, for an entry whose manifest lets the
 * host see only those: sent when the job ends. */
struct tail {
	char *buf;
	size_t len;
};

/* A job lives here from its start until its final JOB_STATE has gone to a
 * host: it keeps running when the host goes away, and once ended (its
 * sandbox and app released) waits for the next host, at most
 * JOBS_ENDED_KEPT of them (appmsg.h). */
struct job {
	uint32_t id;
	struct app *app;          /* pinned until the job ends */
	const struct manifest_entry *entry; /* in app->manifest; NULL once ended */
	struct sandbox_job *sb;
	int out_fd, err_fd;
	struct tail tail;
	struct tail held;         /* streamed output while no host is connected */
	uint64_t held_dropped;    /* bytes of it dropped (HELD_MAX) */
	uint64_t deadline_ms;
	bool cancelled, timed_out;
	bool ended;               /* reaped; waiting for output to reach the host */
	int status;               /* waitpid form */
	uint64_t barrier;         /* the sync point before the final JOB_STATE; 0: none yet */
	struct job *next;
};

/* The PCR each ready package's manifest extends (SHA-384 of the manifest). */
#define DAEMON_APP_PCR 16u

struct daemon {
	char *state_dir;
	int state_fd;
	int staging_fd, installed_fd, trash_fd; /* state/app/{staging,installed,trash} */
	int dataset_fd, model_fd, output_fd;    /* handed to every job */
	struct engine *engine;
	bool connected;
	bool dev;
	bool userns; /* dev as non-root: in a user namespace of its own (enclaved.c) */
	unsigned max_jobs;
	uint64_t job_mem;         /* per job: cgroup memory.max or RLIMIT_AS */
	uid_t uid_base;
	struct uids *uids;
	int keyd_sock;            /* the key process (keyd.h) */
	int keyd_pid;
	int exe_fd;               /* this binary, for package workers (pkgworker.h) */
	struct extract_limits limits;
	struct nsm nsm;           /* relayed to the key process */
	struct session_enclave *session;
	uint8_t pcr_app[NSM_PCR_LEN]; /* DAEMON_APP_PCR as last extended */

	struct package *packages;
	struct job *jobs;         /* newest first */
	uint8_t instance[JOBS_INSTANCE_LEN]; /* random for this process: job ids count in it */
	uint32_t next_job;
	uint64_t next_app;

	/* install worker */
	pthread_t worker;
	pthread_mutex_t lock;     /* protects the two queues below and stop */
	pthread_cond_t cond;
	struct install_task *todo;
	struct install_result *done;
	bool stop;
	int done_fd;              /* eventfd: results are waiting */
};

/* enclaved.c: sends the daemon's STATUS (after connecting, and when the
 * application PCR changes). */
void daemon_send_status(struct daemon *d);

/* packages.c */
int packages_start(struct daemon *d);
void packages_stop(struct daemon *d);
void packages_file_changed(struct daemon *d, const char *path);
void packages_file_removed(struct daemon *d, const char *path);
void packages_results(struct daemon *d);
void packages_send_all(struct daemon *d);
void packages_keys_changed(struct daemon *d);
struct package *package_find(struct daemon *d, const char *name);
void app_unref(struct daemon *d, struct app *a);
/* Parks a RUN until the package's install ends; jobs_run() is called then.
 * -EBUSY when too many wait already. */
int package_wait(struct package *p, uint32_t req, const char *line);
/* Drops the RUNs that waited for installs: their host is gone. */
void packages_disconnected(struct daemon *d);

/* jobs.c */
void jobs_run(struct daemon *d, uint32_t req, const char *line);
void jobs_cancel(struct daemon *d, uint32_t id);
int jobs_pollfds(struct daemon *d, struct pollfd *fds, int max, struct job **owners);
void jobs_step(struct daemon *d, const struct pollfd *fds, struct job *const *owners, int n);
/* Sends the final state of jobs whose output the host has acknowledged
 * (call after engine_step, which reads the acknowledgements). */
void jobs_finish(struct daemon *d);
int jobs_timeout_ms(const struct daemon *d);
void jobs_check_timers(struct daemon *d);
/* A host connected: tells it the jobs held here (JOBS) and sends the output
 * they produced while none was. Call after STATUS. */
void jobs_connected(struct daemon *d);
void jobs_disconnected(struct daemon *d);
void jobs_stop_all(struct daemon *d);

uint64_t now_ms(void);

#endif
