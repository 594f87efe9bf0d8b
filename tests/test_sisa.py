"""SISA: a deletion retrains only the stages that held forgotten utterances and is exact."""

import dataclasses
import json

import pytest
import torch

from speechbrain_unlearn.methods.sisa import assignment
from tests.support import tiny_run
from tests.toy import evaluate, toy_setup


def _run(tmp_path, forget_pick=None, **overrides):
    setup = toy_setup("sisa", overrides={"sisa_folder": str(tmp_path), "sisa_epochs": 4, **overrides})
    if forget_pick is not None:  # a custom forget set, taken from the training set
        train = setup["request"].training_set
        picked = [i for i in range(len(train)) if forget_pick(train[i])]
        setup["forget"] = train.subset(picked)
        setup["retain"] = train.subset([i for i in range(len(train)) if i not in picked])
        setup["request"] = dataclasses.replace(setup["request"], forget=setup["forget"], retain=setup["retain"])
    diagnostics, status = setup["unlearner"].run(setup["request"])
    return setup, diagnostics, status


def test_deletion_equals_sisa_trained_on_the_retain_set(tmp_path):
    setup, diagnostics, status = _run(tmp_path)
    assert status["status"] == "ok" and diagnostics["retrained_stages"] > 0
    # the stored SISA model was trained first (counted as training, not unlearning)
    assert diagnostics["stages_trained_for_the_model"] == diagnostics["total_stages"]
    assert setup["unlearner"].training_time_s > 0
    scratch, _, _ = _run(tmp_path, sisa_from_scratch=True)
    unlearned = setup["unlearner"].modules.model.state_dict()
    reference = scratch["unlearner"].modules.model.state_dict()
    assert unlearned.keys() == reference.keys()
    assert all(torch.equal(unlearned[k], reference[k]) for k in unlearned)
    assert evaluate(setup["unlearner"].modules.model, setup["test"])[1] > 0.5


def test_a_deletion_in_one_shard_retrains_only_that_shard(tmp_path):
    seed = toy_setup("sisa", overrides={"sisa_folder": str(tmp_path)})["hparams"]["seed"]
    # two utterances of shard 0, second slice: one of the 4 x 2 stages is retrained
    picked = []

    def in_shard_0(item):
        if assignment(item["id"], seed, 4, 2) == (0, 1) and (item["id"] in picked or len(picked) < 2):
            picked.append(item["id"])
            return True
        return False

    setup, diagnostics, status = _run(tmp_path, forget_pick=in_shard_0)
    assert len(setup["forget"]) == 2
    assert diagnostics["shards_retrained"] == [0] and diagnostics["retrained_stages"] == 1
    # the other shard models are the stored ones, untouched
    _, again, _ = _run(tmp_path, forget_pick=lambda item: item["id"] in picked)
    assert again["stages_trained_for_the_model"] == 0


@pytest.mark.parametrize("task", ["SpeechCommands", "VoxCeleb"])
def test_sisa_recipe(task, cache, tmp_path):
    out = tmp_path / "sisa"
    proc = tiny_run(task, "sisa", cache, out, "--sisa_epochs=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "unlearn_results.json").read_text())
    assert results["method_status"]["status"] == "ok"
    diagnostics = results["method_diagnostics"]
    assert diagnostics["total_stages"] == 8 and diagnostics["retrained_stages"] > 0
    # the shard models' training is the method's training time, not unlearning time
    assert results["time_s"]["method_training"] > 0
    state = torch.load(out / "unlearned_model.pt", weights_only=True)
    assert any(k.startswith("members.3.") for k in state)
