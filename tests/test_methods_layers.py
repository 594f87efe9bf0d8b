"""CF-k and EU-k: only the last k layers and the head move; EU-k starts them afresh."""

import pytest
import torch

from speechbrain_unlearn.config import load_hparams
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.methods.layers import layer_names, tail_parameters
from tests.support import ROOT, method_recipe_results
from tests.toy import evaluate, toy_setup


def run(method, **overrides):
    setup = toy_setup(method, overrides=overrides)
    diagnostics, status = setup["unlearner"].run(setup["request"])
    return setup, setup["unlearner"].modules.model, diagnostics, status


def changed(before, after):
    """The names of the parameters that moved."""
    named = dict(after.named_parameters())
    return {n for n, p in before.named_parameters() if not torch.equal(p, named[n])}


def test_cf_k_moves_only_the_tail_and_keeps_the_body_statistics():
    setup, model, diagnostics, status = run("cf_k", unlearn_layers=1, unlearn_epochs=3)
    assert status["status"] == "ok" and diagnostics["layers"] == 1
    tail = {"body.3.weight", "body.3.bias", "head.weight", "head.bias"}
    assert changed(setup["original"], model) == tail and diagnostics["trained_parameters"] == 4
    bn, original_bn = model.body[1], setup["original"].body[1]
    assert torch.equal(bn.running_mean, original_bn.running_mean)
    assert all(p.requires_grad for p in model.parameters())  # restored after the method
    assert evaluate(model, setup["retain"])[1] >= 0.9


def test_eu_k_starts_the_tail_afresh_and_learns_the_retain_set():
    setup, fresh, _, _ = run("eu_k", unlearn_layers=1, unlearn_epochs=0)
    torch.manual_seed(setup["hparams"]["seed"])  # what the method's seeded initialisation draws
    reference = torch.nn.Linear(32, 32)
    assert torch.equal(fresh.body[3].weight, reference.weight)
    assert changed(setup["original"], fresh) == {"body.3.weight", "body.3.bias", "head.weight", "head.bias"}
    setup, model, diagnostics, status = run("eu_k", unlearn_layers=1, unlearn_epochs=10)
    assert status["status"] == "ok" and len(diagnostics["retain_loss_per_epoch"]) == 10
    assert not changed(setup["original"], model) & {"body.0.weight", "body.0.bias", "body.1.weight"}
    assert evaluate(model, setup["retain"])[1] >= 0.9


@pytest.mark.parametrize("task", ["SpeechCommands", "VoxCeleb"])
def test_the_last_layers_of_the_recipe_models_are_in_forward_order(task):
    hp = load_hparams(f"{ROOT}/recipes/{task}/hparams/train.yaml", f"{ROOT}/hparams/cf_k.yaml")
    model = hp["model"](n_classes=5)
    head = model.head_name
    one, two = tail_parameters(model, 1), tail_parameters(model, 2)
    assert set(one) < set(two) and all(n in one for n, _ in model.named_parameters() if n.startswith(head + "."))
    last, before = layer_names(model)[-1], layer_names(model)[-2]
    assert any(n.startswith(last + ".") for n in one) and not any(n.startswith(before + ".") for n in one)
    if task == "SpeechCommands":  # CRDNN: CNN, then the GRU, then the DNN: the GRU is the layer before the DNN
        assert isinstance(dict(model.named_modules())[before], torch.nn.RNNBase)
    with pytest.raises(UnlearnError, match="number of last layers must be a whole number from 0 to"):
        tail_parameters(model, len(layer_names(model)) + 1)


@pytest.mark.parametrize("task,method", [("SpeechCommands", "cf_k"), ("VoxCeleb", "eu_k")])
def test_recipe_runs(task, method, cache, tmp_path):
    results = method_recipe_results(task, method, ["--unlearn_layers=1"], cache, tmp_path)
    assert results["method_diagnostics"]["layers"] == 1
