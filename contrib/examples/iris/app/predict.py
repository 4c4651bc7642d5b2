#!/usr/bin/env python3
"""predict: classifies iris measurements with a trained model.

usage: predict.py [-d DATA] [-m MODEL] [-o OUTDIR]
  DATA   a CSV file or a directory of them (default: the sealed data/, else /dataset)
  MODEL  a model.pkl from train.py (default: the sealed model/model.pkl, else /model/model.pkl)
Writes OUTDIR/predictions.csv (id, predicted[, species]) and OUTDIR/metrics.json.
"""
import argparse
import collections
import csv
import json
import os
import pickle
import sys

from common import load

HERE = os.path.dirname(os.path.abspath(__file__))


def first_existing(*paths):
    for p in paths:
        if os.path.exists(p):
            return p
    sys.exit(f"none of {', '.join(paths)} exists")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-d", "--data")
    ap.add_argument("-m", "--model")
    ap.add_argument("-o", "--out", default="/output")
    args = ap.parse_args()

    data = args.data or first_existing(os.path.join(HERE, "data"), "/dataset")
    model_path = args.model or first_existing(os.path.join(HERE, "model", "model.pkl"),
                                              "/model/model.pkl")
    with open(model_path, "rb") as fh:
        saved = pickle.load(fh)
    model = saved["model"]
    ids, X, y = load(data)
    print(f"model {os.path.basename(model_path)}, {len(X)} rows from {data}", flush=True)

    predicted = model.predict(X)
    os.makedirs(args.out, exist_ok=True)
    labelled = [(p, t) for p, t in zip(predicted, y) if t is not None]
    with open(os.path.join(args.out, "predictions.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "predicted"] + (["species"] if labelled else []))
        for i, p, t in zip(ids, predicted, y):
            w.writerow([i, p] + ([t or ""] if labelled else []))
    metrics = {"rows": len(X), "predicted": dict(collections.Counter(map(str, predicted)))}
    if labelled:
        correct = sum(1 for p, t in labelled if p == t)
        metrics["labelled"] = len(labelled)
        metrics["accuracy"] = round(correct / len(labelled), 4)
        print(f"accuracy {metrics['accuracy']:.3f} on {len(labelled)} labelled rows", flush=True)
    with open(os.path.join(args.out, "metrics.json"), "w") as fh:
        json.dump(metrics, fh, indent=1, sort_keys=True)
        fh.write("\n")
    print(f"wrote {args.out}/predictions.csv and metrics.json", flush=True)


if __name__ == "__main__":
    main()
