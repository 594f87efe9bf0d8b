"""NegGrad, NegGrad+, random labels, l1-sparse, Boundary Shrink and head suppression.

Toy tests (seconds each) check that every method does what it claims, so
each fails if the method did nothing; the toy's original memorises its
training set (retain accuracy 1.0), so a few settings are raised above the
defaults (which are scaled to the real tasks) to make the effect visible
within a handful of steps. Recipe smoke tests run each method once per task
on the tiny corpora.
"""

import pytest
import torch
import torch.nn.functional as F
from speechbrain.lobes.models.ECAPA_TDNN import Classifier

from speechbrain_unlearn.methods.head_suppress import suppress_cosine
from speechbrain_unlearn.methods.l1_sparse import l1_norm
from tests.support import method_recipe_results, tiny_run
from tests.toy import evaluate, toy_items, toy_setup


def run(method, scenario="sample", **overrides):
    setup = toy_setup(method, scenario=scenario, overrides=overrides)
    diagnostics, status = setup["unlearner"].run(setup["request"])
    return setup, setup["unlearner"].modules.model, diagnostics, status


@torch.no_grad()
def predictions(model, items):
    model.eval()
    return model(torch.stack([x["feats"] for x in items]), torch.ones(len(items))).argmax(1)


def forgotten_class_test_items():
    """Test utterances of the toy's class 0 (the class the `class` scenario forgets)."""
    return [x for x in toy_items(4, 2, "te", noisy=0.0) if x["label"] == 0]


def assert_finite(model):
    assert all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point())


# --- NegGrad -------------------------------------------------------------------


def test_neggrad_raises_the_forget_loss_and_keeps_the_retain_set():
    setup, model, diagnostics, status = run("neggrad", unlearn_lr=0.005, unlearn_epochs=3)
    assert status["status"] == "ok" and diagnostics["steps"] == 3
    forget_before, forget_after = evaluate(setup["original"], setup["forget"])[0], evaluate(model, setup["forget"])[0]
    assert forget_after > forget_before + 1.0
    assert evaluate(model, setup["retain"])[1] >= evaluate(setup["original"], setup["retain"])[1] - 0.1
    # the per-epoch forget loss climbs (gradient ascent)
    losses = diagnostics["forget_loss_per_epoch"]
    assert all(b > a for a, b in zip(losses, losses[1:]))


def test_neggrad_keeps_the_batchnorm_statistics():
    setup, model, _, _ = run("neggrad", unlearn_lr=0.005, unlearn_epochs=3)
    original = setup["original"].state_dict()
    for key, value in model.state_dict().items():
        if key.endswith(("running_mean", "running_var")):
            assert torch.equal(value, original[key]), key
    assert not torch.equal(model.head.weight, setup["original"].head.weight)


def test_neggrad_divergence_is_caught_by_the_guard():
    setup, model, diagnostics, status = run("neggrad", unlearn_lr=1.0, unlearn_epochs=50, guard_every=1)
    assert status["status"] == "diverged" and "guard_retain_floor" in status["reason"]
    assert diagnostics == {} and status["steps"] < 50
    assert_finite(model)
    assert evaluate(model, setup["retain"])[1] >= 0.8  # the floor of hparams/neggrad.yaml


# --- NegGrad+ ------------------------------------------------------------------


def test_neggrad_plus_raises_the_forget_loss_and_keeps_the_retain_set():
    settings = {"unlearn_lr": 0.003, "unlearn_epochs": 5, "neggrad_beta": 0.9}
    setup, model, diagnostics, status = run("neggrad_plus", **settings)
    assert status["status"] == "ok" and diagnostics["steps"] == 5 * 7  # 108 retain utterances, batches of 16
    forget_before, forget_after = evaluate(setup["original"], setup["forget"])[0], evaluate(model, setup["forget"])[0]
    assert forget_after > forget_before + 1.0
    assert evaluate(model, setup["retain"])[1] >= evaluate(setup["original"], setup["retain"])[1] - 0.1
    # the ascent term is what raises it: beta = 1 (fine-tuning alone) leaves the forget loss low
    control, control_model, _, _ = run("neggrad_plus", **{**settings, "neggrad_beta": 1.0})
    assert evaluate(control_model, control["forget"])[0] < forget_after - 1.0


