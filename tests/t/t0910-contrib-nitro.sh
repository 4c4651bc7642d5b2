#!/bin/sh
# contrib/nitro, the files doc/NITRO.md runs on a Nitro host: build-eif with
# stand-ins for docker and nitro-cli (tests/helpers/stubs) and the real
# `enclave-seal eif`; the systemd units (systemd-analyze verify against
# stand-in executables, and their contents); enclave@'s commands run through
# the nitro-cli stand-in; the YAML files. Nothing here needs Nitro hardware,
# Docker or AWS.
. "$top_srcdir/tests/lib.sh"

test_require tool python3 systemd-analyze
python3 -c 'import yaml' 2>/dev/null || skip_all "python3-yaml"

NITRO=$top_srcdir/contrib/nitro
UNITS=$NITRO/systemd
PATH=$top_srcdir/tests/helpers/stubs:$PATH
NITRO_CLI_LOG=$SCRATCH/nitro-cli.log NITRO_CLI_STATE=$SCRATCH/nitro-cli.json DOCKER_STUB_LOG=$SCRATCH/docker.log
export PATH NITRO_CLI_LOG NITRO_CLI_STATE DOCKER_STUB_LOG

# unit.py UNIT SECTION KEY: the values of KEY (one line each, continuation
# lines joined), as systemd reads them.
cat >unit.py <<'EOS'
import sys
path, want_sec, want_key = sys.argv[1:4]
sec, buf = None, ""
for raw in open(path):
    line = buf + raw.rstrip("\n")
    if line.endswith("\\"):
        buf = line[:-1] + " "
        continue
    buf = ""
    s = line.strip()
    if not s or s[0] in "#;":
        continue
    if s.startswith("["):
        sec = s.strip("[]")
        continue
    k, _, v = s.partition("=")
    if sec == want_sec and k.strip() == want_key:
        print(v.strip())
EOS
unit() {
	python3 unit.py "$UNITS/$1" "$2" "$3"
}

echo "not a real tarball" >enclave-fs-0.1.0.tar.xz
mkdir eifs

test_expect_success 'build-eif -h: the usage, exit 0' '
	"$NITRO/build-eif" -h >usage.out &&
	grep -q "^usage: build-eif \[--tag TAG\] \[--output FILE.eif\] \[--region R\] TARBALL" usage.out
'

test_expect_success 'build-eif: docker build with the Dockerfile and the tarball, nitro-cli build-enclave, the EIF written' '
	NITRO_CLI_STUB_RAMDISK_BYTES=$((150 * 1048576 + 1)) "$NITRO/build-eif" --tag enclave-fs:test \
		--output eifs/enclave-fs.eif --region eu-west-1 enclave-fs-0.1.0.tar.xz >build.out 2>build.err &&
	test -s eifs/enclave-fs.eif &&
	test "$(ls -A eifs)" = enclave-fs.eif &&
	grep -q "^build .*-t enclave-fs:test" docker.log &&
	grep -q "^build .*--build-arg REGION=eu-west-1" docker.log &&
	grep -q "^build-enclave --docker-uri enclave-fs:test --output-file " nitro-cli.log &&
	test -z "$(ls -A "${TMPDIR:-/tmp}" | grep "^build-eif\.")"
'

test_expect_success 'build-eif: its PCRs are those of enclave-seal eif and of nitro-cli build-enclave' '
	NITRO_CLI_STUB_RAMDISK_BYTES=$((150 * 1048576 + 1)) \
		nitro-cli build-enclave --docker-uri enclave-fs:test --output-file again.eif >stub.json &&
	enclave-seal eif --json eifs/enclave-fs.eif >seal.json &&
	python3 -c "
