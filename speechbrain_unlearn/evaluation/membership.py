"""Membership inference attacks of several strengths, on one model's records.

Every attack asks the same question: can an adversary who sees a model's
outputs tell the forget utterances (members of the original's training set)
from utterances the model never trained on? A retrained reference answers
it as for any unseen utterance; an original that memorised its training data
gives its members away. The attacks, weakest first:

1. **Loss threshold** (``mia_auc``, :func:`~speechbrain_unlearn.evaluation.metrics.loss_threshold_auc`).
2. **Entropy, logistic regression** (``mia_entropy_auc``): a logistic
   regression on the prediction entropy, fitted on retain utterances
   (members) against held-out utterances (non-members), then scored on the
   forget utterances against *other* held-out utterances; the ROC AUC.
3. **SVC on confidence, entropy and modified entropy** (``mia_svc_efficacy``,
   Song and Mittal 2021; Jia et al. 2023): an RBF support-vector classifier
   fitted the same way on three features per utterance, applied to the
   forget set. The *efficacy* is the fraction of forget utterances it calls
   non-members: higher means more forgotten.
4. **Likelihood-ratio attack** (``lira_tpr_at_1pct_fpr``,
   ``lira_tpr_at_01pct_fpr``; Carlini et al. 2022, offline variant): shadow
   models trained like the original on random halves of the training set
   (see :func:`shadow_halves`) give, for every target utterance, the
   logit-scaled confidence it gets from models that did *not* train on it;
   the score of a target is its confidence under the attacked model minus
   that mean, over a fixed (pooled) standard deviation. Reported as the true
   positive rate at 1% and 0.1% false positives.

Forget-versus-held-out comparisons use size-matched, class-matched samples
(:func:`matched_sample`): for each class, as many forget as held-out
utterances, so that neither the class mix nor the set sizes decide the AUC.
With fewer than 1000 non-members, a 0.1% false-positive rate means "above
every non-member": the rate is still defined, but coarse.

Example
-------
>>> log_probs = np.log(np.array([[0.9, 0.1], [0.5, 0.5]]))
>>> entropy(log_probs).round(4)
array([0.3251, 0.6931])
>>> modified_entropy(log_probs, np.array([0, 1])).round(4)  # 2 x 0.1 ln(1/0.9); ln 2
array([0.0211, 0.6931])
>>> tpr_at_fpr(np.array([3.0, 2.0, 0.5]), np.array([1.0, 0.0, -1.0]), 0.01)
0.6666666666666666
"""

import numpy as np
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from speechbrain_unlearn.evaluation.metrics import loss_threshold_auc

_EPS = 1e-30


def entropy(log_probs):
    """Shannon entropy (nats) of each row of ``log_probs`` ``(n, classes)``."""
    return -(np.exp(log_probs) * log_probs).sum(axis=1)


def modified_entropy(log_probs, labels):
    """Song and Mittal's modified entropy, which uses the true label.

    ``Mentr(p, y) = -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i)``: low
    for a confident correct prediction, high for a confident wrong one (plain
    entropy is low for both). ``log(1 - p)`` is computed from the other
    classes' probabilities, so it stays finite where ``p`` rounds to 1.

    Example
    -------
    >>> lp = np.log(np.array([[0.98, 0.01, 0.01]]))
    >>> float(modified_entropy(lp, np.array([0]))[0]) < float(modified_entropy(lp, np.array([1]))[0])
    True
    """
    n, k = log_probs.shape
    probs = np.exp(log_probs)
    rows = np.arange(n)
    # log(1 - p_i) = logsumexp over j != i of log p_j
    others = np.where(np.eye(k, dtype=bool)[None], -np.inf, log_probs[:, None, :])
    log_one_minus = logsumexp(others, axis=2)
    terms = -probs * log_one_minus
    terms[rows, labels] = -(np.exp(log_one_minus[rows, labels])) * log_probs[rows, labels]
    return terms.sum(axis=1)


def confidence(log_probs, labels):
    """Probability given to the true label."""
    return np.exp(log_probs[np.arange(len(labels)), labels])


