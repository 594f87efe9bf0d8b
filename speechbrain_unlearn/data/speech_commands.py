"""Manifests from the Google Speech Commands v0.02 layout.

Reads ``<word>/<speaker>_nohash_<n>.wav`` under ``data_folder`` and assigns
each clip to a split with the official ``validation_list.txt`` and
``testing_list.txt`` (every other clip is training data). The same code reads
the real dataset and the embedded MiniSpeechCommands.

Label sets (``label_set``):

* ``keywords``: only the words in ``keywords``, one class each;
* ``12class``: the ten-keyword convention: ``keywords`` plus ``_unknown_``
  (every other word, subsampled per split to the size of an average keyword
  class) and ``_silence_`` (one-second windows of ``_background_noise_``,
  as many as an average keyword class; the first 80% of each noise file feeds
  training, the next 10% validation, the last 10% test);
* ``all``: every word folder is a class (35 on v0.02).

Example
-------
>>> import tempfile
>>> from speechbrain_unlearn.data.synth import synthesise_speech_commands
>>> root = synthesise_speech_commands(tempfile.mkdtemp(), words=["yes", "no"], n_speakers=10, repetitions=1)
>>> splits = prepare_speech_commands(root, label_set="keywords", keywords=["yes", "no"])
>>> sorted(splits), len(splits["train"]) + len(splits["valid"]) + len(splits["test"])
(['test', 'train', 'valid'], 20)
"""

import os

import numpy as np

from speechbrain_unlearn.data.manifest import manifest_row, wav_duration, wav_info
from speechbrain_unlearn.errors import UnlearnError

LIST_FILES = ("validation_list.txt", "testing_list.txt")
NOISE_FOLDER = "_background_noise_"
UNKNOWN, SILENCE = "_unknown_", "_silence_"


def is_speech_commands(folder):
    """True if ``folder`` holds the two official list files."""
    return all(os.path.isfile(os.path.join(folder, name)) for name in LIST_FILES)


def _read_list(path):
    """The clips a split list names (``<word>/<file>.wav`` per line), each checked to exist beside it."""
    folder, name, clips = os.path.dirname(path), os.path.basename(path), set()
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            rel = line.strip()
            if not rel:
                continue
            if rel.count("/") != 1 or not rel.endswith(".wav"):
                raise UnlearnError(f"{name} line {line_no} should read '<word>/<file>.wav', got {rel!r}")
            if not os.path.isfile(os.path.join(folder, rel)):
                raise UnlearnError(f"{name} line {line_no} names {rel}, which is not in {folder}; fix the list")
            clips.add(rel)
    return clips


def prepare_speech_commands(data_folder, label_set="keywords", keywords=(), seed=0):
    """Read the dataset into ``{"train", "valid", "test"}`` lists of manifest rows.

    Arguments
    ---------
    data_folder : str
        Root of Speech Commands v0.02 (or a folder in the same layout).
    label_set : str
        ``keywords``, ``12class`` or ``all`` (see the module docstring).
    keywords : sequence of str
        The keyword classes for ``keywords`` and ``12class``.
    seed : int
        Seed of the ``_unknown_`` subsampling.

    Returns
    -------
    dict
        Split name to list of rows (see :mod:`speechbrain_unlearn.data.manifest`).
    """
    if label_set not in ("keywords", "12class", "all"):
        raise UnlearnError(f"label_set must be keywords, 12class or all, got {label_set!r}")
    valid_list = _read_list(os.path.join(data_folder, LIST_FILES[0]))
    test_list = _read_list(os.path.join(data_folder, LIST_FILES[1]))
    words = sorted(
        d
        for d in os.listdir(data_folder)
        if os.path.isdir(os.path.join(data_folder, d)) and not d.startswith((".", "_"))
    )
    if label_set != "all":
        missing = [k for k in keywords if k not in words]
        if missing or not keywords:
            raise UnlearnError(
                f"keywords {missing or list(keywords)} have no folder in {data_folder}; "
                f"available words: {', '.join(words)}"
            )
    splits = {"train": [], "valid": [], "test": []}
    unknown = {"train": [], "valid": [], "test": []}
    for word in words:
        if label_set == "keywords" and word not in keywords:
            continue
        label = word if (label_set == "all" or word in keywords) else UNKNOWN
        for name in sorted(os.listdir(os.path.join(data_folder, word))):
            if not name.endswith(".wav"):
                continue
            rel = f"{word}/{name}"
            split = "valid" if rel in valid_list else "test" if rel in test_list else "train"
            path = os.path.join(data_folder, rel)
            row = manifest_row(f"{word}-{name[:-4]}", wav_duration(path), path, name.split("_nohash_")[0], label)
            (unknown if label == UNKNOWN else splits)[split].append(row)
    if label_set == "12class":
        rng = np.random.default_rng(seed)
        for split, rows in splits.items():
            per_class = max(1, len(rows) // max(1, len(keywords)))
            pool = unknown[split]
            keep = sorted(rng.choice(len(pool), size=min(per_class, len(pool)), replace=False)) if pool else []
            rows.extend(pool[i] for i in keep)
            rows.extend(_silence_rows(data_folder, split, per_class))
    if not splits["train"]:
        raise UnlearnError(f"no training clips found in {data_folder}: is it Speech Commands v0.02?")
    return splits


def _silence_rows(data_folder, split, count, clip_s=1.0):
    """``count`` one-second ``_silence_`` windows of the background noise files.

    Windows are spread evenly over each file's region for ``split`` (the first
    80% of every file for training, the next 10% validation, the last 10%
    test), so no two splits share audio.
    """
    folder = os.path.join(data_folder, NOISE_FOLDER)
    files = sorted(f for f in os.listdir(folder) if f.endswith(".wav")) if os.path.isdir(folder) else []
    if not files:
        raise UnlearnError(f"label_set 12class needs {NOISE_FOLDER}/ in {data_folder}")
    first, last = {"train": (0.0, 0.8), "valid": (0.8, 0.9), "test": (0.9, 1.0)}[split]
    per_file = -(-count // len(files))  # ceil
    rows = []
    for name in files:
        path = os.path.join(folder, name)
        total, rate = wav_info(path)
        clip = int(clip_s * rate)
        lo = int(first * total)
        hi = max(lo, int(last * total) - clip)
        for start in np.linspace(lo, hi, per_file).astype(int)[: count - len(rows)]:
            utt = f"{SILENCE}-{split}-{len(rows):05d}"
            rows.append(manifest_row(utt, clip_s, path, "noise", SILENCE, int(start), int(start) + clip))
    return rows
