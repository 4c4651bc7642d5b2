"""What train.py and predict.py share: reading iris measurements from CSV
files (a file, or every *.csv in a directory), opening what the host names,
and reporting errors.

The host chooses the paths this app reads, and whatever the app prints on
stdout reaches the host. So errors are about the user's input only, on
stdout, and never a traceback (it would quote this app's source); and a file
under /dataset or /model is opened without following any symlink, since a
link the host planted could point at the app's own files in /app.
"""
import csv
import errno
import math
import os
import stat
import sys

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
LABEL = "species"
HOST_ROOTS = ("/dataset", "/model")


class UserError(Exception):
    """A problem with the user's input, safe to show to the host."""


def reason(e):
    """Why an OSError happened, in words for the user."""
    if e.errno == errno.ELOOP:
        return "a symbolic link (not followed)"
    return e.strerror or "cannot be read"


def run(main):
    """Runs main(); any error becomes one line on stdout and exit status 1."""
    try:
        main()
    except UserError as e:
        print(f"error: {e}", flush=True)
        sys.exit(1)
    except Exception:  # pylint: disable=broad-except
        # No details: the message or traceback could quote the app.
        print("error: the job failed unexpectedly", flush=True)
        sys.exit(1)


def _host_root(path):
    for root in HOST_ROOTS:
        if path == root or path.startswith(root + "/"):
            return root
    return None


def _open_beneath(path, directory):
    """An fd for path, walked from its host root one component at a time
    without following a symlink or climbing out with "..", whatever the
    enclave already checked."""
    root = _host_root(path)
    parts = [p for p in path[len(root):].split("/") if p]
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i, part in enumerate(parts):
            if part in (".", ".."):
                raise OSError(errno.EINVAL, "not a canonical path")
            if stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode):
                raise OSError(errno.ELOOP, "a symbolic link")
            flags = os.O_RDONLY | os.O_NOFOLLOW
            if i < len(parts) - 1 or directory:
                flags |= os.O_DIRECTORY
            new = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = new
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_input(path, mode="r"):
    """Opens a file to read; under /dataset or /model never through a symlink."""
    if _host_root(path) is None:
        return open(path, mode, newline="" if "b" not in mode else None)
    fd = _open_beneath(path, directory=False)
    try:
        if "b" in mode:
            return os.fdopen(fd, mode)
        return os.fdopen(fd, mode, newline="", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def _is_dir(path):
    if _host_root(path) is None:
        return os.path.isdir(path)
    try:
        os.close(_open_beneath(path, directory=True))
        return True
    except OSError:
        return False


def csv_files(path):
    """path itself, or the regular *.csv files of the directory path, sorted."""
    if not _is_dir(path):
        return [path]
    try:
        return _csv_files(path)
    except OSError as e:
        raise UserError(f"{path}: {reason(e)}") from None


def _csv_files(path):
    if _host_root(path) is None:
        names = [e.name for e in os.scandir(path)
                 if e.name.endswith(".csv") and e.is_file(follow_symlinks=False)]
    else:
        fd = _open_beneath(path, directory=True)
        try:
            names = [e.name for e in os.scandir(fd)
                     if e.name.endswith(".csv") and e.is_file(follow_symlinks=False)]
        finally:
            os.close(fd)
    if not names:
        raise UserError(f"no CSV files in {path}")
    return [os.path.join(path, n) for n in sorted(names)]


def load(path, need_labels=False):
    """Returns (ids, X, y): y holds None where a row has no label."""
    ids, X, y = [], [], []
    for name in csv_files(path):
        try:
            with open_input(name) as fh:
                _read(name, fh, need_labels, ids, X, y)
        except UnicodeDecodeError:
            raise UserError(f"{name}: not UTF-8 text") from None
        except csv.Error as e:
            raise UserError(f"{name}: not a CSV file ({e})") from None
        except OSError as e:
            raise UserError(f"{name}: {reason(e)}") from None
    if not X:
        raise UserError(f"no rows in {path}")
    return ids, X, y


def _read(name, fh, need_labels, ids, X, y):
    reader = csv.DictReader(fh)
    missing = [f for f in FEATURES if f not in (reader.fieldnames or [])]
    if missing:
        raise UserError(f"{name}: missing columns {', '.join(missing)}")
    for n, row in enumerate(reader, start=2):
        try:
            x = [float(row[f]) for f in FEATURES]
        except (TypeError, ValueError):
            x = None
        if x is None or not all(math.isfinite(v) for v in x):
            raise UserError(f"{name}:{n}: not a number in {[row[f] for f in FEATURES]}")
        label = (row.get(LABEL) or "").strip() or None
        if need_labels and label is None:
            raise UserError(f"{name}:{n}: no {LABEL}")
        X.append(x)
        y.append(label)
        ids.append(row.get("id") or f"{os.path.basename(name)}:{n}")
