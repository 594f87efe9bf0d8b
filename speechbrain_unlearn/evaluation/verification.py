"""Speaker verification with a model's embeddings (VoxCeleb).

The speaker-identification model's embedding layer (ECAPA-TDNN's ``embed``)
is a speaker-verification system: a trial (enrolment, test) is scored by the
cosine of the two embeddings. Three questions:

* **utility**: ``eer`` and ``min_dcf`` (``p_target=0.01``,
  ``c_miss=c_fa=1``, normalised) on the trials whose two utterances
  both belong to retained speakers, wherever they lie: the real
  ``veri_test2.txt`` pairs utterances of all three ``iden_split.txt`` sets,
  and every one is embedded (:func:`trial_counts` says how many trials
  were scored, and why the others were not);
* **does the model still recognise a forgotten voice?**: the cosine scores
  of same-speaker trials of forgotten speakers, compared with the
  reference's (:func:`score_summary`);
* **embedding-level forgetting** (``forgotten_speaker_id_rate``): the
  forgotten speaker's test utterances are identified by nearest
  speaker-centroid (cosine) among all speakers, the forgotten one's centroid
  being the mean embedding of its (forget) training utterances. Speaker
  embeddings generalise, so even the reference, which never heard the
  speaker, identifies most of them; a model that only masks an output row
  identifies all of them.

Example
-------
>>> eer(np.array([0.9, 0.8, 0.7]), np.array([0.1, 0.2, 0.3]))
0.0
>>> round(eer(np.array([0.9, 0.2]), np.array([0.5, 0.1])), 2)
0.5
>>> e = torch.nn.functional.normalize(torch.eye(3), dim=1)
>>> centroid_id_rate(e, torch.tensor([0, 1, 2]), e, torch.tensor([0, 1, 2]), [2])
1.0
"""

import numpy as np
import torch
from speechbrain.utils.metric_stats import EER, minDCF


def eer(target_scores, nontarget_scores):
    """Equal error rate (fraction) of a set of trial scores (SpeechBrain's ``EER``)."""
    if len(target_scores) == 0 or len(nontarget_scores) == 0:
        return float("nan")
    value, _ = EER(
        torch.as_tensor(target_scores, dtype=torch.float), torch.as_tensor(nontarget_scores, dtype=torch.float)
    )
    return float(value)


def min_dcf(target_scores, nontarget_scores, p_target=0.01):
    """Minimum detection cost, ``c_miss = c_fa = 1``, normalised as NIST does (1: a system that always rejects).

    SpeechBrain's ``minDCF`` returns the unnormalised cost, at most
    ``min(p_target, 1 - p_target)``; it is divided by that here, so the
    value reads like the minDCF of VoxCeleb papers.

    Example
    -------
    >>> min_dcf(np.array([0.9, 0.8]), np.array([0.1, 0.2]))
    0.0
    """
    if len(target_scores) == 0 or len(nontarget_scores) == 0:
        return float("nan")
    value, _ = minDCF(
        torch.as_tensor(target_scores, dtype=torch.float),
        torch.as_tensor(nontarget_scores, dtype=torch.float),
        p_target=p_target,
    )
    return float(value) / min(p_target, 1 - p_target)


def cosine_trial_scores(embeddings, trials):
    """Cosine scores of ``trials`` ``[(target, enrol_id, test_id)]`` from ``{id: embedding}``.

    Returns
    -------
    tuple of numpy.ndarray
        Scores and the 0/1 target flags of the trials whose two utterances have embeddings.
    """
    kept = [t for t in trials if t[1] in embeddings and t[2] in embeddings]
    if not kept:
        return np.zeros(0), np.zeros(0, dtype=int)
    enrol = torch.stack([embeddings[t[1]] for t in kept])
    test = torch.stack([embeddings[t[2]] for t in kept])
    scores = torch.nn.functional.cosine_similarity(enrol, test, dim=1).numpy()
    return scores, np.array([t[0] for t in kept], dtype=int)