import json, sys
stub = json.load(open(\"stub.json\"))[\"Measurements\"]
seal = json.load(open(\"seal.json\"))
printed = dict(l.split() for l in open(\"build.out\") if l.startswith(\"PCR\"))
for k in (\"PCR0\", \"PCR1\", \"PCR2\"):
    assert stub[k] == seal[k] == printed[k], (k, stub[k], seal[k], printed.get(k))
assert seal[\"PCR0\"] != seal[\"PCR1\"], \"two ramdisks: PCR0 and PCR1 differ\"
"
'

test_expect_success 'build-eif: the memory printed is 4 x the EIF size in MiB, rounded up' '
	size=$(wc -c <eifs/enclave-fs.eif) &&
	want=$(((4 * size + 1048575) / 1048576)) &&
	test "$want" -gt 600 &&
	grep -qx "memory_mib: $want" build.out &&
	grep -qx "EIF eifs/enclave-fs.eif ($size bytes)" build.out
'

test_expect_success 'build-eif: the key-policy commands carry the PCR0' '
	pcr0=$(sed -n "s/^PCR0 //p" build.out) &&
	test ${#pcr0} = 96 &&
	grep -qx "enclave-seal policy --key-account ACCOUNT --enclave-role ROLE --sealer-role ROLE --pcr0 $pcr0 >policy.json" build.out &&
	grep -q "^aws kms put-key-policy --region eu-west-1 --key-id KEY_ID --policy-name default --policy file://policy.json" build.out &&
	enclave-seal policy --key-account 111122223333 --enclave-role arn:aws:iam::111122223333:role/p \
		--sealer-role arn:aws:iam::111122223333:role/s --pcr0 "$pcr0" >policy.json &&
	grep -q "$pcr0" policy.json
'

test_expect_success 'build-eif: a small image gets the 512 MiB floor' '
	"$NITRO/build-eif" --output eifs/small.eif enclave-fs-0.1.0.tar.xz >small.out 2>small.err &&
	grep -q "^build .*-t enclave-fs:0.1.0" docker.log &&
	grep -qx "memory_mib: 512" small.out
'

test_expect_success 'build-eif: docker fails: non-zero, no EIF, nitro-cli not run' '
	mkdir fail &&
	: >nitro-cli.log &&
	test_must_fail env DOCKER_STUB_FAIL=1 "$NITRO/build-eif" --output fail/x.eif enclave-fs-0.1.0.tar.xz \
		>fail.out 2>fail.err &&
	grep -q "docker build failed: no EIF written" fail.err &&
	test -z "$(ls -A fail)" &&
	! grep -q build-enclave nitro-cli.log
'

test_expect_success 'build-eif: enclave-seal refuses the EIF: non-zero, no EIF' '
	mkdir bad &&
	printf "#!/bin/sh\necho \"enclave-seal eif: bad EIF\" >&2\nexit 1\n" >bad-seal &&
	chmod +x bad-seal &&
	test_must_fail env ENCLAVE_SEAL=$SCRATCH/bad-seal "$NITRO/build-eif" --output bad/x.eif \
		enclave-fs-0.1.0.tar.xz >bad.out 2>bad.err &&
	grep -q "enclave-seal eif could not read" bad.err &&
	test -z "$(ls -A bad)"
'

test_expect_success 'build-eif: enclave-seal and nitro-cli disagree on PCR0: non-zero, no EIF' '
	mkdir odd &&
	printf "#!/bin/sh\nfor i in 0 1 2; do printf \"PCR%%s %%096d\\\\n\" \$i 7; done\n" >odd-seal &&
	chmod +x odd-seal &&
	./odd-seal | grep -qx "PCR0 0*7" &&
	test_must_fail env ENCLAVE_SEAL=$SCRATCH/odd-seal "$NITRO/build-eif" --output odd/x.eif \
		enclave-fs-0.1.0.tar.xz >odd.out 2>odd.err &&
	grep -q "nitro-cli says PCR0 .*, enclave-seal eif says 0*7: no EIF written" odd.err &&
	test -z "$(ls -A odd)"
'

test_expect_success 'build-eif: a missing or misnamed tarball, a bad option: usage errors (2), nothing built' '
	: >docker.log &&
	expect_exit 2 "$NITRO/build-eif" --output eifs/y.eif &&
	grep -q "^usage: build-eif" err &&
	expect_exit 2 "$NITRO/build-eif" --output eifs/y.eif enclave-fs-9.9.tar.xz &&
	grep -q "enclave-fs-9.9.tar.xz: no such file" err &&
	cp enclave-fs-0.1.0.tar.xz other.tar.xz &&
	expect_exit 2 "$NITRO/build-eif" other.tar.xz &&
	grep -q "not a release tarball" err &&
	expect_exit 2 "$NITRO/build-eif" --frobnicate enclave-fs-0.1.0.tar.xz &&
	expect_exit 2 "$NITRO/build-eif" --tag &&
	test ! -s docker.log &&
	test ! -e eifs/y.eif
'

# A root for systemd-analyze: the units, a conf, stand-ins for the programs
# they run and for the allocator's unit (systemd checks every ExecStart).
mkroot() {
	mkdir -p root/etc/systemd/system root/usr/bin root/usr/local/bin root/etc/enclave-fs &&
	cp "$UNITS"/*.service root/etc/systemd/system/ &&
	cp "$UNITS/example.conf" root/etc/enclave-fs/iris.conf &&
	for b in nitro-cli vsock-proxy mkdir fusermount3 true; do
		printf "#!/bin/sh\n" >root/usr/bin/$b && chmod +x root/usr/bin/$b || return 1
	done &&
	printf "#!/bin/sh\n" >root/usr/local/bin/enclave-fs && chmod +x root/usr/local/bin/enclave-fs &&
	printf "[Unit]\nDescription=stand-in\n[Service]\nExecStart=/usr/bin/true\n" \
		>root/etc/systemd/system/nitro-enclaves-allocator.service &&
	for u in sysinit.target basic.target network-online.target multi-user.target shutdown.target \
		sockets.target paths.target slices.target timers.target; do
		printf "[Unit]\nDescription=stand-in\n" >root/etc/systemd/system/$u || return 1
	done
}

test_expect_success 'the units: systemd-analyze verify finds nothing to say' '
	mkroot &&
	systemd-analyze verify --man=no --root="$SCRATCH/root" enclave@iris.service enclave-fs@iris.service \
		vsock-proxy@us-east-1.service >verify.out 2>&1 &&
	test ! -s verify.out
'

test_expect_success 'the units: systemd-analyze verify does notice a broken unit (the check above means something)' '
	sed -i "s/^Type=notify$/Type=notifyy/" root/etc/systemd/system/enclave-fs@.service &&
	systemd-analyze verify --man=no --root="$SCRATCH/root" enclave-fs@iris.service >verify2.out 2>&1 || : &&
	grep -q "notifyy" verify2.out
'

test_expect_success 'enclave-fs@.service: notify, its conf, the mount command, unmount at stop' '
	test "$(unit enclave-fs@.service Service Type)" = notify &&
	test "$(unit enclave-fs@.service Service NotifyAccess)" = main &&
	test "$(unit enclave-fs@.service Service EnvironmentFile)" = /etc/enclave-fs/%i.conf &&
	test "$(unit enclave-fs@.service Service StateDirectory)" = enclave-fs/%i &&
	test "$(unit enclave-fs@.service Service Restart)" = on-failure &&
	test "$(unit enclave-fs@.service Unit Requires)" = enclave@%i.service &&
	unit enclave-fs@.service Unit After | grep -q "^enclave@%i.service" &&
	test "$(unit enclave-fs@.service Service ExecStart)" = "enclave-fs -f --connect nitro:%i --cache /var/lib/enclave-fs/%i --expect-pcr 0=\${PCR0} --region \${REGION} \$EFS_OPTIONS \${MOUNT}" &&
	test "$(unit enclave-fs@.service Service ExecStop)" = "/usr/bin/fusermount3 -u \${MOUNT}"
'

test_expect_success 'enclave-fs@.service: enclave-fs knows every option it is given' '
	enclave-fs --help >efs-help.txt 2>&1 || : &&
	for o in $(unit enclave-fs@.service Service ExecStart | tr " " "\n" | grep "^-") \
		$(sed -n "s/^EFS_OPTIONS=\"\(.*\)\"$/\1/p" "$UNITS/example.conf" | tr " " "\n" | grep "^-"); do
		grep -q -e "$o[ ,=]" -e "$o\$" efs-help.txt || { echo "enclave-fs has no option $o" && exit 1; }
	done
'

test_expect_success 'enclave@.service and vsock-proxy@.service: their commands' '
	test "$(unit enclave@.service Service Type)" = oneshot &&
	test "$(unit enclave@.service Service RemainAfterExit)" = yes &&
	test "$(unit enclave@.service Service EnvironmentFile)" = /etc/enclave-fs/%i.conf &&
	test "$(unit enclave@.service Unit After)" = nitro-enclaves-allocator.service &&
	test "$(unit enclave@.service Unit Requires)" = nitro-enclaves-allocator.service &&
	test "$(unit enclave@.service Service ExecStart)" = "/usr/bin/nitro-cli run-enclave --enclave-name %i --eif-path \${EIF} --memory \${MEMORY_MIB} --cpu-count \${CPU_COUNT} --enclave-cid \${CID}" &&
	test "$(unit enclave@.service Service ExecStop)" = "/usr/bin/nitro-cli terminate-enclave --enclave-name %i" &&
	test "$(unit vsock-proxy@.service Service ExecStart)" = "/usr/bin/vsock-proxy 8000 kms.%i.amazonaws.com 443 --config /etc/nitro_enclaves/vsock-proxy.yaml"
'

test_expect_success 'example.conf: every key, as plain KEY=value lines that sh and the runbook sed read' '
	for k in EIF CID MEMORY_MIB CPU_COUNT PCR0 REGION MOUNT EFS_OPTIONS; do
		test "$(grep -c "^$k=" "$UNITS/example.conf")" = 1 || { echo "no single $k= line" && exit 1; }
	done &&
	! grep -v -e "^#" -e "^\$" -e "^[A-Z0-9_]*=" "$UNITS/example.conf" &&
	(set -a && . "$UNITS/example.conf" && test "$EFS_OPTIONS" = "--aws-credentials imds") &&
	cp "$UNITS/example.conf" rot.conf &&
	sed -i "s|^EIF=.*|EIF=$PWD/enclave-fs-2.eif|; s|^PCR0=.*|PCR0=abc|" rot.conf &&
	grep -qx "EIF=$PWD/enclave-fs-2.eif" rot.conf &&
	grep -qx "PCR0=abc" rot.conf
'

# run_unit UNIT KEY CONF: runs the unit's KEY command for the instance iris
# as systemd would: %i replaced, the conf's variables expanded, nitro-cli
# from PATH (the stand-in).
run_unit() {
	ru_cmd=$(unit "$1" Service "$2" | sed "s/%i/iris/g; s|^/usr/bin/nitro-cli |nitro-cli |") &&
	(set -a && . "./$3" && eval "$ru_cmd")
}

test_expect_success 'enclave@iris: ExecStart starts the enclave describe-enclaves reports; ExecStop ends it' '
	echo "[]" >nitro-cli.json &&
	echo "not an EIF; the stand-in measures it as zeros" >dummy.eif &&
	sed "s|^EIF=.*|EIF=$SCRATCH/dummy.eif|" "$UNITS/example.conf" >iris.conf &&
	run_unit enclave@.service ExecStart iris.conf >run.json &&
	nitro-cli describe-enclaves >described.json &&
	python3 -c "
import json
run = json.load(open(\"run.json\"))
(e,) = json.load(open(\"described.json\"))
conf = dict(l.strip().split(\"=\", 1) for l in open(\"iris.conf\") if l[0].isalpha())
assert run[\"EnclaveName\"] == e[\"EnclaveName\"] == \"iris\", e
assert e[\"State\"] == \"RUNNING\"
assert e[\"EnclaveCID\"] == run[\"EnclaveCID\"] == int(conf[\"CID\"])
assert e[\"MemoryMiB\"] == int(conf[\"MEMORY_MIB\"]) and e[\"NumberOfCPUs\"] == int(conf[\"CPU_COUNT\"])
" &&
	run_unit enclave@.service ExecStop iris.conf >stop.json &&
	test "$(nitro-cli describe-enclaves | tr -d " \n")" = "[]"
'

test_expect_success 'enclave@iris: the stand-in refuses a missing EIF, as nitro-cli does' '
	sed "s|^EIF=.*|EIF=$SCRATCH/nothing.eif|" "$UNITS/example.conf" >gone.conf &&
	test_must_fail run_unit enclave@.service ExecStart gone.conf >gone.out 2>gone.err &&
	grep -q "nothing.eif" gone.err &&
	test "$(nitro-cli describe-enclaves | tr -d " \n")" = "[]"
'

test_expect_success 'allocator.yaml and vsock-proxy.yaml parse, and fit example.conf and the proxy unit' '
	python3 -c "
import yaml
a = yaml.safe_load(open(\"$NITRO/allocator.yaml\"))
p = yaml.safe_load(open(\"$NITRO/vsock-proxy.yaml\"))
conf = dict(l.strip().split(\"=\", 1) for l in open(\"$UNITS/example.conf\") if l[0].isalpha())
assert set(a) == {\"memory_mib\", \"cpu_count\"}, a
assert a[\"memory_mib\"] >= max(512, int(conf[\"MEMORY_MIB\"])) and a[\"cpu_count\"] >= int(conf[\"CPU_COUNT\"]) >= 2
assert p == {\"allowlist\": [{\"address\": \"kms.us-east-1.amazonaws.com\", \"port\": 443}]}, p
assert conf[\"REGION\"] == \"us-east-1\"
"
'

test_expect_success 'the Dockerfile: the release tarball, enclaved on vsock:5005 with the kms provider, SOURCE_DATE_EPOCH' '
	grep -q "^COPY enclave-fs-\*\.tar\.xz " "$NITRO/Dockerfile" &&
	grep -q "\./configure --prefix=/usr && make .*&& make install" "$NITRO/Dockerfile" &&
	grep -q "^ENV SOURCE_DATE_EPOCH=" "$NITRO/Dockerfile" &&
	grep -q "python3 python3-numpy python3-sklearn" "$NITRO/Dockerfile" &&
	grep "^CMD " "$NITRO/Dockerfile" | grep -q "enclaved --listen vsock:5005 --state /var/lib/enclaved --kms-proxy vsock:3:8000 --kms-ca /etc/ssl/certs/ca-certificates.crt" &&
	! grep "^CMD " "$NITRO/Dockerfile" | grep -q -e "--no-kms" &&
	for o in $(grep "^CMD " "$NITRO/Dockerfile" | tr " " "\n" | grep "^--" | sed "s/[^a-z-].*//"); do
		enclaved --help 2>&1 | grep -q -e "$o" || { echo "enclaved has no option $o" && exit 1; }
	done
'

test_expect_success 'doc/NITRO.md names only files that exist in contrib/nitro' '
	grep -o "contrib/nitro/[A-Za-z0-9_./@-]*[A-Za-z0-9@]" "$top_srcdir/doc/NITRO.md" | sort -u >named &&
	test -s named &&
	while read -r f; do
		test -e "$top_srcdir/$f" || { echo "doc/NITRO.md names $f, which is missing" && exit 1; }
	done <named
'

test_done
