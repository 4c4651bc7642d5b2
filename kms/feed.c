/* The host's credentials feed (feed.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "bodybuf.h"
#include "feed.h"

struct creds_feed {
	pthread_mutex_t lock; /* everything below, for creds_feed_status */
	enum aws_creds_source src;
	char region[AWS_REGION_MAX];
	bool region_fixed, region_tried;
	struct aws_creds c;
	bool have;
	int64_t fetched, refresh_at; /* unix seconds */
	uint64_t sent_gen;           /* 0: never sent */
	int64_t sent_refresh;        /* refresh_at of what was sent */
	uint64_t retry_at_ms;
	char error[256];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int creds_feed_new(enum aws_creds_source src, const char *region, struct creds_feed **out)
{
	struct creds_feed *f;

	*out = NULL;
	if (region && !aws_region_valid(region))
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	f->src = src;
	if (region) {
		snprintf(f->region, sizeof(f->region), "%s", region);
		f->region_fixed = true;
	}
	*out = f;
	return 0;
}

void creds_feed_free(struct creds_feed *f)
{
	if (!f)
		return;
	aws_creds_wipe(&f->c);
	pthread_mutex_destroy(&f->lock);
	OPENSSL_cleanse(f, sizeof(*f));
	free(f);
}

void creds_feed_free_msg(char *msg, size_t n)
{
	if (msg)
		OPENSSL_cleanse(msg, n);
	free(msg);
}

static char *build(const struct creds_feed *f, size_t *n)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:s}", "access_key_id", f->c.access_key_id,
			      "secret_access_key", f->c.secret_access_key, "session_token",
			      f->c.session_token, "expiration", (json_int_t)f->c.expiration,
			      "region", f->region);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_wipe_decref(o);
	*n = s ? strlen(s) : 0;
	return s;
}

int creds_feed_poll(struct creds_feed *f, uint64_t gen, char **msg, size_t *n, int *next_ms,
		    char *why, size_t whysz)
{
	int64_t now = (int64_t)time(NULL);
	uint64_t ms = mono_ms();
	char err[256] = "";
	int r = 0;

	*msg = NULL;
	*n = 0;
	*next_ms = -1;
	if (whysz)
		why[0] = '\0';
	if (f->src == AWS_CREDS_NONE)
		return 0;
	pthread_mutex_lock(&f->lock);
	if (!f->have || (f->refresh_at && now >= f->refresh_at)) {
		struct aws_creds c;

		if (f->retry_at_ms && ms < f->retry_at_ms) {
			*next_ms = (int)(f->retry_at_ms - ms);
			pthread_mutex_unlock(&f->lock);
			return 0;
		}
		memset(&c, 0, sizeof(c));
		r = aws_creds_load(f->src, &c, err, sizeof(err));
		if (r == 0) {
			aws_creds_wipe(&f->c);
			f->c = c;
			f->have = true;
			f->fetched = now;
			f->refresh_at = aws_creds_refresh_at(&f->c, now);
			f->retry_at_ms = 0;
			f->error[0] = '\0';
		} else {
			f->retry_at_ms = ms + CREDS_FEED_RETRY_MS;
			*next_ms = CREDS_FEED_RETRY_MS;
			if (strcmp(err, f->error) != 0 && whysz)
				snprintf(why, whysz, "AWS credentials (%s): %s",
					 f->src == AWS_CREDS_IMDS	 ? "imds"
					 : f->src == AWS_CREDS_ENV ? "env"
								   : "profile",
					 err);
			snprintf(f->error, sizeof(f->error), "%s", err);
		}
		aws_creds_wipe(&c);
		if (r < 0 && !f->have) {
			pthread_mutex_unlock(&f->lock);
			return r;
		}
	}
	if (!f->region_fixed && !f->region_tried) {
		f->region_tried = true;
		if (aws_region_load(f->src, f->region, err, sizeof(err)) < 0)
			f->region[0] = '\0';
	}
	if (f->have && (f->sent_gen != gen || f->sent_refresh != f->refresh_at)) {
		*msg = build(f, n);
		if (!*msg) {
			pthread_mutex_unlock(&f->lock);
			return -ENOMEM;
		}
		f->sent_gen = gen;
		f->sent_refresh = f->refresh_at;
		r = 1;
	}
	if (f->have && f->refresh_at) {
		int64_t left = f->refresh_at - now;

		left = left < 0 ? 0 : left;
		if (left > 3600 * 24)
			left = 3600 * 24;
		if (*next_ms < 0 || left * 1000 < *next_ms)
			*next_ms = (int)(left * 1000);
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

char *creds_feed_status(struct creds_feed *f)
{
	const char *src = f->src == AWS_CREDS_IMDS    ? "imds"
			  : f->src == AWS_CREDS_ENV     ? "env"
			  : f->src == AWS_CREDS_PROFILE ? "profile"
							: "none";
	json_t *o;
	char *s;

	pthread_mutex_lock(&f->lock);
	o = json_pack("{s:s, s:s#, s:I, s:s, s:s}", "source", src, "access_key_id",
		      f->c.access_key_id, (int)strnlen(f->c.access_key_id, 8), "expires",
		      (json_int_t)f->c.expiration, "region", f->region, "error", f->error);
	pthread_mutex_unlock(&f->lock);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

bool creds_feed_status_wants(const char *json, size_t len)
{
	json_t *o = json_loadb(json, len, 0, NULL), *p;
	bool wants = false;
	size_t i;
	json_t *v;

	p = json_object_get(json_object_get(o, "keys"), "providers");
	json_array_foreach(p, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), "kms"))
			wants = true;
	json_decref(o);
	return wants;
}
