#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobline.h"
#include "util.h"


void jobline_release(struct jobline *jl)
{
	if (jl->words)
		for (size_t i = 0; i < jl->nwords; i++)
			free(jl->words[i]);
	free(jl->words);
	jl->words = NULL;
	jl->nwords = 0;
}

/* Appends the word buf[0..n) to out, whose words array has room for
 * JOBLINE_MAX_WORDS + 1 pointers. */
static int add_word(struct jobline *out, const char *buf, size_t n, char *err, size_t errsz)
{
	char *w;

	if (out->nwords == JOBLINE_MAX_WORDS)
		return err_set(err, errsz, -E2BIG, "more than %d words", JOBLINE_MAX_WORDS);
	w = strndup(buf, n);
	if (!w)
		return err_set(err, errsz, -ENOMEM, "out of memory");
	out->words[out->nwords++] = w;
	return 0;
}

static int split(const char *s, size_t n, char *buf, struct jobline *out, char *err, size_t errsz)
{
	size_t i = 0, w = 0;
	bool in_word = false;
	int r;

	while (i < n) {
		char c = s[i];

		if (c == ' ' || c == '\t') {
			if (in_word) {
				r = add_word(out, buf, w, err, errsz);
				if (r < 0)
					return r;
				in_word = false;
				w = 0;
			}
			i++;
			continue;
		}
		in_word = true;
		if (c == '\'') {
			const char *close = memchr(s + i + 1, '\'', n - i - 1);

			if (!close)
				return err_set(err, errsz, -EINVAL,
					    "unterminated single quote at byte %zu", i);
			memcpy(buf + w, s + i + 1, (size_t)(close - (s + i + 1)));
			w += (size_t)(close - (s + i + 1));
			i = (size_t)(close - s) + 1;
		} else if (c == '"') {
			size_t open = i++;

			for (;;) {
				if (i >= n)
					return err_set(err, errsz, -EINVAL,
						    "unterminated double quote at byte %zu", open);
				if (s[i] == '"')
					break;
				/* Backslash-newline cannot occur: a newline is refused. */
				if (s[i] == '\\' && i + 1 < n && strchr("\\\"$`", s[i + 1]))
					i++;
				buf[w++] = s[i++];
			}
			i++;
		} else if (c == '\\') {
			if (i + 1 >= n)
				return err_set(err, errsz, -EINVAL, "trailing backslash");
			buf[w++] = s[i + 1];
			i += 2;
		} else {
			buf[w++] = c;
			i++;
		}
	}
	if (in_word)
		return add_word(out, buf, w, err, errsz);
	return 0;
}

int jobline_split(const char *line, size_t len, struct jobline *out, char *err, size_t errsz)
{
	char *buf;
	int r;

	out->words = NULL;
	out->nwords = 0;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > JOBLINE_MAX_BYTES)
		return err_set(err, errsz, -E2BIG, "line longer than %d bytes", JOBLINE_MAX_BYTES);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return err_set(err, errsz, -EINVAL, "control character 0x%02x at byte %zu", c,
				    i);
	}
	/* A word is never longer than the line, so one scratch buffer holds any. */
	buf = malloc(len + 1);
	out->words = calloc(JOBLINE_MAX_WORDS + 1, sizeof(*out->words));
	if (!buf || !out->words) {
		free(buf);
		jobline_release(out);
		return err_set(err, errsz, -ENOMEM, "out of memory");
	}
	r = split(line, len, buf, out, err, errsz);
	free(buf);
	if (r == 0 && out->nwords == 0)
		r = err_set(err, errsz, -EINVAL, "empty job line");
	if (r < 0)
		jobline_release(out);
	return r;
}

int jobline_resolve(const struct jobline *jl, const struct manifest *m,
		    const struct manifest_entry **entry, char ***argv, char *err, size_t errsz)
{
	const struct manifest_entry *e = NULL;
	size_t first = 1, nargs, total, size;
	char **v, *p;

	*entry = NULL;
	*argv = NULL;
	if (jl->nwords < 1)
		return err_set(err, errsz, -EINVAL, "empty job line");
	if (jl->nwords >= 2) {
		e = manifest_entry(m, jl->words[1]);
		if (e)
			first = 2;
	}
	if (!e && m->default_entry)
		e = manifest_entry(m, m->default_entry);
	if (!e) {
		if (jl->nwords >= 2)
			return err_set(err, errsz, -ENOENT, "unknown entry '%.64s' in %.64s",
				    jl->words[1], jl->words[0]);
		return err_set(err, errsz, -ENOENT, "%.64s has no default entry: name one",
			    jl->words[0]);
	}
	nargs = jl->nwords - first;
	if (nargs > 0 && !e->host_args)
		return err_set(err, errsz, -EPERM, "entry '%s' takes no arguments from the host",
			    e->name);

	/* Both counts are bounded (256 each), and so are the string lengths. */
	total = e->argc + nargs;
	size = (total + 1) * sizeof(char *);
	for (size_t i = 0; i < e->argc; i++)
		size += strlen(e->argv[i]) + 1;
	for (size_t i = first; i < jl->nwords; i++)
		size += strlen(jl->words[i]) + 1;
	v = malloc(size);
	if (!v)
		return err_set(err, errsz, -ENOMEM, "out of memory");
	p = (char *)(v + total + 1);
	for (size_t i = 0; i < total; i++) {
		const char *s = i < e->argc ? e->argv[i] : jl->words[first + i - e->argc];
		size_t n = strlen(s) + 1;

		memcpy(p, s, n);
		v[i] = p;
		p += n;
	}
	v[total] = NULL;
	*entry = e;
	*argv = v;
	return 0;
}
