#!/bin/sh
# The iris example end to end: an owner seals a scikit-learn application,
# a user runs it in a development enclave, in the three ways an owner and a
# user combine files (contrib/examples/iris/README.md).
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
enclave-seal seal --kek owner.kek -o host/encrypted/iris-full.sealed full 2>/dev/null
enclave-seal seal --kek owner.kek --zstd -o host/encrypted/iris-model.sealed model-only 2>/dev/null
enclave-seal seal --kek owner.kek -o host/encrypted/iris-app.sealed app-only 2>/dev/null

start_daemon enclave enclaved --dev --listen "unix:$SCRATCH/s.sock" --state "$SCRATCH/state" \
	--kek owner.kek -v

run() {
	enclave-sync --connect "unix:$SCRATCH/s.sock" --run "$1" host >out 2>err
}

accuracy() {
	$PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["accuracy"])' "$1"
}

test_expect_success 'the owner trained a model' '
	grep "cross-validated accuracy" train.out &&
	test -s trained/model.pkl
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

test_expect_success '3: app sealed, the user'\''s own model and dataset in plaintext' '
	cp trained/model.pkl host/model/model.pkl &&
	cp "$iris/data/iris.csv" host/dataset/mine.csv &&
	run "iris-app.sealed predict -d /dataset -m /model/model.pkl" &&
	test $(wc -l <host/output/predictions.csv) -eq 151
'

test_expect_success '3b: the user trains inside the enclave, then predicts with that model' '
	run "iris-app.sealed train -d /dataset" &&
	test -s host/output/model.pkl &&
	cp host/output/model.pkl host/model/model.pkl &&
	run "iris-app.sealed predict -d /dataset -m /model/model.pkl" &&
	grep accuracy out
'

test_expect_success 'without a model the app-only package fails with a clear message' '
	rm -f host/model/model.pkl &&
	rc=0 && run "iris-app.sealed predict -d /dataset" || rc=$?
	test $rc -ne 0 &&
	grep "model.pkl" err
'

test_expect_success 'the sealed code, model and data never appear in plaintext on the host' '
	! grep -r "classifies iris" host &&
	! grep -rl "sepal_length" host/encrypted
'

test_done
