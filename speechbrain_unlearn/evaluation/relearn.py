"""Relearning attacks: whether fine-tuning brings the forgotten data back.

A model that only *hides* what it knows (an output row pushed down, a
suppressed class) recovers it after a few steps of ordinary training, while a
model that never learned it (the retrained reference) does not. Two attacks,
each a fixed number of Adam minibatch steps at a fixed learning rate, with
the same seeded batches for every model, on a copy (the models of a run are
never changed):

* **benign**: fine-tune on retain utterances only, and measure the accuracy
  on the forget set (and, when whole classes were forgotten, on their test
  utterances);
* **k-shot**: fine-tune on a seeded half of the forget utterances and
  measure the accuracy on the *other* half, which the attack never shows
  (BatchNorm statistics kept: the batches hold forget utterances only).

``memorization_recovery`` is the unlearned model's post-attack forget
accuracy minus the reference's after the same attack;
``memorization_recovery_original`` the same for the original. The reference
attacked is the reference, so its own recovery is 0 by construction.

The end point cannot tell a model that recovers in 2 steps from one that
needs all of them, nor see anything once the reference itself relearns. The
accuracies along the way (``curve``, at :func:`curve_points`, denser early
where recovery happens) give two more numbers, each beside the original's
(``_original``) and the reference's (``_reference``):

* ``auc_recovery``: the area under the relearning curve (the mean accuracy
  over the attack, steps scaled to [0, 1]) minus the reference's;
* ``steps_to_half``: the first recorded step at which the accuracy reaches
  half the original's before the attack (its "pre-unlearning value");
  ``null`` when it is not reached within the attack (or the original's
  accuracy is 0 to start with), said in ``steps_to_half_note``.

Example
-------
>>> recovery({"unlearned": 0.5, "retrained": 0.25, "original": 1.0})
(0.25, 0.75)
>>> curve_points(20)
[0, 1, 2, 4, 5, 8, 10, 15, 20]
>>> curve_area([0, 10, 20], [0.0, 1.0, 1.0])
0.75
>>> steps_to_reach([0, 10, 20], [0.0, 0.4, 0.9], 0.5)
20
"""

import copy

import numpy as np
import torch
from scipy.integrate import trapezoid

from speechbrain_unlearn.brain import UtteranceBrain
from speechbrain_unlearn.evaluation.memo import Memo
from speechbrain_unlearn.evaluation.metrics import accuracy

#: Where the curve is recorded, as fractions of the attack: denser early, where recovery happens.
CURVE_FRACTIONS = (0, 0.05, 0.1, 0.2, 0.25, 0.4, 0.5, 0.75, 1)


def curve_points(steps):
    """The step counts at which the accuracies are recorded (:data:`CURVE_FRACTIONS` of ``steps``)."""
    return sorted({int(round(f * steps)) for f in CURVE_FRACTIONS})


def curve_area(points, accuracies):
    """The area under a relearning curve with its steps scaled to [0, 1]: its mean accuracy (trapezoids)."""
    return float(trapezoid(accuracies, np.asarray(points) / max(points[-1], 1)))


def steps_to_reach(points, accuracies, level):
    """The first recorded step whose accuracy is at least ``level``; ``None`` if none is."""
    return next((p for p, a in zip(points, accuracies) if a >= level), None)


def curve_report(curve, pre_unlearning):
    """``auc_recovery`` and ``steps_to_half`` of the unlearned model, the original and the reference.

    Arguments
    ---------
    curve : dict
        ``steps`` and each model's accuracies at those steps.
    pre_unlearning : float
        The original's accuracy on the set before the attack.

    Example
    -------
    >>> curve = {"steps": [0, 5, 10], "unlearned": [0, 0.8, 1], "original": [1, 1, 1], "retrained": [0, 0, 0.2]}
    >>> out = curve_report(curve, 1.0)
    >>> out["auc_recovery"], out["steps_to_half"], out["steps_to_half_original"], out["steps_to_half_reference"]
    (0.6, 5, 0, None)
    """
    points, reference = curve["steps"], curve["retrained"]
    out = {}
    for name, suffix in (("unlearned", ""), ("original", "_original"), ("retrained", "_reference")):
        if suffix != "_reference":
            out[f"auc_recovery{suffix}"] = round(curve_area(points, curve[name]) - curve_area(points, reference), 6)
        out[f"steps_to_half{suffix}"] = steps_to_reach(points, curve[name], 0.5 * pre_unlearning)
    if pre_unlearning <= 0:  # every curve starts at half of 0: no step count means anything
        out.update({f"steps_to_half{name}": None for name in ("", "_original", "_reference")})
        out["steps_to_half_note"] = "the original's accuracy before the attack is 0: nothing to recover"
    elif never := [name for name in ("", "_original", "_reference") if out[f"steps_to_half{name}"] is None]:
        keys = ", ".join(f"steps_to_half{name}" for name in never)
        out["steps_to_half_note"] = f"{keys}: half of {pre_unlearning:.3f} not reached within {points[-1]} steps"
    return out


