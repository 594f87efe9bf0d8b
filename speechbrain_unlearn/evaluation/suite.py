"""Every evaluation hook of a run, on the original, the unlearned and the reference model.

:func:`evaluate_models` scores each model once on every set and derives,
per model (``metrics.<model>``):

* the contract's accuracies and loss-threshold ``mia_auc``
  (:mod:`~speechbrain_unlearn.evaluation.metrics`);
* ``mia_entropy_auc``, ``mia_svc_efficacy``, ``lira_tpr_at_1pct_fpr`` and
  ``lira_tpr_at_01pct_fpr`` (:mod:`~speechbrain_unlearn.evaluation.membership`),
  on size- and class-matched forget and held-out samples that are the same
  for every model; the attacks are fitted on retain utterances against the
  held-out utterances *not* in that sample;
* with a verification trial list (VoxCeleb): ``eer`` and ``min_dcf`` on
  retained speakers, and, when speakers were forgotten,
  ``forgotten_speaker_id_rate``
  (:mod:`~speechbrain_unlearn.evaluation.verification`);

and for the run: ``standard_errors`` (bootstrap, every accuracy and attack
score), ``per_class_test_acc``, ``distance_to_retrain`` (JS divergence and
KS "forget quality", :mod:`~speechbrain_unlearn.evaluation.distance`) and
the same for the original, ``prediction_agreement`` (per set, the share of
utterances the unlearned model and the reference predict alike), ``gap_noise_floor`` and ``distance_noise_floor``
(a second reference trained with another seed against the first), and
``verification``: ``trials`` (how many of the trial list were scored,
and why the others were not or why ``eer`` is null) and, when speakers were
forgotten, ``forgotten_same_speaker`` (their same-speaker scores against the
reference's).
"""

import logging

import numpy as np
import torch

from speechbrain_unlearn.brain import UtteranceBrain, records_of
from speechbrain_unlearn.deletable.model import DeletionReadyModel
from speechbrain_unlearn.evaluation import membership as mia
from speechbrain_unlearn.evaluation.bootstrap import bootstrap_se
from speechbrain_unlearn.evaluation.distance import distance, prediction_agreement
from speechbrain_unlearn.evaluation.memo import Memo
from speechbrain_unlearn.evaluation.metrics import gaps, loss_threshold_auc, model_metrics
from speechbrain_unlearn.evaluation.verification import (
    centroid_id_rate,
    score_summary,
    trial_counts,
    verification_metrics,
)

logger = logging.getLogger(__name__)


def score_sets(model, eval_sets, hp, run_opts, names=None, memo=None):
    """The records of ``model`` on each set of ``eval_sets`` (or only ``names``).

    With a ``memo`` (:class:`~speechbrain_unlearn.evaluation.memo.Memo`),
    records already computed for the same weights and utterances are reused;
    a deletion-ready model's head is applied to its core's
    :func:`core_embeddings`.
    """
    memo = memo or Memo(None)
    brain = UtteranceBrain(modules={"model": model}, hparams=hp, run_opts=run_opts)

    def compute(items):
        if not isinstance(model, DeletionReadyModel):
            return brain.score(items, hp["eval_batch_size"])
        embeddings, labels = core_embeddings(model, items, hp, run_opts, memo)
        with torch.no_grad():
            scores = model.classify((embeddings - model.mean) / model.std)
        return records_of(items.ids, labels, hp["loss"].log_probs(scores))

    return {
        s: memo.on_model("score", model, hp, lambda items=items: [items.identity()], lambda items=items: compute(items))
        for s, items in eval_sets.items()
        if names is None or s in names
    }


def core_embeddings(model, items, hp, run_opts, memo):
    """The raw core embeddings of a deletion-ready ``model`` on ``items``, and the labels, keyed by the core's weights.

    Every model that keeps the core (the original, the reference, the
    shadows, an influence step's result) shares them, so the core runs once
    per set and cache, and each head is one matrix product.
    """
    brain = UtteranceBrain(modules={"model": model.core}, hparams=hp, run_opts=run_opts)
    return memo.on_model(
        "core-embed",
        model.core,
        hp,
        lambda: [items.identity()],
        lambda: tuple(t.cpu() for t in brain.embed(items, hp["eval_batch_size"])),
    )


def take(records, idx):
    """The records of the utterances ``idx``."""
    return {k: ([v[i] for i in idx] if isinstance(v, list) else v[idx]) for k, v in records.items()}