def test_npo_raises_the_forget_loss_and_keeps_the_retain_set():
    setup, model, diagnostics, status = run("npo", unlearn_lr=0.001, unlearn_epochs=5)
    assert status["status"] == "ok" and diagnostics["steps"] == 5 * 7
    forget_before, forget_after = evaluate(setup["original"], setup["forget"])[0], evaluate(model, setup["forget"])[0]
    assert forget_after > forget_before + 1.0
    assert evaluate(model, setup["retain"])[1] >= evaluate(setup["original"], setup["retain"])[1] - 0.1


def test_npo_is_negrad_weighted_by_how_far_the_likelihood_still_is_above_the_original():
    from speechbrain_unlearn.methods.npo import npo_loss

    # d L / d r_i = (2 / n) sigmoid(beta r_i): NegGrad's ascent (r = log p - log p_ref), vanishing as r falls
    r = torch.tensor([2.0, 0.0, -5.0, -50.0], requires_grad=True)
    npo_loss(r, beta=0.5).backward()
    assert torch.allclose(r.grad, 2 / 4 * torch.sigmoid(0.5 * r.detach()))
    assert r.grad[0] > r.grad[1] > r.grad[2] > r.grad[3] and float(r.grad[3]) < 1e-10


def test_npo_refuses_a_temperature_or_weight_out_of_range():
    from speechbrain_unlearn.errors import UnlearnError
    from speechbrain_unlearn.methods import NPO

    NPO.check_hparams({"npo_beta": 0.1, "npo_retain_weight": 0.0})
    with pytest.raises(UnlearnError, match="npo_beta must be > 0"):
        NPO.check_hparams({"npo_beta": 0, "npo_retain_weight": 1.0})
    with pytest.raises(UnlearnError, match="npo_retain_weight must be >= 0"):
        NPO.check_hparams({"npo_beta": 0.1, "npo_retain_weight": -1})


def test_neggrad_plus_divergence_is_caught_by_the_guard():
    setup, model, _, status = run("neggrad_plus", unlearn_lr=1.0, neggrad_beta=0.0, guard_every=1)
    assert status["status"] == "diverged" and "guard_retain_floor" in status["reason"]
    assert_finite(model)
    assert evaluate(model, setup["retain"])[1] >= 0.8


def test_neggrad_plus_refuses_a_beta_outside_the_unit_interval():
    from speechbrain_unlearn.errors import UnlearnError
    from speechbrain_unlearn.methods import NegGradPlus

    NegGradPlus.check_hparams({"neggrad_beta": 0.95})
    with pytest.raises(UnlearnError, match=r"neggrad_beta must lie in \[0, 1\]"):
        NegGradPlus.check_hparams({"neggrad_beta": 1.5})


# --- random labels -------------------------------------------------------------


def test_random_label_changes_the_forgotten_class_predictions_and_keeps_the_rest():
    setup, model, diagnostics, status = run("random_label", scenario="class", unlearn_lr=0.003, unlearn_epochs=5)
    assert status["status"] == "ok" and diagnostics["label_pool"] == "retained classes"
    changed = (predictions(model, setup["forget"]) != predictions(setup["original"], setup["forget"])).float()
    assert float(changed.mean()) >= 0.75
    # the random labels are retained classes: class 0 is (almost) never predicted on its utterances
    assert evaluate(model, setup["forget"])[1] <= 0.2
    assert evaluate(model, setup["retain"])[1] >= evaluate(setup["original"], setup["retain"])[1] - 0.05
    assert evaluate(model, setup["test"])[1] >= evaluate(setup["original"], setup["test"])[1] - 0.05


def test_random_label_sample_scenario_raises_the_forget_loss():
    setup, model, diagnostics, status = run("random_label", unlearn_lr=0.003, unlearn_epochs=5)
    assert status["status"] == "ok" and diagnostics["label_pool"] == "all other classes"
    assert diagnostics["relabelled"] == len(setup["forget"])
    assert evaluate(model, setup["forget"])[0] > evaluate(setup["original"], setup["forget"])[0] + 0.5
    assert evaluate(model, setup["retain"])[1] >= evaluate(setup["original"], setup["retain"])[1] - 0.1


