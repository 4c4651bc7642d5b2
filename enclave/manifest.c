#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"
#include "pathsafe.h"
#include "util.h"

const char *const manifest_roots[MANIFEST_NROOTS] = { "/dataset", "/model", "/output" };

static const char *const kind_names[] = {
	[MANIFEST_KIND_FLAG] = "flag", [MANIFEST_KIND_PATH] = "path", [MANIFEST_KIND_INT] = "int",
	[MANIFEST_KIND_WORD] = "word", [MANIFEST_KIND_TEXT] = "text",
};

const char *manifest_kind_name(enum manifest_kind kind)
{
	return (size_t)kind < ARRAY_SIZE(kind_names) ? kind_names[kind] : "?";
}

/* A short printable rendering of an untrusted string for error messages, so
 * that input cannot smuggle control characters into a log line. */
#define QUOTE_MAX 100
#define QUOTE_SIZE (QUOTE_MAX + 8)
static const char *quote(char buf[static QUOTE_SIZE], const char *s)
{
	size_t o = 0;

	for (; *s && o < QUOTE_MAX; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == '\\')
			o += (size_t)sprintf(buf + o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	strcpy(buf + o, *s ? "..." : "");
	return buf;
}

/* The value of a JSON string without NUL bytes (parsed with JSON_ALLOW_NUL so
 * that a NUL is reported against its field), or NULL. */
static const char *str_value(const json_t *v)
{
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MANIFEST_MAX_NAME || s[0] == '.')
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static bool valid_version(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MANIFEST_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

/* Refuses any key of obj not in the NULL-terminated list known. */
static int check_keys(json_t *obj, const char *const *known, const char *where, char *err,
		      size_t errsz)
{
	const char *key;
	json_t *v;
	char q[QUOTE_SIZE];

	json_object_foreach (obj, key, v) {
		size_t i;

		for (i = 0; known[i]; i++)
			if (!strcmp(key, known[i]))
				break;
		if (!known[i])
			return err_set(err, errsz, -EINVAL, "%sunknown key '%s'", where, quote(q, key));
	}
	return 0;
}

/* "-X" with X an ASCII letter or digit, or "--" then 1..63 of [A-Za-z0-9-]
 * not starting with '-'. No '=' can occur, so "--name=VALUE" is never a name. */
static bool valid_option_name(const char *s)
{
	static const char alnum[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	size_t n = strlen(s);

	if (n == 2 && s[0] == '-')
		return strchr(alnum, s[1]) != NULL;
	if (n < 3 || n > MANIFEST_MAX_OPTION_NAME || s[0] != '-' || s[1] != '-' || s[2] == '-')
		return false;
	for (size_t i = 2; i < n; i++)
		if (s[i] != '-' && !strchr(alnum, s[i]))
			return false;
	return true;
}

/* 1..256 bytes, no leading '-', no control character (the word is compared
 * with a job line's word, which never holds one but a tab). */
static bool valid_word(const json_t *v)
{
	const char *s = str_value(v);
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n < 1 || n > MANIFEST_MAX_WORD || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int parse_under(json_t *v, const char *where, struct manifest_value *val, char *err,
		       size_t errsz)
{
	json_t *r;
	size_t i;

	if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > MANIFEST_NROOTS)
		return err_set(
		    err, errsz, -EINVAL,
		    "%s.under: must be a non-empty array of \"/dataset\", \"/model\", \"/output\"",
		    where);
	val->roots = 0;
	json_array_foreach (v, i, r) {
		const char *s = str_value(r);
		unsigned k;

		for (k = 0; s && k < MANIFEST_NROOTS; k++)
			if (!strcmp(s, manifest_roots[k]))
				break;
		if (!s || k == MANIFEST_NROOTS)
			return err_set(
			    err, errsz, -EINVAL,
			    "%s.under[%zu]: must be \"/dataset\", \"/model\" or \"/output\"", where,
			    i);
		if (val->roots & (1u << k))
			return err_set(err, errsz, -EINVAL, "%s.under[%zu]: '%s' is listed twice",
				       where, i, s);
		val->roots |= 1u << k;
	}
	return 0;
}

static int parse_bound(json_t *obj, const char *key, const char *where, int64_t *out, char *err,
		       size_t errsz)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	/* json_int_t is long long: every JSON integer jansson accepts fits. */
	if (!json_is_integer(v))
		return err_set(err, errsz, -EINVAL, "%s.%s: must be an integer", where, key);
	*out = (int64_t)json_integer_value(v);
	return 0;
}

static int parse_words(json_t *v, const char *where, struct manifest_value *val, char *err,
		       size_t errsz)
{
	char q[QUOTE_SIZE];
	json_t *w;
	size_t i;

	if (!v)
		return err_set(err, errsz, -EINVAL, "%s.words: missing", where);
	if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > MANIFEST_MAX_WORDS)
		return err_set(err, errsz, -EINVAL, "%s.words: must be an array of 1..%d strings",
			       where, MANIFEST_MAX_WORDS);
	val->words = calloc(json_array_size(v) + 1, sizeof(*val->words));
	if (!val->words)
		return -ENOMEM;
	json_array_foreach (v, i, w) {
		if (!valid_word(w))
			return err_set(err, errsz, -EINVAL,
				       "%s.words[%zu]: must be a string of 1..%d bytes, without a "
				       "leading '-' or a control character",
				       where, i, MANIFEST_MAX_WORD);
		for (size_t j = 0; j < val->nwords; j++)
			if (!strcmp(val->words[j], json_string_value(w)))
				return err_set(err, errsz, -EINVAL,
					       "%s.words[%zu]: '%s' is listed twice", where, i,
					       quote(q, json_string_value(w)));
		val->words[val->nwords] = strdup(json_string_value(w));
		if (!val->words[val->nwords])
			return -ENOMEM;
		val->nwords++;
	}
	return 0;
}

/* A value kind: a string shorthand ("flag", "path", "int", "text") or an
 * object {"kind": K, ...} with the keys of K. For a positional declaration
 * (max != NULL) the object also carries "max", the count, and so an int
 * positional takes no bounds of its own. */
static int parse_value(json_t *v, const char *where, uint32_t *max, struct manifest_value *val,
		       char *err, size_t errsz)
{
	static const char *const keys[][5] = {
		[MANIFEST_KIND_FLAG] = { "kind", NULL },
		[MANIFEST_KIND_PATH] = { "kind", "under", NULL },
		[MANIFEST_KIND_INT] = { "kind", "min", "max", NULL },
		[MANIFEST_KIND_WORD] = { "kind", "words", NULL },
		[MANIFEST_KIND_TEXT] = { "kind", NULL },
	};
	static const char *const positional_keys[][5] = {
		[MANIFEST_KIND_FLAG] = { NULL },
		[MANIFEST_KIND_PATH] = { "kind", "under", "max", NULL },
		[MANIFEST_KIND_INT] = { "kind", "max", NULL },
		[MANIFEST_KIND_WORD] = { "kind", "words", "max", NULL },
		[MANIFEST_KIND_TEXT] = { "kind", "max", NULL },
	};
	const char *kind;
	json_t *k, *n;
	size_t i;
	int r;

	val->roots = MANIFEST_ROOTS_ALL;
	val->min = INT64_MIN;
	val->max = INT64_MAX;
	if (json_is_string(v) && !max) {
		kind = str_value(v);
		for (i = 0; kind && i < ARRAY_SIZE(kind_names); i++)
			if (i != MANIFEST_KIND_WORD && !strcmp(kind, kind_names[i])) {
				val->kind = (enum manifest_kind)i;
				return 0;
			}
		return err_set(
		    err, errsz, -EINVAL,
		    "%s: must be \"flag\", \"path\", \"int\", \"text\" or an object with \"kind\"",
		    where);
	}
	if (!json_is_object(v))
		return err_set(err, errsz, -EINVAL,
			       max ? "%s: must be an object with \"kind\" and \"max\""
				   : "%s: must be a kind name or an object with \"kind\"",
			       where);
	k = json_object_get(v, "kind");
	if (!k)
		return err_set(err, errsz, -EINVAL, "%s.kind: missing", where);
	kind = str_value(k);
	for (i = 0; kind && i < ARRAY_SIZE(kind_names); i++)
		if (!strcmp(kind, kind_names[i]))
			break;
	if (!kind || i == ARRAY_SIZE(kind_names) || (max && i == MANIFEST_KIND_FLAG))
		return err_set(
		    err, errsz, -EINVAL,
		    max ? "%s.kind: must be \"path\", \"int\", \"word\" or \"text\""
			: "%s.kind: must be \"flag\", \"path\", \"int\", \"word\" or \"text\"",
		    where);
	val->kind = (enum manifest_kind)i;
	{
		char w[192];

		snprintf(w, sizeof(w), "%s: ", where);
		r = check_keys(v, max ? positional_keys[i] : keys[i], w, err, errsz);
		if (r < 0)
			return r;
	}

	switch (val->kind) {
	case MANIFEST_KIND_PATH:
		if ((n = json_object_get(v, "under")) &&
		    (r = parse_under(n, where, val, err, errsz)) < 0)
			return r;
		break;
	case MANIFEST_KIND_INT:
		if (max)
			break;
		if ((r = parse_bound(v, "min", where, &val->min, err, errsz)) < 0 ||
		    (r = parse_bound(v, "max", where, &val->max, err, errsz)) < 0)
			return r;
		if (val->min > val->max)
			return err_set(err, errsz, -EINVAL, "%s: min must not be above max", where);
		break;
	case MANIFEST_KIND_WORD:
		if ((r = parse_words(json_object_get(v, "words"), where, val, err, errsz)) < 0)
			return r;
		break;
	default: break;
	}

	if (max) {
		n = json_object_get(v, "max");
		if (!n)
			return err_set(err, errsz, -EINVAL, "%s.max: missing", where);
		if (!json_is_integer(n) || json_integer_value(n) < 1 ||
		    json_integer_value(n) > MANIFEST_MAX_POSITIONAL)
			return err_set(err, errsz, -EINVAL, "%s.max: must be an integer 1..%d",
				       where, MANIFEST_MAX_POSITIONAL);
		*max = (uint32_t)json_integer_value(n);
	}
	return 0;
}

static int parse_args(const char *name, json_t *args, struct manifest_entry *e, char *err,
		      size_t errsz)
{
	char where[192], q[QUOTE_SIZE];
	const char *key;
	json_t *v;
	int r;

	if (!json_is_object(args) || json_object_size(args) > MANIFEST_MAX_OPTIONS)
		return err_set(err, errsz, -EINVAL,
			       "entries.%s.args: must be an object of at most %d options", name,
			       MANIFEST_MAX_OPTIONS);
	e->options = calloc(json_object_size(args) + 1, sizeof(*e->options));
	if (!e->options)
		return -ENOMEM;
	json_object_foreach (args, key, v) {
		struct manifest_option *o = &e->options[e->noptions];

		if (!valid_option_name(key))
			return err_set(
			    err, errsz, -EINVAL,
			    "entries.%s.args: invalid option name '%s' (-X with one letter or "
			    "digit, or --name with 1..63 of [A-Za-z0-9-] not starting with '-')",
			    name, quote(q, key));
		snprintf(where, sizeof(where), "entries.%s.args.%s", name, key);
		o->name = strdup(key);
		if (!o->name)
			return -ENOMEM;
		/* Counted before parsing: manifest_free() releases a partial option. */
		e->noptions++;
		r = parse_value(v, where, NULL, &o->value, err, errsz);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_stderr(const char *name, json_t *v, struct manifest_entry *e, char *err,
			size_t errsz)
{
	static const char *const keys[] = { "last", NULL };
	const char *s = str_value(v);
	json_t *n;

	if (s && !strcmp(s, "none")) {
		e->stderr_policy = MANIFEST_STDERR_NONE;
		return 0;
	}
	if (s && !strcmp(s, "all")) {
		e->stderr_policy = MANIFEST_STDERR_ALL;
		return 0;
	}
	if (json_is_object(v) && check_keys(v, keys, "", NULL, 0) == 0 &&
	    (n = json_object_get(v, "last")) && json_is_integer(n) && json_integer_value(n) >= 1 &&
	    json_integer_value(n) <= MANIFEST_MAX_STDERR_LINES) {
		e->stderr_policy = MANIFEST_STDERR_LAST;
		e->stderr_lines = (uint32_t)json_integer_value(n);
		return 0;
	}
	return err_set(err, errsz, -EINVAL,
		       "entries.%s.stderr: must be \"none\", \"all\" or {\"last\": 1..%d}", name,
		       MANIFEST_MAX_STDERR_LINES);
}

static int parse_entry(const char *name, json_t *obj, struct manifest_entry *e, char *err,
		       size_t errsz)
{
	static const char *const keys[] = { "argv",   "host_args", "args", "positional",
					    "stderr", "timeout_s", NULL };
	char where[96], q[QUOTE_SIZE];
	json_t *argv, *v;
	size_t i;
	int r;

	if (!valid_name(name))
		return err_set(err, errsz, -EINVAL,
			    "entries: invalid entry name '%s' (1..64 of [A-Za-z0-9._-], no leading '.')",
			    quote(q, name));
	snprintf(where, sizeof(where), "entries.%s: ", name);
	if (!json_is_object(obj))
		return err_set(err, errsz, -EINVAL, "entries.%s: must be an object", name);
	r = check_keys(obj, keys, where, err, errsz);
	if (r < 0)
		return r;

	argv = json_object_get(obj, "argv");
	if (!argv)
		return err_set(err, errsz, -EINVAL, "entries.%s.argv: missing", name);
	if (!json_is_array(argv) || json_array_size(argv) < 1 ||
	    json_array_size(argv) > MANIFEST_MAX_ARGC)
		return err_set(err, errsz, -EINVAL, "entries.%s.argv: must be an array of 1..%d strings",
			    name, MANIFEST_MAX_ARGC);
	e->argc = json_array_size(argv);
	e->argv = calloc(e->argc + 1, sizeof(*e->argv));
	if (!e->argv)
		return -ENOMEM;
	json_array_foreach (argv, i, v) {
		if (!str_value(v) || json_string_length(v) < 1 ||
		    json_string_length(v) > MANIFEST_MAX_ARG)
			return err_set(err, errsz, -EINVAL,
				    "entries.%s.argv[%zu]: must be a string of 1..%d bytes", name, i,
				    MANIFEST_MAX_ARG);
		e->argv[i] = strdup(json_string_value(v));
		if (!e->argv[i])
			return -ENOMEM;
	}

	v = json_object_get(obj, "host_args");
	if (v && !json_is_boolean(v))
		return err_set(err, errsz, -EINVAL, "entries.%s.host_args: must be true or false",
			    name);
	e->host_args = v && json_is_true(v);
	if (e->host_args && (json_object_get(obj, "args") || json_object_get(obj, "positional")))
		return err_set(err, errsz, -EINVAL,
			       "entries.%s: host_args: true (any argument) cannot be combined with "
			       "args or positional",
			       name);

	v = json_object_get(obj, "args");
	if (v && (r = parse_args(name, v, e, err, errsz)) < 0)
		return r;

	v = json_object_get(obj, "positional");
	if (v) {
		char w[96];

		snprintf(w, sizeof(w), "entries.%s.positional", name);
		r = parse_value(v, w, &e->positional_max, &e->positional, err, errsz);
		if (r < 0)
			return r;
	}

	v = json_object_get(obj, "stderr");
	if (v && (r = parse_stderr(name, v, e, err, errsz)) < 0)
		return r;

	v = json_object_get(obj, "timeout_s");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
		  json_integer_value(v) > MANIFEST_MAX_TIMEOUT_S))
		return err_set(err, errsz, -EINVAL, "entries.%s.timeout_s: must be an integer 1..%d",
			    name, MANIFEST_MAX_TIMEOUT_S);
	e->timeout_s = v ? (uint32_t)json_integer_value(v) : MANIFEST_DEFAULT_TIMEOUT_S;

	e->name = strdup(name);
	return e->name ? 0 : -ENOMEM;
}

static int parse_root(json_t *root, struct manifest *m, char *err, size_t errsz)
{
	static const char *const keys[] = { "name", "version", "entries", "default", NULL };
	const char *key;
	json_t *v, *entries;
	char q[QUOTE_SIZE];
	int r;

	if (!json_is_object(root))
		return err_set(err, errsz, -EINVAL, "the manifest must be a JSON object");
	r = check_keys(root, keys, "", err, errsz);
	if (r < 0)
		return r;

	v = json_object_get(root, "name");
	if (!v)
		return err_set(err, errsz, -EINVAL, "name: missing");
	if (!str_value(v) || !valid_name(json_string_value(v)))
		return err_set(err, errsz, -EINVAL,
			    "name: must be 1..64 of [A-Za-z0-9._-], not starting with '.'");
	m->name = strdup(json_string_value(v));
	if (!m->name)
		return -ENOMEM;

	v = json_object_get(root, "version");
	if (!v)
		return err_set(err, errsz, -EINVAL, "version: missing");
	if (!str_value(v) || !valid_version(json_string_value(v)))
		return err_set(err, errsz, -EINVAL, "version: must be 1..64 printable ASCII characters");
	m->version = strdup(json_string_value(v));
	if (!m->version)
		return -ENOMEM;

	entries = json_object_get(root, "entries");
	if (!entries)
		return err_set(err, errsz, -EINVAL, "entries: missing");
	if (!json_is_object(entries) || json_object_size(entries) < 1 ||
	    json_object_size(entries) > MANIFEST_MAX_ENTRIES)
		return err_set(err, errsz, -EINVAL, "entries: must be an object with 1..%d entries",
			    MANIFEST_MAX_ENTRIES);
	m->entries = calloc(json_object_size(entries), sizeof(*m->entries));
	if (!m->entries)
		return -ENOMEM;
	json_object_foreach (entries, key, v) {
		r = parse_entry(key, v, &m->entries[m->nentries], err, errsz);
		/* Counted even on failure: manifest_free() releases a partial entry. */
		m->nentries++;
		if (r < 0)
			return r;
	}

	v = json_object_get(root, "default");
	if (v) {
		if (!str_value(v))
			return err_set(err, errsz, -EINVAL, "default: must be a string");
		if (!manifest_entry(m, json_string_value(v)))
			return err_set(err, errsz, -EINVAL, "default: '%s' is not an entry",
				    quote(q, json_string_value(v)));
		m->default_entry = strdup(json_string_value(v));
		if (!m->default_entry)
			return -ENOMEM;
	}
	return 0;
}

int manifest_parse(const char *json, size_t len, struct manifest **out, char *err, size_t errsz)
{
	char q[QUOTE_SIZE];
	struct manifest *m;
	json_error_t jerr;
	json_t *root;
	int r;

	*out = NULL;
	if (len > MANIFEST_MAX_BYTES)
		return err_set(err, errsz, -EFBIG, "larger than %d bytes", MANIFEST_MAX_BYTES);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!root) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			return err_set(err, errsz, -ENOMEM, "out of memory");
		return err_set(err, errsz, -EINVAL, "line %d column %d: %s", jerr.line, jerr.column,
			    quote(q, jerr.text));
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		json_decref(root);
		return -ENOMEM;
	}
	r = parse_root(root, m, err, errsz);
	json_decref(root);
	if (r < 0) {
		manifest_free(m);
		return r == -ENOMEM ? err_set(err, errsz, r, "out of memory") : r;
	}
	*out = m;
	return 0;
}