def relearn(model, train_set, eval_sets, hparams, run_opts, steps, lr, keep_batchnorm_statistics=False):
    """Fine-tune a copy of ``model`` on ``train_set``; score ``eval_sets`` along the way.

    Arguments
    ---------
    model : torch.nn.Module
        The model to attack (not modified).
    train_set : UtteranceSet
        The attack's training items.
    eval_sets : dict
        Set name to dataset, scored at each of :func:`curve_points`.
    hparams : dict
        The run's hparams (``loss``, ``seed``, ``batch_size``, ``eval_batch_size``).
    run_opts : dict
        SpeechBrain run options.
    steps : int
        Minibatch steps.
    lr : float
        Adam learning rate.
    keep_batchnorm_statistics : bool
        Keep BatchNorm layers in eval mode (the k-shot attack, whose batches
        are forget utterances only: their running statistics would otherwise
        drift towards the forget set, which changes every prediction).

    Returns
    -------
    dict
        ``<set>_acc`` after the attack, and ``curve``: ``{<set>_acc: [accuracy at each point]}``.
    """
    attacked = copy.deepcopy(model)
    brain = UtteranceBrain(modules={"model": attacked}, hparams=hparams, run_opts=run_opts)
    points = curve_points(steps)
    curve = {f"{name}_acc": [] for name in eval_sets}

    def record(done):
        if done in points:
            for name, items in eval_sets.items():
                curve[f"{name}_acc"].append(accuracy(brain.score(items, hparams["eval_batch_size"])))

    record(0)
    torch.manual_seed(int(hparams["seed"]))
    brain.train_steps(
        train_set,
        steps,
        torch.optim.Adam(attacked.parameters(), lr=lr),
        hparams["batch_size"],
        on_step=record,
        keep_batchnorm_statistics=keep_batchnorm_statistics,
    )
    return {**{k: v[-1] for k, v in curve.items()}, "curve": curve}


def recovery(post_attack):
    """``(unlearned - retrained, original - retrained)`` of post-attack forget accuracies."""
    reference = post_attack["retrained"]
    return post_attack["unlearned"] - reference, post_attack["original"] - reference


def kshot_halves(ids, seed):
    """Indices of the attack half and the held-out half of the forget set (seeded, by sorted ID).

    Example
    -------
    >>> a, b = kshot_halves(["u3", "u1", "u2", "u0"], seed=1)
    >>> sorted(a + b), len(a)
    ([0, 1, 2, 3], 2)
    """
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    perm = np.random.default_rng([int(seed), 5]).permutation(len(order))
    shuffled = [order[i] for i in perm]
    half = len(shuffled) // 2
    return sorted(shuffled[:half]), sorted(shuffled[half:])


def attack_key(train_set, eval_sets, hparams, steps, lr, keep_batchnorm_statistics):
    """What an attack's outcome depends on besides the model: its settings and utterances."""
    settings = [int(steps), float(lr), bool(keep_batchnorm_statistics), int(hparams["seed"]), curve_points(steps)]
    settings += [int(hparams["batch_size"]), hparams.get("train_crop_frames"), train_set.identity()]
    return [*settings, {k: v.identity() for k, v in eval_sets.items()}]


def attack_report(
    models, train_set, eval_sets, hparams, run_opts, steps, lr, keep_batchnorm_statistics=False, memo=None
):
    """One attack on every model: post-attack accuracies, recoveries, curves.

    Arguments
    ---------
    models : dict
        ``original``, ``unlearned``, ``retrained`` (the reference is required).
    train_set, eval_sets, hparams, run_opts, steps, lr, keep_batchnorm_statistics
        As in :func:`relearn`; the first set of ``eval_sets`` is the one
        whose accuracy defines ``memorization_recovery``, the others get a
        suffix (``memorization_recovery_forget_test``).
    memo : Memo, optional
        Reuses the attacks on the original and the reference
        (:mod:`~speechbrain_unlearn.evaluation.memo`; the unlearned model is
        always attacked).

    Returns
    -------
    dict
        ``steps``, ``lr``, ``post_attack``, ``memorization_recovery[_<set>]``,
        ``memorization_recovery_original[_<set>]``, ``curve`` (``steps``
        and the first set's accuracies per model) and, of that curve,
        :func:`curve_report`'s keys.
    """
    memo = memo or Memo(None)
    key = lambda: attack_key(train_set, eval_sets, hparams, steps, lr, keep_batchnorm_statistics)  # noqa: E731
    post = {}
    for name, m in models.items():
        attack = lambda m=m: relearn(m, train_set, eval_sets, hparams, run_opts, steps, lr, keep_batchnorm_statistics)  # noqa: E731
        post[name] = attack() if name == "unlearned" else memo.on_model("relearn", m, hparams, key, attack)
    report = {"steps": int(steps), "lr": float(lr), "post_attack": {}}
    first = f"{next(iter(eval_sets))}_acc"
    report["curve"] = {"steps": curve_points(steps), **{name: post[name]["curve"][first] for name in post}}
    for name in post:
        report["post_attack"][name] = {k: v for k, v in post[name].items() if k != "curve"}
    for key in report["post_attack"]["retrained"]:
        unlearned, original = recovery({name: report["post_attack"][name][key] for name in post})
        suffix = "" if key == first else f"_{key[: -len('_acc')]}"
        report[f"memorization_recovery{suffix}"] = round(unlearned, 6)
        report[f"memorization_recovery_original{suffix}"] = round(original, 6)
    report.update(curve_report(report["curve"], report["curve"]["original"][0]))
    return report
