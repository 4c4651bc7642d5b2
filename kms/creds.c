/* AWS credentials and region from the environment, profile files and
 * IMDSv2 (creds.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "bodybuf.h"
#include "creds.h"
#include "util.h"

#define FILE_MAX (1u << 20)
#define IMDS_BODY_MAX 65536u
#define IMDS_TIMEOUT_MS 2000L
#define IMDS_DEFAULT "http://169.254.169.254"
#define IMDS_TOKEN_TTL "21600"

int aws_creds_source_parse(const char *s, enum aws_creds_source *out)
{
	static const struct {
		const char *name;
		enum aws_creds_source src;
	} t[] = { { "none", AWS_CREDS_NONE },
		  { "env", AWS_CREDS_ENV },
		  { "profile", AWS_CREDS_PROFILE },
		  { "imds", AWS_CREDS_IMDS } };

	for (size_t i = 0; s && i < sizeof(t) / sizeof(t[0]); i++) {
		if (!strcmp(s, t[i].name)) {
			*out = t[i].src;
			return 0;
		}
	}
	return -EINVAL;
}

void aws_creds_wipe(struct aws_creds *c)
{
	OPENSSL_cleanse(c, sizeof(*c));
}

bool aws_region_valid(const char *r)
{
	size_t n = r ? strlen(r) : 0;

	if (n == 0 || n >= AWS_REGION_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
			return false;
	return true;
}

static bool file_has(const char *path, const char *text)
{
	char buf[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

bool aws_on_ec2(void)
{
	return file_has("/sys/devices/virtual/dmi/id/sys_vendor", "Amazon EC2") ||
	       file_has("/sys/devices/virtual/dmi/id/board_vendor", "Amazon EC2");
}

/* $HOME/rel, or the explicit variable's value. */
static int aws_file(const char *var, const char *rel, char *out, size_t outsz)
{
	const char *v = getenv(var), *home = getenv("HOME");

	if (v && *v)
		return snprintf(out, outsz, "%s", v) < (int)outsz ? 0 : -ENAMETOOLONG;
	if (!home || !*home)
		return -ENOENT;
	return snprintf(out, outsz, "%s/%s", home, rel) < (int)outsz ? 0 : -ENAMETOOLONG;
}

static const char *profile_name(void)
{
	const char *p = getenv("AWS_PROFILE");

	return p && *p ? p : "default";
}

enum aws_creds_source aws_creds_source_default(void)
{
	char path[4096];
	const char *k = getenv("AWS_ACCESS_KEY_ID");

	if (k && *k)
		return AWS_CREDS_ENV;
	if (aws_on_ec2())
		return AWS_CREDS_IMDS;
	if (aws_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", path, sizeof(path)) == 0 &&
	    access(path, R_OK) == 0)
		return AWS_CREDS_PROFILE;
	return AWS_CREDS_NONE;
}

/* --- INI ------------------------------------------------------------------------------ */

static const char *trim(const char *b, const char *e, size_t *n)
{
	while (b < e && (*b == ' ' || *b == '\t'))
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	*n = (size_t)(e - b);
	return b;
}

/* The last value of key in section wins, as with the AWS tools. */
int aws_ini_get(const char *text, size_t n, const char *section, const char *key, char *out,
		size_t outsz)
{
	const char *p = text, *end = text + n;
	bool in = false, found = false;
	size_t sl = strlen(section), kl = strlen(key);
	int r = -ENOENT;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end, *l;
		size_t ln;

		l = trim(p, le, &ln);
		p = nl ? nl + 1 : end;
		if (ln == 0 || l[0] == '#' || l[0] == ';')
			continue;
		if (l[0] == '[') {
			const char *c = memchr(l, ']', ln), *nm;
			size_t nn;

			if (!c)
				return -EBADMSG;
			nm = trim(l + 1, c, &nn);
			in = nn == sl && !memcmp(nm, section, sl);
			continue;
		}
		if (in) {
			const char *eq = memchr(l, '=', ln), *k, *v;
			size_t kn, vn;

			if (!eq)
				continue;
			k = trim(l, eq, &kn);
			v = trim(eq + 1, l + ln, &vn);
			if (kn != kl || memcmp(k, key, kl) != 0)
				continue;
			if (vn >= outsz) {
				r = -EMSGSIZE;
				found = false;
				continue;
			}
			memcpy(out, v, vn);
			out[vn] = '\0';
			found = true;
			r = 0;
		}
	}
	return found ? 0 : r;
}

