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
attacked is the reference, so its own recovery is 0 by construction. The
accuracies along the way (``curve``) are recorded at a few step counts, for
the relearning plots.

Example
-------
>>> recovery({"unlearned": 0.5, "retrained": 0.25, "original": 1.0})
(0.25, 0.75)
>>> curve_points(20)
[0, 5, 10, 20]
"""

import copy

import numpy as np
import torch

from speechbrain_unlearn.brain import UtteranceBrain
from speechbrain_unlearn.evaluation.memo import Memo
from speechbrain_unlearn.evaluation.metrics import accuracy


def curve_points(steps):
    """The step counts at which the accuracies are recorded: 0, steps/4, steps/2, steps."""
    return sorted({0, steps // 4, steps // 2, int(steps)})


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
    settings = [int(steps), float(lr), bool(keep_batchnorm_statistics), int(hparams["seed"])]
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
        ``memorization_recovery_original[_<set>]`` and ``curve``
        (``steps`` and the first set's accuracies per model).
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
    return report
