#!/bin/sh
# The iris example end to end: an owner seals a scikit-learn application,
# a user runs it in a development enclave, in the three ways an owner and a
# user combine files (contrib/examples/iris/README.md). Then what a hostile
# host tries: arguments outside the entry's declaration, a pickle where the
# model goes, a symlink to the sealed data; none of it gets the app out.
. "$top_srcdir/tests/lib.sh"

test_require root
if ! /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
	skip_all "python3-sklearn (Debian package)"
fi

iris="$top_srcdir/contrib/examples/iris"
PY=/usr/bin/python3

# The owner's machine: train a model, build the three packages.
enclave-seal keygen -o owner.kek >/dev/null
$PY "$iris/app/train.py" -d "$iris/data" -o trained >train.out
mkdir -p full model-only app-only
cp -r "$iris/app/." full/ && cp -r trained full/model && mkdir full/data && cp "$iris/data/iris.csv" full/data/
cp -r "$iris/app/." model-only/ && cp -r trained model-only/model
cp -r "$iris/app/." app-only/
mkdir -p host/encrypted host/dataset host/model
enclave-seal seal --kek owner.kek -o host/encrypted/iris-full.sealed full 2>seal.err
enclave-seal seal --kek owner.kek --zstd -o host/encrypted/iris-model.sealed model-only 2>>seal.err
enclave-seal seal --kek owner.kek -o host/encrypted/iris-app.sealed app-only 2>>seal.err

start_daemon enclave enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" --state "$SCRATCH/state" \
	--kek owner.kek -v

run() {
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --run "$1" host >out 2>err
}

accuracy() {
	$PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["accuracy"])' "$1"
}

# refused LINE ERRNO-TEXT: enclave-sync --run LINE exits 125 with the
# enclave's refusal, and no job was started.
refused() {
	started=$(grep -c " started" enclave.log || :) &&
	rc=0 && run "$1" || rc=$? &&
	cat err &&
	test $rc -eq 125 &&
	grep -F "enclave-sync: $1: " err | grep -F "($2)" &&
	test "$(grep -c " started" enclave.log || :)" = "$started" &&
	! grep -F "$1 started" enclave.log
}

# no_app_source FILE...: no line of the app's Python source (12 characters
# or more, blanks around it ignored) appears in any FILE.
no_app_source() {
	$PY - "$iris/app" "$@" <<-\PY
	import glob, os, sys
	lines = {l.strip() for f in glob.glob(os.path.join(sys.argv[1], "*.py"))
	         for l in open(f) if len(l.strip()) >= 12}
	found = 0
	for f in sys.argv[2:]:
	    text = open(f, errors="replace").read()
	    for l in sorted(lines):
	        if l in text:
	            print("%s quotes the app: %s" % (f, l), file=sys.stderr)
	            found += 1
	sys.exit(1 if found else 0)
	PY
}

# A pickle that, if anything unpickled it, would copy /app to /output.
$PY - <<-\PY
import os, pickle
class Steal:
    def __reduce__(self):
        return (os.system, ("cp -r /app /output/stolen",))
with open("evil.pkl", "wb") as fh:
    pickle.dump({"model": Steal()}, fh)
PY

test_expect_success 'the owner trained a model: model.json, the numbers only' '
	grep "cross-validated accuracy" train.out &&
	grep "model.json agrees with the fitted model on 150 of 150 rows" train.out &&
	test -s trained/model.json &&
	test ! -e trained/model.pkl &&
	$PY -c "import json, sys; m = json.load(open(sys.argv[1])); assert m[\"format\"] == \"iris-logreg/1\" and len(m[\"coef\"]) == 3" trained/model.json
'

test_expect_success 'the manifest declares its arguments: seal has nothing to warn about' '
	cat seal.err &&
	! grep warning seal.err
'

test_expect_success 'predict imports neither scikit-learn nor pickle' '
	$PY - "$iris/app" "$iris/data" <<-\PY &&
	import runpy, sys
	app, data = sys.argv[1], sys.argv[2]
	sys.path.insert(0, app)
	sys.argv = ["predict.py", "-d", data, "-m", "trained/model.json", "-o", "local"]
	try:
	    runpy.run_path(app + "/predict.py", run_name="__main__")
	except SystemExit as e:
	    sys.exit("predict exited %s" % e.code)
	loaded = [m for m in sys.modules if m.split(".")[0] in ("sklearn", "pickle", "_pickle", "joblib")]
	sys.exit("predict loaded %s" % loaded if loaded else 0)
	PY
	test $(wc -l <local/predictions.csv) -eq 151
