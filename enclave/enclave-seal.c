/* enclave-seal: the application owner's tool. keygen makes a key-encryption
 * key; seal packs an application directory (tar, pax, optionally zstd) and
 * encrypts it segment by segment into a sealed package; inspect prints a
 * package's header facts without decrypting anything. */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "creds.h"
#include "devnsm.h"
#include "eif.h"
#include "jobline.h"
#include "kek.h"
#include "log.h"
#include "manifest.h"
#include "package.h"
#include "util.h"
#include "kms.h"
#include "policy.h"
#include "progress.h"
#include "verify-cli.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: enclave-seal keygen -o FILE\n"
		"       enclave-seal seal --kek FILE [--entry NAME=COMMAND]... [--zstd]\n"
		"                  [--progress|--no-progress] -o PACKAGE APPDIR\n"
		"       enclave-seal seal --kms-key ARN|alias/NAME [--region R] [--context K=V]...\n"
		"                  [--kms-endpoint URL] [--kms-ca PEM] [--entry ...] [--zstd] -o PACKAGE APPDIR\n"
		"       enclave-seal policy --key-account ID --enclave-role ARN --sealer-role ARN\n"
		"                  --pcr0 HEX[,HEX...] [--pcr8 HEX]\n"
		"       enclave-seal inspect PACKAGE\n"
		"       enclave-seal eif [--json] FILE.eif\n"
		"       enclave-seal dev-root -o DIR\n"
		"       enclave-seal attest verify [--trust-root PEM] [--at MS|now] [--allow-debug]\n"
		"                  [--nonce HEX] [--pcr N=HEX[,HEX...]]... DOC\n"
		"\n"
		"keygen   writes a new 256-bit key-encryption key (mode 0600, never overwrites)\n"
		"seal     packs APPDIR and encrypts it for the enclave. APPDIR/enclave.json is the\n"
		"         manifest; without one, each --entry NAME=COMMAND adds an entry (COMMAND is\n"
		"         split like a shell splits words, no expansion; the first is the default;\n"
		"         any host argument is allowed). Warns about each entry that takes any\n"
		"         argument from the host (host_args: true)\n"
		"         With --kms-key the data key comes from AWS KMS (GenerateDataKey, AES_256)\n"
		"         with the owner's credentials (AWS_* variables, ~/.aws/credentials with\n"
		"         AWS_PROFILE, or IMDSv2 on EC2) and the encryption context\n"
		"         {\"package\": NAME, K: V...}; only an enclave the key policy names gets it.\n"
		"         --kms-endpoint and --kms-ca default to $AWS_ENDPOINT_URL_KMS and\n"
		"         $AWS_CA_BUNDLE, as for the AWS tools. On a terminal a progress line\n"
		"         shows the bytes sealed; --progress shows it anywhere, --no-progress never\n"
		"policy   prints the KMS key policy that gives the data key only to enclaves\n"
		"         running an image with one of the PCR0 values (and PCR8)\n"
		"inspect  prints the header of PACKAGE; never decrypts\n"
		"eif      prints the PCRs (0, 1, 2, and 8 if signed) an enclave started from the\n"
		"         Enclave Image File will report, after checking its structure and CRC\n"
		"dev-root makes DIR/root.key (0600) and DIR/root.pem: the root that signs the\n"
		"         attestation of development enclaves (enclaved --dev --dev-root DIR);\n"
		"         hosts trust it with --trust-root DIR/root.pem\n"
		"attest verify  verifies a raw CBOR attestation document (DOC, or - for stdin):\n"
		"         signature, chain to the AWS Nitro root (or PEM) at MS (default now),\n"
		"         debug, nonce, PCR pins; prints it as JSON; exit 1 with the reason if refused\n"
		"\n"
		"Each command takes --help.\n"
		"\n"
		"Exit status: 0 success; 1 runtime error (a file that cannot be read or written,\n"
		"a refused key, KMS unreachable; for attest verify also a refused document);\n"
		"2 usage error.\n");
}

/* --- keygen ------------------------------------------------------------------------ */

