"""Relearning attacks: whether fine-tuning brings the forgotten data back.

A model that only *hides* what it knows (an output row pushed down, a
suppressed class) recovers it after a few steps of ordinary training, while a
model that never learned it (the retrained reference) does not. The
*benign* attack fine-tunes on retain utterances only, for a fixed number of
minibatch steps at the learning rate the original's schedule ended with, and
measures the forget-set accuracy afterwards (and, when whole classes were
forgotten, the accuracy on their test utterances). Each model is attacked on
a copy; the models of the run are never changed.

``memorization_recovery`` is the unlearned model's post-attack forget
accuracy minus the reference's after the same attack (the same steps, the
same batches); ``memorization_recovery_original`` the same for the original.

Example
-------
>>> recovery({"unlearned": 0.5, "retrained": 0.25, "original": 1.0})
(0.25, 0.75)
"""

import copy

import torch

from speechbrain_unlearn.brain import UtteranceBrain
from speechbrain_unlearn.evaluation.metrics import accuracy


def benign_relearn(model, retain_set, eval_sets, hparams, run_opts, steps, lr):
    """Fine-tune a copy of ``model`` on ``retain_set`` and score it on ``eval_sets``.

    Arguments
    ---------
    model : torch.nn.Module
        The model to attack (not modified).
    retain_set : DynamicItemDataset
        Retain training items.
    eval_sets : dict
        Set name to dataset (``forget``, and ``forget_test`` when classes were forgotten).
    hparams : dict
        The run's hparams (``loss``, ``seed``, ``batch_size``, ``eval_batch_size``).
    run_opts : dict
        SpeechBrain run options.
    steps : int
        Minibatch steps.
    lr : float
        Adam learning rate.

    Returns
    -------
    dict
        ``<set>_acc`` after the attack for each set.
    """
    attacked = copy.deepcopy(model)
    brain = UtteranceBrain(modules={"model": attacked}, hparams=hparams, run_opts=run_opts)
    torch.manual_seed(int(hparams["seed"]))
    brain.train_steps(retain_set, steps, torch.optim.Adam(attacked.parameters(), lr=lr), hparams["batch_size"])
    return {
        f"{name}_acc": accuracy(brain.score(items, hparams["eval_batch_size"])) for name, items in eval_sets.items()
    }


def recovery(post_attack):
    """``(unlearned - retrained, original - retrained)`` of post-attack forget accuracies."""
    reference = post_attack["retrained"]
    return post_attack["unlearned"] - reference, post_attack["original"] - reference
