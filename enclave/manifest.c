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

static int parse_entry(const char *name, json_t *obj, struct manifest_entry *e, char *err,
		       size_t errsz)
{
	static const char *const keys[] = { "argv", "host_args", "timeout_s", NULL };
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
		free(e->name);
	}
	free(m->entries);
	free(m->name);
	free(m->version);
	free(m->default_entry);
	free(m);
}

static json_t *entry_to_json(const struct manifest_entry *e)
{
	json_t *obj, *argv;

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
	if (json_object_set_new(obj, "host_args", json_boolean(e->host_args)) < 0 ||
	    json_object_set_new(obj, "timeout_s", json_integer(e->timeout_s)) < 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
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