static int cmd_keygen(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *prog = "enclave-seal keygen", *out = NULL;
	uint8_t kek[KEK_LEN];
	char id[KEK_ID_LEN + 1];
	int c, r;

	while ((c = getopt_long(argc, argv, ":o:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'h': usage(stdout); return CLI_EXIT_OK;
		default: return cli_getopt_error(prog, c, argv, lopts);
		}
	}
	if (optind != argc)
		return cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
	if (!out)
		return cli_usage_error(prog, "missing -o FILE");
	r = kek_generate(kek);
	if (r == 0)
		r = kek_write_file(out, kek);
	kek_id(kek, id);
	explicit_bzero(kek, sizeof(kek));
	if (r < 0) {
		log_errno(r, "%s", out);
		return 1;
	}
	printf("%s: key-encryption key %s\n", out, id);
	return 0;
}

/* --- seal -------------------------------------------------------------------------- */

struct sealer {
	struct archive *a;
	struct pkg_writer *w;
	int dirfd;
	struct progress progress;
	uint64_t files, skipped;
	uint64_t files_total, bytes_total, bytes_done; /* of the regular files */
	int err;
};

static la_ssize_t seal_write(struct archive *a, void *ud, const void *buf, size_t n)
{
	struct sealer *s = ud;
	int r = pkg_writer_write(s->w, buf, n);

	(void)a;
	if (r < 0) {
		s->err = r;
		return -1;
	}
	return (la_ssize_t)n;
}

static int add_bytes(struct sealer *s, const char *name, const void *p, size_t n)
{
	struct archive_entry *e = archive_entry_new();
	int r = 0;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)n);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(s->a, e) != ARCHIVE_OK ||
	    archive_write_data(s->a, p, n) != (la_ssize_t)n)
		r = s->err ? s->err : -EIO;
	archive_entry_free(e);
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds dir (relative to the app dir, "" for the top) in sorted order, so the
 * same tree always gives the same archive layout. */
static int add_dir(struct sealer *s, int dfd, const char *rel)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	if (!d) {
		close(dfd);
		return neg_errno();
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
			if (!nn) {
				r = -ENOMEM;
				goto out;
			}
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name))) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n && r == 0; i++) {
		char path[PATH_MAX];
		struct archive_entry *e;
		struct stat st;

		snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", names[i]);
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = log_errno(neg_errno(), "%s", path);
			break;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) {
			log_warn("%s: not a file, directory or symlink; left out", path);
			s->skipped++;
			continue;
		}
		e = archive_entry_new();
		archive_entry_copy_stat(e, &st);
		archive_entry_set_pathname(e, path);
		archive_entry_set_uid(e, 0);
		archive_entry_set_gid(e, 0);
		archive_entry_set_uname(e, "");
		archive_entry_set_gname(e, "");
		archive_entry_set_perm(e, st.st_mode & 0755);
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t len = readlinkat(dirfd(d), names[i], target, sizeof(target) - 1);
			if (len < 0) {
				r = log_errno(neg_errno(), "%s", path);
				archive_entry_free(e);
				break;
			}
			target[len] = '\0';
			archive_entry_set_symlink(e, target);
		}
		if (archive_write_header(s->a, e) != ARCHIVE_OK) {
			r = s->err ? s->err : -EIO;
			log_error("%s: %s", path, archive_error_string(s->a));
		} else if (S_ISREG(st.st_mode)) {
			int fd = openat(dirfd(d), names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			static uint8_t buf[1 << 20];
			ssize_t got;

			if (fd < 0)
				r = log_errno(neg_errno(), "%s", path);
			while (r == 0 && (got = io_read_all(fd, buf, sizeof(buf))) > 0) {
				if (archive_write_data(s->a, buf, (size_t)got) != got)
					r = s->err ? s->err : -EIO;
				s->bytes_done += (uint64_t)got;
				/* A file that grew since it was counted grows the total. */
				progress_update(&s->progress, s->bytes_done,
						MAX(s->bytes_total, s->bytes_done), s->files,
						s->files_total);
			}
			safe_close(fd);
			s->files++;
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			r = sub < 0 ? log_errno(neg_errno(), "%s", path) : add_dir(s, sub, path);
		}
		archive_entry_free(e);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

/* The regular files below dfd and their bytes, for the progress line: what
 * add_dir() will read. Errors are left for add_dir() to report. */
static void count_dir(int dfd, uint64_t *files, uint64_t *bytes)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			(*files)++;
			*bytes += (uint64_t)st.st_size;
		} else if (S_ISDIR(st.st_mode)) {
			sub = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				count_dir(sub, files, bytes);
		}
	}
	closedir(d);
}

/* The manifest written for --entry options; *parsed is what the enclave
 * will read from it. */
static char *manifest_from_entries(const char *appdir, char **entries, size_t n,
				   struct manifest **parsed)
{
	struct manifest m = { 0 };
	char base[PATH_MAX], name[65], err[256], *json = NULL;
	size_t k = 0;

