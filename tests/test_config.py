"""Override routing between the task and method hparams, and its errors."""

import os

import pytest

from speechbrain_unlearn.config import load_hparams
from speechbrain_unlearn.errors import UnlearnError
from tests.support import ROOT

TASK = os.path.join(ROOT, "recipes", "SpeechCommands", "hparams", "train.yaml")
METHOD = os.path.join(ROOT, "hparams", "finetune.yaml")


def test_overrides_reach_both_files():
    hp = load_hparams(TASK, METHOD, "seed: 7\nunlearn_epochs: 5\nlr: 0.01")
    assert hp["seed"] == 7 and hp["unlearn_epochs"] == 5
    assert hp["output_folder"].endswith("finetune/sample-7")  # task key refers to a method key
    assert hp["unlearn_lr"] == pytest.approx(0.01 / 20)  # method key refers to a task key
    assert load_hparams(TASK, METHOD, {"label_smoothing": 0.1})["loss"].label_smoothing == 0.1


def test_unknown_key_is_named_with_suggestions():
    with pytest.raises(UnlearnError, match="unknown key 'forget_ration'.*did you mean: forget_ratio"):
        load_hparams(TASK, METHOD, {"forget_ration": 0.2})


def test_missing_and_clashing_files(tmp_path):
    with pytest.raises(UnlearnError, match="does not exist"):
        load_hparams(TASK, str(tmp_path / "nope.yaml"))
    clash = tmp_path / "clash.yaml"
    clash.write_text("method: x\nseed: 3\n")
    with pytest.raises(UnlearnError, match=r"redefines task keys \['seed'\]"):
        load_hparams(TASK, str(clash))


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(ROOT, "hparams"))))
def test_every_method_config_loads(name):
    if not name.endswith(".yaml"):
        return
    for task in ("SpeechCommands", "VoxCeleb"):
        hp = load_hparams(
            os.path.join(ROOT, "recipes", task, "hparams", "train.yaml"), os.path.join(ROOT, "hparams", name)
        )
        assert hp["method"] == name[:-5]
        assert hasattr(hp["unlearner"], "unlearn")