def verification_metrics(embeddings, speaker_of, trials, forgotten_speakers):
    """``eer``, ``min_dcf`` on retained speakers' trials and forgotten speakers' same-speaker scores.

    Arguments
    ---------
    embeddings : dict
        Utterance ID to embedding (the test utterances).
    speaker_of : dict
        Utterance ID to speaker.
    trials : list of tuple
        ``(target, enrol_id, test_id)``.
    forgotten_speakers : list of str
        Speakers removed from the model (empty in ``sample``).

    Returns
    -------
    tuple
        ``({"eer", "min_dcf"}, forgotten same-speaker scores as a numpy array)``.
    """
    forgotten = set(forgotten_speakers or [])
    retained = [t for t in trials if speaker_of.get(t[1]) not in forgotten and speaker_of.get(t[2]) not in forgotten]
    scores, targets = cosine_trial_scores(embeddings, retained)
    metrics = {
        "eer": round(eer(scores[targets == 1], scores[targets == 0]), 6),
        "min_dcf": round(min_dcf(scores[targets == 1], scores[targets == 0]), 6),
    }
    same = [t for t in trials if t[0] == 1 and speaker_of.get(t[1]) in forgotten]
    forgotten_scores, _ = cosine_trial_scores(embeddings, same)
    return metrics, forgotten_scores


def trial_counts(trials, speaker_of, forgotten_speakers):
    """How many of ``trials`` were scored for ``eer``, and why the others were not.

    Arguments
    ---------
    trials : list of tuple
        ``(target, enrol_id, test_id)``.
    speaker_of : dict
        Utterance ID to speaker, for every utterance the run embedded.
    forgotten_speakers : list of str
        Speakers removed from the model.

    Returns
    -------
    dict
        ``listed``; ``scored`` (both utterances embedded, both speakers
        retained); ``forgotten_speaker`` (scored apart, see
        :func:`score_summary`); ``unknown_utterance`` (an utterance no split
        of the data holds); and ``reason`` when ``eer`` cannot be computed.

    Example
    -------
    >>> trials = [(1, "a1", "a2"), (0, "a1", "b1"), (1, "b1", "b2"), (0, "a1", "zz")]
    >>> counts = trial_counts(trials, {"a1": "A", "a2": "A", "b1": "B", "b2": "B"}, ["B"])
    >>> [counts[k] for k in ("listed", "scored", "forgotten_speaker", "unknown_utterance")]
    [4, 1, 2, 1]
    >>> counts["reason"]
    'the scored trials hold no non-target trial'
    """
    forgotten = set(forgotten_speakers or [])
    known = [t for t in trials if t[1] in speaker_of and t[2] in speaker_of]
    scored = [t for t in known if speaker_of[t[1]] not in forgotten and speaker_of[t[2]] not in forgotten]
    counts = {
        "listed": len(trials),
        "scored": len(scored),
        "forgotten_speaker": len(known) - len(scored),
        "unknown_utterance": len(trials) - len(known),
    }
    missing = [kind for flag, kind in ((1, "target"), (0, "non-target")) if not any(t[0] == flag for t in scored)]
    if missing:
        counts["reason"] = f"the scored trials hold no {' and no '.join(missing)} trial"
    return counts


def score_summary(scores, reference_scores):
    """Mean same-speaker cosine of a model and of the reference, and the KS p-value between them."""
    from speechbrain_unlearn.evaluation.distance import ks_pvalue

    return {
        "mean_score": round(float(np.mean(scores)), 6) if len(scores) else float("nan"),
        "reference_mean_score": round(float(np.mean(reference_scores)), 6) if len(reference_scores) else float("nan"),
        "ks_pvalue": round(ks_pvalue(scores, reference_scores), 6),
        "trials": int(len(scores)),
    }


def centroid_id_rate(enrol_embeddings, enrol_labels, test_embeddings, test_labels, forgotten):
    """Fraction of the forgotten classes' test utterances whose nearest centroid is their own.

    Arguments
    ---------
    enrol_embeddings, test_embeddings : torch.Tensor
        ``(n, dim)`` embeddings.
    enrol_labels, test_labels : torch.Tensor
        ``(n,)`` integer classes.
    forgotten : list of int
        The forgotten classes (each must have enrolment utterances).

    Returns
    -------
    float
        ``nan`` when there is no test utterance of a forgotten class.
    """
    classes = torch.unique(enrol_labels)
    centroids = torch.stack([enrol_embeddings[enrol_labels == c].mean(0) for c in classes])
    centroids = torch.nn.functional.normalize(centroids, dim=1)
    mask = torch.isin(test_labels, torch.as_tensor(list(forgotten), dtype=test_labels.dtype))
    if not bool(mask.any()):
        return float("nan")
    sims = torch.nn.functional.normalize(test_embeddings[mask], dim=1) @ centroids.T
    predicted = classes[sims.argmax(dim=1)]
    return float((predicted == test_labels[mask]).float().mean())