	snprintf(base, sizeof(base), "%s", appdir);
	/* The manifest name comes from the directory's name, made valid. */
	for (const char *p = basename(base); *p && k < 64; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || (*p == '.' && k > 0);
		name[k] = ok ? *p : '_';
		k++;
	}
	name[k] = '\0';
	m.name = k ? name : "app";
	m.version = "0";
	m.entries = calloc(n, sizeof(*m.entries));
	m.nentries = n;
	if (!m.entries)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(entries[i], '=');
		struct jobline jl = { 0 };

		if (!eq || eq == entries[i]) {
			log_error("--entry %s: expected NAME=COMMAND", entries[i]);
			goto out;
		}
		*eq = '\0';
		if (jobline_split(eq + 1, strlen(eq + 1), &jl, err, sizeof(err)) < 0) {
			log_error("--entry %s: %s", entries[i], err);
			goto out;
		}
		m.entries[i].name = entries[i];
		m.entries[i].argv = jl.words;
		m.entries[i].argc = jl.nwords;
		m.entries[i].host_args = true;
		m.entries[i].timeout_s = 3600;
	}
	m.default_entry = m.entries[0].name;
	json = manifest_to_json(&m);
	/* Checked by the same parser the enclave uses. */
	if (json && manifest_parse(json, strlen(json), parsed, err, sizeof(err)) < 0) {
		log_error("the manifest from --entry is not valid: %s", err);
		free(json);
		json = NULL;
	}
out:
	for (size_t i = 0; i < n; i++) {
		if (m.entries[i].argv) {
			struct jobline jl = { .words = m.entries[i].argv, .nwords = m.entries[i].argc };
			jobline_release(&jl);
		}
	}
	free(m.entries);
	return json;
}

/* The data key of a KMS-sealed package: GenerateDataKey (AES_256) under
 * key_id with the context {"package": name, ...}; key gets the provider,
 * the key's ARN, the CiphertextBlob and the context. */
static int kms_data_key(const char *key_id, const char *region, const char *endpoint,
			const char *ca, const char *name, json_t *context, struct pkg_key *key,
			uint8_t dek[static PKG_DEK_LEN])
{
	enum aws_creds_source src = aws_creds_source_default();
	struct kms_config cfg = { .endpoint = endpoint, .ca_file = ca };
	struct kms_generated g = { 0 };
	struct aws_creds c;
	char why[1024];
	int r;

	memset(&c, 0, sizeof(c));
	if (src == AWS_CREDS_NONE) {
		log_error("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
			  "AWS_PROFILE with ~/.aws/credentials, or run on EC2 with an instance role");
		return -ENOKEY;
	}
	r = aws_creds_load(src, &c, why, sizeof(why));
	if (r < 0) {
		log_error("AWS credentials: %s", why);
		return r;
	}
	if (region)
		snprintf(cfg.region, sizeof(cfg.region), "%s", region);
	else if (kms_arn_region(key_id, cfg.region) < 0 &&
		 aws_region_load(src, cfg.region, why, sizeof(why)) < 0) {
		log_error("no AWS region for KMS key %s: give --region (%s)", key_id, why);
		aws_creds_wipe(&c);
		return -EINVAL;
	}
	json_object_set_new(context, "package", json_string(name));
	key->context_json = json_dumps(context, JSON_COMPACT | JSON_SORT_KEYS);
	if (!key->context_json) {
		aws_creds_wipe(&c);
		return -ENOMEM;
	}
	r = kms_generate_data_key(&cfg, &c, key_id, key->context_json, &g, why, sizeof(why));
	aws_creds_wipe(&c);
	if (r < 0) {
		log_error("KMS key %s: %s", key_id, why);
		return r;
	}
	if (strlen(g.key_id) >= sizeof(key->id) || g.blob_len > PKG_WRAPPED_MAX) {
		log_error("KMS answered a key id or CiphertextBlob too large for a package header");
		kms_generated_release(&g);
		return -EMSGSIZE;
	}
	snprintf(key->provider, sizeof(key->provider), "kms");
	snprintf(key->id, sizeof(key->id), "%s", g.key_id);
	key->wrapped = g.blob;
	key->wrapped_len = g.blob_len;
	g.blob = NULL;
	memcpy(dek, g.plaintext, PKG_DEK_LEN);
	kms_generated_release(&g);
	return 0;
}