static int read_small(const char *path, char **out, size_t *n)
{
	struct stat st;
	char *buf;
	ssize_t k;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	*out = NULL;
	if (fd < 0)
		return neg_errno();
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)FILE_MAX) {
		r = fstat(fd, &st) < 0 ? neg_errno() : -EFBIG;
		close(fd);
		return r;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	k = io_read_all(fd, buf, (size_t)st.st_size);
	close(fd);
	if (k < 0) {
		free(buf);
		return (int)k;
	}
	buf[k] = '\0';
	*out = buf;
	*n = (size_t)k;
	return 0;
}

static void free_wiped(char *p, size_t n)
{
	if (p)
		OPENSSL_cleanse(p, n);
	free(p);
}

/* --- sources ---------------------------------------------------------------------------- */

static int copy_field(char *dst, size_t dstsz, const char *v, const char *name, char *why,
		      size_t whysz)
{
	if (!v || !*v)
		return err_set(why, whysz, -ENOENT, "%s is not set", name);
	if (strlen(v) >= dstsz)
		return err_set(why, whysz, -EBADMSG, "%s is too long", name);
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int from_env(struct aws_creds *c, char *why, size_t whysz)
{
	const char *t = getenv("AWS_SESSION_TOKEN");
	int r;

	r = copy_field(c->access_key_id, sizeof(c->access_key_id), getenv("AWS_ACCESS_KEY_ID"),
		       "AWS_ACCESS_KEY_ID", why, whysz);
	if (r == 0)
		r = copy_field(c->secret_access_key, sizeof(c->secret_access_key),
			       getenv("AWS_SECRET_ACCESS_KEY"), "AWS_SECRET_ACCESS_KEY", why, whysz);
	if (r == 0 && t && *t)
		r = copy_field(c->session_token, sizeof(c->session_token), t, "AWS_SESSION_TOKEN",
			       why, whysz);
	return r;
}

static int from_profile(struct aws_creds *c, char *why, size_t whysz)
{
	const char *prof = profile_name();
	char path[4096], *text = NULL;
	size_t n = 0;
	int r;

	r = aws_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", path, sizeof(path));
	if (r == 0)
		r = read_small(path, &text, &n);
	if (r < 0)
		return err_set(why, whysz, r == -EFBIG ? -EBADMSG : r, "credentials file %s: %s",
			       path, r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
	r = aws_ini_get(text, n, prof, "aws_access_key_id", c->access_key_id,
			sizeof(c->access_key_id));
	if (r == 0)
		r = aws_ini_get(text, n, prof, "aws_secret_access_key", c->secret_access_key,
				sizeof(c->secret_access_key));
	if (r < 0) {
		err_set(why, whysz, r == -ENOENT ? -ENOENT : -EBADMSG,
			"%s: profile [%s] has no %s", path, prof,
			r == -ENOENT ? "aws_access_key_id and aws_secret_access_key"
				     : "usable key (malformed or too long)");
		r = r == -ENOENT ? -ENOENT : -EBADMSG;
	} else if (aws_ini_get(text, n, prof, "aws_session_token", c->session_token,
			       sizeof(c->session_token)) == -EMSGSIZE) {
		r = err_set(why, whysz, -EBADMSG, "%s: [%s] aws_session_token is too long", path,
			    prof);
	}
	free_wiped(text, n);
	return r;
}

/* --- IMDSv2 ----------------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	(void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One IMDS request: PUT the token (token NULL) or GET path with it. */
static int imds_call(const char *endpoint, const char *path, const char *token, struct bodybuf *out,
		     char *why, size_t whysz)
{
	char url[1024], hdr[1024];
	struct curl_slist *h = NULL;
	long status = 0;
	CURLcode cc;
	CURL *c;
	int r = 0;

	pthread_once(&curl_once, curl_init);
	if (snprintf(url, sizeof(url), "%s%s", endpoint, path) >= (int)sizeof(url))
		return err_set(why, whysz, -EINVAL, "IMDS endpoint too long");
	c = curl_easy_init();
	if (!c)
		return -ENOMEM;
	if (token)
		snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s", token);
	else
		snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token-ttl-seconds: %s", IMDS_TOKEN_TTL);
	h = curl_slist_append(NULL, hdr);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, IMDS_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, IMDS_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bodybuf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (!token)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
	cc = curl_easy_perform(c);
	OPENSSL_cleanse(hdr, sizeof(hdr));
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc == CURLE_OPERATION_TIMEDOUT)
		r = err_set(why, whysz, -ETIMEDOUT, "IMDS at %s did not answer in time", endpoint);
	else if (cc != CURLE_OK)
		r = err_set(why, whysz, out->too_big ? -EBADMSG : -EHOSTUNREACH, "IMDS at %s: %s",
			    endpoint, out->too_big ? "answer too large" : curl_easy_strerror(cc));
	else if (status != 200)
		r = err_set(why, whysz, status == 404 ? -ENOENT : -EACCES,
			    "IMDS %s %s: HTTP %ld", token ? "GET" : "PUT", path, status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r;
}

static const char *imds_endpoint(const char *endpoint, char *buf, size_t bufsz)
{
	const char *e = endpoint ? endpoint : getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	size_t n;

	snprintf(buf, bufsz, "%s", e && *e ? e : IMDS_DEFAULT);
	n = strlen(buf);
	while (n && buf[n - 1] == '/')
		buf[--n] = '\0';
	return buf;
}

static int imds_token(const char *ep, char *token, size_t tokensz, char *why, size_t whysz)
{
	struct bodybuf b = { .max = IMDS_BODY_MAX };
	int r = imds_call(ep, "/latest/api/token", NULL, &b, why, whysz);

	if (r == 0 && (b.n == 0 || b.n >= tokensz || strcspn(b.p, "\r\n") != b.n))
		r = err_set(why, whysz, -EBADMSG, "IMDS gave a malformed token");
	if (r == 0)
		memcpy(token, b.p, b.n + 1);
	free_wiped(b.p, b.n);
	return r;
}

static int64_t parse_time(const char *s)
{
	struct tm tm;
	const char *e;

	memset(&tm, 0, sizeof(tm));
	e = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!e || *e)
		return -1;
	return (int64_t)timegm(&tm);
}

int aws_imds_parse_creds(const char *body, size_t n, struct aws_creds *c, char *why, size_t whysz)
{
	json_t *o, *v;
	json_error_t e;
	const char *names[] = { "Code", "AccessKeyId", "SecretAccessKey", "Token", "Expiration" };
	const char *s[5];
	int r = -EBADMSG;

	memset(c, 0, sizeof(*c));
	if (n > IMDS_BODY_MAX)
		return err_set(why, whysz, -EBADMSG, "IMDS credentials answer too large");
	o = json_loadb(body, n, JSON_REJECT_DUPLICATES, &e);
	if (!json_is_object(o)) {
		err_set(why, whysz, -EBADMSG, "IMDS credentials answer is not a JSON object");
		goto out;
	}
	for (int i = 0; i < 5; i++) {
		v = json_object_get(o, names[i]);
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
			err_set(why, whysz, -EBADMSG, "IMDS credentials: %s missing or not a string",
				names[i]);
			goto out;
		}
		s[i] = json_string_value(v);
	}
	if (strcmp(s[0], "Success") != 0) {
		err_set(why, whysz, -EBADMSG, "IMDS credentials: Code is not Success");
		goto out;
	}
	if (!*s[1] || !*s[2] || strlen(s[1]) >= sizeof(c->access_key_id) ||
	    strlen(s[2]) >= sizeof(c->secret_access_key) || strlen(s[3]) >= sizeof(c->session_token)) {
		err_set(why, whysz, -EBADMSG, "IMDS credentials: a field is empty or too long");
		goto out;
	}
	c->expiration = parse_time(s[4]);
	if (c->expiration <= 0) {
		err_set(why, whysz, -EBADMSG, "IMDS credentials: Expiration is not YYYY-MM-DDTHH:MM:SSZ");
		goto out;
	}
	memcpy(c->access_key_id, s[1], strlen(s[1]) + 1);
	memcpy(c->secret_access_key, s[2], strlen(s[2]) + 1);
	memcpy(c->session_token, s[3], strlen(s[3]) + 1);
	r = 0;
out:
	json_wipe_decref(o);
	if (r < 0)
		aws_creds_wipe(c);
	return r;
}

