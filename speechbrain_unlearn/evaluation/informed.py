"""An informed membership attacker: trained on what unlearning did to *other* forget sets.

The uninformed attacks of :mod:`~speechbrain_unlearn.evaluation.membership`
learn membership from the attacked model's retain utterances against
held-out ones, so they look for what training leaves: high confidence, low
entropy. An unlearning method can leave a mark of its own instead (a
forget utterance pushed to an unusually flat, or unusually wrong,
prediction) that looks nothing like training and so passes them. Dinis et
al. 2026 ("Evaluating machine unlearning in ASR") showed an attacker who
knows the method lifts such a method's AUC from 52% to 88%.

The informed attacker here knows the method: it is fitted on the unlearned
models of *other* forget sets (other seeds or speakers), their forget
utterances (label 1) against their held-out utterances (label 0), on four
features per utterance (confidence, entropy, modified entropy and the
logit-scaled confidence), with a gradient-boosted tree classifier (so a
band of entropy, not only a threshold, can be learnt); then it scores this
model's forget utterances against its held-out ones: ``mia_informed_auc``,
0.5 when the unlearned model shows no mark of the method.

Example
-------
>>> rng = np.random.default_rng(0)
>>> def records(p):  # true-class probability p of 4 classes, the rest spread evenly
...     probs = np.column_stack([p] + [(1 - p) / 3] * 3)
...     return {"log_probs": np.log(probs), "label": np.zeros(len(p), int)}
>>> marked = [(records(rng.uniform(0.5, 0.55, 60)), records(rng.uniform(0.3, 0.99, 60))) for _ in range(3)]
>>> auc = informed_attack_auc(marked, records(rng.uniform(0.5, 0.55, 60)), records(rng.uniform(0.3, 0.99, 60)))
>>> auc > 0.85
True
"""

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from speechbrain_unlearn.evaluation.membership import attack_features, logit_confidence
from speechbrain_unlearn.evaluation.metrics import loss_threshold_auc


def informed_features(records):
    """``(n, 4)``: confidence, entropy, modified entropy and logit-scaled confidence of each utterance."""
    phi = logit_confidence(records["log_probs"], records["label"])
    return np.column_stack([attack_features(records), np.clip(phi, -50.0, 50.0)])


def informed_attack_auc(training_pairs, members, nonmembers, seed=0):
    """ROC AUC of the informed attacker (see the module docstring) on ``members`` against ``nonmembers``.

    Arguments
    ---------
    training_pairs : list of tuple
        ``(forget records, held-out records)`` of unlearned models of other
        forget sets; each records a dict with ``log_probs`` and ``label``.
    members, nonmembers : dict
        Records of this model's forget utterances and held-out utterances.
    seed : int
        The classifier's seed.

    Returns
    -------
    float
        The AUC (``nan`` without training pairs).
    """
    if not training_pairs:
        return float("nan")
    x = np.concatenate([informed_features(r) for pair in training_pairs for r in pair])
    y = np.concatenate([np.full(len(r["label"]), float(k == 0)) for pair in training_pairs for k, r in enumerate(pair)])
    attack = HistGradientBoostingClassifier(max_iter=100, random_state=seed).fit(x, y)
    member_score = attack.predict_proba(informed_features(members))[:, 1]
    nonmember_score = attack.predict_proba(informed_features(nonmembers))[:, 1]
    return loss_threshold_auc(-member_score, -nonmember_score)  # it ranks low values as members