static int cmd_seal(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "kek", required_argument, NULL, 'k' },
		{ "entry", required_argument, NULL, 'e' },
		{ "zstd", no_argument, NULL, 'z' },
		{ "output", required_argument, NULL, 'o' },
		{ "kms-key", required_argument, NULL, 'K' },
		{ "region", required_argument, NULL, 'r' },
		{ "context", required_argument, NULL, 'c' },
		{ "kms-endpoint", required_argument, NULL, 'E' },
		{ "kms-ca", required_argument, NULL, 'C' },
		{ "progress", no_argument, NULL, 'p' },
		{ "no-progress", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *prog = "enclave-seal seal", *kekfile = NULL, *out = NULL, *appdir, *kms_key = NULL, *region = NULL;
	const char *kms_endpoint = NULL, *kms_ca = NULL;
	json_t *context = json_object();
	struct pkg_key kkey = { 0 };
	uint8_t dek[PKG_DEK_LEN];
	char **entries = NULL, tmp[PATH_MAX], err[256], *json = NULL;
	struct sealer s = { .dirfd = -1 };
	struct manifest *m = NULL;
	uint8_t kek[KEK_LEN];
	size_t nentries = 0;
	enum progress_mode pmode = PROGRESS_AUTO;
	bool zstd = false, loose;
	int c, r, ofd = -1, code = 1;

	while ((c = getopt_long(argc, argv, ":k:e:zo:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'k': kekfile = optarg; break;
		case 'e': {
			char **ne = realloc(entries, (nentries + 1) * sizeof(*entries));

			if (!ne) {
				log_errno(-ENOMEM, "--entry");
				goto out;
			}
			entries = ne;
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				code = cli_usage_error(prog, "--entry takes NAME=COMMAND, not '%s'",
						       optarg);
				goto out;
			}
			entries[nentries++] = optarg;
			break;
		}
		case 'p': pmode = PROGRESS_ON; break;
		case 'P': pmode = PROGRESS_OFF; break;
		case 'h':
			usage(stdout);
			code = CLI_EXIT_OK;
			goto out;
		case 'z': zstd = true; break;
		case 'o': out = optarg; break;
		case 'K': kms_key = optarg; break;
		case 'r': region = optarg; break;
		case 'E': kms_endpoint = optarg; break;
		case 'C': kms_ca = optarg; break;
		case 'c': {
			const char *eq = strchr(optarg, '=');
			char k[256];

			if (!eq || eq == optarg || (size_t)(eq - optarg) >= sizeof(k) ||
			    !strncmp(optarg, "package=", 8)) {
				code = cli_usage_error(prog,
						       "--context takes KEY=VALUE (not package=, which "
						       "is the package's name), not '%s'",
						       optarg);
				goto out;
			}
			memcpy(k, optarg, (size_t)(eq - optarg));
			k[eq - optarg] = '\0';
			json_object_set_new(context, k, json_string(eq + 1));
			break;
		}
		default: code = cli_getopt_error(prog, c, argv, lopts); goto out;
		}
	}
	code = CLI_EXIT_USAGE;
	if (kekfile && kms_key)
		cli_usage_error(prog, "--kek and --kms-key exclude each other");
	else if (!kekfile && !kms_key)
		cli_usage_error(prog, "missing --kek FILE or --kms-key KEY");
	else if (!out)
		cli_usage_error(prog, "missing -o PACKAGE");
	else if (optind == argc)
		cli_usage_error(prog, "missing APPDIR");
	else if (optind + 1 < argc)
		cli_usage_error(prog, "unexpected argument '%s'", argv[optind + 1]);
	else if ((region || json_object_size(context) || kms_endpoint || kms_ca) && !kms_key)
		cli_usage_error(prog, "%s works with --kms-key only",
				region ? "--region" : json_object_size(context) ? "--context"
					    : kms_endpoint			    ? "--kms-endpoint"
										    : "--kms-ca");
	else if (region && !aws_region_valid(region))
		cli_usage_error(prog, "--region '%s' is not an AWS region", region);
	else
		code = CLI_EXIT_FAILURE;
	if (code != CLI_EXIT_FAILURE)
		goto out;
	/* The endpoint and CA bundle settings of the AWS tools, when not given. */
	if (kms_key && !kms_endpoint && getenv("AWS_ENDPOINT_URL_KMS") && *getenv("AWS_ENDPOINT_URL_KMS"))
		kms_endpoint = getenv("AWS_ENDPOINT_URL_KMS");
	if (kms_key && !kms_ca && getenv("AWS_CA_BUNDLE") && *getenv("AWS_CA_BUNDLE"))
		kms_ca = getenv("AWS_CA_BUNDLE");
	appdir = argv[optind];
	s.dirfd = open(appdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s.dirfd < 0) {
		log_errno(neg_errno(), "%s", appdir);
		goto out;
	}
	r = manifest_load(s.dirfd, "enclave.json", &m, err, sizeof(err));
	if (r == 0 && nentries) {
		log_error("%s has an enclave.json: --entry would contradict it", appdir);
		goto out;
	}
	if (r < 0 && r != -ENOENT) {
		log_error("%s/enclave.json: %s", appdir, err);
		goto out;
	}
	if (r == -ENOENT) {
		if (!nentries) {
			log_error("%s has no enclave.json: give at least one --entry NAME=COMMAND", appdir);
			goto out;
		}
		json = manifest_from_entries(appdir, entries, nentries, &m);
		if (!json)
			goto out;
	}
	/* host_args: true hands the program whatever the host writes, and an
	 * argument can be enough to make an app reveal itself. */
	for (size_t i = 0; i < m->nentries; i++)
		if (m->entries[i].host_args)
			log_warn("entry '%s' takes any argument from the host (host_args: true); "
				 "declare them with \"args\"",
				 m->entries[i].name);
	if (kekfile) {
		r = kek_read_file(kekfile, kek, &loose);
		if (r < 0) {
			log_errno(r, "%s: not a key-encryption key file", kekfile);
			goto out;
		}
		if (loose)
			log_warn("%s is readable by other users", kekfile);
	} else if (kms_data_key(kms_key, region, kms_endpoint, kms_ca, m->name, context, &kkey,
				dek) < 0) {
		goto out;
	}

	/* Never leave a half-written package under the output name. */
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", out, (int)getpid());
	ofd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (ofd < 0) {
		log_errno(neg_errno(), "%s", tmp);
		explicit_bzero(kek, sizeof(kek));
		goto out;
	}
	if (kekfile)
		r = pkg_writer_new(ofd, kek, zstd, 0, &s.w, err, sizeof(err));
	else
		r = pkg_writer_new_key(ofd, &kkey, dek, zstd, 0, &s.w, err, sizeof(err));
	explicit_bzero(kek, sizeof(kek));
	explicit_bzero(dek, sizeof(dek));
	if (r < 0) {
		log_error("%s: %s", out, err);
		goto fail;
	}
	progress_init(&s.progress, pmode, prog);
	if (progress_active(&s.progress))
		count_dir(openat(s.dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), &s.files_total,
			  &s.bytes_total);
	s.a = archive_write_new();
	archive_write_set_format_pax_restricted(s.a);
	if (zstd && archive_write_add_filter_zstd(s.a) != ARCHIVE_OK) {
		log_error("zstd compression is not available: %s", archive_error_string(s.a));
		goto fail;
	}
	archive_write_set_bytes_in_last_block(s.a, 1);
	if (archive_write_open2(s.a, &s, NULL, seal_write, NULL, NULL) != ARCHIVE_OK) {
		log_error("%s", archive_error_string(s.a));
		goto fail;
	}
	if (json && add_bytes(&s, "enclave.json", json, strlen(json)) < 0)
		goto fail;
	r = add_dir(&s, dup(s.dirfd), "");
	if (r < 0 || archive_write_close(s.a) != ARCHIVE_OK) {
		if (s.err)
			log_errno(s.err, "%s", out);
		else if (r == -ENOMEM)
			log_errno(r, "%s", out);
		goto fail;
	}
	r = pkg_writer_finish(s.w);
	s.w = NULL;
	if (r < 0 || fsync(ofd) < 0 || rename(tmp, out) < 0) {
		log_errno(r < 0 ? r : neg_errno(), "%s", out);
		goto fail;
	}
	progress_update(&s.progress, s.bytes_done, s.bytes_done, s.files, s.files);
	progress_finish(&s.progress);
	fprintf(stderr, "%s: %llu files sealed%s%s%s\n", out, (unsigned long long)s.files,
		zstd ? " (zstd)" : "", kms_key ? ", data key from KMS key " : "",
		kms_key ? kkey.id : "");
	code = 0;
	goto out;
fail:
	progress_cancel(&s.progress);
	/* Or archive_write_free would flush the last block into the aborted
	 * writer. */
	if (s.a)
		archive_write_fail(s.a);
	pkg_writer_abort(s.w);
	s.w = NULL;
	unlink(tmp);
out:
	if (s.a)
		archive_write_free(s.a);
	safe_close(ofd);
	safe_close(s.dirfd);
	manifest_free(m);
	free(json);
	free(entries);
	json_decref(context);
	explicit_bzero(dek, sizeof(dek));
	free(kkey.wrapped);
	free(kkey.context_json);
	return code;
}

