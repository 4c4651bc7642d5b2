#!/bin/sh
# enclave-seal eif: the PCRs of an Enclave Image File without nitro-cli. The
# images are synthetic (tests/helpers/mkeif.py); the expected values come
# from the notes' pinned vector and, independently, from the openssl CLI
# (PCR = SHA-384(48 zero bytes || SHA-384(the sections' data))); the CRC is
# recomputed with Python's zlib. Every kind of damage is refused with exit 1
# and nothing on stdout; a 2 GiB ramdisk is measured in bounded memory.
test_timeout=600 # the 2 GiB image is hashed three times (mkeif, the reader, the oracle)
. "$top_srcdir/tests/lib.sh"

test_require tool openssl truncate
PY=/usr/bin/python3
test_require file $PY
$PY -c 'import cbor2' 2>/dev/null || skip_all "python3-cbor2"

MKEIF="$PY $top_srcdir/tests/helpers/mkeif.py"

# say from inside a test body reaches the TAP output through fd 9.
exec 9>&1

# The vector of the notes (nitro.md §3.4).
PCR0_V=fe8d2ebfd3b0b65122da9cd7f7fd31b7ca27944df620179ebd2efe07160857501fc580eeb727bf7683c4125f13ac54a0
PCR1_V=ceab5eb3d9d049a6ba676334e322839004bb244f3f9228f398599d4fcf583bd4486c8a52d051779624a63132e5cad2ed
PCR2_V=242e5ccf0b52a4b54de34b61970d957e6e4ee156b67a78ce2fed248960ff14f05456f94877f4652f10e9506aff4c9de6
# SHA-384(48 zero bytes || SHA-384("")): PCR2 of an image with one ramdisk.
PCR2_EMPTY=21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a

# oracle FILE...: SHA-384(48 zero bytes || SHA-384(the files, concatenated)).
oracle() {
	(
		head -c 48 /dev/zero
		cat "$@" </dev/null | openssl dgst -sha384 -binary
	) | openssl dgst -sha384 | sed 's/^.*= //'
}

# pcr N: PCRn from enclave-seal eif's text output in ./out.
pcr() {
	sed -n "s/^PCR$1 //p" out
}

printf x >K
printf console=ttyS0 >C
printf INIT >R0
printf APP >R1
: >EMPTY

test_expect_success 'the vector: the pinned PCRs, and the openssl oracle agrees' '
	$MKEIF -o v.eif --kernel K --cmdline console=ttyS0 --ramdisk R0 --ramdisk R1 &&
	enclave-seal eif v.eif >out &&
	test "$(wc -l <out)" -eq 3 &&
	test "$(pcr 0)" = $PCR0_V &&
	test "$(pcr 1)" = $PCR1_V &&
	test "$(pcr 2)" = $PCR2_V &&
	test "$(oracle K C R0 R1)" = $PCR0_V &&
	test "$(oracle K C R0)" = $PCR1_V &&
	test "$(oracle R1)" = $PCR2_V
'

test_expect_success 'one ramdisk: PCR0 = PCR1 and PCR2 is that of nothing' '
	$MKEIF -o one.eif --kernel K --cmdline console=ttyS0 --ramdisk R0 &&
	enclave-seal eif one.eif >out &&
	test "$(pcr 0)" = "$(pcr 1)" &&
	test "$(pcr 0)" = $PCR1_V &&
	test "$(pcr 2)" = $PCR2_EMPTY &&
	test "$(oracle EMPTY)" = $PCR2_EMPTY
'

test_expect_success 'section order, version, arch and metadata do not change the PCRs' '
	enclave-seal eif v.eif >want &&
	$MKEIF -o spec.eif --order spec --kernel K --cmdline console=ttyS0 --ramdisk R0 \
		--ramdisk R1 &&
	enclave-seal eif spec.eif >got &&
	cmp want got &&
	$MKEIF -o v2.eif --version 2 --arch aarch64 --kernel K --cmdline console=ttyS0 \
		--ramdisk R0 --ramdisk R1 &&
	enclave-seal eif v2.eif >got &&
	cmp want got &&
	$MKEIF -o v3.eif --version 3 --order spec --metadata "{\"BuildTime\": \"now\"}" \
		--kernel K --cmdline console=ttyS0 --ramdisk R0 --ramdisk R1 &&
	enclave-seal eif v3.eif >got &&
	cmp want got &&
	! cmp -s v.eif spec.eif
'