class AttackPlan:
    """The samples every model is attacked on (the same for all, seeded).

    Arguments
    ---------
    forget_labels : numpy.ndarray
        Labels of the forget set, in its order.
    pool_labels : numpy.ndarray
        Labels of the held-out candidates (test, or the forgotten classes' test utterances).
    test_size : int
        Size of the test set (the source of the attacks' training non-members).
    retain_size : int
        Size of the retain set (the source of their training members).
    pool_is_test : bool
        Whether the pool is the test set itself (then the matched sample is
        left out of the attacks' training non-members).
    seed : int
        The run's seed.
    """

    def __init__(self, forget_labels, pool_labels, test_size, retain_size, pool_is_test, seed):
        rng = np.random.default_rng([int(seed), 13])
        self.members, self.nonmembers = mia.matched_sample(forget_labels, pool_labels, rng)
        used = set(self.nonmembers.tolist()) if pool_is_test else set()
        self.shadow_nonmembers = np.array([i for i in range(test_size) if i not in used], dtype=int)
        k = min(len(self.shadow_nonmembers), retain_size)
        self.shadow_members = np.sort(rng.choice(retain_size, k, replace=False)).astype(int)
        self.pool = "test" if pool_is_test else "forget_test"

    def targets(self, records):
        """The records of the matched members (forget) and non-members (held out)."""
        return take(records["forget"], self.members), take(records[self.pool], self.nonmembers)

    def target_confidences(self, records):
        """LiRA's logit confidences of the matched members then non-members."""
        return np.concatenate([mia.logit_confidence(r["log_probs"], r["label"]) for r in self.targets(records)])

    def attacks(self, records, shadow_phi=None, shadow_in=None, n_boot=200, seed=0):
        """The membership metrics of one model and their bootstrap standard errors.

        Arguments
        ---------
        records : dict
            The model's records per set.
        shadow_phi : numpy.ndarray, optional
            ``(n_shadows, n_members + n_nonmembers)`` logit confidences of the
            shadow models on the matched members then non-members.
        shadow_in : numpy.ndarray, optional
            Whether each of those was in each shadow's training set.
        n_boot, seed : int
            Bootstrap resamples and seed.

        Returns
        -------
        tuple of dict
            Metrics and standard errors.
        """
        forget, pool = self.targets(records)
        shadow_m = take(records["retain"], self.shadow_members)
        shadow_n = take(records["test"], self.shadow_nonmembers)
        out, se = {}, {}
        if len(self.shadow_members) and len(self.shadow_nonmembers) and len(self.members):
            m_score, n_score = mia.entropy_attack_scores(shadow_m, shadow_n, forget, pool)
            out["mia_entropy_auc"] = loss_threshold_auc(-m_score, -n_score)
            se["mia_entropy_auc"] = bootstrap_se(loss_threshold_auc, [-m_score, -n_score], n_boot, seed)
            calls = mia.svc_nonmember_calls(shadow_m, shadow_n, records["forget"], seed).astype(float)
            out["mia_svc_efficacy"] = float(calls.mean())
            se["mia_svc_efficacy"] = bootstrap_se(np.mean, [calls], n_boot, seed)
        if shadow_phi is not None and len(self.members):
            scores = mia.lira_scores(self.target_confidences(records), shadow_phi, shadow_in)
            m_lira, n_lira = scores[: len(self.members)], scores[len(self.members) :]
            out.update(mia.lira_tprs(m_lira, n_lira))
            for key, fpr in (("lira_tpr_at_1pct_fpr", 0.01), ("lira_tpr_at_01pct_fpr", 0.001)):
                se[key] = bootstrap_se(lambda a, b, f=fpr: mia.tpr_at_fpr(a, b, f), [m_lira, n_lira], n_boot, seed)
        return out, se


def accuracy_errors(records, forgotten, n_boot, seed):
    """Bootstrap standard errors of the accuracies and of ``mia_auc``."""
    se = {f"{name}_acc": bootstrap_se(np.mean, [r["correct"]], n_boot, seed) for name, r in records.items()}
    nonmembers = records["forget_test"] if forgotten else records["test"]
    se["mia_auc"] = bootstrap_se(loss_threshold_auc, [records["forget"]["nll"], nonmembers["nll"]], n_boot, seed)
    return se