def logit_confidence(log_probs, labels):
    """LiRA's statistic ``log(p_y / (1 - p_y))``, computed stably from log-probabilities.

    Example
    -------
    >>> float(logit_confidence(np.log(np.array([[0.75, 0.25]])), np.array([0]))[0]).__round__(4)
    1.0986
    """
    n, k = log_probs.shape
    own = log_probs[np.arange(n), labels]
    others = np.where(np.arange(k)[None] == labels[:, None], -np.inf, log_probs)
    return own - logsumexp(others, axis=1)


def attack_features(records):
    """``(n, 3)``: confidence, entropy and modified entropy of each utterance."""
    lp, y = records["log_probs"], records["label"]
    return np.stack([confidence(lp, y), entropy(lp), modified_entropy(lp, y)], axis=1)


def matched_sample(member_labels, pool_labels, rng):
    """Size- and class-matched indices: for each class, ``min(members, pool)`` of each.

    Arguments
    ---------
    member_labels, pool_labels : numpy.ndarray
        Integer labels of the forget utterances and of the candidate non-members.
    rng : numpy.random.Generator
        Seeded generator (the same for every model of a run).

    Returns
    -------
    tuple of numpy.ndarray
        Sorted indices into the members and into the pool, of equal length
        and with the same count of every class.

    Example
    -------
    >>> m, p = matched_sample(np.array([0, 0, 0, 1]), np.array([0, 1, 1, 2]), np.random.default_rng(0))
    >>> len(m), len(p), sorted(np.array([0, 0, 0, 1])[m]) == sorted(np.array([0, 1, 1, 2])[p])
    (2, 2, True)
    """
    members, pool = [], []
    for c in np.unique(member_labels):
        m_idx, p_idx = np.flatnonzero(member_labels == c), np.flatnonzero(pool_labels == c)
        k = min(len(m_idx), len(p_idx))
        members.append(rng.choice(m_idx, k, replace=False))
        pool.append(rng.choice(p_idx, k, replace=False))
    return np.sort(np.concatenate(members)).astype(int), np.sort(np.concatenate(pool)).astype(int)


def tpr_at_fpr(member_scores, nonmember_scores, fpr):
    """True positive rate at the threshold whose false positive rate is at most ``fpr``.

    The threshold is the smallest score above all but ``floor(fpr * n)`` of
    the non-members; a member counts when its score is strictly above it.
    """
    if len(member_scores) == 0 or len(nonmember_scores) == 0:
        return float("nan")
    allowed = int(np.floor(fpr * len(nonmember_scores)))
    threshold = np.sort(nonmember_scores)[::-1][allowed] if allowed < len(nonmember_scores) else -np.inf
    return float(np.mean(member_scores > threshold))


def _fit(classifier, member_x, nonmember_x):
    x = np.concatenate([member_x, nonmember_x])
    y = np.concatenate([np.ones(len(member_x)), np.zeros(len(nonmember_x))])
    return make_pipeline(StandardScaler(), classifier).fit(x, y)


def entropy_attack_scores(shadow_members, shadow_nonmembers, members, nonmembers):
    """Membership scores (high: member) of a logistic regression on entropy fitted on the shadow sets.

    Every argument is a set of records (``log_probs``, ``label``).

    Returns
    -------
    tuple of numpy.ndarray
        The scores of ``members`` and of ``nonmembers``.
    """

    def feature(r):
        return entropy(r["log_probs"])[:, None]

    attack = _fit(LogisticRegression(), feature(shadow_members), feature(shadow_nonmembers))
    return attack.decision_function(feature(members)), attack.decision_function(feature(nonmembers))


def entropy_attack_auc(shadow_members, shadow_nonmembers, members, nonmembers):
    """ROC AUC of :func:`entropy_attack_scores` on ``members`` against ``nonmembers``.

    Example
    -------
    >>> sharp = {"log_probs": np.log(np.array([[0.99, 0.01]] * 20)), "label": np.zeros(20, int)}
    >>> flat = {"log_probs": np.log(np.array([[0.6, 0.4]] * 20)), "label": np.zeros(20, int)}
    >>> entropy_attack_auc(sharp, flat, sharp, flat), entropy_attack_auc(sharp, flat, flat, flat)
    (1.0, 0.5)
    """
    m_score, n_score = entropy_attack_scores(shadow_members, shadow_nonmembers, members, nonmembers)
    # loss_threshold_auc ranks low values as members
    return loss_threshold_auc(-m_score, -n_score)