int manifest_load(int dirfd, const char *path, struct manifest **out, char *err, size_t errsz)
{
	struct stat st;
	ssize_t n;
	char *buf, q[QUOTE_SIZE];
	int fd, r;

	*out = NULL;
	/* O_NONBLOCK: a FIFO in its place must not hang us before the S_ISREG check. */
	fd = path_openat(dirfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd == -ENOENT)
		return err_set(err, errsz, fd, "%s: missing", quote(q, path));
	if (fd == -ELOOP)
		return err_set(err, errsz, fd, "%s: is or is reached through a symlink", quote(q, path));
	if (fd < 0)
		return err_set(err, errsz, fd, "%s: %s", quote(q, path), strerror(-fd));
	if (fstat(fd, &st) < 0) {
		r = neg_errno();
		safe_close(fd);
		return err_set(err, errsz, r, "%s: %s", quote(q, path), strerror(-r));
	}
	if (!S_ISREG(st.st_mode)) {
		safe_close(fd);
		return err_set(err, errsz, -EINVAL, "%s: not a regular file", quote(q, path));
	}
	buf = malloc(MANIFEST_MAX_BYTES + 1);
	if (!buf) {
		safe_close(fd);
		return -ENOMEM;
	}
	n = io_read_all(fd, buf, MANIFEST_MAX_BYTES + 1);
	safe_close(fd);
	if (n < 0)
		r = err_set(err, errsz, (int)n, "%s: %s", quote(q, path), strerror((int)-n));
	else if (n > MANIFEST_MAX_BYTES)
		r = err_set(err, errsz, -EFBIG, "%s: larger than %d bytes", quote(q, path),
			 MANIFEST_MAX_BYTES);
	else
		r = manifest_parse(buf, (size_t)n, out, err, errsz);
	free(buf);
	return r;
}