'

test_expect_success 'the evil pickle is live: unpickling it runs its command' '
	$PY -c "import pickle, posix
calls = []
posix.system = calls.append
pickle.load(open(\"evil.pkl\", \"rb\"))
assert calls == [\"cp -r /app /output/stolen\"], calls"
'

test_expect_success 'no_app_source catches a traceback (control)' '
	test_must_fail $PY -c "import sys; sys.path.insert(0, sys.argv[1]); sys.argv = [\"predict.py\", \"-m\", \"/nonexistent.json\"]; import predict; predict.main()" \
		"$iris/app" 2>traceback &&
	grep Traceback traceback &&
	test_must_fail no_app_source traceback
'

test_expect_success '1: app, model and data sealed together' '
	run "iris-full.sealed predict" &&
	grep "accuracy" out &&
	test $(wc -l <host/output/predictions.csv) -eq 151 &&
	$PY -c "import sys; sys.exit(not float(sys.argv[1]) > 0.9)" $(accuracy host/output/metrics.json)
'

test_expect_success '2: app and model sealed, the user'\''s dataset in plaintext' '
	rm -f host/output/predictions.csv &&
	{ head -1 "$iris/data/iris.csv" && sed -n "2p;60p;120p" "$iris/data/iris.csv"; } >host/dataset/mine.csv &&
	run "iris-model.sealed predict -d /dataset" &&
	test $(wc -l <host/output/predictions.csv) -eq 4 &&
	grep -q "^1,setosa" host/output/predictions.csv &&
	test "$($PY -c "import json; print(json.load(open(\"host/output/metrics.json\"))[\"rows\"])")" = 3
'

test_expect_success '3: app sealed, the user'\''s own model.json and dataset in plaintext' '
	cp trained/model.json host/model/model.json &&
	cp "$iris/data/iris.csv" host/dataset/mine.csv &&
	run "iris-app.sealed predict -d /dataset -m /model/model.json" &&
	grep "model model.json, 150 rows from /dataset" out &&
	test $(wc -l <host/output/predictions.csv) -eq 151 &&
	$PY -c "import sys; sys.exit(not float(sys.argv[1]) > 0.9)" $(accuracy host/output/metrics.json)
'

test_expect_success '3a: without -m, the user'\''s /model/model.json' '
	rm host/output/predictions.csv &&
	run "iris-app.sealed predict -d /dataset/mine.csv" &&
	test $(wc -l <host/output/predictions.csv) -eq 151
'

test_expect_success '3b: the user trains inside the enclave, then predicts with that model' '
	run "iris-app.sealed train -d /dataset" &&
	test -s host/output/model.json &&
	cp host/output/model.json host/model/model.json &&
	run "iris-app.sealed predict -d /dataset -m /model/model.json" &&
	grep accuracy out
'

test_expect_success 'without a model the app-only package fails with a clear message' '
	rm -f host/model/model.json &&
	rc=0 && run "iris-app.sealed predict -d /dataset" || rc=$? &&
	test $rc -eq 1 &&
	grep -x "error: no model: copy a model.json into model/ or give -m /model/NAME" out &&
	! grep Traceback out err
'

test_expect_success 'arguments outside the declaration are refused before any job starts' '
	refused "iris-app.sealed predict -m /app/common.py" "Invalid argument" &&
	grep "option '\''-m'\'' of entry '\''predict'\'' takes a path under /model" err &&
	refused "iris-app.sealed predict -m /dataset/x" "Invalid argument" &&
	refused "iris-app.sealed predict -d /dataset/../app/common.py" "Invalid argument" &&
	refused "iris-app.sealed predict -d /dataset//x" "Invalid argument" &&
	refused "iris-app.sealed predict -o /dataset" "Invalid argument" &&
	refused "iris-app.sealed predict -m" "Invalid argument" &&
	refused "iris-app.sealed predict -d -m" "Invalid argument" &&
	refused "iris-app.sealed predict --model /model/model.json" "Operation not permitted" &&
	refused "iris-app.sealed predict -d/dataset" "Operation not permitted" &&
	refused "iris-app.sealed predict -c print(1)" "Operation not permitted" &&
	refused "iris-app.sealed predict /dataset/mine.csv" "Operation not permitted" &&
	refused "iris-app.sealed train -m /model/model.json" "Operation not permitted" &&
	refused "iris-app.sealed -- -d /dataset extra" "Operation not permitted" &&
	refused "iris-app.sealed -d /dataset" "No such file or directory" &&
	test ! -e host/output/stolen
'

# not_executed: the last job failed cleanly, nothing of the app reached the host.
not_executed() {
	test $rc -eq 1 &&
	grep "not a model" out &&
	test ! -e host/output/stolen &&
	! find host/output -name "*.py" | grep . &&
	! grep -r "classifies iris" host/output &&
	! grep Traceback out err &&
	no_app_source out err
}

test_expect_success 'a pickle named model.json is read as data, never executed' '
	cp evil.pkl host/model/model.json &&
	test_when_finished "rm -f host/model/model.json" &&
	rc=0 && run "iris-app.sealed predict -d /dataset" || rc=$? &&
	cat out err &&
	grep -x "error: /model/model.json: not a model (not UTF-8 text)" out &&
	not_executed
'

test_expect_success 'a pickle passed with -m is read as data, never executed' '
	cp evil.pkl host/model/evil.pkl &&
	rc=0 && run "iris-app.sealed predict -d /dataset -m /model/evil.pkl" || rc=$? &&
	cat out err &&
	not_executed
'

test_expect_success 'a JSON model with a wrong field fails with one line, no traceback' '
	$PY -c "import json, sys; m = json.load(open(sys.argv[1])); m[\"coef\"][1] = \"x\"; json.dump(m, open(sys.argv[2], \"w\"))" \
		trained/model.json host/model/bad.json &&
	rc=0 && run "iris-app.sealed predict -d /dataset -m /model/bad.json" || rc=$? &&
	cat out err &&
	grep -x "error: /model/bad.json: not a model: coef\[1\] is not a list of 4 numbers" out &&
	not_executed
'

test_expect_success 'a symlink in dataset/ never leads to the sealed data' '
	ln -s /app/data/iris.csv host/dataset/link.csv &&
	test_when_finished "rm -f host/dataset/link.csv" &&
	rc=0 && run "iris-full.sealed predict -d /dataset/link.csv -o /output/link" || rc=$? &&
	cat out err &&
	test $rc -eq 1 &&
	grep -x -e "error: /dataset/link.csv: a symbolic link (not followed)" \
		-e "error: /dataset/link.csv: No such file or directory" out &&
	test ! -e host/output/link &&
	run "iris-full.sealed predict -d /dataset -o /output/dir" &&
	grep "150 rows from /dataset" out &&
	test $(wc -l <host/output/dir/predictions.csv) -eq 151
'

# The app'"'"'s own guard, for a sync that would carry symlinks: a stand-in
# for /dataset with a link to a stand-in for /app.
test_expect_success 'the app opens nothing under /dataset or /model through a symlink' '
	mkdir -p fake/dataset/sub fake/app &&
	cp "$iris/data/iris.csv" fake/app/secret.csv &&
	cp "$iris/data/iris.csv" fake/dataset/mine.csv &&
	ln -s ../app/secret.csv fake/dataset/link.csv &&
	ln -s ../app fake/dataset/applink &&
	cp trained/model.json fake/app/model.json &&
	ln -s ../app/model.json fake/dataset/model.json &&
	$PY - "$iris/app" "$SCRATCH/fake/dataset" <<-\PY
	import sys
	sys.path.insert(0, sys.argv[1])
	import common, model
	root = sys.argv[2]
	common.HOST_ROOTS = (root,)
	def refused(f, path, why):
	    try:
	        f(path)
	    except common.UserError as e:
	        assert str(e) == path + ": " + why, str(e)
	    else:
	        raise AssertionError(path + " was read")
	link = "a symbolic link (not followed)"
	refused(common.load, root + "/link.csv", link)
	refused(common.load, root + "/applink/secret.csv", link)
	refused(model.load, root + "/model.json", link)
	ids, X, y = common.load(root)
	assert len(X) == 150, len(X)
	refused(model.load, root + "/../app/model.json", "not a canonical path")
	assert model.load("trained/model.json")["classes"]
	PY
'

test_expect_success 'the sealed code, model and data never appear in plaintext on the host' '
	! grep -r "classifies iris" host &&
	! grep -r "def predict" host &&
	! grep -rl "sepal_length" host/encrypted
'

test_done