def svc_nonmember_calls(shadow_members, shadow_nonmembers, targets, seed=0):
    """Whether an RBF SVC on :func:`attack_features` calls each of ``targets`` a non-member.

    Fitted on ``shadow_members`` (label 1) against ``shadow_nonmembers`` (0),
    features standardised, ``C=3``, as in Jia et al.'s MIA-efficacy.
    """
    attack = _fit(
        SVC(C=3.0, gamma="auto", kernel="rbf", random_state=seed),
        attack_features(shadow_members),
        attack_features(shadow_nonmembers),
    )
    return attack.predict(attack_features(targets)) == 0


def svc_efficacy(shadow_members, shadow_nonmembers, targets, seed=0):
    """Fraction of ``targets`` called non-members (:func:`svc_nonmember_calls`): the MIA efficacy.

    Example
    -------
    >>> sharp = {"log_probs": np.log(np.array([[0.99, 0.01]] * 20)), "label": np.zeros(20, int)}
    >>> flat = {"log_probs": np.log(np.array([[0.6, 0.4]] * 20)), "label": np.zeros(20, int)}
    >>> svc_efficacy(sharp, flat, flat), svc_efficacy(sharp, flat, sharp)
    (1.0, 0.0)
    """
    return float(np.mean(svc_nonmember_calls(shadow_members, shadow_nonmembers, targets, seed)))


def shadow_halves(n, n_shadows, seed):
    """Training masks ``(n_shadows, n)`` of the shadow models: complementary pairs of random halves.

    Shadows ``2j`` and ``2j + 1`` train on complementary halves, so every
    training utterance is *out* of exactly half of the shadow models.

    Example
    -------
    >>> masks = shadow_halves(6, 4, seed=0)
    >>> masks.sum(axis=0).tolist(), masks.sum(axis=1).tolist()
    ([2, 2, 2, 2, 2, 2], [3, 3, 3, 3])
    """
    if n_shadows % 2:
        raise ValueError("lira_shadows must be even (complementary pairs of halves)")
    rng = np.random.default_rng([int(seed), 7])
    masks = np.zeros((n_shadows, n), dtype=bool)
    for j in range(n_shadows // 2):
        half = rng.permutation(n)[: n // 2]
        masks[2 * j, half] = True
        masks[2 * j + 1] = ~masks[2 * j]
    return masks


def lira_scores(target_phi, shadow_phi, shadow_in):
    """Offline LiRA scores: ``(phi - mean of out-shadows' phi) / pooled out std``.

    Arguments
    ---------
    target_phi : numpy.ndarray
        ``(n,)`` logit-scaled confidences under the attacked model.
    shadow_phi : numpy.ndarray
        ``(n_shadows, n)`` the same under each shadow model.
    shadow_in : numpy.ndarray
        ``(n_shadows, n)`` whether each target was in each shadow's training set.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` scores, high meaning member. With a fixed (pooled) variance,
        as Carlini et al. advise for few shadows, the ranking is that of
        ``phi`` minus the per-utterance out-mean: a per-utterance difficulty
        calibration of the confidence.

    Example
    -------
    >>> lira_scores(np.array([5.0, 1.0]), np.array([[1.0, 1.0], [3.0, 1.0]]), np.zeros((2, 2), bool))
    array([3., 0.])
    """
    out = ~shadow_in
    if not out.any(axis=0).all():
        raise ValueError("every target needs at least one shadow model that did not train on it")
    counts = out.sum(axis=0)
    mean = np.where(out, shadow_phi, 0.0).sum(axis=0) / counts
    resid = np.where(out, shadow_phi - mean, 0.0)
    dof = max(int(counts.sum() - len(counts)), 1)
    std = float(np.sqrt((resid**2).sum() / dof)) if counts.max() > 1 else float(np.std(mean))
    return (target_phi - mean) / max(std, 1e-6)


def lira_tprs(member_scores, nonmember_scores):
    """``lira_tpr_at_1pct_fpr`` and ``lira_tpr_at_01pct_fpr``."""
    return {
        "lira_tpr_at_1pct_fpr": tpr_at_fpr(member_scores, nonmember_scores, 0.01),
        "lira_tpr_at_01pct_fpr": tpr_at_fpr(member_scores, nonmember_scores, 0.001),
    }
