/* A progress line on a terminal: bytes done of a total in human units, the
 * rate over the last few seconds, the time left and, when counted, files:
 *
 *   enclave-seal: 12.3 MiB / 40.0 MiB  30%  5.1 MiB/s  ETA 0:05  3/10 files
 *
 * It is redrawn in place (\r) on stderr at most four times a second and
 * ended with a newline by progress_finish(). PROGRESS_AUTO draws only when
 * stderr is a terminal; PROGRESS_ON (--progress) draws anyway,
 * PROGRESS_OFF (--no-progress) never. An inactive progress costs a
 * branch per update. Not thread-safe: one caller drives it. While active
 * it blanks itself before each log line (log_set_stderr_hook), so
 * progress_finish() must come before p goes away. */
#ifndef EFS_PROGRESS_H
#define EFS_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum progress_mode { PROGRESS_AUTO, PROGRESS_ON, PROGRESS_OFF };

#define PROGRESS_SAMPLES 24 /* six seconds of draws: the rate's window */

struct progress {
	bool active, drawn;
	const char *label;
	double last; /* when it was last drawn */
	uint64_t done, total, files_done, files_total;
	struct {
		double t;
		uint64_t done;
	} sample[PROGRESS_SAMPLES];
	unsigned nsample, next;
	size_t width; /* of the line last drawn, to blank what a shorter one leaves */
};

/* label: what the line starts with ("enclave-seal"), borrowed; NULL for none. */
void progress_init(struct progress *p, enum progress_mode mode, const char *label);
static inline bool progress_active(const struct progress *p)
{
	return p->active;
}
/* The counts now; redraws if the last draw is 250 ms old. files_total 0:
 * files are not shown. */
void progress_update(struct progress *p, uint64_t done, uint64_t total, uint64_t files_done,
		     uint64_t files_total);
/* Draws the last state and ends the line, if anything is to be shown. */
void progress_finish(struct progress *p);
/* Blanks the line and ends, as after an error: nothing more is drawn. */
void progress_cancel(struct progress *p);
/* Blanks the line (before other output), if one is drawn; the next update
 * draws it again. */
void progress_clear(struct progress *p);

/* The line for these numbers (no \r, no newline) into buf; rate in bytes
 * per second, 0 for unknown. For tests and for the callers' own output. */
void progress_format(char *buf, size_t n, const char *label, uint64_t done, uint64_t total,
		     uint64_t files_done, uint64_t files_total, double rate);
/* bytes in B, KiB, MiB, GiB or TiB ("12.3 MiB") into buf. */
void progress_human(char *buf, size_t n, uint64_t bytes);

#endif
