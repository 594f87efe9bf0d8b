"""Forgetting quality, U-LiRA and the informed attacker on cases whose answer is known.

Confidences are drawn per forget utterance: an exact unlearning method is a
second draw of the retrained population; the original, which trained on the
utterances, lifts every confidence; in between, a method that forgot part.
"""

import numpy as np
import pytest

from speechbrain_unlearn.evaluation import membership as mia
from speechbrain_unlearn.evaluation.forgetting_quality import forgetting_quality, ulira_tprs, utterance_epsilon
from speechbrain_unlearn.evaluation.informed import informed_attack_auc

UTTERANCES = 60


def population(n_models, shift, seed):
    """``(n_models, UTTERANCES)`` confidences: each utterance its own mean, plus ``shift``."""
    difficulty = np.random.default_rng(0).normal(0.0, 2.0, UTTERANCES)
    return difficulty + shift + np.random.default_rng(seed).normal(0.0, 1.0, (n_models, UTTERANCES))


@pytest.mark.parametrize("n_models", [8, 64, 512])
def test_a_retrained_population_scores_the_ceiling_and_the_original_far_below(n_models):
    retrained = population(n_models, 0.0, seed=1)
    scores = {s: forgetting_quality(population(n_models, s, seed=2), retrained) for s in (0.0, 0.5, 1.0, 3.0)}
    exact, original = scores[0.0], scores[3.0]
    assert 0.12 <= exact["score"] <= 0.3 and exact["n_references"] == n_models
    assert exact["ci"][0] <= exact["score"] <= exact["ci"][1]
    assert original["score"] <= 0.06 and original["ci"][1] < exact["ci"][0]
    ordered = [scores[s]["score"] for s in (0.0, 0.5, 1.0, 3.0)]
    assert ordered == sorted(ordered, reverse=True) and ordered[0] > ordered[1]


def test_deterministic_populations_score_one_when_equal_and_zero_when_apart():
    point = np.tile(np.linspace(-3.0, 3.0, UTTERANCES), (8, 1))
    assert forgetting_quality(point, point + 1e-9)["score"] == 1.0
    assert forgetting_quality(point, point + 0.1)["score"] == 0.0
    assert utterance_epsilon(np.zeros(8), np.random.default_rng(0).normal(size=8)) == 50.0  # a far peakier side


def test_populations_must_have_one_shape_and_three_models():
    with pytest.raises(ValueError, match="n_models >= 3"):
        forgetting_quality(np.zeros((2, 5)), np.zeros((2, 5)))
    with pytest.raises(ValueError, match="one shape"):
        forgetting_quality(np.zeros((4, 5)), np.zeros((4, 6)))


def test_ulira_is_at_chance_for_an_exact_method_and_finds_the_original():
    retrained = population(64, 0.0, seed=1)
    exact = ulira_tprs(population(64, 0.0, seed=2), retrained)
    original = ulira_tprs(population(64, 3.0, seed=2), retrained)
    assert exact["ulira_tpr_at_1pct_fpr"] <= 0.03 and exact["ulira_tpr_at_01pct_fpr"] <= 0.01
    # two unit Gaussians 3 apart: P(Z > z_fpr - 3) = 0.75 at 1% false positives (0.46 at 0.1%, where
    # the fitted Gaussians' tails blur the ratio)
    assert abs(original["ulira_tpr_at_1pct_fpr"] - 0.75) < 0.08 and original["ulira_tpr_at_01pct_fpr"] > 0.2


def probability_records(p, rng):
    """Records of 4 classes, true class 0 with probability ``p``, the rest spread unevenly."""
    rest = rng.dirichlet(np.ones(3), len(p)) * (1 - p)[:, None]
    return {"log_probs": np.log(np.column_stack([p, rest])), "label": np.zeros(len(p), int)}


def test_the_informed_attacker_finds_a_methods_mark_that_the_uninformed_misses():
    rng = np.random.default_rng(0)

    def model():  # a method that leaves forget utterances in a band of confidence: a mark, not training
        retain, held_out = rng.uniform(0.9, 0.999, 80), rng.uniform(0.25, 0.999, 80)
        forget = rng.uniform(0.55, 0.6, 80)
        return probability_records(retain, rng), probability_records(forget, rng), probability_records(held_out, rng)

    others = [model() for _ in range(4)]
    retain, forget, held_out = model()
    test_half, fit_half = take(held_out, slice(0, 40)), take(held_out, slice(40, 80))
    uninformed = mia.entropy_attack_auc(retain, fit_half, take(forget, slice(0, 40)), test_half)
    informed = informed_attack_auc([(f, h) for _, f, h in others], take(forget, slice(0, 40)), test_half)
    assert informed > 0.9 and informed - uninformed > 0.25
    # with no mark (forget utterances drawn like held-out ones), the informed attacker is at chance too
    unmarked = [(probability_records(rng.uniform(0.25, 0.999, 80), rng), h) for _, _, h in others]
    assert (
        abs(informed_attack_auc(unmarked, probability_records(rng.uniform(0.25, 0.999, 40), rng), test_half) - 0.5)
        < 0.15
    )


def take(records, idx):
    return {k: v[idx] for k, v in records.items()}