const struct manifest_entry *manifest_entry(const struct manifest *m, const char *name)
{
	for (size_t i = 0; i < m->nentries; i++)
		if (m->entries[i].name && !strcmp(m->entries[i].name, name))
			return &m->entries[i];
	return NULL;
}

const struct manifest_option *manifest_option(const struct manifest_entry *e, const char *name,
					      size_t len)
{
	for (size_t i = 0; i < e->noptions; i++)
		if (!strncmp(e->options[i].name, name, len) && e->options[i].name[len] == '\0')
			return &e->options[i];
	return NULL;
}

static void value_release(struct manifest_value *v)
{
	if (v->words)
		for (size_t i = 0; i < v->nwords; i++)
			free(v->words[i]);
	free(v->words);
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nentries; i++) {
		struct manifest_entry *e = &m->entries[i];

		if (e->argv)
			for (size_t j = 0; j < e->argc; j++)
				free(e->argv[j]);
		free(e->argv);
		for (size_t j = 0; j < e->noptions; j++) {
			free(e->options[j].name);
			value_release(&e->options[j].value);
		}
		free(e->options);
		value_release(&e->positional);
		free(e->name);
	}
	free(m->entries);
	free(m->name);
	free(m->version);
	free(m->default_entry);
	free(m);
}

/* A value in the object form with every field explicit (jansson's setters
 * fail on a NULL value, so an allocation failure anywhere is caught). With
 * max > 0 it is a positional declaration and carries the count. */
