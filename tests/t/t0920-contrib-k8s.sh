#!/bin/sh
# contrib/k8s: the manifests parse and carry what the Nitro Enclaves device
# plugin needs (the enclave resource, hugepages equal to the enclave's memory,
# a seccomp profile that lets vsock through); run-job, against the nitro-cli
# stand-in (tests/helpers/stubs) and a stand-in enclave-sync, starts the
# enclave, passes the right arguments, brings the output back and terminates
# the enclave however the job ends. No cluster here.
. "$top_srcdir/tests/lib.sh"

test_require tool python3
python3 -c 'import yaml' 2>/dev/null || skip_all "python3-yaml"

K8S=$top_srcdir/contrib/k8s
PATH=$SCRATCH/bin:$top_srcdir/tests/helpers/stubs:$PATH
NITRO_CLI_LOG=$SCRATCH/nitro-cli.log NITRO_CLI_STATE=$SCRATCH/nitro-cli.json
export PATH NITRO_CLI_LOG NITRO_CLI_STATE

test_expect_success 'every manifest parses, in the namespace enclave-fs' '
	python3 -c "
import yaml, sys
for f in (\"serviceaccount.yaml\", \"vsock-proxy-daemonset.yaml\", \"job.yaml\"):
    docs = [d for d in yaml.safe_load_all(open(\"$K8S/\" + f)) if d]
    assert docs, f
    for d in docs:
        assert d[\"apiVersion\"] and d[\"kind\"], (f, d)
        if d[\"kind\"] != \"Namespace\":
            assert d[\"metadata\"][\"namespace\"] == \"enclave-fs\", (f, d[\"kind\"])
"
'

test_expect_success 'the service account: IRSA role annotation' '
	python3 -c "
import yaml
docs = {d[\"kind\"]: d for d in yaml.safe_load_all(open(\"$K8S/serviceaccount.yaml\"))}
a = docs[\"ServiceAccount\"][\"metadata\"][\"annotations\"]
assert a[\"eks.amazonaws.com/role-arn\"].startswith(\"arn:aws:iam::\"), a
assert docs[\"ServiceAccount\"][\"metadata\"][\"name\"] == \"enclave-fs\"
"
'

# job.py: the Job's pod spec, and its checks.
cat >job.py <<'EOS'
import re, sys, yaml
(job,) = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
run_job = open(sys.argv[2]).read()
assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
spec = job["spec"]
assert spec["completionMode"] == "Indexed", spec
assert spec["completions"] >= 1 and 1 <= spec["parallelism"] <= spec["completions"], spec
pod = spec["template"]["spec"]
assert pod["restartPolicy"] == "Never"
assert pod["serviceAccountName"] == "enclave-fs"
assert pod["nodeSelector"] == {"aws-nitro-enclaves-k8s-dp": "enabled"}, pod["nodeSelector"]
(c,) = pod["containers"]
assert c["command"] == ["/usr/local/bin/run-job"], c["command"]
sc = c["securityContext"]["seccompProfile"]
assert sc == {"type": "Localhost", "localhostProfile": "profiles/enclave-fs-allow-vsock.json"}, sc
req, lim = c["resources"]["requests"], c["resources"]["limits"]
assert req["aws.ec2.nitro/nitro_enclaves"] == lim["aws.ec2.nitro/nitro_enclaves"] == "1"
hp = [k for k in req if k.startswith("hugepages-")]
assert len(hp) == 1 and hp == [k for k in lim if k.startswith("hugepages-")], (req, lim)
assert req[hp[0]] == lim[hp[0]], "hugepages: request and limit must be equal"
for k in ("cpu", "memory"):
    assert k in req and k in lim, k
def mib(q):
    n, unit = re.fullmatch(r"(\d+)(Mi|Gi)", q).groups()
    return int(n) * (1024 if unit == "Gi" else 1)
env = {e["name"]: e.get("value") for e in c["env"]}
default = int(re.search(r"^MEMORY_MIB=\$\{MEMORY_MIB:-(\d+)\}$", run_job, re.M).group(1))
memory = int(env.get("MEMORY_MIB", default))
assert mib(req[hp[0]]) == memory == default, (req[hp[0]], memory, default)
for k in ("PCR0", "RUN", "EIF", "CPU_COUNT"):
    assert env.get(k), k
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
vols = {v["name"]: v for v in pod["volumes"]}
hpv = [n for n, v in vols.items() if v.get("emptyDir", {}).get("medium", "").startswith("HugePages")]
assert len(hpv) == 1 and hpv[0] in mounts, vols
assert mounts.get("data") == "/data" and mounts.get("work") == env.get("WORK", "/work")
for k, d in (("PACKAGES", "/data/"), ("SHARDS", "/data/"), ("OUTPUT", "/data/")):
    assert env[k].startswith(d), k
EOS

test_expect_success 'the Job: Indexed, the enclave device, hugepages == run-job memory, seccomp, node selector, service account' '
	python3 job.py "$K8S/job.yaml" "$K8S/run-job"
'

test_expect_success 'the Job check fails on a Job that lacks the enclave device or mismatches hugepages' '
	sed "s/hugepages-2Mi: 4Gi/hugepages-2Mi: 2Gi/" "$K8S/job.yaml" >bad1.yaml &&
	test_must_fail python3 job.py bad1.yaml "$K8S/run-job" 2>/dev/null &&
	sed "/aws.ec2.nitro\/nitro_enclaves: \"1\"/d" "$K8S/job.yaml" >bad2.yaml &&
	test_must_fail python3 job.py bad2.yaml "$K8S/run-job" 2>/dev/null
'

test_expect_success 'the vsock-proxy DaemonSet: on enclave nodes, the KMS allowlist from its ConfigMap, vsock allowed' '
	python3 -c "
import yaml
docs = {d[\"kind\"]: d for d in yaml.safe_load_all(open(\"$K8S/vsock-proxy-daemonset.yaml\"))}
allow = yaml.safe_load(docs[\"ConfigMap\"][\"data\"][\"vsock-proxy.yaml\"])
assert allow == {\"allowlist\": [{\"address\": \"kms.us-east-1.amazonaws.com\", \"port\": 443}]}, allow
pod = docs[\"DaemonSet\"][\"spec\"][\"template\"][\"spec\"]
assert pod[\"nodeSelector\"] == {\"aws-nitro-enclaves-k8s-dp\": \"enabled\"}
assert pod[\"hostNetwork\"] is True
(c,) = pod[\"containers\"]
assert c[\"command\"][:4] == [\"vsock-proxy\", \"8000\", \"kms.us-east-1.amazonaws.com\", \"443\"], c[\"command\"]
cfg = c[\"command\"][c[\"command\"].index(\"--config\") + 1]
(m,) = c[\"volumeMounts\"]
assert m[\"mountPath\"] == cfg and m[\"subPath\"] == \"vsock-proxy.yaml\"
assert pod[\"volumes\"][0][\"configMap\"][\"name\"] == docs[\"ConfigMap\"][\"metadata\"][\"name\"]
assert c[\"securityContext\"][\"seccompProfile\"][\"type\"] == \"Localhost\"
"
'

# seccomp.py PROFILE: what the profile does to socket(AF_VSOCK) and to the
# calls a container must not make (OCI seccomp semantics: an argument rule
# matches when all its conditions hold; a call no rule matches gets the
# default action).
cat >seccomp.py <<'EOS'
import json, sys
p = json.load(open(sys.argv[1]))
OPS = {"SCMP_CMP_EQ": lambda a, v, w: a == v, "SCMP_CMP_NE": lambda a, v, w: a != v,
       "SCMP_CMP_LT": lambda a, v, w: a < v, "SCMP_CMP_LE": lambda a, v, w: a <= v,
       "SCMP_CMP_GT": lambda a, v, w: a > v, "SCMP_CMP_GE": lambda a, v, w: a >= v,
       "SCMP_CMP_MASKED_EQ": lambda a, v, w: (a & v) == w}
def action(name, args):
    acts = [r["action"] for r in p["syscalls"] if name in r["names"]
            and all(OPS[c["op"]](args[c["index"]], c["value"], c.get("valueTwo", 0)) for c in r.get("args", []))]
    refused = [a for a in acts if a != "SCMP_ACT_ALLOW"]
    return refused[0] if refused else (acts[0] if acts else p["defaultAction"])
assert "SCMP_ARCH_X86_64" in p["architectures"] and "SCMP_ARCH_AARCH64" in p["architectures"]
AF_VSOCK, SOCK_STREAM = 40, 1
for args in ((AF_VSOCK, SOCK_STREAM, 0, 0, 0, 0), (AF_VSOCK, SOCK_STREAM | 0o2000000, 0, 0, 0, 0)):
    assert action("socket", args) == "SCMP_ACT_ALLOW", "socket(AF_VSOCK) refused"
for s in ("connect", "bind", "listen", "accept4", "ioctl", "mmap", "inotify_add_watch", "clone"):
    assert action(s, (0x11, 0, 0, 0, 0, 0)) == "SCMP_ACT_ALLOW", s
for s in ("kexec_load", "init_module", "finit_module", "mount", "unshare", "setns", "ptrace", "bpf",
          "perf_event_open", "open_by_handle_at", "keyctl", "reboot", "io_uring_setup"):
    assert action(s, (0,) * 6) != "SCMP_ACT_ALLOW", s
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
for f in (CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWUSER | 0x11):
    assert action("clone", (f, 0, 0, 0, 0, 0)) != "SCMP_ACT_ALLOW", hex(f)
EOS

test_expect_success 'the seccomp profile: socket(AF_VSOCK) allowed, module loading, mounts, namespaces, ptrace refused' '
	python3 seccomp.py "$K8S/seccomp-allow-vsock.json"
'

test_expect_success 'the seccomp check fails on a profile that refuses vsock (the default profiles do)' '
	python3 -c "
import json
p = json.load(open(\"$K8S/seccomp-allow-vsock.json\"))
p[\"syscalls\"].append({\"names\": [\"socket\"], \"action\": \"SCMP_ACT_ERRNO\",
                      \"args\": [{\"index\": 0, \"value\": 40, \"op\": \"SCMP_CMP_EQ\"}]})
json.dump(p, open(\"novsock.json\", \"w\"))
" &&
	test_must_fail python3 seccomp.py novsock.json 2>/dev/null
'

# A stand-in enclave-sync: logs its arguments (one line, fields separated by
# |), checks that the enclave it is told to reach runs (describe-enclaves),
# and for --once fails to connect (3) the first $ES_UNREADY times or with
# $ES_ONCE_RC; for --run checks that the package and the shard are in DIR,
# writes DIR/output/result and exits with $ES_RC, or with $ES_BLOCK set, says
# "started" and waits for SIGTERM (then exits 143 after writing
# DIR/output/cancelled, as the real one brings a cancelled job's output).
mkdir -p bin
cat >bin/enclave-sync <<'EOS'
#!/bin/sh
log=$SCRATCH/es.log
(IFS='|' && echo "$*") >>"$log"
name=
while [ $# -gt 1 ]; do
	case "$1" in
	--connect) name=${2#nitro:} && shift ;;
	--run) mode=run && line=$2 && shift ;;
	--once) mode=once ;;
	--expect-pcr | --region) shift ;;
	esac
	shift
done
dir=$1
nitro-cli describe-enclaves | grep -q "\"EnclaveName\": \"$name\"" || { echo "no enclave $name" >&2 && exit 3; }
if [ "$mode" = once ]; then
	n=$(grep -c -e "|--once|" "$log")
	[ "$n" -gt "${ES_UNREADY:-0}" ] || exit 3
	exit "${ES_ONCE_RC:-0}"
fi
test -f "$dir/encrypted/app.sealed" && test -f "$dir/dataset/part.csv" || exit 125
if [ -n "${ES_BLOCK:-}" ]; then
	trap 'echo cancelled >"$dir/output/cancelled"; exit 143' TERM
	echo started >>"$SCRATCH/es.started"
	while :; do sleep 1; done
fi
echo "$line on $(cat "$dir/dataset/part.csv")" >"$dir/output/result"
exit "${ES_RC:-0}"
EOS
chmod +x bin/enclave-sync

mkdir -p data/encrypted data/shards/0 data/shards/1 data/output
echo sealed >data/encrypted/app.sealed
echo shard0 >data/shards/0/part.csv
echo shard1 >data/shards/1/part.csv
: >es.log
echo "not an EIF; the stand-in measures it as zeros" >enclave-fs.eif
PCR0=$(printf "%096d" 42)
RUN='app.sealed predict -d /dataset'
EIF=$SCRATCH/enclave-fs.eif PACKAGES=$SCRATCH/data/encrypted SHARDS=$SCRATCH/data/shards
OUTPUT=$SCRATCH/data/output CONNECT_INTERVAL=0
export PCR0 RUN EIF PACKAGES SHARDS OUTPUT CONNECT_INTERVAL SCRATCH
echo "[]" >nitro-cli.json

no_enclaves() {
	test "$(nitro-cli describe-enclaves | tr -d " \n")" = "[]"
}

test_expect_success 'run-job: the enclave job-INDEX started, enclave-sync given the right arguments, output kept, enclave terminated' '
	JOB_COMPLETION_INDEX=1 WORK=$SCRATCH/w1 REGION=eu-west-1 ES_UNREADY=2 "$K8S/run-job" >rj1.out 2>rj1.err &&
	grep -qx "run-enclave --enclave-name job-1 --eif-path $EIF --memory 4096 --cpu-count 2" nitro-cli.log &&
	test "$(grep -c -e "^--connect|nitro:job-1|--expect-pcr|0=$PCR0|--region|eu-west-1|--once|$SCRATCH/w1\$" es.log)" = 3 &&
	grep -qx -e "--connect|nitro:job-1|--expect-pcr|0=$PCR0|--region|eu-west-1|--run|$RUN|$SCRATCH/w1" es.log &&
	test "$(cat data/output/1/result)" = "$RUN on shard1" &&
	grep -qx "terminate-enclave --enclave-name job-1" nitro-cli.log &&
	no_enclaves
'

test_expect_success 'run-job: the job fails: its status, the output still kept, the enclave terminated' '
	: >es.log && : >nitro-cli.log &&
	expect_exit 3 env JOB_COMPLETION_INDEX=0 WORK=$SCRATCH/w0 ES_RC=3 "$K8S/run-job" &&
	test "$(cat data/output/0/result)" = "$RUN on shard0" &&
	grep -qx "terminate-enclave --enclave-name job-0" nitro-cli.log &&
	no_enclaves
'

test_expect_success 'run-job: the enclave refuses the session (attestation): no retry, no job, enclave terminated' '
	: >es.log && : >nitro-cli.log &&
	test_must_fail env JOB_COMPLETION_INDEX=0 WORK=$SCRATCH/w0b ES_ONCE_RC=6 "$K8S/run-job" 2>rj.err &&
	grep -q "enclave-sync --once failed with status 6" rj.err &&
	test "$(wc -l <es.log)" = 1 &&
	grep -qx "terminate-enclave --enclave-name job-0" nitro-cli.log &&
	no_enclaves
'

test_expect_success 'run-job: enclaved never answers: it gives up after CONNECT_TRIES, enclave terminated' '
	: >es.log && : >nitro-cli.log &&
	test_must_fail env JOB_COMPLETION_INDEX=1 WORK=$SCRATCH/w1b ES_UNREADY=99 CONNECT_TRIES=4 "$K8S/run-job" 2>rj.err &&
	grep -q "did not answer after 4 tries" rj.err &&
	test "$(wc -l <es.log)" = 4 &&
	grep -qx "terminate-enclave --enclave-name job-1" nitro-cli.log &&
	no_enclaves
'

test_expect_success 'run-job: no shard for the index, or nitro-cli cannot start the enclave: nothing runs' '
	: >es.log && : >nitro-cli.log &&
	test_must_fail env JOB_COMPLETION_INDEX=7 WORK=$SCRATCH/w7 "$K8S/run-job" 2>rj.err &&
	grep -q "no dataset shard for index 7" rj.err &&
	test ! -s nitro-cli.log &&
	test_must_fail env JOB_COMPLETION_INDEX=0 WORK=$SCRATCH/w0c EIF=$SCRATCH/none.eif "$K8S/run-job" 2>rj.err &&
	grep -q "nitro-cli run-enclave failed" rj.err &&
	! grep -q terminate-enclave nitro-cli.log &&
	test ! -s es.log &&
	no_enclaves
'

test_expect_success 'run-job: PCR0, RUN and the index are required' '
	expect_exit 2 env -u PCR0 JOB_COMPLETION_INDEX=0 "$K8S/run-job" &&
	grep -q "PCR0 is not set" err &&
	expect_exit 2 env -u RUN JOB_COMPLETION_INDEX=0 "$K8S/run-job" &&
	expect_exit 2 env -u JOB_COMPLETION_INDEX "$K8S/run-job"
'

: >es.log
: >nitro-cli.log
: >es.started
JOB_COMPLETION_INDEX=0 WORK=$SCRATCH/wt ES_BLOCK=1 "$K8S/run-job" >rjt.out 2>rjt.err &
rj_pid=$!
# Stopped from here: only the script's own shell can wait for it.
rj_rc=none
if waitline -t 30 es.started started && kill -TERM $rj_pid; then
	rj_rc=0
	wait $rj_pid || rj_rc=$?
fi
test_expect_success 'run-job: SIGTERM (the pod stopped): enclave-sync cancels, the output kept, the enclave terminated' '
	test "$rj_rc" = 143 &&
	test "$(cat data/output/0/cancelled)" = cancelled &&
	grep -qx "terminate-enclave --enclave-name job-0" nitro-cli.log &&
	no_enclaves
'

test_done
