#!/usr/bin/env python3
"""train: fits a classifier to labelled iris measurements and writes model.json.

usage: train.py [-d DATA] [-o OUTDIR]   (defaults: /dataset, /output)
scikit-learn fits the model; model.json holds only its numbers (model.py),
which predict.py reads as data.
"""
import argparse
import json
import os

from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import model as iris_model
from common import FEATURES, UserError, load, reason, run


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(message)


def as_data(pipeline):
    """The fitted pipeline as a model.json document."""
    scaler = pipeline.named_steps["standardscaler"]
    clf = pipeline.named_steps["logisticregression"]
    return {"format": iris_model.FORMAT, "features": list(FEATURES),
            "classes": [str(c) for c in clf.classes_],
            "scaler": {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()},
            "coef": clf.coef_.tolist(), "intercept": clf.intercept_.tolist()}


def main():
    ap = Parser(description=__doc__.splitlines()[0], allow_abbrev=False)
    ap.add_argument("-d", dest="data", default="/dataset")
    ap.add_argument("-o", dest="out", default="/output")
    args = ap.parse_args()

    _, X, y = load(args.data, need_labels=True)
    if len(set(y)) < 2:
        raise UserError(f"{args.data}: at least two species are needed, found {len(set(y))}")
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0))
    folds = min(5, min(y.count(c) for c in set(y)))
    scores = cross_val_score(pipeline, X, y, cv=folds) if folds >= 2 else []
    pipeline.fit(X, y)
    print(f"trained on {len(X)} rows, {len(set(y))} classes", flush=True)
    if len(scores):
        print(f"cross-validated accuracy {scores.mean():.3f}", flush=True)

    model = iris_model.check(as_data(pipeline))
    same = sum(1 for a, b in zip(iris_model.predict(model, X), pipeline.predict(X)) if a == b)
    print(f"model.json agrees with the fitted model on {same} of {len(X)} rows", flush=True)
    try:
        os.makedirs(args.out, exist_ok=True)
        iris_model.dump(model, os.path.join(args.out, "model.json"))
        with open(os.path.join(args.out, "training.json"), "w") as fh:
            json.dump({"rows": len(X), "classes": model["classes"],
                       "cv_accuracy": round(float(scores.mean()), 4) if len(scores) else None},
                      fh)
            fh.write("\n")
    except OSError as e:
        raise UserError(f"{args.out}: {reason(e)}") from None
    print(f"wrote {args.out}/model.json", flush=True)


if __name__ == "__main__":
    run(main)