int aws_imds_creds(const char *endpoint, struct aws_creds *c, char *why, size_t whysz)
{
	char ep[512], token[1024], role[256], path[512];
	struct bodybuf b = { .max = IMDS_BODY_MAX };
	int r;

	memset(c, 0, sizeof(*c));
	imds_endpoint(endpoint, ep, sizeof(ep));
	r = imds_token(ep, token, sizeof(token), why, whysz);
	if (r < 0)
		return r;
	r = imds_call(ep, "/latest/meta-data/iam/security-credentials/", token, &b, why, whysz);
	if (r == 0) {
		size_t n = strcspn(b.p ? b.p : "", "\r\n");

		if (n == 0 || n >= sizeof(role) || strchr(b.p, '/'))
			r = err_set(why, whysz, r == 0 ? -ENOENT : r,
				    "IMDS: this instance has no usable IAM role");
		else
			snprintf(role, sizeof(role), "%.*s", (int)n, b.p);
	} else if (r == -ENOENT) {
		err_set(why, whysz, -ENOENT, "IMDS: this instance has no IAM role");
	}
	free(b.p);
	b = (struct bodybuf){ .max = IMDS_BODY_MAX };
	if (r == 0) {
		snprintf(path, sizeof(path), "/latest/meta-data/iam/security-credentials/%s", role);
		r = imds_call(ep, path, token, &b, why, whysz);
	}
	if (r == 0)
		r = aws_imds_parse_creds(b.p, b.n, c, why, whysz);
	free_wiped(b.p, b.n);
	OPENSSL_cleanse(token, sizeof(token));
	return r;
}

