/* The KMS key policy for enclave-fs packages (policy.h), and
 * `enclave-seal policy`. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "policy.h"
#include "util.h"

#define PCR0_MAX 8
#define PCR_HEX 96

static bool digits(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* arn:aws[-PARTITION]:iam::ACCOUNT:role/PATH/NAME */
static bool role_arn(const char *s)
{
	const char *p = s, *acct;

	if (strncmp(p, "arn:", 4) != 0)
		return false;
	p = strchr(p + 4, ':');
	if (!p || strncmp(p, ":iam::", 6) != 0)
		return false;
	acct = p + 6;
	p = strchr(acct, ':');
	if (!p || p - acct != 12 || strncmp(p, ":role/", 6) != 0 || !p[6])
		return false;
	for (const char *q = acct; q < p; q++)
		if (!isdigit((unsigned char)*q))
			return false;
	for (const char *q = p + 6; *q; q++)
		if (!isalnum((unsigned char)*q) && !strchr("+=,.@_-/", *q))
			return false;
	return strncmp(s, "arn:aws", 7) == 0 && (s[7] == ':' || s[7] == '-');
}

/* 96 hex digits, lower-cased into out. */
static bool pcr_hex(const char *s, char out[PCR_HEX + 1])
{
	if (strlen(s) != PCR_HEX)
		return false;
	for (size_t i = 0; i < PCR_HEX; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return false;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[PCR_HEX] = '\0';
	return true;
}

static json_t *strings(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

int kms_policy_json(const struct kms_policy_args *a, char **out, char *why, size_t whysz)
{
	static const char *const admin[] = {
		"kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
		"kms:Update*", "kms:Revoke*",   "kms:Disable*", "kms:Get*", "kms:Delete*",
		"kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
		"kms:CancelKeyDeletion",
	};
	static const char *const rewrap[] = { "kms:ReEncryptFrom", "kms:ReEncryptTo" };
	char pcrs[PCR0_MAX][PCR_HEX + 1], pcr8[PCR_HEX + 1], root[64];
	const char *pv[PCR0_MAX];
	json_t *doc, *st, *allow_cond, *deny_cond, *eq, *neq, *deny8 = NULL;

	*out = NULL;
	if (!a->key_account || !digits(a->key_account, 12))
		return err_set(why, whysz, -EINVAL, "--key-account: an AWS account id is 12 digits");
	if (!a->enclave_role || !role_arn(a->enclave_role))
		return err_set(why, whysz, -EINVAL,
			       "--enclave-role: expected arn:aws:iam::ACCOUNT:role/NAME");
	if (!a->sealer_role || !role_arn(a->sealer_role))
		return err_set(why, whysz, -EINVAL,
			       "--sealer-role: expected arn:aws:iam::ACCOUNT:role/NAME");
	if (a->npcr0 < 1 || a->npcr0 > PCR0_MAX)
		return err_set(why, whysz, -EINVAL, "--pcr0: give 1 to %d values", PCR0_MAX);
	for (size_t i = 0; i < a->npcr0; i++) {
		if (!a->pcr0[i] || !pcr_hex(a->pcr0[i], pcrs[i]))
			return err_set(why, whysz, -EINVAL, "--pcr0: '%s' is not 96 hex digits",
				       a->pcr0[i] ? a->pcr0[i] : "");
		if (strspn(pcrs[i], "0") == PCR_HEX)
			return err_set(why, whysz, -EINVAL,
				       "--pcr0: all zeros is a debug enclave's value");
		pv[i] = pcrs[i];
	}
	if (a->pcr8 && !pcr_hex(a->pcr8, pcr8))
		return err_set(why, whysz, -EINVAL, "--pcr8: '%s' is not 96 hex digits", a->pcr8);
	snprintf(root, sizeof(root), "arn:aws:iam::%s:root", a->key_account);

	eq = json_object();
	neq = json_object();
	json_object_set_new(eq, "kms:RecipientAttestation:ImageSha384", strings(pv, a->npcr0));
	json_object_set_new(neq, "kms:RecipientAttestation:ImageSha384", strings(pv, a->npcr0));
	if (a->pcr8) {
		const char *p8 = pcr8;

		json_object_set_new(eq, "kms:RecipientAttestation:PCR8", strings(&p8, 1));
		/* Keys of one condition block are ANDed: a Deny for each, so that
		 * either mismatch denies. */
		deny8 = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:{s:o}}}", "Sid",
				  "DenyDecryptUnlessSigned", "Effect", "Deny", "Principal", "*",
				  "Action", "kms:Decrypt", "Resource", "*", "Condition",
				  "StringNotEqualsIgnoreCase", "kms:RecipientAttestation:PCR8",
				  strings(&p8, 1));
	}
	allow_cond = json_pack("{s:o}", "StringEqualsIgnoreCase", eq);
	deny_cond = json_pack("{s:o}", "StringNotEqualsIgnoreCase", neq);
	st = json_array();
	json_array_append_new(st, json_pack("{s:s, s:s, s:{s:s}, s:o, s:s}", "Sid",
					     "KeyAdministration", "Effect", "Allow", "Principal",
					     "AWS", root, "Action",
					     strings(admin, sizeof(admin) / sizeof(admin[0])),
					     "Resource", "*"));
	json_array_append_new(st, json_pack("{s:s, s:s, s:{s:s}, s:s, s:s}", "Sid",
					     "OwnerSealsPackages", "Effect", "Allow", "Principal",
					     "AWS", a->sealer_role, "Action", "kms:GenerateDataKey",
					     "Resource", "*"));
	json_array_append_new(st, json_pack("{s:s, s:s, s:{s:s}, s:s, s:s, s:o}", "Sid",
					     "AttestedDecryptOnly", "Effect", "Allow", "Principal",
					     "AWS", a->enclave_role, "Action", "kms:Decrypt",
					     "Resource", "*", "Condition", allow_cond));
	json_array_append_new(st, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "Sid",
					     "DenyDecryptUnlessAttested", "Effect", "Deny",
					     "Principal", "*", "Action", "kms:Decrypt", "Resource", "*",
					     "Condition", deny_cond));
	if (deny8)
		json_array_append_new(st, deny8);
	json_array_append_new(st, json_pack("{s:s, s:s, s:s, s:o, s:s}", "Sid", "DenyRewrap",
					     "Effect", "Deny", "Principal", "*", "Action",
					     strings(rewrap, 2), "Resource", "*"));
	doc = json_pack("{s:s, s:o}", "Version", "2012-10-17", "Statement", st);
	if (doc) {
		char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (s && asprintf(out, "%s\n", s) < 0)
			*out = NULL;
		free(s);
	}
	json_decref(doc);
	return *out ? 0 : -ENOMEM;
}

