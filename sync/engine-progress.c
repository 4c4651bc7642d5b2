/* engine_progress(): what is in flight in each direction, what completed,
 * and how fast. engine-tx.c and engine-rx.c count a transfer's bytes into
 * its tx_file or rx_file (done) and here (moved) as they go; the active
 * figures are summed over the open transfers when asked, so an aborted or
 * failed transfer leaves them as soon as it is dropped. */
#include "config.h"

#include "engine-int.h"
#include "log.h"
#include "progress.h"
#include "util.h"

void engine_flow_moved(struct engine *e, int dir, uint64_t n)
{
	e->flow[dir].moved += n;
}

/* Every FLOW_SAMPLE_MS at most: the ring keeps FLOW_SAMPLES of them. */
static void flow_sample(struct engine *e, uint64_t now)
{
	unsigned last = (e->flow_next + FLOW_SAMPLES - 1) % FLOW_SAMPLES;

	if (e->flow_nsample && now - e->flow_sample[last].ms < FLOW_SAMPLE_MS)
		return;
	e->flow_sample[e->flow_next].ms = now;
	e->flow_sample[e->flow_next].moved[FLOW_TX] = e->flow[FLOW_TX].moved;
	e->flow_sample[e->flow_next].moved[FLOW_RX] = e->flow[FLOW_RX].moved;
	e->flow_next = (e->flow_next + 1) % FLOW_SAMPLES;
	if (e->flow_nsample < FLOW_SAMPLES)
		e->flow_nsample++;
}

void engine_flow_step(struct engine *e)
{
	flow_sample(e, engine_now_ms());
}

void engine_flow_completed(struct engine *e, int dir, const char *path, uint64_t size,
			   uint64_t begun_ms)
{
	char human[32];

	e->flow[dir].files++;
	e->flow[dir].bytes += size;
	progress_human(human, sizeof(human), size);
	log_info("%s %s (%s in %.2f s)", dir == FLOW_TX ? "sent" : "received", path, human,
		 (double)(engine_now_ms() - begun_ms) / 1e3);
}

static uint64_t flow_rate(const struct engine *e, int dir, uint64_t now)
{
	unsigned oldest = e->flow_nsample < FLOW_SAMPLES ? 0 : e->flow_next;
	uint64_t dt;

	if (!e->flow_nsample)
		return 0;
	dt = now - e->flow_sample[oldest].ms;
	if (dt < FLOW_SAMPLE_MS / 2)
		return 0;
	return (e->flow[dir].moved - e->flow_sample[oldest].moved[dir]) * 1000u / dt;
}

void engine_progress(struct engine *e, struct engine_progress *out)
{
	uint64_t now = engine_now_ms();

	flow_sample(e, now);
	memset(out, 0, sizeof(*out));
	for (const struct tx_file *f = e->tx_oldest; f; f = f->newer) {
		if (f->aborted)
			continue;
		out->tx.files_active++;
		out->tx.bytes_active += (uint64_t)f->st.st_size;
		out->tx.bytes_done += MIN(f->done, (uint64_t)f->st.st_size);
	}
	for (size_t i = 0; i < ID_BUCKETS; i++)
		for (const struct rx_file *f = e->rx_ids[i]; f; f = f->hnext) {
			if (f->err)
				continue;
			out->rx.files_active++;
			out->rx.bytes_active += f->size;
			out->rx.bytes_done += MIN(f->done, f->size);
		}
	out->tx.files_total = e->flow[FLOW_TX].files;
	out->tx.bytes_total = e->flow[FLOW_TX].bytes;
	out->rx.files_total = e->flow[FLOW_RX].files;
	out->rx.bytes_total = e->flow[FLOW_RX].bytes;
	out->tx.rate = flow_rate(e, FLOW_TX, now);
	out->rx.rate = flow_rate(e, FLOW_RX, now);
}