def per_class_accuracy(records, names):
    """Test accuracy of every class (test and forgotten classes' test utterances), by label name."""
    labels = np.concatenate([r["label"] for k, r in records.items() if k in ("test", "forget_test")])
    correct = np.concatenate([r["correct"] for k, r in records.items() if k in ("test", "forget_test")])
    return {names[c]: round(float(correct[labels == c].mean()), 6) for c in np.unique(labels)}


def shadow_statistics(shadows, eval_sets, plan, forget_ids, hp, run_opts, memo=None):
    """Logit confidences of the shadow models on the matched targets, and which they trained on.

    Arguments
    ---------
    shadows : list of tuple
        ``(model, set of training utterance IDs)``.
    eval_sets, plan, hp, run_opts
        The run's sets, :class:`AttackPlan`, hparams and run options.
    memo : Memo, optional
        Reuses the shadow models' records.
    forget_ids : list of str
        IDs of the forget set, in its order.

    Returns
    -------
    tuple of numpy.ndarray
        ``(n_shadows, n_targets)`` confidences and membership flags.
    """
    phis, ins = [], []
    members = [forget_ids[i] for i in plan.members]
    for model, trained_on in shadows:
        records = score_sets(model, eval_sets, hp, run_opts, names=("forget", plan.pool), memo=memo)
        phis.append(plan.target_confidences(records))
        ins.append(np.array([i in trained_on for i in members] + [False] * len(plan.nonmembers)))
    return np.stack(phis), np.stack(ins)


def embeddings_by_id(model, eval_sets, hp, run_opts, names, memo=None):
    """``{utterance ID: embedding}`` and ``(embeddings, labels)`` per set ``names`` (reused from ``memo``)."""
    memo = memo or Memo(None)
    brain = UtteranceBrain(modules={"model": model}, hparams=hp, run_opts=run_opts)
    state = memo.fingerprint(model)

    def embed(items):
        if isinstance(model, DeletionReadyModel):
            embeddings, labels = core_embeddings(model, items, hp, run_opts, memo)
            return (embeddings - model.mean) / model.std, labels
        return tuple(t.cpu() for t in brain.embed(items, hp["eval_batch_size"]))

    by_id, per_set = {}, {}
    for name in names:
        emb, labels = memo.on_model(
            "embed",
            state,
            hp,
            lambda name=name: [eval_sets[name].identity()],
            lambda name=name: embed(eval_sets[name]),
        )
        per_set[name] = (emb, labels)
        by_id.update(dict(zip(eval_sets[name].ids, emb)))
    return by_id, per_set


def shared(name, memo):
    """``memo`` for a model shared by runs; for the unlearned model, new in every run, its :meth:`~Memo.reader`."""
    return memo.reader() if name == "unlearned" and memo is not None else memo