test_expect_success '--json: the same PCRs, the facts, and the CRC Python computes' '
	enclave-seal eif --json spec.eif >j.json &&
	test "$(wc -l <j.json)" -eq 1 &&
	$PY - j.json spec.eif $PCR0_V $PCR1_V $PCR2_V <<-\PYEOF &&
	import json, struct, sys, zlib
	j = json.load(open(sys.argv[1]))
	data = open(sys.argv[2], "rb").read()
	assert [j["PCR0"], j["PCR1"], j["PCR2"]] == sys.argv[3:6], j
	assert "PCR8" not in j, j
	n = struct.unpack(">H", data[0x1a:0x1c])[0]
	crc = zlib.crc32(data[:0x220])
	for i in range(n):
	    off, size = struct.unpack(">QQ", data[0x1c + 8 * i:0x24 + 8 * i] + data[0x11c + 8 * i:0x124 + 8 * i])
	    crc = zlib.crc32(data[off:off + 12 + size], crc)
	assert crc == struct.unpack(">I", data[0x220:0x224])[0]
	want = {"version": 4, "arch": "x86_64", "sections": 5, "ramdisks": 2,
	        "crc32": "0x%08x" % crc, "size": len(data)}
	assert {k: j[k] for k in want} == want, j
	assert list(j) == ["PCR0", "PCR1", "PCR2", "version", "arch", "sections", "ramdisks",
	                   "crc32", "size"], list(j)
	PYEOF
	enclave-seal eif --json v2.eif >j2.json &&
	$PY -c "import json, sys; j = json.load(open(sys.argv[1])); assert (j[\"version\"], j[\"arch\"], j[\"sections\"]) == (2, \"aarch64\", 4), j" j2.json
'

test_expect_success 'a signed image: PCR8 is the oracle over the certificate in DER' '
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout sign.key \
		-out sign.pem -days 2 -subj /CN=eif-signer 2>/dev/null &&
	$MKEIF -o signed.eif --kernel K --cmdline console=ttyS0 --ramdisk R0 --ramdisk R1 \
		--signing-cert sign.pem &&
	enclave-seal eif signed.eif >out &&
	test "$(wc -l <out)" -eq 4 &&
	test "$(pcr 0)" = $PCR0_V &&
	want=$( (head -c 48 /dev/zero && openssl x509 -in sign.pem -outform DER |
		openssl dgst -sha384 -binary) | openssl dgst -sha384 | sed "s/^.*= //") &&
	test "$(pcr 8)" = "$want" &&
	enclave-seal eif --json signed.eif >j.json &&
	$PY -c "import json, sys; j = json.load(open(sys.argv[1])); assert j[\"PCR8\"] == sys.argv[2], j" \
		j.json "$want"
'

for kind in crc size-mismatch type6 overlap sections33 out-of-file flags no-kernel truncated; do
	test_expect_success "damage: $kind is refused (exit 1, stdout empty, the reason on stderr)" "
		\$MKEIF -o bad.eif --mutate $kind --kernel K --cmdline console=ttyS0 --ramdisk R0 \
			--ramdisk R1 &&
		expect_exit 1 enclave-seal eif bad.eif &&
		test ! -s out &&
		grep -q '^enclave-seal eif: bad.eif: ' err &&
		expect_exit 1 enclave-seal eif --json bad.eif &&
		test ! -s out
	"
done

test_expect_success 'a missing file, a directory and a FIFO: exit 1 with the reason, no wait' '
	expect_exit 1 enclave-seal eif nosuch.eif &&
	test ! -s out &&
	grep -q "nosuch.eif: No such file" err &&
	expect_exit 1 enclave-seal eif . &&
	test ! -s out &&
	mkfifo fifo.eif &&
	expect_exit 1 timeout 20 enclave-seal eif fifo.eif &&
	test ! -s out
'

# rss OUT CMD...: runs CMD (stdout in OUT) and prints its peak resident size
# in KiB (getrusage of the child: no sampling, no timing).
rss() {
	$PY -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "w"))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(r.returncode)' "$@"
}

test_expect_success 'a 2 GiB ramdisk: measured in bounded memory, PCR2 as the oracle says' '
	truncate -s 2G BIG &&
	$MKEIF -o big.eif --kernel K --cmdline console=ttyS0 --ramdisk R0 --ramdisk BIG &&
	test "$(stat -c %s big.eif)" -gt 2147483648 &&
	small=$(rss out enclave-seal eif one.eif) &&
	big=$(rss out enclave-seal eif big.eif) &&
	say "peak RSS: $small KiB for a 1 KiB image, $big KiB for a 2 GiB one" >&9 &&
	test "$big" -lt $((small + 4096)) &&
	if ldd "$top_builddir/enclave-seal" | grep -q libasan; then
		say "sanitizer build: only the growth is bounded" >&9
	else
		test "$big" -lt 16384
	fi &&
	test "$(pcr 1)" = $PCR1_V &&
	test "$(pcr 2)" = "$(oracle BIG)"
'

test_expect_success 'usage errors exit 2' '
	expect_exit 2 enclave-seal eif &&
	grep -q "^enclave-seal eif: missing FILE.eif$" err &&
	expect_exit 2 enclave-seal eif v.eif one.eif &&
	expect_exit 2 enclave-seal eif --nosuch v.eif &&
	test ! -s out &&
	expect_exit 0 enclave-seal eif --help &&
	grep -q "usage: enclave-seal eif" out
'

test_done
