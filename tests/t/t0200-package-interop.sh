#!/bin/sh
# The sealed-package format (doc/PACKAGE.md) against an independent
# implementation: tests/helpers/unseal.py, written from the document with
# Python's cryptography package, reads what enclave/package.c seals and the
# other way round, and both agree on KEK ids and RFC 5649 wraps.
. "$top_srcdir/tests/lib.sh"

test_require tool python3
python3 -c 'import cryptography.hazmat.primitives.keywrap' 2>/dev/null ||
	skip_all "the Python package cryptography (Debian: python3-cryptography)"

unseal_py() {
	python3 "$top_srcdir/tests/helpers/unseal.py" "$@"
}

test_expect_success 'setup: a KEK and plaintexts at segment boundaries' '
	pkgtool keygen kek &&
	test "$(stat -c %a kek)" = 600 &&
	test_must_fail pkgtool keygen kek &&
	for n in 0 1 4095 4096 4097 12293 1048576 3145733; do
		head -c $n /dev/urandom >plain.$n || exit 1
	done
'

test_expect_success 'both compute the same KEK id and RFC 5649 wraps' '
	test "$(pkgtool id kek)" = "$(unseal_py id kek)" &&
	for key in 00 0001020304050607 000102030405060708 \
		$(head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n") \
		$(head -c 45 /dev/urandom | od -An -tx1 | tr -d " \n"); do
		test "$(pkgtool wrap kek $key)" = "$(unseal_py wrap kek $key)" || exit 1
	done
'

test_expect_success 'unseal.py decrypts what pkgtool sealed' '
	for n in 0 1 4095 4096 4097 12293; do
		pkgtool seal -s 4096 kek plain.$n pkg.$n &&
		unseal_py unseal kek pkg.$n out.$n &&
		cmp plain.$n out.$n || exit 1
	done &&
	for n in 0 1048576 3145733; do
		pkgtool seal -z kek plain.$n big.$n &&
		unseal_py unseal kek big.$n >bigout.$n &&
		cmp plain.$n bigout.$n || exit 1
	done
'

test_expect_success 'pkgtool decrypts what unseal.py sealed' '
	for n in 0 1 4095 4096 4097 12293; do
		unseal_py seal --segment 4096 kek plain.$n py.$n &&
		pkgtool unseal kek py.$n >pyout.$n &&
		cmp plain.$n pyout.$n || exit 1
	done &&
	unseal_py seal kek plain.3145733 pybig &&
	pkgtool unseal kek pybig >pybigout &&
	cmp plain.3145733 pybigout
'

test_expect_success 'both refuse a tampered, truncated or extended package' '
	cp pkg.12293 bad &&
	b=$(od -An -tu1 -j5000 -N1 bad | tr -d " ") &&
	printf "$(printf "\\%03o" $((b ^ 1)))" | dd of=bad bs=1 seek=5000 conv=notrunc 2>/dev/null &&
	! cmp -s bad pkg.12293 &&
	test_must_fail pkgtool unseal kek bad >/dev/null 2>err &&
	grep -q EBADMSG err &&
	test_must_fail unseal_py unseal kek bad >/dev/null 2>err &&
	grep -q EBADMSG err &&
	size=$(stat -c %s pkg.12293) &&
	head -c $((size - 1)) pkg.12293 >short &&
	test_must_fail pkgtool unseal kek short >/dev/null 2>err &&
	grep -q EBADMSG err &&
	test_must_fail unseal_py unseal kek short >/dev/null 2>err &&
	grep -q EBADMSG err &&
	{ cat pkg.12293 && printf x; } >long &&
	test_must_fail pkgtool unseal kek long >/dev/null 2>err &&
	grep -q EBADMSG err &&
	test_must_fail unseal_py unseal kek long >/dev/null 2>err &&
	grep -q EBADMSG err
'

test_expect_success 'both refuse another KEK and a non-package' '
	pkgtool keygen kek2 &&
	test_must_fail pkgtool unseal kek2 pkg.1 >/dev/null 2>err &&
	grep -q ENOKEY err &&
	test_must_fail unseal_py unseal kek2 pkg.1 >/dev/null 2>err &&
	grep -q ENOKEY err &&
	test_must_fail pkgtool unseal kek plain.4096 >/dev/null 2>err &&
	grep -q ENOEXEC err &&
	test_must_fail unseal_py unseal kek plain.4096 >/dev/null 2>err &&
	grep -q ENOEXEC err
'

test_done
