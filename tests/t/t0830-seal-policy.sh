#!/bin/sh
# enclave-seal policy from the command line: the key policy as JSON that
# Python parses, with the attested-only Decrypt; usage errors exit 2 and name
# the argument. (Its statements are checked one by one in check_policy.)
. "$top_srcdir/tests/lib.sh"

test_require tool python3

P0=$(printf 'ab%.0s' $(seq 48))
P1=$(printf 'CD%.0s' $(seq 48))
ENCL=arn:aws:iam::444455556666:role/enclave-fs-parent
SEAL=arn:aws:iam::111122223333:role/sealer

test_expect_success 'policy prints a key policy whose only Decrypt allow is attested' '
	enclave-seal policy --key-account 111122223333 --enclave-role $ENCL --sealer-role $SEAL \
		--pcr0 "$P0,$P1" >policy.json &&
	python3 -c "import json, sys
p = json.load(open(sys.argv[1]))
allows = [s for s in p[\"Statement\"] if s[\"Effect\"] == \"Allow\" and \"kms:Decrypt\" in json.dumps(s[\"Action\"])]
assert [s[\"Sid\"] for s in allows] == [\"AttestedDecryptOnly\"], allows
c = allows[0][\"Condition\"][\"StringEqualsIgnoreCase\"][\"kms:RecipientAttestation:ImageSha384\"]
assert c == [sys.argv[2], sys.argv[3].lower()], c
deny = [s for s in p[\"Statement\"] if s[\"Sid\"] == \"DenyDecryptUnlessAttested\"][0]
assert deny[\"Principal\"] == \"*\" and \"StringNotEqualsIgnoreCase\" in deny[\"Condition\"], deny" \
		policy.json "$P0" "$P1"
'

test_expect_success 'usage errors exit 2 and name what is wrong' '
	expect_exit 2 enclave-seal policy --key-account 111122223333 --enclave-role $ENCL \
		--pcr0 "$P0" 2>err &&
	grep -q "^enclave-seal policy: missing --sealer-role ARN$" err &&
	expect_exit 2 enclave-seal policy --key-account 12 --enclave-role $ENCL --sealer-role $SEAL \
		--pcr0 "$P0" 2>err &&
	grep -q "key-account" err &&
	expect_exit 2 enclave-seal policy --key-account 111122223333 --enclave-role $ENCL \
		--sealer-role $SEAL --pcr0 "$(printf %096d 0)" 2>err &&
	grep -q "debug" err &&
	expect_exit 2 enclave-seal policy --key-account 111122223333 --enclave-role arn:aws:iam::1:user/x \
		--sealer-role $SEAL --pcr0 "$P0" 2>err &&
	grep -q "enclave-role" err
'

test_done
