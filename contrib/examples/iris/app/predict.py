#!/usr/bin/env python3
"""predict: classifies iris measurements with a trained model.

usage: predict.py [-d DATA] [-m MODEL] [-o OUTDIR]
  DATA   a CSV file or a directory of them (default: the sealed data/, else /dataset)
  MODEL  a model.json from train.py (default: the sealed model/model.json, else
         /model/model.json); read as data, never executed
Writes OUTDIR/predictions.csv (id, predicted[, species]) and OUTDIR/metrics.json.
"""
import argparse
import collections
import csv
import json
import os

import model as iris_model
from common import UserError, load, reason, run

HERE = os.path.dirname(os.path.abspath(__file__))


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(message)


def default_model():
    for p in (os.path.join(HERE, "model", "model.json"), "/model/model.json"):
        if os.path.exists(p):
            return p
    raise UserError("no model: copy a model.json into model/ or give -m /model/NAME")


def default_data():
    sealed = os.path.join(HERE, "data")
    return sealed if os.path.isdir(sealed) else "/dataset"


def main():
    ap = Parser(description=__doc__.splitlines()[0], allow_abbrev=False)
    ap.add_argument("-d", dest="data")
    ap.add_argument("-m", dest="model")
    ap.add_argument("-o", dest="out", default="/output")
    args = ap.parse_args()

    data = args.data or default_data()
    model_path = args.model or default_model()
    model = iris_model.load(model_path)
    ids, X, y = load(data)
    print(f"model {os.path.basename(model_path)}, {len(X)} rows from {data}", flush=True)

    predicted = iris_model.predict(model, X)
    labelled = [(p, t) for p, t in zip(predicted, y) if t is not None]
    metrics = {"rows": len(X), "predicted": dict(collections.Counter(predicted))}
    if labelled:
        correct = sum(1 for p, t in labelled if p == t)
        metrics["labelled"] = len(labelled)
        metrics["accuracy"] = round(correct / len(labelled), 4)
    try:
        write(args.out, ids, predicted, y, labelled, metrics)
    except OSError as e:
        raise UserError(f"{args.out}: {reason(e)}") from None
    if labelled:
        print(f"accuracy {metrics['accuracy']:.3f} on {len(labelled)} labelled rows", flush=True)
    print(f"wrote {args.out}/predictions.csv and metrics.json", flush=True)


def write(out, ids, predicted, y, labelled, metrics):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "predictions.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "predicted"] + (["species"] if labelled else []))
        for i, p, t in zip(ids, predicted, y):
            w.writerow([i, p] + ([t or ""] if labelled else []))
    with open(os.path.join(out, "metrics.json"), "w") as fh:
        json.dump(metrics, fh, indent=1, sort_keys=True)
        fh.write("\n")


if __name__ == "__main__":
    run(main)
