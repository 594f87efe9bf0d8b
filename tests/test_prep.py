"""Manifests from the official layouts: counts, labels, official lists honoured."""

import os
import shutil

import pytest

from speechbrain_unlearn.data.speech_commands import prepare_speech_commands
from speechbrain_unlearn.data.synth import synthesise_speech_commands
from speechbrain_unlearn.data.voxceleb import prepare_voxceleb, utterance_id
from speechbrain_unlearn.errors import UnlearnError
from tests.support import TINY_SC


def test_speech_commands_keywords(tiny_sc):
    splits = prepare_speech_commands(tiny_sc, "keywords", TINY_SC["words"])
    assert sum(len(rows) for rows in splits.values()) == 60
    assert {r["label"] for r in splits["train"]} == set(TINY_SC["words"])
    with open(os.path.join(tiny_sc, "testing_list.txt")) as fh:
        listed = {line.strip() for line in fh}
    test_files = {os.path.relpath(r["wav"], tiny_sc) for r in splits["test"]}
    assert test_files == listed
    speakers = {s: {r["spk_id"] for r in rows} for s, rows in splits.items()}
    assert not speakers["train"] & speakers["test"] and not speakers["train"] & speakers["valid"]
    row = splits["train"][0]
    assert set(row) == {"ID", "duration", "wav", "start", "stop", "spk_id", "label"}
    assert row["ID"].startswith(row["label"] + "-") and row["spk_id"] in row["ID"]


def test_speech_commands_subset_of_keywords(tiny_sc):
    splits = prepare_speech_commands(tiny_sc, "keywords", ["yes", "no"])
    assert {r["label"] for r in splits["train"]} == {"yes", "no"}


def test_speech_commands_12class_and_all(tiny_sc):
    splits = prepare_speech_commands(tiny_sc, "12class", ["yes", "no"])
    labels = {r["label"] for r in splits["train"]}
    assert labels == {"yes", "no", "_unknown_", "_silence_"}
    silence = [r for r in splits["test"] if r["label"] == "_silence_"]
    assert silence and all(0 <= r["start"] < r["stop"] for r in silence)
    # silence windows of different splits never overlap in the noise files
    train_windows = [r for r in splits["train"] if r["label"] == "_silence_"]
    for a in train_windows:
        for b in silence:
            assert a["wav"] != b["wav"] or a["stop"] <= b["start"] or b["stop"] <= a["start"]
    assert {r["label"] for r in prepare_speech_commands(tiny_sc, "all")["train"]} == {"yes", "no", "up"}


def test_speech_commands_errors(tiny_sc, tmp_path):
    with pytest.raises(UnlearnError, match="have no folder"):
        prepare_speech_commands(tiny_sc, "keywords", ["yes", "cat"])
    with pytest.raises(UnlearnError, match="label_set"):
        prepare_speech_commands(tiny_sc, "twelve", ["yes"])
    broken = tmp_path / "sc"
    shutil.copytree(tiny_sc, broken)
    (broken / "yes" / "bad_nohash_0.wav").write_bytes(b"not a wav")
    with pytest.raises(UnlearnError, match="cannot read"):
        prepare_speech_commands(str(broken), "keywords", ["yes"])


def test_other_settings_corpus_reads_without_code_changes(tmp_path):
    root = synthesise_speech_commands(
        str(tmp_path),
        words=["left", "right"],
        n_speakers=6,
        repetitions=1,
        validation_percentage=20,
        testing_percentage=20,
    )
    splits = prepare_speech_commands(root, "keywords", ["left", "right"])
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [8, 2, 2]


def test_voxceleb(tiny_vc):
    splits = prepare_voxceleb(tiny_vc)
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [8, 8, 16]
    assert all(r["label"] == r["spk_id"] for s in ("train", "test") for r in splits[s])
    with open(os.path.join(tiny_vc, "iden_split.txt")) as fh:
        expected = {utterance_id(rel) for label, rel in (line.split() for line in fh) if label == "3"}
    assert {r["ID"] for r in splits["test"]} == expected
    ids = {r["ID"] for r in splits["test"]}
    assert all(enrol in ids and test in ids for _, enrol, test in splits["trials"])


def test_voxceleb_errors(tiny_vc, tmp_path):
    broken = tmp_path / "vc"
    shutil.copytree(tiny_vc, broken)
    with open(broken / "iden_split.txt", "a") as fh:
        fh.write("1 id99999/abc/00001.wav\n")
    with pytest.raises(UnlearnError, match="does not exist"):
        prepare_voxceleb(str(broken))
    (broken / "iden_split.txt").write_text("train id10001/x/00001.wav\n")
    with pytest.raises(UnlearnError, match="line 1"):
        prepare_voxceleb(str(broken))
