"""Forget/retain splits: deterministic, disjoint, exhaustive, stratified; clear errors."""

import collections

import pytest

from speechbrain_unlearn.data.splits import make_split
from speechbrain_unlearn.errors import UnlearnError

ROWS = [{"ID": f"u{i:03d}", "label": f"c{i % 4}", "spk_id": f"s{i % 7}"} for i in range(4 * 37)]


def ids(rows):
    return [r["ID"] for r in rows]


@pytest.mark.parametrize(
    "scenario,kwargs",
    [
        ("sample", {"forget_ratio": 0.1}),
        ("class", {}),
        ("speaker", {}),
    ],
)
def test_partition_properties(scenario, kwargs):
    split = make_split(ROWS, scenario, seed=3, **kwargs)
    assert not set(ids(split.forget)) & set(ids(split.retain))
    assert sorted(ids(split.forget) + ids(split.retain)) == ids(ROWS)
    again = make_split(ROWS, scenario, seed=3, **kwargs)
    assert ids(again.forget) == ids(split.forget)
    other = [ids(make_split(ROWS, scenario, seed=s, **kwargs).forget) for s in range(4, 10)]
    assert any(o != ids(split.forget) for o in other)


def test_sample_is_stratified():
    split = make_split(ROWS, "sample", seed=0, forget_ratio=0.25)
    counts = collections.Counter(r["label"] for r in split.forget)
    assert counts == {f"c{k}": round(0.25 * 37) for k in range(4)}


def test_class_and_speaker_choices():
    split = make_split(ROWS, "class", seed=0, forget_classes=["c2"])
    assert {r["label"] for r in split.forget} == {"c2"}
    assert "c2" not in {r["label"] for r in split.retain}
    drawn = make_split(ROWS, "class", seed=0, num_forget_classes=2)
    assert len(drawn.forget_classes) == 2 and {r["label"] for r in drawn.forget} == set(drawn.forget_classes)
    spk = make_split(ROWS, "speaker", seed=0, forget_speakers=["s1", "s5"])
    assert {r["spk_id"] for r in spk.forget} == {"s1", "s5"}
    assert {r["label"] for r in spk.retain} == {f"c{k}" for k in range(4)}  # classes kept


def test_whole_classes_removed_are_reported():
    rows = [{"ID": f"u{i}", "label": f"spk{i % 3}", "spk_id": f"spk{i % 3}"} for i in range(30)]
    assert make_split(rows, "speaker", seed=0, forget_speakers=["spk1"]).forget_classes == ["spk1"]
    assert make_split(ROWS, "speaker", seed=0, forget_speakers=["s1"]).forget_classes == []
    assert make_split(ROWS, "sample", seed=0).forget_classes == []


def test_special_labels_are_never_drawn():
    rows = [{"ID": f"u{i}", "label": ["_silence_", "_unknown_", "yes"][i % 3], "spk_id": "s"} for i in range(30)]
    assert all(make_split(rows, "class", seed=s).forget_classes == ["yes"] for s in range(5))


def test_list_scenario(tmp_path):
    path = tmp_path / "forget.txt"
    path.write_text("u001\n# a comment\nu010\n\n")
    split = make_split(ROWS, "list", seed=0, forget_list=str(path))
    assert ids(split.forget) == ["u001", "u010"]
    path.write_text("u001\nnope1\nnope2\n")
    with pytest.raises(UnlearnError, match="2 IDs not in the training manifest: nope1, nope2"):
        make_split(ROWS, "list", seed=0, forget_list=str(path))


@pytest.mark.parametrize(
    "scenario,kwargs,message",
    [
        ("sample", {"forget_ratio": 0.0}, r"forget_ratio must lie in \(0, 1\)"),
        ("sample", {"forget_ratio": 1.0}, r"forget_ratio must lie in \(0, 1\)"),
        ("sample", {"forget_ratio": 0.001}, "selected no utterance to forget; raise forget_ratio"),
        ("class", {"forget_classes": ["c0", "c1", "c2", "c3"]}, "names all 4 classes"),
        ("class", {"forget_classes": ["c9"]}, "not in the training set: c9"),
        ("speaker", {"forget_speakers": ["x"]}, "not in the training set: x"),
        ("list", {}, "needs forget_list"),
        ("list", {"forget_list": "/nonexistent/file"}, "cannot read forget_list"),
        ("shard", {}, "scenario must be one of"),
    ],
)
def test_bad_requests(scenario, kwargs, message):
    with pytest.raises(UnlearnError, match=message):
        make_split(ROWS, scenario, seed=0, **kwargs)


def test_empty_forget_list(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n")
    with pytest.raises(UnlearnError, match="selected no utterance to forget; .*empty.txt lists no utterance ID"):
        make_split(ROWS, "list", seed=0, forget_list=str(path))
