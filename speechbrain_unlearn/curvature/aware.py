"""Unlearning-aware training: what the original's training stores for later deletions.

Influence unlearning needs the curvature of the *retain* loss at the original
weights. Recomputing it for every deletion request costs a pass over the
retain set; instead, once the original is trained, one pass over the
training set stores

* the K-FAC factors of the Gauss-Newton curvature of every ``Linear``/
  ``Conv1d``/``Conv2d`` layer (:func:`~speechbrain_unlearn.curvature.ggn_factors.ggn_factors`),
  as sums over utterances; and
* every training utterance's embedding (the input of the head), with its ID
  and label, for the exact Gauss-Newton block of the head,

beside the cached checkpoint (``curvature.pt``). A request then costs the
forget set's gradients and factors: the factors are *down-dated* (the forget
set's share subtracted, which is exact because the pass runs in eval mode on
deterministic, padding-free batches: :meth:`~speechbrain_unlearn.data.utterances.UtteranceSet.fixed_length_batches`
with sketch signs seeded per utterance ID), and the forget utterances'
embeddings are dropped.

The pass runs after the final epoch, at the final weights, rather than
during it: statistics gathered while the weights still move would not match
the forget set's share computed at the final weights, and the down-date could
then leave a matrix that is not positive semi-definite. It costs about one
epoch without the optimiser step, measured as ``curvature_time_s``.

The other half of unlearning-aware training is the objective itself (the L2
coefficient ``weight_decay`` that the Newton step assumes, and the
regularisation keys of the task hparams): the reference is trained with the
same recipe, so comparisons stay fair.

Example
-------
>>> model = torch.nn.Sequential(torch.nn.Linear(3, 2))
>>> factors = KroneckerFactors(model)
>>> with factors.collect(model):
...     model(torch.randn(4, 3)).sum().backward()
>>> stats = {"factors": factors, "embeddings": torch.zeros(4, 3), "ids": list("abcd"), "labels": torch.zeros(4)}
>>> restored = from_state(to_state(stats), model)
>>> restored["factors"].count, torch.equal(restored["factors"].A["0"], factors.A["0"])
(4, True)
"""

import time

import torch

from speechbrain_unlearn import progress
from speechbrain_unlearn.curvature.cached import KroneckerFactors
from speechbrain_unlearn.curvature.ggn_factors import ggn_factors


def curvature_statistics(model, dataset, loss, seed, crop_frames=None, batch_size=32, factors=None):
    """K-FAC factors, embeddings, IDs and labels of ``dataset`` at the model's weights.

    Arguments
    ---------
    model : torch.nn.Module
        A model of :mod:`speechbrain_unlearn.models` (``embed``, ``classify``).
    dataset : UtteranceSet
        The utterances.
    loss : speechbrain_unlearn.losses.CrossEntropy or AAMSoftmax
        Per-sample loss with ``log_probs``.
    seed : int
        Seed of the curvature sketch's signs.
    crop_frames : int, optional
        Centre crop of every utterance (``None``: whole utterances).
    batch_size : int
        Utterances per batch.
    factors : KroneckerFactors, optional
        Collection to add to (a new one over every layer otherwise).

    Returns
    -------
    dict
        ``factors`` (a :class:`KroneckerFactors`), ``embeddings`` ``(n, d)``,
        ``ids`` (list), ``labels`` ``(n,)`` and ``time_s``.
    """
    start = time.time()
    model.eval()
    batches = list(dataset.fixed_length_batches(crop_frames, batch_size))
    embeddings = []
    # the head's input, captured in the same forward pass
    hook = getattr(model, model.head_name).register_forward_hook(
        lambda module, inputs, output: embeddings.append(inputs[0].detach())
    )
    try:
        factors = ggn_factors(
            model,
            ((b.id, b.feats, b.label) for b in progress.bar(batches, desc="curvature statistics", unit="batch")),
            loss.logits,
            seed,
            factors=factors or KroneckerFactors(model),
        )
    finally:
        hook.remove()
    return {
        "factors": factors,
        "embeddings": torch.cat(embeddings).reshape(len(dataset), -1),
        "ids": [i for b in batches for i in b.id],
        "labels": torch.cat([b.label for b in batches]),
        "time_s": time.time() - start,
    }


def to_state(stats):
    """Plain tensors, lists and numbers for :func:`speechbrain_unlearn.io.save_tensors`."""
    return {
        "factors": stats["factors"].state_dict(),
        "embeddings": stats["embeddings"],
        "ids": list(stats["ids"]),
        "labels": stats["labels"],
    }


def from_state(state, model):
    """The statistics :func:`to_state` stored, with the factors bound to ``model``."""
    factors = KroneckerFactors(model)
    factors.load_state_dict(state["factors"])
    return {**state, "factors": factors}
