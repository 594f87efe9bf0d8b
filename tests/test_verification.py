"""Verification on a trial list like VoxCeleb1's ``veri_test2.txt``, whose utterances lie in every split."""

import json
import shutil

from tests.support import tiny_run


def trials_across_splits(folder):
    """Rewrite ``veri_test2.txt``: for each utterance, a target and a non-target trial with partners in any split.

    The real list's 40 speakers have utterances in all three ``iden_split.txt``
    sets, so its trials pair training, validation and test utterances.
    """
    lines = (folder / "iden_split.txt").read_text().split("\n")
    rels = [line.split()[1] for line in lines if line.strip()]
    speakers = sorted({rel.split("/")[0] for rel in rels})
    by_speaker = {s: [rel for rel in rels if rel.startswith(s + "/")] for s in speakers}
    trials = []
    for rel in rels:
        speaker = rel.split("/")[0]
        same = by_speaker[speaker]
        other = by_speaker[speakers[(speakers.index(speaker) + 1) % len(speakers)]]
        trials += [f"1 {rel} {same[(same.index(rel) + 3) % len(same)]}", f"0 {rel} {other[len(trials) % len(other)]}"]
    return trials


def test_every_trial_of_a_list_across_splits_is_scored(tmp_path, tiny_vc, cache):
    """All trials scored (the protocol's EER), one naming an unknown utterance counted apart, never a silent null."""
    data = tmp_path / "vox"
    shutil.copytree(tiny_vc, data)
    trials = trials_across_splits(data)
    splits = dict(line.split()[::-1] for line in (data / "iden_split.txt").read_text().splitlines())
    assert {splits[t.split()[1]] for t in trials} == {"1", "2", "3"}
    (data / "veri_test2.txt").write_text("\n".join([*trials, "0 id10001/nowhere/00001.wav id10002/gone/00001.wav"]))
    out = tmp_path / "out"
    proc = tiny_run("VoxCeleb", "finetune", cache, out, f"--data_folder={data}", "--scenario=class")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "unlearn_results.json").read_text())
    counts = results["verification"]["trials"]
    (forgotten,) = results["forget_classes"]  # the speaker's trials are scored apart, every other one for eer
    apart = sum(f" {forgotten}/" in t for t in trials)
    assert apart > 0 and "reason" not in counts
    assert counts == {
        "listed": len(trials) + 1,
        "scored": len(trials) - apart,
        "forgotten_speaker": apart,
        "unknown_utterance": 1,
    }
    for model in ("original", "unlearned", "retrained"):
        assert 0 <= results["metrics"][model]["eer"] <= 1 and results["metrics"][model]["min_dcf"] >= 0
    scored = f"{len(trials) - apart} of {len(trials) + 1} trials scored"
    assert scored in (out / "unlearn_results.md").read_text()


def test_a_trial_list_with_no_scorable_trial_says_why(tmp_path, tiny_vc, cache):
    """``eer`` null only with its reason in the JSON, the Markdown and the log."""
    data = tmp_path / "vox"
    shutil.copytree(tiny_vc, data)
    (data / "veri_test2.txt").write_text("1 id10001/nowhere/00001.wav id10001/gone/00001.wav\n")
    out = tmp_path / "out"
    proc = tiny_run("VoxCeleb", "finetune", cache, out, f"--data_folder={data}", "--scenario=class")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "unlearn_results.json").read_text())
    reason = "the scored trials hold no target and no non-target trial"
    assert results["verification"]["trials"]["reason"] == reason and results["metrics"]["original"]["eer"] is None
    assert reason in (out / "unlearn_results.md").read_text() and reason in (out / "log.txt").read_text()
