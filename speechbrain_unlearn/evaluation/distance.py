"""Distances of a model to the retrained reference on the forget set.

* ``js_divergence``: the mean over forget utterances of the Jensen-Shannon
  divergence (nats, at most ``ln 2``) between the two models' output
  distributions: 0 when the unlearned model answers every forget utterance
  exactly as the reference does;
* ``ks_pvalue``: the p-value of a two-sample Kolmogorov-Smirnov test between
  the two models' per-utterance forget losses, the "forget quality" of
  Maini et al. (2024): high (not significant) when the loss distributions
  cannot be told apart, near 0 when they differ.

And, on every evaluation set, ``prediction_agreement``: the share of
utterances on which a model predicts the class the reference predicts.

Example
-------
>>> lp = np.log(np.array([[0.9, 0.1], [0.2, 0.8]]))
>>> js_divergence(lp, lp)
0.0
>>> round(js_divergence(lp, lp[::-1]), 4)
0.2754
>>> prediction_agreement({"test": {"pred": np.array([0, 1, 2, 2])}}, {"test": {"pred": np.array([0, 1, 2, 0])}})
{'test': 0.75}
"""

import numpy as np
from scipy.stats import ks_2samp


def js_divergence(log_p, log_q):
    """Mean Jensen-Shannon divergence (nats) between rows of two log-probability arrays."""
    if len(log_p) == 0:
        return float("nan")
    log_p, log_q = np.asarray(log_p, dtype=np.float64), np.asarray(log_q, dtype=np.float64)
    p, q = np.exp(log_p), np.exp(log_q)
    log_m = np.log(np.maximum(0.5 * (p + q), 1e-300))
    kl_pm = (p * (log_p - log_m)).sum(axis=1)
    kl_qm = (q * (log_q - log_m)).sum(axis=1)
    return float(np.mean(np.maximum(0.5 * (kl_pm + kl_qm), 0.0)))


def ks_pvalue(losses, reference_losses):
    """Two-sample Kolmogorov-Smirnov p-value between two loss samples (``nan`` if one is empty)."""
    if len(losses) == 0 or len(reference_losses) == 0:
        return float("nan")
    return float(ks_2samp(losses, reference_losses).pvalue)


def distance(records, reference_records):
    """``js_divergence`` and ``ks_pvalue`` of one model's forget records to the reference's."""
    return {
        "js_divergence": round(js_divergence(records["log_probs"], reference_records["log_probs"]), 6),
        "ks_pvalue": round(ks_pvalue(records["nll"], reference_records["nll"]), 6),
    }


def prediction_agreement(records, reference_records):
    """Per evaluation set, the share of utterances on which both models predict the same class."""
    return {
        name: round(float(np.mean(recs["pred"] == reference_records[name]["pred"])), 6) if len(recs["pred"]) else None
        for name, recs in records.items()
    }