int aws_imds_region(const char *endpoint, char region[static AWS_REGION_MAX], char *why,
		    size_t whysz)
{
	char ep[512], token[1024];
	struct bodybuf b = { .max = IMDS_BODY_MAX };
	int r;

	imds_endpoint(endpoint, ep, sizeof(ep));
	r = imds_token(ep, token, sizeof(token), why, whysz);
	if (r == 0)
		r = imds_call(ep, "/latest/meta-data/placement/region", token, &b, why, whysz);
	if (r == 0) {
		size_t n = strcspn(b.p ? b.p : "", "\r\n");

		if (n == 0 || n >= AWS_REGION_MAX) {
			r = err_set(why, whysz, -EBADMSG, "IMDS gave a malformed region");
		} else {
			memcpy(region, b.p, n);
			region[n] = '\0';
			if (!aws_region_valid(region))
				r = err_set(why, whysz, -EBADMSG, "IMDS gave a malformed region");
		}
	}
	free(b.p);
	OPENSSL_cleanse(token, sizeof(token));
	return r;
}

int aws_creds_load(enum aws_creds_source src, struct aws_creds *c, char *why, size_t whysz)
{
	int r;

	memset(c, 0, sizeof(*c));
	switch (src) {
	case AWS_CREDS_ENV: r = from_env(c, why, whysz); break;
	case AWS_CREDS_PROFILE: r = from_profile(c, why, whysz); break;
	case AWS_CREDS_IMDS: r = aws_imds_creds(NULL, c, why, whysz); break;
	default: r = err_set(why, whysz, -ENOENT, "no source of AWS credentials"); break;
	}
	if (r < 0)
		aws_creds_wipe(c);
	return r;
}

int aws_region_load(enum aws_creds_source src, char region[static AWS_REGION_MAX], char *why,
		    size_t whysz)
{
	const char *vars[] = { "AWS_REGION", "AWS_DEFAULT_REGION" };
	char path[4096], sect[300], *text = NULL;
	size_t n = 0;

	for (int i = 0; i < 2; i++) {
		const char *v = getenv(vars[i]);

		if (v && *v) {
			if (!aws_region_valid(v))
				return err_set(why, whysz, -EINVAL, "%s=%s is not an AWS region", vars[i],
					       v);
			snprintf(region, AWS_REGION_MAX, "%s", v);
			return 0;
		}
	}
	if (aws_file("AWS_CONFIG_FILE", ".aws/config", path, sizeof(path)) == 0 &&
	    read_small(path, &text, &n) == 0) {
		int r;

		if (!strcmp(profile_name(), "default"))
			snprintf(sect, sizeof(sect), "default");
		else
			snprintf(sect, sizeof(sect), "profile %s", profile_name());
		r = aws_ini_get(text, n, sect, "region", region, AWS_REGION_MAX);
		free(text);
		if (r == 0 && aws_region_valid(region))
			return 0;
	}
	if (src == AWS_CREDS_IMDS || aws_on_ec2())
		return aws_imds_region(NULL, region, why, whysz);
	return err_set(why, whysz, -ENOENT,
		       "no AWS region (AWS_REGION, AWS_DEFAULT_REGION, ~/.aws/config, IMDS)");
}

int64_t aws_creds_refresh_at(const struct aws_creds *c, int64_t fetched_at)
{
	int64_t left, margin;

	if (!c->expiration)
		return 0;
	left = c->expiration - fetched_at;
	margin = left / 2 < 300 ? left / 2 : 300;
	if (margin < 0)
		margin = 0;
	return c->expiration - margin;
}
