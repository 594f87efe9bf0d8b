"""The evaluation hooks on constructed cases whose answer is known.

A toy classifier trained on random labels can only fit them by memorising:
its training utterances are members every attack must detect, while a model
that never saw them (a "reference") must look like chance. Two samples of one
distribution must be indistinguishable.
"""

import copy
import os

import numpy as np
import pytest
import torch

from speechbrain_unlearn.brain import UtteranceBrain
from speechbrain_unlearn.deletable.model import DeletionReadyModel
from speechbrain_unlearn.evaluation import membership as mia
from speechbrain_unlearn.evaluation.bootstrap import bootstrap_se
from speechbrain_unlearn.evaluation.distance import js_divergence, ks_pvalue
from speechbrain_unlearn.evaluation.memo import Memo
from speechbrain_unlearn.evaluation.metrics import loss_threshold_auc
from speechbrain_unlearn.evaluation.relearn import attack_report, curve_report, kshot_halves
from speechbrain_unlearn.evaluation.report import markdown_table
from speechbrain_unlearn.evaluation.suite import score_sets
from speechbrain_unlearn.evaluation.verification import eer, min_dcf
from speechbrain_unlearn.losses import CrossEntropy
from tests.toy import FEAT_DIM, FRAMES, ToyModel, toy_items, toy_sets


