"""Atomic file writing and plain-format reading.

Everything this package writes (manifests, results, checkpoints, cached
corpora) goes to a temporary name in the destination folder first and is
renamed into place, so an interrupted run never leaves a half-written file.
Everything read back is plain text, JSON, CSV or a tensor file loaded with
``weights_only=True``.

Example
-------
>>> import tempfile, os
>>> tmp = tempfile.mkdtemp()
>>> path = os.path.join(tmp, "a.json")
>>> write_json(path, {"x": 1})
>>> read_json(path)
{'x': 1}
>>> rows = [{"ID": "u1", "label": "yes"}, {"ID": "u2", "label": "no"}]
>>> write_csv(os.path.join(tmp, "m.csv"), rows)
>>> [r["ID"] for r in read_csv(os.path.join(tmp, "m.csv"))]
['u1', 'u2']
"""

import contextlib
import csv
import hashlib
import json
import math
import os
import pickle
import shutil
import tempfile

import torch

from speechbrain_unlearn.errors import UnlearnError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Arguments
    ---------
    path : str
        The final destination.

    Yields
    ------
    str
        A temporary file name in the same folder, removed if the block fails.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


def sha256_file(path, digest=None):
    """The SHA-256 of a file's bytes (or feed them to ``digest`` and return it)."""
    own = digest is None
    digest = hashlib.sha256() if own else digest
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() if own else digest


def copy_file(source, path):
    """Copy ``source`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)


def _finite(obj):
    """Replace NaN and infinities by ``None`` so the JSON stays standard."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_json(path, obj):
    """Write ``obj`` as indented, standard JSON (NaN becomes ``null``) atomically.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "r.json")
    >>> write_json(path, {"auc": float("nan")})
    >>> read_json(path)
    {'auc': None}
    """
    write_text(path, json.dumps(_finite(obj), indent=2, allow_nan=False) + "\n")


def read_json(path):
    """Read a JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_csv(path, rows, fieldnames=None):
    """Write a list of dicts as a CSV manifest atomically.

    Arguments
    ---------
    path : str
        Destination file.
    rows : list of dict
        One dict per row; all share the same keys.
    fieldnames : list of str, optional
        Column order; defaults to the keys of the first row.
    """
    if fieldnames is None:
        fieldnames = list(rows[0].keys()) if rows else ["ID"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path):
    """Read a CSV manifest as a list of dicts (all values strings)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def save_tensors(path, obj):
    """Save a (nested) dict of tensors and plain values atomically."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_tensors(path):
    """Load what :func:`save_tensors` wrote, never unpickling code; a file that is not such, refused in one line."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise UnlearnError(
            f"{path} cannot be loaded as plain tensors, it holds other objects ({first}); "
            "load only files from sources you trust, saved as tensors"
        ) from None
    except (RuntimeError, EOFError) as err:  # not a torch file, or cut short
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UnlearnError(
            f"{path} is not a readable torch file ({first}); replace it, or delete it if it is a cache file"
        ) from None


def digest(obj, length=12):
    """Return a short stable hash of a JSON-serialisable object.

    Example
    -------
    >>> digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    True
    """
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