# --- l1-sparse -----------------------------------------------------------------


def test_l1_sparse_shrinks_the_weights_and_keeps_the_retain_set():
    setup, model, diagnostics, status = run("l1_sparse", l1_gamma=0.005)
    assert status["status"] == "ok"
    before = float(l1_norm(setup["original"].parameters()))
    after = float(l1_norm(model.parameters()))
    assert diagnostics["l1_before"] == pytest.approx(before, rel=1e-4)
    assert diagnostics["l1_after"] == pytest.approx(after, rel=1e-4)
    assert after < 0.99 * before
    # the penalty is what shrinks them: the same fine-tuning without it does not
    control, control_model, _, _ = run("l1_sparse", l1_gamma=0.0)
    assert after < float(l1_norm(control_model.parameters())) - 0.01 * before
    assert evaluate(model, setup["retain"])[1] >= evaluate(setup["original"], setup["retain"])[1] - 0.05


# --- Boundary Shrink -----------------------------------------------------------


def test_boundary_shrink_forgets_the_class_and_keeps_the_others():
    setup, model, diagnostics, status = run("boundary", scenario="class", unlearn_lr=0.003, unlearn_epochs=10)
    assert status["status"] == "ok" and diagnostics["forgotten_classes"] == [0]
    assert 0 not in diagnostics["neighbour_classes"]
    held_out = forgotten_class_test_items()
    assert evaluate(setup["original"], held_out)[1] >= 0.7  # the original knew the class
    assert evaluate(model, setup["forget"])[1] <= 0.1
    assert evaluate(model, held_out)[1] <= 0.1
    assert evaluate(model, setup["test"])[1] >= evaluate(setup["original"], setup["test"])[1] - 0.05
    assert evaluate(model, setup["retain"])[1] >= evaluate(setup["original"], setup["retain"])[1] - 0.05


def test_boundary_neighbours_are_retained_classes_near_the_boundary():
    setup = toy_setup("boundary", scenario="class")
    brain = setup["unlearner"]
    items = setup["forget"]
    feats = torch.stack([x["feats"] for x in items])
    labels = torch.tensor([x["label"] for x in items])
    neighbours, _ = brain.neighbour_labels(setup["original"], feats, torch.ones(len(items)), labels, torch.tensor([0]))
    assert not (neighbours == 0).any()
    # the neighbour is the retained class the original scores highest on most utterances
    with torch.no_grad():
        scores = setup["original"](feats, torch.ones(len(items)))
    scores[:, 0] = float("-inf")
    assert float((neighbours == scores.argmax(1)).float().mean()) >= 0.7


def test_boundary_perturbation_spares_padded_frames():
    setup = toy_setup("boundary", scenario="class")
    brain, model = setup["unlearner"], setup["original"]
    seen = {}

    class Spy(torch.nn.Module):
        def forward(self, feats, lengths):
            if not feats.requires_grad:
                seen["attacked"] = feats.clone()
            return model(feats, lengths)

    feats = torch.randn(2, 4, 6)
    feats[1, 2:] = 0.0  # padding of an utterance half as long
    brain.neighbour_labels(Spy(), feats, torch.tensor([1.0, 0.5]), torch.tensor([0, 0]), torch.tensor([0]))
    assert torch.equal(seen["attacked"][1, 2:], torch.zeros(2, 6))
    assert not torch.equal(seen["attacked"][0], feats[0])


# --- head suppression ----------------------------------------------------------


