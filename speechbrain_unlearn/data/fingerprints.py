"""What an audio file holds, for cache keys: the SHA-256 of its bytes, not its path.

Feature tables and trained models are cached under keys of the utterances
they were computed from. Keying them by path would keep stale features (and
a model trained on them) after a wav is corrected in place, and would miss
the cache after a dataset is moved. So a key names each file by the SHA-256
of its bytes. Hashing is paid once per file: the hashes are remembered with
each file's size and modification time (in memory, and in
``<cache_folder>/audio-sha256.json`` once :func:`remember_in` names it), and
a file is hashed again only when either changes, as ``git`` and ``rsync``
decide which files to read.

Example
-------
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
>>> _ = open(path, "wb").write(b"RIFF one")
>>> first = audio_sha256(path)
>>> _ = open(path, "wb").write(b"RIFF two")  # corrected in place
>>> audio_sha256(path) != first
True
"""

import json
import os

from speechbrain_unlearn.io import sha256_file, write_json

_KNOWN = {}  # absolute path -> [size, mtime_ns, sha256]
_MEMO = {"path": None, "dirty": False}


def remember_in(cache_folder):
    """Keep the hashes in ``<cache_folder>/audio-sha256.json`` (read now, written by :func:`save`)."""
    path = os.path.join(cache_folder, "audio-sha256.json")
    _MEMO["path"] = path
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as fh:
                stored = json.load(fh)
        except (OSError, ValueError):  # a damaged memo is rebuilt, never trusted
            stored = {}
        for name, entry in stored.items():
            _KNOWN.setdefault(name, entry)


def save():
    """Write the remembered hashes (atomically), if any were added since the last save."""
    if _MEMO["path"] and _MEMO["dirty"]:
        write_json(_MEMO["path"], _KNOWN)
        _MEMO["dirty"] = False


def audio_sha256(path):
    """The SHA-256 of the file's bytes (remembered while its size and modification time stay the same)."""
    name = os.path.abspath(path)
    stat = os.stat(name)
    known = _KNOWN.get(name)
    if known and known[0] == stat.st_size and known[1] == stat.st_mtime_ns:
        return known[2]
    _KNOWN[name] = [stat.st_size, stat.st_mtime_ns, sha256_file(name)]
    _MEMO["dirty"] = True
    return _KNOWN[name][2]


def rows_key(rows, label=True):
    """The cache key of manifest ``rows``: ID, (label,) audio SHA-256, start and stop of each."""
    return [
        [
            r["ID"],
            *([r["label"]] if label else []),
            audio_sha256(r["wav"]) if r.get("wav") else None,
            r.get("start"),
            r.get("stop"),
        ]
        for r in rows
    ]
