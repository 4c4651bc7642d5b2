#!/bin/sh
# doc/NITRO.md, run: every ```sh block of the runbook, in order, in one
# shell, as root, in a private mount namespace whose /etc is an overlay and
# whose /mnt and /var/lib are fresh tmpfs (nothing reaches the machine's
# configuration). Real: enclave-seal (eif, policy, seal against the KMS
# double through AWS_ENDPOINT_URL_KMS and AWS_CA_BUNDLE), install, sed, the
# mount, the copies, the job, the unmount. Stand-ins in tests/helpers/stubs:
# docker, nitro-cli, aws and systemctl, which record their arguments
# (systemctl runs enclave@ units' ExecStart and ExecStop, so nitro-cli's
# stand-in sees the enclave started and terminated). One change, asserted to apply exactly once: the mount in
# block 6 runs against a development enclave with the double's KMS, since
# there is no vsock to reach a Nitro Enclave here (doc/NITRO.md says so);
# its cache is seeded with the development root the KMS double trusts.
. "$top_srcdir/tests/lib.sh"
test_timeout=600

test_require root
test_require fuse
test_require tool openssl python3 unshare

DEV_PCR0=$(openssl dgst -sha384 -r "$(command -v enclaved)" | cut -d" " -f1)
ARN=arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
SEALER=AKIASEALER0000000001:sealersecret0000000000000000000000000001

# The KMS and IMDS double: the alias the runbook seals with, released to the
# development enclave's image (the stand-in for the EIF's PCR0 here).
K=$SCRATCH/kms
mkdir -p "$K"
python3 "$top_srcdir/tests/helpers/kmsdouble.py" --state "$K" --region us-east-1 \
	--key "$ARN=$DEV_PCR0" --alias "alias/enclave-fs=$ARN" --sealer "$SEALER" --imds \
	--dev-root "$DEVROOT/root.pem" --unix "$K/kms.sock" >"$SCRATCH/kms.log" 2>&1 &
track_daemon kms $!
if ! waitline -t 60 "$K/ready" ready; then
	echo "Bail out! the KMS double did not start"
	sed 's/^/# /' "$SCRATCH/kms.log"
	exit 99
fi

# The stand-ins, first on PATH.
mkdir -p bin
for t in nitro-cli docker aws systemctl; do ln -sf "$top_srcdir/tests/helpers/stubs/$t" "bin/$t"; done

# The working directory the runbook expects: the source tree's contrib/ and
# a release tarball's name (docker is a stand-in: it does not read it).
mkdir -p work
cp -R "$top_srcdir/contrib" work/contrib
: >work/enclave-fs-0.1.0.tar.xz

# The runbook's blocks, with the one change.
python3 - "$top_srcdir/doc/NITRO.md" runbook.sh "$K" <<'PY'
import re, sys
doc, out, k = sys.argv[1], sys.argv[2], sys.argv[3]
blocks = re.findall(r"^```sh\n(.*?)^```$", open(doc).read(), re.S | re.M)
text = "\n".join(blocks)
old = "--connect nitro:$NAME --expect-pcr 0=$PCR0 --aws-credentials imds"
new = ("--aws-credentials imds --kms-proxy unix:%s/kms.sock --kms-ca %s/ca.pem" % (k, k))
if text.count(old) != 1:
    sys.exit("the runbook's mount line changed: %d matches" % text.count(old))
open(out, "w").write(text.replace(old, new))
print(len(blocks))
PY
test_expect_success 'the runbook has its eight blocks' '
	test "$(grep -c "^\`\`\`sh" "$top_srcdir/doc/NITRO.md")" = 8 &&
	test -s runbook.sh
'

cat >ns.sh <<'EOS'
set -e
mount --make-rprivate /
mkdir -p "$SCRATCH/etc.upper" "$SCRATCH/etc.work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$SCRATCH/etc.upper,workdir=$SCRATCH/etc.work" /etc
mount -t tmpfs tmpfs /mnt
mount -t tmpfs tmpfs /var/lib
# The mount's development enclave attests with the root the KMS double
# trusts (the mount would make a root of its own under its cache).
mkdir -p /var/lib/enclave-fs/iris/.enclave
cp -R "$DEVROOT" /var/lib/enclave-fs/iris/.enclave/dev-root
cd "$SCRATCH/work"
sh -ex "$SCRATCH/runbook.sh" || { cat /mnt/iris/.status; find /var/lib/enclave-fs -maxdepth 2 -name "*.log" -exec tail -n 30 {} +; fusermount3 -u /mnt/iris; exit 1; }
EOS

test_expect_success 'every block runs, in order, to the end' '
	env PATH="$SCRATCH/bin:$PATH" NITRO_CLI_LOG="$SCRATCH/nitro.log" NITRO_CLI_STATE="$SCRATCH/nitro" \
		DOCKER_STUB_LOG="$SCRATCH/docker.log" AWS_STUB_LOG="$SCRATCH/aws.log" \
		SYSTEMCTL_STUB_LOG="$SCRATCH/systemctl.log" \
		AWS_ACCESS_KEY_ID=${SEALER%%:*} AWS_SECRET_ACCESS_KEY=${SEALER#*:} \
		AWS_ENDPOINT_URL_KMS="https://127.0.0.1:$(cat "$K/kms.port")/" AWS_CA_BUNDLE="$K/ca.pem" \
		AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$(cat "$K/imds.port")" \
		DEVROOT="$DEVROOT" unshare -m sh ns.sh >runbook.out 2>&1 ||
	{ tail -n 60 runbook.out; exit 1; }
'

test_expect_success 'the image was built and measured: PCR0 of the EIF is in the first policy' '
	grep -q "build-enclave" nitro.log &&
	pcr0=$(enclave-seal eif --json work/enclave-fs.eif | python3 -c "import json,sys; print(json.load(sys.stdin)[\"PCR0\"])") &&
	grep -q "\"create-key\"" aws.log &&
	grep -q "$pcr0" policy.1.json
'

test_expect_success 'the job ran in the enclave, exited 0, and its model came back in output/' '
	grep -qx 0 runbook.out &&
	grep -qx model.json runbook.out
'

test_expect_success 'rotation: the policy named both images, then only the new one' '
	new=$(enclave-seal eif --json work/enclave-fs-2.eif | python3 -c "import json,sys; print(json.load(sys.stdin)[\"PCR0\"])") &&
	old=$(enclave-seal eif --json work/enclave-fs.eif | python3 -c "import json,sys; print(json.load(sys.stdin)[\"PCR0\"])") &&
	test "$new" != "$old" &&
	grep -q "$old" policy.3.json && grep -q "$new" policy.3.json &&
	grep -q "$new" policy.4.json && ! grep -q "$old" policy.4.json &&
	grep -q "PCR0=$new" etc.upper/enclave-fs/iris.conf
'

test_expect_success 'the units were installed into the overlay and started through systemctl' '
	test -f etc.upper/systemd/system/enclave@.service &&
	grep -q "enable --now vsock-proxy@us-east-1.service enclave@iris.service" systemctl.log &&
	grep -q "restart enclave@iris.service" systemctl.log &&
	grep -q "disable --now enclave-fs@iris.service" systemctl.log &&
	grep -q "terminate-enclave" nitro.log &&
	test ! -e /etc/enclave-fs/iris.conf &&
	! mountpoint -q /mnt/iris
'

test_done
