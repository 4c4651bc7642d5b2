/* enclaved's state: the sync engine in the enclave role, the packages found
 * in encrypted/, and the jobs running from them. Everything here is touched
 * only by the main thread; the install worker (packages.c) gets its own copy
 * of what it needs and hands results back through a queue and an eventfd. */
#ifndef EFS_DAEMON_H
#define EFS_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "extract.h"
#include "keyprov.h"
#include "manifest.h"
#include "sandbox.h"

#define JOB_UID 65534
#define JOB_GID 65534
#define MSG_TEXT 512

struct run_req;
struct install_result;

struct package {
	char *name;               /* file name in encrypted/ */
	enum pkg_state state;
	int err;
	char msg[MSG_TEXT];
	uint8_t digest[32];
	unsigned gen;             /* bumped for every new version */
	char *app_dir;            /* state/app/NAME.GEN when ready */
	struct manifest *manifest;
	unsigned jobs;            /* running jobs using app_dir */
	bool installing;          /* the worker has it */
	bool again;               /* changed while installing: install once more */
	bool removed;
	struct run_req *waiting;  /* RUNs that wait for the install */
	struct package *next;
};

struct job {
	uint32_t id;
	struct package *pkg;
	char *app_dir;            /* pinned: survives a package update until the job ends */
	struct sandbox_job *sb;
	int out_fd, err_fd;
	uint64_t deadline_ms;
	bool cancelled, timed_out;
	bool ended;               /* reaped; waiting for output to reach the host */
	int status;               /* waitpid form */
	uint64_t barrier;         /* the sync point before the final JOB_STATE */
	struct job *next;
};

struct daemon {
	char *state_dir;
	int state_fd, app_fd;     /* state/, state/app/ */
	struct engine *engine;
	bool connected;
	bool dev;
	unsigned max_jobs;
	struct key_provider *keys;
	struct extract_limits limits;

	struct package *packages;
	struct job *jobs;
	uint32_t next_job;

	/* install worker */
	pthread_t worker;
	pthread_mutex_t lock;     /* protects the two queues below and stop */
	pthread_cond_t cond;
	struct install_task *todo;
	struct install_result *done;
	bool stop;
	int done_fd;              /* eventfd: results are waiting */
};

/* packages.c */
int packages_start(struct daemon *d);
void packages_stop(struct daemon *d);
void packages_file_changed(struct daemon *d, const char *path);
void packages_file_removed(struct daemon *d, const char *path);
void packages_results(struct daemon *d);
void packages_send_all(struct daemon *d);
struct package *package_find(struct daemon *d, const char *name);
void package_release(struct daemon *d, struct package *p, const char *app_dir);
/* Parks a RUN until the package's install ends; jobs_run() is called then. */
int package_wait(struct package *p, uint32_t req, const char *line);

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
void jobs_disconnected(struct daemon *d);
void jobs_stop_all(struct daemon *d);

uint64_t now_ms(void);

#endif
