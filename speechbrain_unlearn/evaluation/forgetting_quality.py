"""Forgetting quality over many references, and U-LiRA: per-utterance attacks on model populations.

Both compare, utterance by utterance, two populations of models: ``N``
unlearned models and ``N`` models retrained without the forget set (each
from an independent seed), through each forget utterance's logit-scaled
confidence ``log(p_y / (1 - p_y))``
(:func:`~speechbrain_unlearn.evaluation.membership.logit_confidence`).

**Forgetting quality** (the NeurIPS 2023 unlearning challenge's score,
Triantafillou et al. 2024). For one utterance, an attacker who sees a
model's confidence and guesses "unlearned" or "retrained" by a single
threshold, or by an interval about as wide as the peakier of the two
samples (a double threshold: its spread within 2 logit units), errs with rates ``FPR`` and ``FNR``; each decision rule
bounds the privacy loss of the unlearning at

    epsilon = max(log(1 - delta - FPR) - log(FNR), log(1 - delta - FNR) - log(FPR))

(``delta = 1e-5``, clipped at 0). Rules with ``FPR = 0`` or ``FNR = 0`` (but
not both) are left out, as too few models to say; a perfect separation is
``epsilon = inf``, capped at :data:`EPSILON_CAP`, as is a sample whose spread
is under 1% of the other's. The utterance's epsilon is the best rule's.
Every cut point of the two samples is a threshold, so the rates are the
samples' own. An utterance scores ``2**-k`` in the ``k``-th bucket of
width 0.5 (1 for ``epsilon < 0.5``, 1/2 below 1, ...) up to
``ceil(log(N - 1))``, the largest epsilon ``N`` models a side can show, and
0 beyond; the score is the mean over utterances: 1 when no utterance can be
told apart. Its confidence interval is the bootstrap percentile interval
over utterances.

With finitely many models the score of an exact method is not 1: the
attacks look at every threshold, and in the tails of two samples of one
distribution some threshold finds ``k`` models of one side past the
extreme of the other, an epsilon of ``log(k)``. Two independent
populations of one Gaussian score about 0.19 for every ``N`` from 8 to
512 (``tests/test_forgetting_quality.py``), which is the score to read
"indistinguishable from retraining" against. A deterministic solver's
population (a point mass, as the deletion-ready head without the loss
perturbation) scores 1 when it equals the other side.

**U-LiRA** (Hayes et al. 2024, "Inexact unlearning needs more careful
evaluations"): for each utterance and each model of the two populations,
Gaussians fitted to the *other* models' confidences (leave one out) give a
likelihood ratio "unlearned" against "retrained"; over every (utterance,
model) pair, the true-positive rate at 1% and 0.1% false positives of
telling unlearned models apart. An exact unlearning method gives the
false-positive rate: 0.01 and 0.001.

Example
-------
>>> rng = np.random.default_rng(0)
>>> retrained = rng.normal(0.0, 1.0, (64, 40))          # 64 models x 40 utterances
>>> same = rng.normal(0.0, 1.0, (64, 40))               # another draw of the same population
>>> remembered = rng.normal(4.0, 1.0, (64, 40))         # confidences the forget set still lifts
>>> forgetting_quality(same, retrained)["score"] > 0.15, forgetting_quality(remembered, retrained)["score"] < 0.01
(True, True)
>>> ulira_tprs(remembered, retrained)["ulira_tpr_at_1pct_fpr"] > 0.9
True
"""

import math

import numpy as np

from speechbrain_unlearn.evaluation.membership import tpr_at_fpr

#: The challenge's delta.
DELTA = 1e-5
#: The epsilon of a perfect separation (or of a sample far peakier than the other).
EPSILON_CAP = 50.0
#: Width of the score's epsilon buckets.
BUCKET = 0.5
#: Double thresholds: intervals whose width is within this of the peakier sample's spread (logit units).
WIDTH_BUFFER = 2.0
#: Spreads below this (in logit units) are a point mass: a deterministic solver's population.
POINT_MASS = 1e-6


