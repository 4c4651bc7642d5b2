#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobline.h"
#include "pathsafe.h"
#include "util.h"

/* A host word for a message: at most QUOTE_MAX bytes, a tab (the only
 * control character a word can hold) and backslashes escaped. */
#define QUOTE_MAX  64
#define QUOTE_SIZE (4 * QUOTE_MAX + 4)
static const char *quote(char buf[static QUOTE_SIZE], const char *s)
{
	size_t o = 0, i;

	for (i = 0; s[i] && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == '\\')
			o += (size_t)sprintf(buf + o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	strcpy(buf + o, s[i] ? "..." : "");
	return buf;
}

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

/* [-]digits, nothing else, without overflow. */
static bool parse_int(const char *s, int64_t *out)
{
	bool neg = *s == '-';
	uint64_t mag = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

	s += neg;
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (*s < '0' || *s > '9' || mag > (limit - d) / 10)
			return false;
		mag = mag * 10 + d;
	}
	*out = !neg ? (int64_t)mag : mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)mag;
	return true;
}

/* One of the allowed roots, or root "/" and a canonical relative path. */
static bool path_ok(unsigned roots, const char *s)
{
	if (strnlen(s, PATH_MAX) >= PATH_MAX)
		return false;
	for (size_t i = 0; i < MANIFEST_NROOTS; i++) {
		size_t n = strlen(manifest_roots[i]);

		if (!(roots & (1u << i)) || strncmp(s, manifest_roots[i], n))
			continue;
		if (s[n] == '\0' || (s[n] == '/' && path_check(s + n + 1) == 0))
			return true;
	}
	return false;
}

/* "a, b or c" of the allowed roots or words, cut short to fit. */
static const char *choices(char *buf, size_t size, const struct manifest_value *v)
{
	size_t n = v->kind == MANIFEST_KIND_WORD ? v->nwords : MANIFEST_NROOTS, k = 0, o = 0;
	const char *items[MANIFEST_MAX_WORDS];

	for (size_t i = 0; i < n; i++)
		if (v->kind == MANIFEST_KIND_WORD)
			items[k++] = v->words[i];
		else if (v->roots & (1u << i))
			items[k++] = manifest_roots[i];
	buf[0] = '\0';
	for (size_t i = 0; i < k && o < size; i++) {
		const char *sep = i == 0 ? "" : i + 1 < k ? ", " : " or ";
		int w = snprintf(buf + o, size - o, "%s%s", sep, items[i]);

		if (w < 0 || (size_t)w >= size - o) {
			snprintf(buf + (o < size - 4 ? o : size - 4), 4, "...");
			break;
		}
		o += (size_t)w;
	}
	return buf;
}

/* Checks value (the host's word) against v; what names the option or the
 * positional argument for the message. */
static int check_value(const struct manifest_value *v, const char *value, const char *what,
		       const struct manifest_entry *e, char *err, size_t errsz)
{
	char q[QUOTE_SIZE], c[256];
	int64_t n;

	if (value[0] == '-' && v->kind != MANIFEST_KIND_INT)
		return err_set(err, errsz, -EINVAL,
			       "'%s': %s of entry '%s' takes a %s, which cannot start with '-'",
			       quote(q, value), what, e->name, manifest_kind_name(v->kind));
	switch (v->kind) {
	case MANIFEST_KIND_PATH:
		if (!path_ok(v->roots, value))
			return err_set(err, errsz, -EINVAL,
				       "'%s': %s of entry '%s' takes a path under %s (the root, or "
				       "the root and '/' then a path without empty, '.' or '..' "
				       "components or a trailing '/')",
				       quote(q, value), what, e->name, choices(c, sizeof(c), v));
		return 0;
	case MANIFEST_KIND_INT:
		if (!parse_int(value, &n))
			return err_set(err, errsz, -EINVAL,
				       "'%s': %s of entry '%s' takes a decimal integer",
				       quote(q, value), what, e->name);
		if (n < v->min || n > v->max)
			return err_set(
			    err, errsz, -EINVAL,
			    "'%s': %s of entry '%s' takes an integer in the range it declares",
			    quote(q, value), what, e->name);
		return 0;
	case MANIFEST_KIND_WORD:
		for (size_t i = 0; i < v->nwords; i++)
			if (!strcmp(value, v->words[i]))
				return 0;
		return err_set(err, errsz, -EINVAL, "'%s': %s of entry '%s' takes one of %s",
			       quote(q, value), what, e->name, choices(c, sizeof(c), v));
	default: return 0;
	}
}