/* --- inspect ------------------------------------------------------------------------ */

static int cmd_inspect(int argc, char **argv)
{
	struct pkg_header h;
	struct stat st;
	uint8_t *buf;
	char err[256];
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *prog = "enclave-seal inspect";
	ssize_t n;
	int c, fd, r;

	while ((c = getopt_long(argc, argv, "+:h", lopts, NULL)) != -1) {
		if (c != 'h')
			return cli_getopt_error(prog, c, argv, lopts);
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (optind == argc)
		return cli_usage_error(prog, "missing PACKAGE");
	if (optind + 1 < argc)
		return cli_usage_error(prog, "unexpected argument '%s'", argv[optind + 1]);
	argv += optind - 1;
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_errno(neg_errno(), "%s", argv[1]);
		return 1;
	}
	buf = malloc(PKG_PREFIX_LEN + PKG_HEADER_MAX);
	n = buf ? io_pread_all(fd, buf, PKG_PREFIX_LEN + PKG_HEADER_MAX, 0) : -ENOMEM;
	close(fd);
	if (n < 0) {
		log_errno((int)n, "%s", argv[1]);
		free(buf);
		return 1;
	}
	r = pkg_header_parse(buf, (size_t)n, &h, err, sizeof(err));
	free(buf);
	if (r < 0) {
		log_error("%s: %s (%s)", argv[1], err, strerror(-r));
		return 1;
	}
	{
		uint64_t body = (uint64_t)st.st_size - h.body_offset, full = h.segment + 16;
		uint64_t segs = body ? (body + full - 1) / full : 1;
		char digest[65];

		for (int i = 0; i < 32; i++)
			snprintf(digest + 2 * i, 3, "%02x", h.digest[i]);
		printf("file:         %s\n"
		       "format:       %u\n"
		       "provider:     %s\n"
		       "key id:       %s\n"
		       "aead:         AES-256-GCM\n"
		       "segment size: %u\n"
		       "segments:     %llu\n"
		       "compression:  %s\n"
		       "created:      %s\n"
		       "header bytes: %zu\n"
		       "file bytes:   %llu\n"
		       "payload:      about %llu bytes (tar%s)\n"
		       "header sha256: %s\n",
		       argv[1], h.format, h.key.provider, h.key.id, h.segment,
		       (unsigned long long)segs, h.zstd ? "zstd" : "none", h.created, h.header_len,
		       (unsigned long long)st.st_size,
		       (unsigned long long)(body > segs * 16 ? body - segs * 16 : 0),
		       h.zstd ? ", zstd" : "", digest);
	}
	pkg_header_release(&h);
	return 0;
}