def rule_epsilons(fpr, fnr, delta=DELTA):
    """Epsilon of each decision rule from its error rates (``nan``: a rule with one zero rate; ``inf``: both zero).

    Example
    -------
    >>> rule_epsilons(np.array([0.1, 0.5, 0.0, 0.0]), np.array([0.1, 0.5, 0.3, 0.0])).round(3).tolist()
    [2.197, 0.0, nan, inf]
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = np.fmax(np.log(1 - delta - fpr) - np.log(fnr), np.log(1 - delta - fnr) - np.log(fpr))
    eps = np.clip(eps, 0.0, None)
    eps[(fpr == 0) != (fnr == 0)] = np.nan
    eps[(fpr == 0) & (fnr == 0)] = np.inf
    return eps


def _cut_counts(values, cuts):
    """``counts[j]``: how many ``values`` are below ``cuts[j]``."""
    return np.searchsorted(np.sort(values), cuts, side="left")


def utterance_epsilon(unlearned, retrained, delta=DELTA):
    """The best single- or double-threshold attack's epsilon for one utterance's two samples of confidences.

    Example
    -------
    >>> utterance_epsilon(np.array([0.0, 1.0, 2.0, 3.0]), np.array([10.0, 11.0, 12.0, 13.0]))  # separable
    50.0
    >>> utterance_epsilon(np.full(8, 1.5), np.full(8, 1.5))  # one deterministic model on both sides
    0.0
    """
    spreads = np.ptp(unlearned), np.ptp(retrained)
    if max(spreads) < POINT_MASS:  # point masses: apart or the same
        return EPSILON_CAP if abs(np.median(unlearned) - np.median(retrained)) >= POINT_MASS else 0.0
    if min(spreads) / max(spreads) < 0.01:
        return EPSILON_CAP
    # positive: the sample with the larger median (single threshold), the peakier one (interval)
    high, low = (retrained, unlearned) if np.median(retrained) > np.median(unlearned) else (unlearned, retrained)
    cuts = np.append(np.unique(np.concatenate([unlearned, retrained])), np.inf)
    below_high, below_low = _cut_counts(high, cuts) / len(high), _cut_counts(low, cuts) / len(low)
    single = rule_epsilons(fpr=1 - below_low, fnr=below_high, delta=delta)
    peaky, wide = (unlearned, retrained) if spreads[0] <= spreads[1] else (retrained, unlearned)
    with np.errstate(invalid="ignore"):  # inf - inf: intervals open to the right are single thresholds
        widths = cuts[None, :] - cuts[:, None]
    fits = np.abs(widths - min(spreads)) <= WIDTH_BUFFER  # intervals about as wide as the peakier sample
    double = rule_epsilons(
        fpr=_interval_share(wide, cuts)[fits], fnr=1 - _interval_share(peaky, cuts)[fits], delta=delta
    )
    every = np.concatenate([single, double])
    if np.isnan(every).all():
        return 0.0
    return float(min(np.nanmax(every), EPSILON_CAP))


def _interval_share(values, cuts):
    """``share[a, b]``: the share of ``values`` in ``[cuts[a], cuts[b])`` (0 below the diagonal)."""
    below = _cut_counts(values, cuts) / len(values)
    return np.clip(below[None, :] - below[:, None], 0.0, None)


def bucket_points(epsilons, n_models):
    """Each utterance's points: ``2**-k`` in the ``k``-th bucket of width 0.5, 0 past ``ceil(log(n_models - 1))``.

    Example
    -------
    >>> bucket_points(np.array([0.2, 0.7, 1.9, 2.5]), n_models=8).tolist()  # buckets up to ceil(log 7) = 2
    [1.0, 0.5, 0.125, 0.0]
    """
    top = math.ceil(math.log(max(n_models - 1, 1)))
    k = np.floor(np.asarray(epsilons, dtype=float) / BUCKET)
    return np.where(k < top / BUCKET, 0.5**k, 0.0)


def forgetting_quality(unlearned, retrained, delta=DELTA, n_boot=1000, seed=0):
    """The challenge's forgetting quality of ``unlearned`` against ``retrained`` (see the module docstring).

    Arguments
    ---------
    unlearned, retrained : numpy.ndarray
        ``(n_models, n_utterances)`` logit-scaled confidences of each forget
        utterance under each model of the two populations (same ``n_models``).
    delta : float
        The attacks' delta.
    n_boot : int
        Bootstrap resamples of the utterances for the confidence interval.
    seed : int
        Seed of the resampling.

    Returns
    -------
    dict
        ``score`` (0 to 1), ``ci`` (its 95% bootstrap interval), ``n_references``
        (models a side) and ``epsilon_median`` (over utterances).
    """
    unlearned, retrained = np.asarray(unlearned, dtype=float), np.asarray(retrained, dtype=float)
    if unlearned.shape != retrained.shape or unlearned.ndim != 2 or unlearned.shape[0] < 3:
        raise ValueError(
            f"need two (n_models >= 3, n_utterances) arrays of one shape, got {unlearned.shape} and {retrained.shape}"
        )
    n_models = unlearned.shape[0]
    eps = np.array([utterance_epsilon(unlearned[:, i], retrained[:, i], delta) for i in range(unlearned.shape[1])])
    points = bucket_points(eps, n_models)
    rng = np.random.default_rng([int(seed), 11])
    means = points[rng.integers(0, len(points), (n_boot, len(points)))].mean(axis=1)
    return {
        "score": round(float(points.mean()), 6),
        "ci": [round(float(q), 6) for q in np.percentile(means, [2.5, 97.5])],
        "n_references": int(n_models),
        "epsilon_median": round(float(np.median(eps)), 6),
    }


def _leave_one_out_gaussian(population):
    """Per model and utterance: mean and variance of the population's *other* models."""
    n = population.shape[0]
    total, squares = population.sum(axis=0), (population**2).sum(axis=0)
    mean = (total - population) / (n - 1)
    var = (squares - population**2) / (n - 1) - mean**2
    return mean, np.maximum(var * (n - 1) / max(n - 2, 1), POINT_MASS**2)


