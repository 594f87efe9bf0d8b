"""The basic forgetting metrics of a run.

Every metric reads the per-utterance records of
:meth:`speechbrain_unlearn.brain.UtteranceBrain.score` (``correct``, ``nll``).

* accuracies: the mean of ``correct`` on a set;
* ``mia_auc``: a loss-threshold membership attack, the ROC AUC of telling
  forget utterances (members) from held-out utterances (non-members) by
  their loss, lower loss meaning member. 0.5: indistinguishable; a retrained
  model sits near 0.5 in expectation, an original that memorised its
  training data above it;
* gaps: absolute differences to the retrained reference, and their mean.

Example
-------
>>> loss_threshold_auc(np.array([0.1, 0.2]), np.array([1.0, 2.0]))
1.0
>>> loss_threshold_auc(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
0.5
>>> gaps({"test_acc": 0.9, "mia_auc": 0.7}, {"test_acc": 0.8, "mia_auc": 0.5})
{'test_acc': 0.1, 'mia_auc': 0.2, 'avg': 0.15}
"""

import math

import numpy as np
from scipy.stats import rankdata

GAP_KEYS = ("test_acc", "retain_acc", "forget_acc", "mia_auc")


def accuracy(records):
    """Fraction of utterances classified correctly (``nan`` for an empty set)."""
    return float(np.mean(records["correct"])) if len(records["correct"]) else float("nan")


def loss_threshold_auc(member_losses, nonmember_losses):
    """ROC AUC of ``-loss`` as a membership score (Mann-Whitney U, ties halved).

    Arguments
    ---------
    member_losses : numpy.ndarray
        Per-utterance losses on the forget set.
    nonmember_losses : numpy.ndarray
        Per-utterance losses on held-out utterances.

    Returns
    -------
    float
        P(score(member) > score(non-member)) + 0.5 P(tie).
    """
    n_m, n_n = len(member_losses), len(nonmember_losses)
    if n_m == 0 or n_n == 0:
        return float("nan")
    ranks = rankdata(-np.concatenate([member_losses, nonmember_losses]))
    u_stat = ranks[:n_m].sum() - n_m * (n_m + 1) / 2
    return float(u_stat / (n_m * n_n))


def model_metrics(records, forgotten_classes):
    """The contract's metrics of one model from its records on each set.

    Arguments
    ---------
    records : dict
        Set name (``test``, ``retain``, ``forget``, and ``forget_test`` in the
        class scenario) to the records of that set.
    forgotten_classes : bool
        Whether the forget set removes whole classes (the ``class`` scenario,
        or ``speaker`` on VoxCeleb), whose test utterances form
        ``forget_test``; the membership attack then compares forget
        utterances with test utterances of the same (forgotten) classes,
        since test utterances of retained classes differ by more than
        membership.

    Returns
    -------
    dict
        ``test_acc``, ``retain_acc``, ``forget_acc``, ``mia_auc`` and, when
        whole classes are forgotten, ``forget_test_acc``.
    """
    nonmembers = records["forget_test"] if forgotten_classes else records["test"]
    out = {
        "test_acc": accuracy(records["test"]),
        "retain_acc": accuracy(records["retain"]),
        "forget_acc": accuracy(records["forget"]),
        "mia_auc": loss_threshold_auc(records["forget"]["nll"], nonmembers["nll"]),
    }
    if forgotten_classes:
        out["forget_test_acc"] = accuracy(records["forget_test"])
    return out


def gaps(unlearned, retrained, keys=None):
    """Absolute differences of ``unlearned`` to ``retrained`` and their mean."""
    keys = [k for k in (keys or GAP_KEYS) if k in unlearned and k in retrained]
    out = {k: round(abs(unlearned[k] - retrained[k]), 6) for k in keys}
    out["avg"] = round(float(np.mean([out[k] for k in keys])), 6) if keys else float("nan")
    return out


def within_noise_floor(gap, floor):
    """Whether a gap is at or below its noise floor (not measurable); ``False`` without a finite floor.

    Example
    -------
    >>> within_noise_floor(0.004, 0.007), within_noise_floor(0.02, 0.007), within_noise_floor(0.0, float("nan"))
    (True, False, False)
    """
    return gap is not None and floor is not None and math.isfinite(floor) and gap <= floor
