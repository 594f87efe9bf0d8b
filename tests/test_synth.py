"""Embedded corpora: layouts, official split rule, determinism, caching."""

import hashlib
import os

from speechbrain_unlearn.data.manifest import wav_duration
from speechbrain_unlearn.data.synth import (
    _cached_corpus,
    synthesise_speech_commands,
    synthesise_voxceleb,
    which_set,
)
from tests.support import TINY_SC, TINY_VC


def tree_digest(root):
    sha = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = os.path.join(folder, name)
            sha.update(os.path.relpath(path, root).encode())
            with open(path, "rb") as fh:
                sha.update(fh.read())
    return sha.hexdigest()


def test_speech_commands_layout(tiny_sc):
    words = sorted(
        d for d in os.listdir(tiny_sc) if not d.startswith((".", "_")) and os.path.isdir(os.path.join(tiny_sc, d))
    )
    assert words == sorted(TINY_SC["words"])
    clips = [f"{w}/{f}" for w in words for f in os.listdir(os.path.join(tiny_sc, w))]
    assert len(clips) == 3 * 10 * 2
    assert all("_nohash_" in c for c in clips)
    assert all(abs(wav_duration(os.path.join(tiny_sc, c)) - 1.0) < 1e-9 for c in clips[:10])
    assert os.listdir(os.path.join(tiny_sc, "_background_noise_"))
    listed = {}
    for name, split in (("validation_list.txt", "validation"), ("testing_list.txt", "testing")):
        with open(os.path.join(tiny_sc, name)) as fh:
            listed[split] = fh.read().split()
        # the lists agree with the official hash rule (10% / 30% of speakers)
        assert all(which_set(c, 10, 30) == split for c in listed[split])
    unlisted = set(clips) - set(listed["validation"]) - set(listed["testing"])
    assert all(which_set(c, 10, 30) == "training" for c in unlisted)
    speakers = {s: {c.split("/")[1].split("_")[0] for c in cs} for s, cs in listed.items()}
    assert len(speakers["validation"]) == 1 and len(speakers["testing"]) == 3


def test_voxceleb_layout(tiny_vc):
    with open(os.path.join(tiny_vc, "iden_split.txt")) as fh:
        lines = [line.split() for line in fh]
    assert len(lines) == 4 * 4 * 2
    assert {label for label, _ in lines} == {"1", "2", "3"}
    for _, rel in lines:
        spk, video, name = rel.split("/")
        assert spk.startswith("id") and len(video) == 11 and name.endswith(".wav")
        assert 1.5 <= wav_duration(os.path.join(tiny_vc, "wav", rel)) <= 4.0
    with open(os.path.join(tiny_vc, "veri_test2.txt")) as fh:
        trials = [line.split() for line in fh]
    assert trials and all(t[0] in ("0", "1") and len(t) == 3 for t in trials)
    test_set = {rel for label, rel in lines if label == "3"}
    assert all(t[1] in test_set and t[2] in test_set for t in trials)
    targets = [t for t in trials if t[0] == "1"]
    assert all(t[1].split("/")[0] == t[2].split("/")[0] for t in targets)


def test_synthesis_is_byte_identical_and_seeded(tmp_path, tiny_sc):
    again = synthesise_speech_commands(str(tmp_path / "a"), **TINY_SC)
    assert tree_digest(again) == tree_digest(tiny_sc)
    other = synthesise_speech_commands(str(tmp_path / "b"), seed=99, **TINY_SC)
    assert tree_digest(other) != tree_digest(tiny_sc)


def test_voxceleb_synthesis_is_byte_identical(tmp_path, tiny_vc):
    assert tree_digest(synthesise_voxceleb(str(tmp_path), **TINY_VC)) == tree_digest(tiny_vc)


def test_corpus_is_cached(corpus_cache, tiny_sc):
    marker = os.path.join(tiny_sc, "yes", sorted(os.listdir(os.path.join(tiny_sc, "yes")))[0])
    before = os.path.getmtime(marker)
    assert synthesise_speech_commands(corpus_cache, **TINY_SC) == tiny_sc
    assert os.path.getmtime(marker) == before


def test_a_corpus_another_process_finished_first_is_kept(tmp_path, monkeypatch):
    """Two runs synthesising one corpus at once: the later one must not replace the folder the first is reading."""

    def build(folder):
        # meanwhile, another process (another pid, so another temporary folder) completes it and starts reading it
        with monkeypatch.context() as other:
            other.setattr(os, "getpid", lambda: 1)
            root = _cached_corpus(
                str(tmp_path), "Tiny", {"n": 1}, lambda f: open(os.path.join(f, "first"), "w").close()
            )
        assert os.path.exists(os.path.join(root, "first"))
        open(os.path.join(folder, "second"), "w").close()

    root = _cached_corpus(str(tmp_path), "Tiny", {"n": 1}, build)
    assert os.path.exists(os.path.join(root, "first")) and not os.path.exists(os.path.join(root, "second"))
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(root)]  # no temporary folder left
