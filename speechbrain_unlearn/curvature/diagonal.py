"""The diagonal empirical Fisher of a set of utterances, sharded under DDP.

* :func:`statistic_batches`: deterministic, padding-free batches of this
  process's share of a set;
* :func:`all_reduce_sums`: sums across processes (a no-op without DDP);
* :func:`squared_gradient_sums`: the sums of squared per-sample gradients
  (a diagonal empirical Fisher, :class:`~speechbrain_unlearn.curvature.cached.DiagonalFisher`)
  in eval mode (Selective Synaptic Dampening, Fisher forgetting, SalUn's
  saliency).

Example
-------
>>> sums = {"a": torch.ones(2)}
>>> all_reduce_sums(sums)["a"].tolist()
[1.0, 1.0]
"""

import torch

from speechbrain_unlearn.curvature.cached import DiagonalFisher
from speechbrain_unlearn.curvature.per_sample import per_sample_grads


def _rank_and_world():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def statistic_batches(utterances, batch_size, crop_frames=None):
    """Deterministic batches of this process's share of ``utterances`` (every ``world``-th batch).

    The utterances are centre-cropped to ``crop_frames`` and batched without
    padding (:meth:`~speechbrain_unlearn.data.utterances.UtteranceSet.fixed_length_batches`).
    """
    rank, world = _rank_and_world()
    for index, batch in enumerate(utterances.fixed_length_batches(crop_frames, batch_size)):
        if index % world == rank:
            yield batch


def all_reduce_sums(tensors):
    """Sum the tensors of a dict in place across processes (no-op without DDP)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        for value in tensors.values():
            torch.distributed.all_reduce(value)
    return tensors


def squared_gradient_sums(model, loss, dataset, device, batch_size, crop_frames=None, chunk_size=32):
    """``sum_i g_i * g_i`` of the per-sample training-loss gradients over ``dataset``.

    Computed in eval mode (BatchNorm's running statistics: per-sample
    gradients need it) with :func:`~speechbrain_unlearn.curvature.per_sample.per_sample_grads`
    (``vmap``, or a loop where the model has layers ``vmap`` cannot batch),
    over this process's share of the data; under DDP the sums and the count
    are all-reduced, so every process returns the totals.

    Arguments
    ---------
    model : torch.nn.Module
        Maps ``(feats, lengths)`` to scores.
    loss : speechbrain_unlearn.losses.CrossEntropy
        Per-sample training loss (``loss(scores, targets)``).
    dataset : UtteranceSet
        The utterances.
    device : str or torch.device
        Where the batches go.
    batch_size : int
        Utterances per batch (per-sample gradients are taken ``chunk_size`` at a time).
    crop_frames : int, optional
        Centre crop of every utterance (see :func:`statistic_batches`).
    chunk_size : int
        Samples per ``vmap`` chunk.

    Returns
    -------
    tuple
        A :class:`~speechbrain_unlearn.curvature.cached.DiagonalFisher` (its
        ``sums`` by parameter name and ``count``) and the per-sample path taken.
    """
    model.eval()
    params = {k: v for k, v in model.named_parameters() if v.requires_grad}
    stats = DiagonalFisher()
    stats.sums = {k: torch.zeros_like(v) for k, v in params.items()}
    path = None

    def one_loss(out, target):
        return loss(out, target).sum()

    for batch in statistic_batches(dataset, batch_size, crop_frames):
        batch = batch.to(device)
        feats, lengths = batch.feats
        grads, path = per_sample_grads(model, params, one_loss, (feats, lengths), batch.label, chunk_size=chunk_size)
        stats.update(grads)
    count = torch.tensor([float(stats.count)], device=next(iter(params.values())).device)
    all_reduce_sums({**stats.sums, "_count": count})
    stats.count = int(round(float(count)))
    return stats, path