def evaluate_models(models, eval_sets, hp, run_opts, context):
    """Run every hook; return the results keys to merge (see the module docstring).

    Arguments
    ---------
    models : dict
        ``original``, ``unlearned`` and (optional) ``retrained`` models.
    eval_sets : dict
        ``test``, ``retain``, ``forget`` (and ``forget_test``) utterance sets
        (:class:`~speechbrain_unlearn.data.utterances.UtteranceSet`, whole utterances).
    hp : dict
        The run's hparams (``seed``, ``eval_batch_size``, ``bootstrap_samples``).
    run_opts : dict
        SpeechBrain run options.
    context : dict
        ``forgotten`` (bool: whole classes forgotten), ``class_names`` (index
        to label), ``forgotten_labels`` (indices), ``trials`` (verification
        trial list, may be empty), ``trial_utterances`` (the utterances it
        names that no test set holds, or ``None``), ``shadows`` (list of ``(model, trained IDs)``,
        may be empty), ``noise_reference`` (a second reference or ``None``),
        ``memo`` (optional :class:`~speechbrain_unlearn.evaluation.memo.Memo`:
        every model but ``unlearned`` is scored once per cache).

    Returns
    -------
    dict
        ``metrics``, ``standard_errors``, ``per_class_test_acc`` and, with a
        reference, ``distance_to_retrain``, ``distance_original_to_retrain``, ``prediction_agreement``,
        ``gap_noise_floor``, ``distance_noise_floor``, ``verification``.
    """
    seed, n_boot = int(hp["seed"]), int(hp.get("bootstrap_samples", 200))
    forgotten = bool(context["forgotten"])
    memo = context.get("memo")
    records = {name: score_sets(m, eval_sets, hp, run_opts, memo=shared(name, memo)) for name, m in models.items()}
    any_records = next(iter(records.values()))
    plan = AttackPlan(
        any_records["forget"]["label"],
        any_records["forget_test" if forgotten else "test"]["label"],
        len(any_records["test"]["label"]),
        len(any_records["retain"]["label"]),
        not forgotten,
        seed,
    )
    shadow_phi = shadow_in = None
    if context.get("shadows"):
        forget_ids = eval_sets["forget"].ids
        shadow_phi, shadow_in = shadow_statistics(context["shadows"], eval_sets, plan, forget_ids, hp, run_opts, memo)
    out = {"metrics": {}, "standard_errors": {}, "per_class_test_acc": {}}
    for name, recs in records.items():
        metrics = model_metrics(recs, forgotten)
        attacks, attack_se = plan.attacks(recs, shadow_phi, shadow_in, n_boot, seed)
        metrics.update(attacks)
        out["metrics"][name] = metrics
        out["standard_errors"][name] = {**accuracy_errors(recs, forgotten, n_boot, seed), **attack_se}
        out["per_class_test_acc"][name] = per_class_accuracy(recs, context["class_names"])
    out["attack_samples"] = {
        "members": len(plan.members),
        "nonmembers": len(plan.nonmembers),
        "shadow_members": len(plan.shadow_members),
        "shadow_nonmembers": len(plan.shadow_nonmembers),
        "lira_shadows": len(context.get("shadows") or []),
    }
    if context.get("trials"):
        verification(models, eval_sets, hp, run_opts, context, out)
    if "retrained" in records:
        ref = records["retrained"]["forget"]
        out["distance_to_retrain"] = distance(records["unlearned"]["forget"], ref)
        out["distance_original_to_retrain"] = distance(records["original"]["forget"], ref)
        out["prediction_agreement"] = prediction_agreement(records["unlearned"], records["retrained"])
        if context.get("noise_reference") is not None:
            second = score_sets(context["noise_reference"], eval_sets, hp, run_opts, memo=memo)
            out["metrics"]["second_reference"] = model_metrics(second, forgotten)
            out["gap_noise_floor"] = gaps(out["metrics"]["second_reference"], out["metrics"]["retrained"])
            out["distance_noise_floor"] = distance(second["forget"], ref)
    return out


def verification(models, eval_sets, hp, run_opts, context, out):
    """Fill ``eer``, ``min_dcf``, ``forgotten_speaker_id_rate`` and ``verification`` in ``out``."""
    test_sets = [s for s in ("test", "forget_test") if s in eval_sets]
    if context.get("trial_utterances") is not None:  # those the trial list names in no test set
        eval_sets = {**eval_sets, "trial_utterances": context["trial_utterances"]}
        test_sets = [*test_sets, "trial_utterances"]
    speaker_of = {r["ID"]: r["label"] for s in test_sets for r in eval_sets[s].rows}
    forgotten_names = [context["class_names"][c] for c in context["forgotten_labels"]]
    counts = trial_counts(context["trials"], speaker_of, forgotten_names)
    out["verification"] = {"trials": counts}
    logger.info(
        "verification: %d of %d trials scored (%d of forgotten speakers apart, %d name an utterance in no split)%s",
        *(counts[k] for k in ("scored", "listed", "forgotten_speaker", "unknown_utterance")),
        f"; no eer or min_dcf: {counts['reason']}" if "reason" in counts else "",
    )
    same_speaker = {}
    for name, model in models.items():
        enrol = ["retain", "forget"] if context["forgotten"] else []
        memo = shared(name, context.get("memo"))
        by_id, per_set = embeddings_by_id(model, eval_sets, hp, run_opts, test_sets + enrol, memo)
        metrics, same_speaker[name] = verification_metrics(by_id, speaker_of, context["trials"], forgotten_names)
        out["metrics"][name].update(metrics)
        if context["forgotten"]:
            enrol_emb = torch.cat([per_set[s][0] for s in enrol])
            enrol_labels = torch.cat([per_set[s][1] for s in enrol])
            test_emb, test_labels = per_set["forget_test"]
            out["metrics"][name]["forgotten_speaker_id_rate"] = round(
                centroid_id_rate(enrol_emb, enrol_labels, test_emb, test_labels, context["forgotten_labels"]), 6
            )
    if context["forgotten"] and "retrained" in same_speaker:
        out["verification"] |= {
            "forgotten_same_speaker": {
                name: score_summary(scores, same_speaker["retrained"])
                for name, scores in same_speaker.items()
                if name != "retrained"
            }
        }