def random_label_items(n, seed, prefix):
    """Pure-noise features with random labels: learnable only by memorising."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=gen)
    return [
        {"id": f"{prefix}{i}", "feats": torch.randn(FRAMES, FEAT_DIM, generator=gen), "label": int(labels[i])}
        for i in range(n)
    ]


def memorised(items, seed=0, steps=600):
    """A wide toy model trained full-batch on ``items`` until it has memorised them."""
    torch.manual_seed(seed)
    model = ToyModel(4, hidden=128)
    feats = torch.stack([x["feats"] for x in items])
    labels = torch.tensor([x["label"] for x in items])
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(feats, torch.ones(len(items))), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def records(model, items):
    feats = torch.stack([x["feats"] for x in items])
    labels = np.array([x["label"] for x in items])
    log_probs = torch.log_softmax(model(feats, torch.ones(len(items))), 1).numpy()
    nll = -log_probs[np.arange(len(labels)), labels]
    return {"log_probs": log_probs, "label": labels, "nll": nll, "correct": (log_probs.argmax(1) == labels) * 1.0}


@pytest.fixture(scope="module")
def world():
    """Members (and a shadow-member pool) of one memorising model; unseen utterances; shadow models."""
    pool = random_label_items(240, 1, "m")
    members, shadow_members = pool[:120], pool[120:]
    nonmembers, shadow_nonmembers = random_label_items(120, 2, "n"), random_label_items(120, 3, "s")
    target = memorised(pool)
    reference = memorised(shadow_members, seed=9)  # never saw the members
    # LiRA: shadows on complementary halves of everything the targets come from
    universe = pool + nonmembers
    targets = members + nonmembers
    target_ids = [x["id"] for x in targets]
    phis, ins = [], []
    for j, mask in enumerate(mia.shadow_halves(len(universe), 4, seed=0)):
        kept = [x for x, k in zip(universe, mask) if k]
        r = records(memorised(kept, seed=j + 1), targets)
        phis.append(mia.logit_confidence(r["log_probs"], r["label"]))
        ids = {x["id"] for x in kept}
        ins.append(np.array([i in ids for i in target_ids]))
    return {
        "sets": (members, nonmembers, shadow_members, shadow_nonmembers),
        "target": target,
        "reference": reference,
        "shadow_phi": np.stack(phis),
        "shadow_in": np.stack(ins),
    }


def attack_scores(world, model):
    members, nonmembers, shadow_members, shadow_nonmembers = (records(model, s) for s in world["sets"])
    both = {k: np.concatenate([members[k], nonmembers[k]]) for k in ("log_probs", "label")}
    lira = mia.lira_scores(
        mia.logit_confidence(both["log_probs"], both["label"]), world["shadow_phi"], world["shadow_in"]
    )
    n = len(members["label"])
    return {
        "loss_auc": loss_threshold_auc(members["nll"], nonmembers["nll"]),
        "entropy_auc": mia.entropy_attack_auc(shadow_members, shadow_nonmembers, members, nonmembers),
        "svc_efficacy_members": mia.svc_efficacy(shadow_members, shadow_nonmembers, members),
        "svc_efficacy_nonmembers": mia.svc_efficacy(shadow_members, shadow_nonmembers, nonmembers),
        "lira_auc": loss_threshold_auc(-lira[:n], -lira[n:]),
        **mia.lira_tprs(lira[:n], lira[n:]),
    }


def test_every_attack_detects_a_memorised_set(world):
    scores = attack_scores(world, world["target"])
    assert scores["loss_auc"] > 0.85
    assert scores["lira_auc"] > 0.8
    assert scores["entropy_auc"] > 0.7  # label-free: the weakest attack
    # the SVC calls (almost) every member a member, most non-members non-members
    assert scores["svc_efficacy_members"] < 0.1 < 0.7 < scores["svc_efficacy_nonmembers"]
    assert scores["lira_tpr_at_1pct_fpr"] > 0.03


def test_a_model_that_never_saw_the_set_looks_like_chance(world):
    scores = attack_scores(world, world["reference"])
    for key in ("loss_auc", "entropy_auc", "lira_auc"):
        assert abs(scores[key] - 0.5) < 0.1, (key, scores[key])
    assert scores["lira_tpr_at_1pct_fpr"] <= 0.03
    assert abs(scores["svc_efficacy_members"] - scores["svc_efficacy_nonmembers"]) < 0.15


def test_identical_distributions_are_indistinguishable(world):
    _, nonmembers, _, shadow_nonmembers = world["sets"]
    a, b = records(world["target"], nonmembers), records(world["target"], shadow_nonmembers)
    assert abs(loss_threshold_auc(a["nll"], b["nll"]) - 0.5) < 0.1
    assert ks_pvalue(a["nll"], b["nll"]) > 0.05
    members = records(world["target"], world["sets"][0])
    assert ks_pvalue(members["nll"], a["nll"]) < 1e-6
    assert js_divergence(a["log_probs"], a["log_probs"]) < 1e-12
    other = records(world["reference"], nonmembers)
    assert js_divergence(a["log_probs"], other["log_probs"]) > 0.01


def test_modified_entropy_uses_the_label():
    confident = np.log(np.array([[0.97, 0.02, 0.01]]))
    right, wrong = (mia.modified_entropy(confident, np.array([y]))[0] for y in (0, 2))
    assert right < 0.15 < 2.0 < wrong
    # against the definition, term by term
    p = np.exp(confident[0])
    expected = -(1 - p[2]) * np.log(p[2]) - p[0] * np.log(1 - p[0]) - p[1] * np.log(1 - p[1])
    assert wrong == pytest.approx(expected)
    # finite where p_y rounds to 1
    assert np.isfinite(mia.modified_entropy(np.array([[0.0, -80.0]]), np.array([1]))).all()


def test_matched_sample_has_equal_sizes_and_classes():
    rng = np.random.default_rng(0)
    forget, pool = rng.integers(0, 5, 200), rng.integers(0, 5, 90)
    m, p = mia.matched_sample(forget, pool, np.random.default_rng(1))
    assert len(m) == len(p) and len(set(m)) == len(m) and len(set(p)) == len(p)
    assert np.array_equal(np.bincount(forget[m], minlength=5), np.bincount(pool[p], minlength=5))


def test_tpr_at_low_fpr_and_lira_needs_out_shadows():
    nonmembers = np.arange(1000.0)
    assert mia.tpr_at_fpr(np.array([999.5, 995.0, 10.0]), nonmembers, 0.001) == pytest.approx(1 / 3)
    assert mia.tpr_at_fpr(np.array([999.5, 995.0, 10.0]), nonmembers, 0.01) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="at least one shadow"):
        mia.lira_scores(np.zeros(2), np.zeros((2, 2)), np.ones((2, 2), bool))


def test_verification_metrics_on_known_scores():
    rng = np.random.default_rng(0)
    assert eer(rng.normal(3, 1, 500), rng.normal(-3, 1, 500)) < 0.01
    same = eer(rng.normal(0, 1, 2000), rng.normal(0, 1, 2000))
    assert 0.45 < same < 0.55
    assert min_dcf(rng.normal(0, 1, 2000), rng.normal(0, 1, 2000)) > 0.9  # chance: normalised cost near 1


def test_bootstrap_se_matches_the_binomial_error():
    correct = (np.random.default_rng(0).random(400) < 0.3).astype(float)
    expected = np.sqrt(0.3 * 0.7 / 400)
    assert bootstrap_se(np.mean, [correct], n=500, seed=1) == pytest.approx(expected, rel=0.2)


def toy_brain_hparams():
    return {"loss": CrossEntropy(), "seed": 1, "batch_size": 16, "eval_batch_size": 64}


def test_relearning_recovery_is_zero_for_the_reference_and_positive_for_the_original(world):
    members, _, shadow_members, _ = world["sets"]
    shown, held = kshot_halves([x["id"] for x in members], seed=1)
    models = {"original": world["target"], "unlearned": world["reference"], "retrained": world["reference"]}
    report = attack_report(
        models,
        [members[i] for i in shown],
        {"forget_held_out": [members[i] for i in held]},
        toy_brain_hparams(),
        {"device": "cpu"},
        steps=8,
        lr=1e-3,
        keep_batchnorm_statistics=True,
    )
    # the unlearned model here *is* the reference: recovery 0 by construction
    assert report["memorization_recovery"] == 0.0
    # the original memorised the held-out half's random labels; the reference cannot guess them
    assert report["memorization_recovery_original"] > 0.5
    assert report["curve"]["steps"] == [0, 1, 2, 3, 4, 6, 8] and len(report["curve"]["original"]) == 7
    # along the curve: the same reading (nothing to recover; the original above the reference throughout)
    assert report["auc_recovery"] == 0.0 and report["auc_recovery_original"] > 0.5
    assert report["steps_to_half_original"] == 0 and report["steps_to_half"] == report["steps_to_half_reference"]
    # the models of the run are not changed by the attack
    before = records(world["target"], members)["log_probs"]
    assert np.array_equal(before, records(models["original"], members)["log_probs"])


def test_relearning_curve_numbers_say_why_a_step_count_is_missing():
    curve = {
        "steps": [0, 5, 10],
        "unlearned": [0.1, 0.3, 0.6],
        "original": [0.9, 0.9, 1.0],
        "retrained": [0.1, 0.2, 0.3],
    }
    out = curve_report(curve, 0.9)
    # trapezoids over [0, 1]: the unlearned curve's area 0.325 against the reference's 0.2
    assert out["auc_recovery"] == pytest.approx(0.125) and out["auc_recovery_original"] == pytest.approx(0.725)
    assert (out["steps_to_half"], out["steps_to_half_original"], out["steps_to_half_reference"]) == (10, 0, None)
    assert out["steps_to_half_note"] == "steps_to_half_reference: half of 0.900 not reached within 10 steps"
    nothing = curve_report({**curve, "original": [0.0, 0.5, 1.0]}, 0.0)
    assert nothing["steps_to_half"] is None and "nothing to recover" in nothing["steps_to_half_note"]


def test_report_marks_gaps_within_the_noise_floor():
    results = {
        "task": "VoxCeleb",
        "method": "influence",
        "scenario": "class",
        "seed": 1,
        "metrics": {"original": {"test_acc": 0.9, "mia_auc": 0.7}, "retrained": {"test_acc": 0.9, "mia_auc": 0.5}},
        "gap_to_retrain": {"test_acc": 0.004, "mia_auc": 0.05, "avg": 0.027},
        "gap_noise_floor": {"test_acc": 0.01, "mia_auc": 0.02, "avg": 0.015},
    }
    text = markdown_table(results)
    assert "| 0.0040 ≈ |" in text and "| 0.0500 |" in text
    assert "not distinguishable" not in text
    results["gap_noise_floor"]["avg"] = 0.03
    assert "within the noise floor" in markdown_table(results)


def test_gradient_evaluations_are_counted_by_the_training_loop():
    from speechbrain_unlearn.cost import CostMeter

    items = random_label_items(40, 4, "g")
    model = ToyModel(4)
    brain = UtteranceBrain(modules={"model": model}, hparams=toy_brain_hparams(), run_opts={"device": "cpu"})
    with CostMeter() as meter:
        brain.train_steps(items, 5, torch.optim.Adam(model.parameters()), 16)
    # 5 steps over the batches of two epochs of 40 utterances: 16, 16, 8, then 16, 16
    assert meter.result()["grad_evals"] == 16 + 16 + 8 + 16 + 16
    assert meter.result()["peak_mem_mb"] > 0


@pytest.mark.parametrize("keep", [True, False])
def test_kshot_training_keeps_the_batchnorm_statistics(keep):
    items = random_label_items(40, 5, "k")
    model = ToyModel(4)
    before = model.body[1].running_mean.clone()
    brain = UtteranceBrain(modules={"model": model}, hparams=toy_brain_hparams(), run_opts={"device": "cpu"})
    brain.train_steps(items, 3, torch.optim.Adam(model.parameters()), 16, keep_batchnorm_statistics=keep)
    assert torch.equal(model.body[1].running_mean, before) == keep
    assert not model.training  # left in eval mode


def test_a_deletion_ready_model_is_scored_from_its_cores_shared_embeddings(tmp_path):
    torch.manual_seed(0)
    core = ToyModel()
    first = DeletionReadyModel(core, n_classes=4, mean=torch.zeros(32), std=torch.ones(32))
    second = copy.deepcopy(first)
    torch.nn.init.normal_(second.head.weight)  # another head on the same core
    _, items = toy_sets(toy_items(4, 1, "tr"), [])
    hp = {"eval_batch_size": 16, "loss": CrossEntropy()}
    direct = UtteranceBrain(modules={"model": second}, hparams=hp, run_opts={"device": "cpu"}).score(items, 16)
    memo = Memo(str(tmp_path), "key")
    score_sets(first, {"test": items}, hp, {"device": "cpu"}, memo=memo)
    reader = memo.reader()
    via_core = score_sets(second, {"test": items}, hp, {"device": "cpu"}, memo=reader)["test"]
    assert via_core["id"] == direct["id"] and np.array_equal(via_core["pred"], direct["pred"])
    np.testing.assert_allclose(via_core["log_probs"], direct["log_probs"], atol=1e-5)
    assert (reader.hits, reader.misses) == (1, 1)  # the core's embeddings reused; the new head's records computed
    stored = len(os.listdir(tmp_path))
    score_sets(second, {"test": items}, hp, {"device": "cpu"}, memo=reader)
    assert len(os.listdir(tmp_path)) == stored == 2  # the reader stored nothing
