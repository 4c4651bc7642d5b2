#!/bin/sh
# enclave-seal: keygen, seal and inspect as an application owner uses them.
. "$top_srcdir/tests/lib.sh"

mkdir -p app/lib && echo 'print(1)' >app/main.py && echo x >app/lib/data.txt

test_expect_success 'keygen writes a 0600 key and prints its id' '
	enclave-seal keygen -o k.kek >out &&
	test "$(stat -c %a k.kek)" = 600 &&
	grep -q "^k.kek: key-encryption key [0-9a-f]\{16\}$" out
'

test_expect_success 'keygen never overwrites a key' '
	cp k.kek before &&
	test_must_fail enclave-seal keygen -o k.kek 2>err &&
	grep "File exists" err &&
	cmp k.kek before
'

test_expect_success 'seal without a manifest or --entry is refused' '
	test_must_fail enclave-seal seal --kek k.kek -o none.sealed app 2>err &&
	grep "no enclave.json" err &&
	test ! -e none.sealed
'

test_expect_success 'seal with --entry writes the manifest; inspect shows the key id' '
	enclave-seal seal --kek k.kek --entry "main=python3 main.py" -o app.sealed app 2>err &&
	grep "app.sealed: 2 files sealed" err &&
	enclave-seal inspect app.sealed >info &&
	grep "^provider: *kek$" info &&
	grep "^key id: *$(sed -n "s/.*key \([0-9a-f]*\)$/\1/p" out)$" info &&
	grep "^compression: *none$" info
'

test_expect_success 'seal warns about each entry that takes any host argument' '
	cat >app/enclave.json <<-\JSON &&
	{"name": "a", "version": "1",
	 "entries": {"open": {"argv": ["python3", "main.py"], "host_args": true},
	             "declared": {"argv": ["python3", "main.py"], "args": {"-d": "path"}},
	             "closed": {"argv": ["true"]}}}
	JSON
	test_when_finished "rm -f app/enclave.json" &&
	enclave-seal seal --kek k.kek -o warn.sealed app 2>err &&
	cat err &&
	grep -x "enclave-seal: warning: entry '\''open'\'' takes any argument from the host (host_args: true); declare them with \"args\"" err &&
	test "$(grep -c warning err)" = 1 &&
	grep "warn.sealed: 3 files sealed" err &&
	enclave-seal inspect warn.sealed >/dev/null
'

test_expect_success 'so does seal --entry, whose entries take any argument' '
	enclave-seal seal --kek k.kek --entry "one=true" --entry "two=true" -o entry.sealed app 2>err &&
	grep "warning: entry '\''one'\'' takes any argument" err &&
	grep "warning: entry '\''two'\'' takes any argument" err
'

test_expect_success 'a manifest with declared arguments only seals without a warning' '
	cat >app/enclave.json <<-\JSON &&
	{"name": "a", "version": "1",
	 "entries": {"run": {"argv": ["python3", "main.py"],
	   "args": {"-d": {"kind": "path", "under": ["/dataset"]}, "-v": "flag"},
	   "positional": {"kind": "word", "words": ["fast", "slow"], "max": 1},
	   "stderr": {"last": 10}}}}
	JSON
	test_when_finished "rm -f app/enclave.json" &&
	enclave-seal seal --kek k.kek -o quiet.sealed app 2>err &&
	! grep warning err
'

test_expect_success 'host_args together with a declaration is refused, the field named' '
	echo "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"m\":{\"argv\":[\"true\"],\"host_args\":true,\"args\":{\"-v\":\"flag\"}}}}" >app/enclave.json &&
	test_when_finished "rm -f app/enclave.json" &&
	test_must_fail enclave-seal seal --kek k.kek -o both.sealed app 2>err &&
	grep "entries.m: host_args: true (any argument) cannot be combined with args or positional" err &&
	test ! -e both.sealed
'

test_expect_success 'a manifest and --entry together are refused' '
	echo "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"m\":{\"argv\":[\"true\"]}}}" >app/enclave.json &&
	test_when_finished "rm -f app/enclave.json" &&
	test_must_fail enclave-seal seal --kek k.kek --entry "x=true" -o both.sealed app 2>err &&
	grep "contradict" err &&
	test ! -e both.sealed
'

test_expect_success 'an invalid manifest is refused with the field named' '
	echo "{\"name\":\"a\",\"version\":\"1\",\"entries\":{}}" >app/enclave.json &&
	test_when_finished "rm -f app/enclave.json" &&
	test_must_fail enclave-seal seal --kek k.kek -o bad.sealed app 2>err &&
	grep "entries" err &&
	test ! -e bad.sealed
'

test_expect_success '--zstd is recorded in the header' '
	enclave-seal seal --kek k.kek --zstd --entry "main=true" -o z.sealed app 2>/dev/null &&
	enclave-seal inspect z.sealed | grep "^compression: *zstd$"
'

test_expect_success 'a failure half way leaves no package behind' '
	mkdir -p small &&
	head -c 1M /dev/urandom >app/big.bin &&
	test_when_finished "rm -f app/big.bin" &&
	if [ "$(id -u)" = 0 ]; then
		# the package does not fit: ENOSPC half way
		mount -t tmpfs -o size=256k tmpfs small &&
		test_when_finished "umount small"
	else
		chmod 000 app/big.bin
	fi &&
	test_must_fail enclave-seal seal --kek k.kek --entry "main=true" -o small/half.sealed app 2>err &&
	cat err &&
	test -z "$(ls -A small)"
'

test_expect_success 'inspect refuses what is not a package' '
	head -c 100 /dev/urandom >junk &&
	test_must_fail enclave-seal inspect junk 2>err &&
	grep "not a sealed package" err
'

test_expect_success 'a wrong key file is refused' '
	echo short >bad.kek &&
	test_must_fail enclave-seal seal --kek bad.kek --entry "main=true" -o w.sealed app 2>err &&
	grep "not a key-encryption key" err &&
	test ! -e w.sealed
'

test_done