int main(int argc, char **argv)
{
	const char *prog = "enclave-seal";

	log_setup("enclave-seal", LOG_NOTICE, false);
	/* Each subcommand parses its own options from its own argv[1]. */
	opterr = 0;
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))) {
		printf("enclave-seal %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (argc < 2)
		return cli_usage_error(prog, "missing command (keygen, seal, policy, inspect, eif, "
					     "dev-root or attest)");
	if (argv[1][0] == '-')
		return cli_usage_error(prog, "unrecognized option '%.*s'",
				       (int)strcspn(argv[1], "="), argv[1]);
	if (!strcmp(argv[1], "keygen"))
		return cmd_keygen(argc - 1, argv + 1);
	if (!strcmp(argv[1], "seal"))
		return cmd_seal(argc - 1, argv + 1);
	if (!strcmp(argv[1], "inspect"))
		return cmd_inspect(argc - 1, argv + 1);
	if (!strcmp(argv[1], "dev-root"))
		return devroot_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "policy"))
		return policy_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "eif"))
		return eif_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "attest")) {
		if (argc >= 3 && !strcmp(argv[2], "verify"))
			return attest_verify_main(argc - 2, argv + 2);
		if (argc >= 3 && (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help"))) {
			usage(stdout);
			return CLI_EXIT_OK;
		}
		if (argc < 3)
			return cli_usage_error("enclave-seal attest", "missing command (verify)");
		return cli_usage_error("enclave-seal attest", "unknown command '%s'", argv[2]);
	}
	return cli_usage_error(prog, "unknown command '%s'", argv[1]);
}
