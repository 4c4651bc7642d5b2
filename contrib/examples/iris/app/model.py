"""The iris model as data: a JSON file that only describes numbers.

A model file is read by a strict reader and never executed: a user may give
predict.py a model of their own (from /model), so nothing in it can be code.
The format, "iris-logreg/1":

  {"format": "iris-logreg/1",
   "features": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
   "classes": ["setosa", "versicolor", "virginica"],
   "scaler": {"mean": [4 numbers], "scale": [4 numbers > 0]},
   "coef": [[4 numbers] per row],
   "intercept": [a number per row]}

A standard scaler followed by a logistic regression: one row of coef and
intercept per class, or a single row for two classes (its score picks the
second class when positive). Every number is finite and at most 1e12 in size.
"""
import json
import math
import os

from common import FEATURES, UserError, open_input, reason

FORMAT = "iris-logreg/1"
MAX_BYTES = 1 << 20
MAX_CLASSES = 64
MAX_CLASS_NAME = 64
MAX_ABS = 1e12
KEYS = {"format", "features", "classes", "scaler", "coef", "intercept"}


def _no_constant(name):
    raise ValueError(f"{name} is not a number")


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _number(v, what):
    # bool is an int in Python; JSON true is not a number.
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise UserError(f"{what} is not a number")
    v = float(v)
    if not math.isfinite(v) or abs(v) > MAX_ABS:
        raise UserError(f"{what} is not a finite number of at most {MAX_ABS:g}")
    return v


def _numbers(v, n, what):
    if not isinstance(v, list) or len(v) != n:
        raise UserError(f"{what} is not a list of {n} numbers")
    return [_number(x, f"{what}[{i}]") for i, x in enumerate(v)]


def check(doc):
    """Returns the model described by doc (parsed JSON), or raises UserError."""
    if not isinstance(doc, dict) or set(doc) != KEYS:
        raise UserError(f"not an object with exactly the keys {', '.join(sorted(KEYS))}")
    if doc["format"] != FORMAT:
        raise UserError(f"format is not {FORMAT!r}")
    if doc["features"] != FEATURES:
        raise UserError(f"features are not {', '.join(FEATURES)}")
    classes = doc["classes"]
    if (not isinstance(classes, list) or not 2 <= len(classes) <= MAX_CLASSES
            or not all(isinstance(c, str) and 1 <= len(c) <= MAX_CLASS_NAME
                       and c.isprintable() for c in classes)
            or len(set(classes)) != len(classes)):
        raise UserError(f"classes is not a list of 2..{MAX_CLASSES} distinct printable "
                        f"names of 1..{MAX_CLASS_NAME} characters")
    scaler = doc["scaler"]
    if not isinstance(scaler, dict) or set(scaler) != {"mean", "scale"}:
        raise UserError("scaler is not an object with exactly the keys mean, scale")
    nf = len(FEATURES)
    mean = _numbers(scaler["mean"], nf, "scaler.mean")
    scale = _numbers(scaler["scale"], nf, "scaler.scale")
    if not all(s > 0 for s in scale):
        raise UserError("scaler.scale has a number that is not above 0")
    rows = 1 if len(classes) == 2 else len(classes)
    coef = doc["coef"]
    if not isinstance(coef, list) or len(coef) != rows:
        raise UserError(f"coef is not a list of {rows} rows for {len(classes)} classes")
    coef = [_numbers(row, nf, f"coef[{i}]") for i, row in enumerate(coef)]
    intercept = _numbers(doc["intercept"], rows, "intercept")
    return {"format": FORMAT, "features": list(FEATURES), "classes": list(classes),
            "scaler": {"mean": mean, "scale": scale}, "coef": coef, "intercept": intercept}


def load(path):
    """Reads and checks the model file at path (never through a symlink under
    /dataset or /model), or raises UserError naming it."""
    try:
        with open_input(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as e:
        raise UserError(f"{path}: {reason(e)}") from None
    if len(data) > MAX_BYTES:
        raise UserError(f"{path}: larger than {MAX_BYTES} bytes")
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_no_constant,
                         object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a model (not UTF-8 text)") from None
    except RecursionError:
        raise UserError(f"{path}: not a model (nested too deeply)") from None
    except ValueError as e:
        raise UserError(f"{path}: not a model (not JSON: {e})") from None
    try:
        return check(doc)
    except UserError as e:
        raise UserError(f"{path}: not a model: {e}") from None


def dump(model, path):
    """Writes model (as check() returns it) to path, atomically."""
    tmp = os.path.join(os.path.dirname(path) or ".", "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(check(model), fh, indent=1, allow_nan=False)
        fh.write("\n")
    os.replace(tmp, path)


def predict(model, X):
    """The class of each row of X (lists of len(FEATURES) floats)."""
    mean, scale = model["scaler"]["mean"], model["scaler"]["scale"]
    classes = model["classes"]
    out = []
    for x in X:
        z = [(v - m) / s for v, m, s in zip(x, mean, scale)]
        scores = [sum(c * v for c, v in zip(row, z)) + b
                  for row, b in zip(model["coef"], model["intercept"])]
        if len(classes) == 2:
            out.append(classes[1] if scores[0] > 0 else classes[0])
        else:
            # The first of equal scores wins, as numpy's argmax does.
            out.append(classes[max(range(len(scores)), key=scores.__getitem__)])
    return out
