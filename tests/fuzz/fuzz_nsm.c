/* libFuzzer harness for the NSM client's response decoders and the
 * development NSM's request handling: the input is offered as a response to
 * every decoder, and as a request to a development NSM (made once, under a
 * temporary dev root), whose answer must fit the buffer and decode as a
 * response of some kind or the Error response. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/devnsm.h"
#include "attest/nsm.h"
#include "fuzz.h"

static struct devnsm *dev;
static char rootdir[4096];

static void cleanup(void)
{
	char p[4200];

	devnsm_free(dev);
	dev = NULL;
	snprintf(p, sizeof(p), "%s/%s", rootdir, DEVROOT_KEY);
	unlink(p);
	snprintf(p, sizeof(p), "%s/%s", rootdir, DEVROOT_CERT);
	unlink(p);
	rmdir(rootdir);
}

static void setup(void)
{
	struct devnsm_config cfg;
	const char *tmp = getenv("TMPDIR");
	char why[256];

	snprintf(rootdir, sizeof(rootdir), "%s/fuzz_nsm.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(rootdir) || devroot_create(rootdir, why, sizeof(why)) < 0)
		abort();
	memset(&cfg, 0, sizeof(cfg));
	cfg.root_dir = rootdir;
	memset(cfg.pcr0, 0xa5, sizeof(cfg.pcr0));
	if (devnsm_new(&cfg, &dev, why, sizeof(why)) < 0)
		abort();
	atexit(cleanup);
}

/* Every decoder over r[n]; returns whether one of them accepted it. */
static bool decode_all(const uint8_t *r, size_t n)
{
	char why[128];
	uint8_t *doc = NULL, pcr[NSM_PCR_LEN], rnd[256];
	size_t docn = 0, got = 0;
	bool locked, ok = false;
	struct nsm_description d;
	int e;

	e = nsm_dec_attestation(r, n, &doc, &docn, why, sizeof(why));
	if (e == 0) {
		if (!doc || docn == 0 || docn > 16384)
			abort();
		free(doc);
	}
	ok |= e == 0 || e == -EPROTO;
	ok |= nsm_dec_describe_pcr(r, n, &locked, pcr, why, sizeof(why)) == 0;
	ok |= nsm_dec_extend_pcr(r, n, pcr, why, sizeof(why)) == 0;
	ok |= nsm_dec_lock(r, n, why, sizeof(why)) == 0;
	e = nsm_dec_get_random(r, n, rnd, sizeof(rnd), &got, why, sizeof(why));
	if (e == 0 && got > sizeof(rnd))
		abort();
	ok |= e == 0;
	e = nsm_dec_describe_nsm(r, n, &d, why, sizeof(why));
	if (e == 0 && (d.nlocked > 64 || !memchr(d.module_id, 0, sizeof(d.module_id))))
		abort();
	ok |= e == 0;
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t resp[NSM_RESPONSE_MAX];
	size_t respn = sizeof(resp);

	decode_all(data, size);
	if (!dev)
		setup();
	if (devnsm_process(dev, data, size, resp, &respn) < 0)
		return 0; /* an internal failure (memory), not a wrong answer */
	if (respn > sizeof(resp) || !decode_all(resp, respn))
		abort();
	return 0;
}
