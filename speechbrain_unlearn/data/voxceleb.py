"""Manifests from the VoxCeleb1 identification layout.

Reads ``iden_split.txt`` (``1`` train, ``2`` valid, ``3`` test, one
``idXXXXX/<video>/<nnnnn>.wav`` path per line) and the wavs under
``data_folder/wav``. Every utterance is one row; utterances are never chunked
in the manifest (training crops them on the fly), so forget sets are defined
per wav or per speaker. The same code reads the real dataset and the embedded
MiniVoxCeleb. The verification trial list (``veri_test2.txt`` format), when
present, is returned as well.

Example
-------
>>> import tempfile
>>> from speechbrain_unlearn.data.synth import synthesise_voxceleb
>>> root = synthesise_voxceleb(tempfile.mkdtemp(), n_speakers=2, n_videos=4, utterances_per_video=1)
>>> splits = prepare_voxceleb(root)
>>> [len(splits[s]) for s in ("train", "valid", "test")], len(splits["trials"]) > 0
([2, 2, 4], True)
"""

import os

from speechbrain_unlearn.data.manifest import manifest_row, wav_duration
from speechbrain_unlearn.errors import UnlearnError

SPLIT_FILE = "iden_split.txt"
TRIAL_FILES = ("veri_test2.txt", "veri_test.txt")
_SPLIT_NAMES = {"1": "train", "2": "valid", "3": "test"}


def is_voxceleb(folder):
    """True if ``folder`` holds ``iden_split.txt`` and a ``wav/`` folder."""
    return os.path.isfile(os.path.join(folder, SPLIT_FILE)) and os.path.isdir(os.path.join(folder, "wav"))


def prepare_voxceleb(data_folder):
    """Read VoxCeleb1 into ``{"train", "valid", "test", "trials"}``.

    Arguments
    ---------
    data_folder : str
        Folder with ``iden_split.txt`` and ``wav/idXXXXX/<video>/<n>.wav``.

    Returns
    -------
    dict
        ``train``/``valid``/``test``: lists of manifest rows (label = speaker);
        ``trials``: list of ``(target, enrol_id, test_id)`` from the trial list.
    """
    splits = {"train": [], "valid": [], "test": []}
    with open(os.path.join(data_folder, SPLIT_FILE), encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or parts[0] not in _SPLIT_NAMES:
                raise UnlearnError(
                    f"{SPLIT_FILE} line {line_no} should read '<1|2|3> idXXXXX/<video>/<n>.wav', got {line.strip()!r}"
                )
            rel = parts[1]
            path = os.path.join(data_folder, "wav", rel)
            if not os.path.isfile(path):
                raise UnlearnError(f"{SPLIT_FILE} lists {rel} but {path} does not exist; check data_folder")
            spk = rel.split("/")[0]
            splits[_SPLIT_NAMES[parts[0]]].append(manifest_row(utterance_id(rel), wav_duration(path), path, spk, spk))
    if not splits["train"]:
        raise UnlearnError(f"{SPLIT_FILE} in {data_folder} lists no training utterance (label 1)")
    splits["trials"] = []
    for name in TRIAL_FILES:
        trial_path = os.path.join(data_folder, name)
        if os.path.isfile(trial_path):
            with open(trial_path, encoding="utf-8") as fh:
                for line_no, line in enumerate(fh, 1):
                    parts = line.split()
                    if not parts:
                        continue
                    if len(parts) != 3 or parts[0] not in ("0", "1"):
                        raise UnlearnError(
                            f"{name} line {line_no} should read '<0|1> <enrol wav> <test wav>', got {line.strip()!r}"
                        )
                    splits["trials"].append((int(parts[0]), utterance_id(parts[1]), utterance_id(parts[2])))
            break
    return splits


def utterance_id(rel):
    """SpeechBrain's VoxCeleb utterance ID: ``id10001--1zcIwhmdeo4--00001``.

    Example
    -------
    >>> utterance_id("id10001/1zcIwhmdeo4/00001.wav")
    'id10001--1zcIwhmdeo4--00001'
    """
    return rel[: -len(".wav")].replace("/", "--") if rel.endswith(".wav") else rel.replace("/", "--")