static json_t *value_to_json(const struct manifest_value *v, uint32_t max)
{
	json_t *obj = json_object(), *a;

	if (!obj || json_object_set_new(obj, "kind", json_string(manifest_kind_name(v->kind))) < 0)
		goto fail;
	switch (v->kind) {
	case MANIFEST_KIND_PATH:
		if (!(a = json_array()) || json_object_set_new(obj, "under", a) < 0)
			goto fail;
		for (size_t i = 0; i < MANIFEST_NROOTS; i++)
			if ((v->roots & (1u << i)) &&
			    json_array_append_new(a, json_string(manifest_roots[i])) < 0)
				goto fail;
		break;
	case MANIFEST_KIND_INT:
		if (max)
			break;
		if (json_object_set_new(obj, "min", json_integer(v->min)) < 0 ||
		    json_object_set_new(obj, "max", json_integer(v->max)) < 0)
			goto fail;
		break;
	case MANIFEST_KIND_WORD:
		if (!(a = json_array()) || json_object_set_new(obj, "words", a) < 0)
			goto fail;
		for (size_t i = 0; i < v->nwords; i++)
			if (json_array_append_new(a, json_string(v->words[i])) < 0)
				goto fail;
		break;
	default: break;
	}
	if (max && json_object_set_new(obj, "max", json_integer(max)) < 0)
		goto fail;
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

static json_t *stderr_to_json(const struct manifest_entry *e)
{
	switch (e->stderr_policy) {
	case MANIFEST_STDERR_ALL: return json_string("all");
	case MANIFEST_STDERR_LAST: return json_pack("{sI}", "last", (json_int_t)e->stderr_lines);
	default: return json_string("none");
	}
}

static json_t *entry_to_json(const struct manifest_entry *e)
{
	json_t *obj, *argv, *args;

	argv = json_array();
	if (!argv)
		return NULL;
	for (size_t i = 0; i < e->argc; i++)
		if (json_array_append_new(argv, json_string(e->argv[i])) < 0) {
			json_decref(argv);
			return NULL;
		}
	obj = json_object();
	if (!obj || json_object_set_new(obj, "argv", argv) < 0) {
		json_decref(obj);
		return NULL;
	}
	if (json_object_set_new(obj, "host_args", json_boolean(e->host_args)) < 0)
		goto fail;
	/* host_args excludes a declaration; otherwise "args" says explicitly
	 * which options there are, none included. */
	if (!e->host_args) {
		if (!(args = json_object()) || json_object_set_new(obj, "args", args) < 0)
			goto fail;
		for (size_t i = 0; i < e->noptions; i++)
			if (json_object_set_new(args, e->options[i].name,
						value_to_json(&e->options[i].value, 0)) < 0)
				goto fail;
		if (e->positional_max &&
		    json_object_set_new(obj, "positional",
					value_to_json(&e->positional, e->positional_max)) < 0)
			goto fail;
	}
	if (json_object_set_new(obj, "stderr", stderr_to_json(e)) < 0 ||
	    json_object_set_new(obj, "timeout_s", json_integer(e->timeout_s)) < 0)
		goto fail;
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

char *manifest_to_json(const struct manifest *m)
{
	json_t *root, *entries;
	char *s = NULL;

	root = json_object();
	entries = json_object();
	if (!root || !entries)
		goto out;
	if (json_object_set_new(root, "name", json_string(m->name)) < 0 ||
	    json_object_set_new(root, "version", json_string(m->version)) < 0)
		goto out;
	for (size_t i = 0; i < m->nentries; i++)
		if (json_object_set_new(entries, m->entries[i].name,
					entry_to_json(&m->entries[i])) < 0)
			goto out;
	if (json_object_set(root, "entries", entries) < 0)
		goto out;
	if (m->default_entry &&
	    json_object_set_new(root, "default", json_string(m->default_entry)) < 0)
		goto out;
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
out:
	json_decref(entries);
	json_decref(root);
	return s;
}