int policy_main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "key-account", required_argument, NULL, 'a' },
		{ "enclave-role", required_argument, NULL, 'e' },
		{ "sealer-role", required_argument, NULL, 's' },
		{ "pcr0", required_argument, NULL, '0' },
		{ "pcr8", required_argument, NULL, '8' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char usage[] = "usage: enclave-seal policy --key-account ID --enclave-role ARN "
				    "--sealer-role ARN --pcr0 HEX[,HEX...] [--pcr8 HEX]\n";
	const char *prog = "enclave-seal policy";
	struct kms_policy_args a = { 0 };
	const char *pcr0[PCR0_MAX + 1];
	char *list = NULL, *out = NULL, why[256];
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
		switch (c) {
		case 'a': a.key_account = optarg; break;
		case 'e': a.enclave_role = optarg; break;
		case 's': a.sealer_role = optarg; break;
		case '8': a.pcr8 = optarg; break;
		case '0':
			free(list);
			list = strdup(optarg);
			if (!list)
				return 1;
			break;
		case 'h':
			fputs(usage, stdout);
			free(list);
			return CLI_EXIT_OK;
		default:
			free(list);
			return cli_getopt_error(prog, c, argv, lopts);
		}
	}
	if (optind != argc || !a.key_account || !a.enclave_role || !a.sealer_role || !list) {
		if (optind != argc)
			cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
		else
			cli_usage_error(prog, "missing %s",
					!a.key_account	  ? "--key-account ID"
					: !a.enclave_role ? "--enclave-role ARN"
					: !a.sealer_role  ? "--sealer-role ARN"
							  : "--pcr0 HEX[,HEX...]");
		free(list);
		return CLI_EXIT_USAGE;
	}
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (a.npcr0 == PCR0_MAX + 1)
			break;
		pcr0[a.npcr0++] = t;
	}
	a.pcr0 = pcr0;
	r = kms_policy_json(&a, &out, why, sizeof(why));
	free(list);
	if (r == -EINVAL)
		return cli_usage_error(prog, "%s", why);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", prog, r == -ENOMEM ? strerror(ENOMEM) : why);
		return CLI_EXIT_FAILURE;
	}
	fputs(out, stdout);
	free(out);
	return 0;
}