def _log_normal(x, mean, var):
    return -0.5 * (np.log(2 * np.pi * var) + (x - mean) ** 2 / var)


def ulira_scores(target, unlearned, retrained, target_in_unlearned):
    """Log likelihood ratios "unlearned" over "retrained" of each target confidence, Gaussians per utterance."""
    own, other = (unlearned, retrained) if target_in_unlearned else (retrained, unlearned)
    own_mean, own_var = _leave_one_out_gaussian(own)
    other_mean, other_var = other.mean(axis=0), np.maximum(other.var(axis=0, ddof=1), POINT_MASS**2)
    own_ll, other_ll = _log_normal(target, own_mean, own_var), _log_normal(target, other_mean, other_var)
    return own_ll - other_ll if target_in_unlearned else other_ll - own_ll


def ulira_tprs(unlearned, retrained):
    """``ulira_tpr_at_1pct_fpr`` and ``ulira_tpr_at_01pct_fpr`` of telling the unlearned population from the retrained.

    Arguments
    ---------
    unlearned, retrained : numpy.ndarray
        ``(n_models, n_utterances)`` logit-scaled confidences (``n_models`` >= 3 each).
    """
    unlearned, retrained = np.asarray(unlearned, dtype=float), np.asarray(retrained, dtype=float)
    positives = ulira_scores(unlearned, unlearned, retrained, True).ravel()
    negatives = ulira_scores(retrained, unlearned, retrained, False).ravel()
    return {
        "ulira_tpr_at_1pct_fpr": round(tpr_at_fpr(positives, negatives, 0.01), 6),
        "ulira_tpr_at_01pct_fpr": round(tpr_at_fpr(positives, negatives, 0.001), 6),
    }