def test_head_suppress_never_predicts_the_class_and_changes_nothing_else():
    setup, model, diagnostics, status = run("head_suppress", scenario="class")
    assert status["status"] == "ok" and diagnostics["suppressed_classes"] == [0]
    items = setup["forget"] + setup["retain"] + setup["test"] + forgotten_class_test_items()
    # and far from the data: every input, not only the training distribution
    items += [{"id": f"r{i}", "feats": 5 * torch.randn(5, 6), "label": 1} for i in range(200)]
    before, after = predictions(setup["original"], items), predictions(model, items)
    assert (before == 0).any() and not (after == 0).any()
    assert torch.equal(after[before != 0], before[before != 0])
    # only the head's row 0 changed
    original = setup["original"].state_dict()
    for key, value in model.state_dict().items():
        if key.startswith("head."):
            assert torch.equal(value[1:], original[key][1:])
        else:
            assert torch.equal(value, original[key]), key


def test_head_suppress_on_a_cosine_classifier_holds_for_every_embedding():
    torch.manual_seed(0)
    head = Classifier(input_size=16, out_neurons=6)
    embeddings = torch.randn(5000, 16)
    # embeddings pointing away from every class centre: all retained cosines negative
    embeddings[:500] = -F.normalize(head.weight[2:], dim=1).sum(0) + 0.1 * torch.randn(500, 16)
    before = head(embeddings.unsqueeze(1)).squeeze(1)
    suppress_cosine(head.weight.data, [0, 1])
    after = head(embeddings.unsqueeze(1)).squeeze(1)
    assert (before[:, 2:].max(1).values < 0).any()
    assert not torch.isin(after.argmax(1), torch.tensor([0, 1])).any()
    assert torch.equal(after[:, 2:], before[:, 2:])
    # a zeroed row would not do: cosine 0 beats all-negative retained cosines
    zeroed = before.clone()
    zeroed[:, :2] = 0.0
    assert torch.isin(zeroed.argmax(1), torch.tensor([0, 1])).any()


# --- recipes -------------------------------------------------------------------


#: The tiny originals fit poorly (retain accuracy far below the guard floor of
#: 0.8), so guarded methods run with a floor of 0: the check still runs.
RECIPE_RUNS = [
    ("SpeechCommands", "neggrad", ["--guard_retain_floor=0.0"]),
    ("VoxCeleb", "neggrad", ["--guard_retain_floor=0.0"]),
    ("SpeechCommands", "neggrad_plus", ["--guard_retain_floor=0.0"]),
    ("VoxCeleb", "neggrad_plus", ["--guard_retain_floor=0.0"]),
    ("SpeechCommands", "npo", ["--guard_retain_floor=0.0"]),
    ("VoxCeleb", "npo", ["--guard_retain_floor=0.0"]),
    ("SpeechCommands", "random_label", []),
    ("VoxCeleb", "random_label", ["--scenario=class"]),
    ("SpeechCommands", "l1_sparse", []),
    ("VoxCeleb", "l1_sparse", []),
    ("SpeechCommands", "boundary", ["--scenario=class"]),
    ("VoxCeleb", "boundary", ["--scenario=class"]),
    ("SpeechCommands", "head_suppress", ["--scenario=class"]),
    ("VoxCeleb", "head_suppress", ["--scenario=class"]),
]


@pytest.mark.parametrize("task,method,extra", RECIPE_RUNS, ids=[f"{t}-{m}" for t, m, _ in RECIPE_RUNS])
def test_recipe_runs(task, method, extra, cache, tmp_path):
    results = method_recipe_results(task, method, extra, cache, tmp_path)
    metrics = results["metrics"]
    if method == "head_suppress":
        # never a forgotten class; every other prediction kept, so no retained-class accuracy is lost
        assert metrics["unlearned"]["forget_test_acc"] == 0.0 and metrics["unlearned"]["forget_acc"] == 0.0
        for key in ("test_acc", "retain_acc"):
            assert metrics["unlearned"][key] >= metrics["original"][key]
    if method in ("neggrad", "neggrad_plus"):
        assert results["method_status"]["retain_check_acc"] is not None


@pytest.mark.parametrize("method", ["boundary", "head_suppress"])
def test_class_only_methods_refuse_the_sample_scenario_in_one_line(method, cache, tmp_path):
    out = tmp_path / "out"
    proc = tiny_run("SpeechCommands", method, cache, out, "--scenario=sample")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "use scenario class" in lines[0], proc.stderr
    assert not out.exists()