/* Checks the host's words against e's declared options and positionals. */
static int check_args(const struct manifest_entry *e, char *const *words, size_t n, char *err,
		      size_t errsz)
{
	char q[QUOTE_SIZE], what[MANIFEST_MAX_OPTION_NAME + 16];
	bool options = true;
	uint32_t npos = 0;
	int r;

	for (size_t i = 0; i < n; i++) {
		const char *w = words[i], *value = NULL, *eq;
		const struct manifest_option *o;

		if (options && !strcmp(w, "--")) {
			options = false;
			continue;
		}
		if (options && w[0] == '-') {
			o = manifest_option(e, w, strlen(w));
			if (!o && w[1] == '-' && (eq = strchr(w, '='))) {
				o = manifest_option(e, w, (size_t)(eq - w));
				if (o && o->value.kind == MANIFEST_KIND_FLAG)
					return err_set(
					    err, errsz, -EPERM,
					    "'%s': option '%s' of entry '%s' takes no value",
					    quote(q, w), o->name, e->name);
				value = eq + 1;
			}
			if (!o)
				return err_set(err, errsz, -EPERM,
					       "'%s' is not an option of entry '%s'", quote(q, w),
					       e->name);
			if (o->value.kind == MANIFEST_KIND_FLAG)
				continue;
			if (!value) {
				if (i + 1 == n)
					return err_set(
					    err, errsz, -EINVAL,
					    "option '%s' of entry '%s' needs a value (%s)", o->name,
					    e->name, manifest_kind_name(o->value.kind));
				value = words[++i];
			}
			snprintf(what, sizeof(what), "option '%s'", o->name);
			r = check_value(&o->value, value, what, e, err, errsz);
			if (r < 0)
				return r;
			continue;
		}
		if (e->positional_max == 0)
			return err_set(err, errsz, -EPERM,
				       "'%s': entry '%s' takes no positional argument", quote(q, w),
				       e->name);
		if (++npos > e->positional_max)
			return err_set(err, errsz, -EPERM,
				       "'%s': entry '%s' takes at most %u positional arguments",
				       quote(q, w), e->name, e->positional_max);
		r = check_value(&e->positional, w, "a positional argument", e, err, errsz);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The manifest's entry names for a message, ", "-separated, in its order;
 * cut with "..." where they do not fit. */
#define ENTRY_LIST_MAX 320
static void entry_names(const struct manifest *m, char *buf, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < m->nentries; i++) {
		int r = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", m->entries[i].name);

		if (r < 0 || (size_t)r >= n - used - 4) {
			snprintf(buf + used, n - used, "%s...", i ? ", " : "");
			return;
		}
		used += (size_t)r;
	}
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
	if (jl->nwords >= 2 && strcmp(jl->words[1], "--") == 0) {
		first = 2; /* PACKAGE -- ARGS: the default entry's arguments */
	} else if (jl->nwords >= 2) {
		e = manifest_entry(m, jl->words[1]);
		if (!e) {
			char q[QUOTE_SIZE], names[ENTRY_LIST_MAX];

			entry_names(m, names, sizeof(names));
			if (m->default_entry)
				return err_set(err, errsz, -ENOENT,
					       "no entry '%s' in %.64s; entries: %s (arguments for the "
					       "default entry '%s': %.64s -- ARGS)", quote(q, jl->words[1]),
					       jl->words[0], names, m->default_entry, jl->words[0]);
			return err_set(err, errsz, -ENOENT, "no entry '%s' in %.64s; entries: %s",
				       quote(q, jl->words[1]), jl->words[0], names);
		}
		first = 2;
	}
	if (!e && m->default_entry)
		e = manifest_entry(m, m->default_entry);
	if (!e) {
		char names[ENTRY_LIST_MAX];

		entry_names(m, names, sizeof(names));
		return err_set(err, errsz, -ENOENT, "%.64s has no default entry: name one of %s",
			       jl->words[0], names);
	}
	nargs = jl->nwords - first;
	if (nargs > 0 && !e->host_args) {
		int r;

		if (e->noptions == 0 && e->positional_max == 0)
			return err_set(err, errsz, -EPERM,
				       "entry '%s' takes no arguments from the host", e->name);
		r = check_args(e, jl->words + first, nargs, err, errsz);
		if (r < 0)
			return r;
	}

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
