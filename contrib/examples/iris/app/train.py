#!/usr/bin/env python3
"""train: fits a classifier to labelled iris measurements and writes model.pkl.

usage: train.py [-d DATA] [-o OUTDIR]   (defaults: /dataset, /output)
"""
import argparse
import json
import os
import pickle

from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from common import FEATURES, load


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-d", "--data", default="/dataset")
    ap.add_argument("-o", "--out", default="/output")
    args = ap.parse_args()

    _, X, y = load(args.data, need_labels=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0))
    folds = min(5, len(X))
    scores = cross_val_score(model, X, y, cv=folds) if folds >= 2 else []
    model.fit(X, y)
    print(f"trained on {len(X)} rows, {len(set(y))} classes", flush=True)
    if len(scores):
        print(f"cross-validated accuracy {scores.mean():.3f}", flush=True)

    os.makedirs(args.out, exist_ok=True)
    tmp = os.path.join(args.out, ".model.pkl.tmp")
    with open(tmp, "wb") as fh:
        pickle.dump({"features": FEATURES, "model": model}, fh)
    os.replace(tmp, os.path.join(args.out, "model.pkl"))
    with open(os.path.join(args.out, "training.json"), "w") as fh:
        json.dump({"rows": len(X), "classes": sorted(set(y)),
                   "cv_accuracy": round(float(scores.mean()), 4) if len(scores) else None}, fh)
        fh.write("\n")
    print(f"wrote {args.out}/model.pkl", flush=True)


if __name__ == "__main__":
    main()
