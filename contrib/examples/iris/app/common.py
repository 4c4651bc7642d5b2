"""Reading iris measurements from CSV files (a file, or every *.csv in a directory)."""
import csv
import glob
import os
import sys

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
LABEL = "species"


def csv_files(path):
    if os.path.isfile(path):
        return [path]
    files = sorted(glob.glob(os.path.join(path, "*.csv")))
    if not files:
        sys.exit(f"no CSV files in {path}")
    return files


def load(path, need_labels=False):
    """Returns (ids, X, y): y holds None where a row has no label."""
    ids, X, y = [], [], []
    for name in csv_files(path):
        with open(name, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [f for f in FEATURES if f not in (reader.fieldnames or [])]
            if missing:
                sys.exit(f"{name}: missing columns {', '.join(missing)}")
            for n, row in enumerate(reader, start=2):
                try:
                    X.append([float(row[f]) for f in FEATURES])
                except ValueError:
                    sys.exit(f"{name}:{n}: not a number in {[row[f] for f in FEATURES]}")
                label = (row.get(LABEL) or "").strip() or None
                if need_labels and label is None:
                    sys.exit(f"{name}:{n}: no {LABEL}")
                y.append(label)
                ids.append(row.get("id") or f"{os.path.basename(name)}:{n}")
    if not X:
        sys.exit(f"no rows in {path}")
    return ids, X, y
