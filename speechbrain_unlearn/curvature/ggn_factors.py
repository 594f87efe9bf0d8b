"""K-FAC factors of the Gauss-Newton curvature over a stream of batches.

:func:`ggn_factors` accumulates :class:`~.cached.KroneckerFactors` of the
generalised Gauss-Newton matrix ``J^T H_z J`` of a cross-entropy loss, split
at the *training logits* ``z`` (after AAM's margin, as for the head's exact
Gauss-Newton), where ``H_z = diag(p) - p p^T`` and ``p = softmax(z)``.

The G factor needs vectors ``J^T r`` with ``E[r r^T] = H_z``. K-FAC usually
draws a label ``y ~ p`` and uses ``r = e_y - p`` (the Monte-Carlo Fisher);
on a confident, memorising model ``y`` is almost always the true label and
``r ~ 0``, so the estimate is near zero except for the odd rare draw: the
curvature is underestimated in most directions and an inverse-curvature step
along them breaks the model. Here instead ``H_z = L L^T`` with the columns
``l_y = sqrt(p_y) (e_y - p)`` (this uses ``sum p = 1``), and ``r = L eps``
with random signs ``eps``: every class contributes to every utterance's
vector, ``E[r r^T] = H_z`` exactly, and one backward pass per batch suffices.
The signs of each utterance are seeded by its ID, so a later down-date by a
subset subtracts exactly what was added. The model is put in eval mode
(BatchNorm running statistics).

Example
-------
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
>>> batches = [(["a", "b"], (torch.randn(2, 3),), torch.tensor([0, 1]))]
>>> batches.append((["c"], (torch.randn(1, 3),), torch.tensor([1])))
>>> logits = lambda scores, targets: scores
>>> full = ggn_factors(model, batches, logits, seed=1)
>>> full.merge(ggn_factors(model, batches[1:], logits, seed=1), sign=-1.0)
>>> first = ggn_factors(model, batches[:1], logits, seed=1)
>>> full.count, torch.allclose(full.G["2"], first.G["2"]), torch.allclose(full.A["0"], first.A["0"])
(2, True, True)
"""

import hashlib

import torch

from speechbrain_unlearn.cost import count_gradients
from speechbrain_unlearn.curvature.cached import KroneckerFactors


def seeded_signs(ids, n, seed):
    """``(len(ids), n)`` random signs, each row drawn from a hash of the seed and the ID.

    Example
    -------
    >>> torch.equal(seeded_signs(["a", "b"], 3, 1), seeded_signs(["a", "b"], 3, 1))
    True
    >>> seeded_signs(["a"], 4, 1).abs().tolist()
    [[1.0, 1.0, 1.0, 1.0]]
    """
    rows = []
    for i in ids:
        gen = torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:7], "big"))
        rows.append(torch.randint(0, 2, (n,), generator=gen) * 2.0 - 1.0)
    return torch.stack(rows)


def output_hessian_sketch(logits, ids, seed):
    """``r = L eps`` per row, with ``L L^T = diag(p) - p p^T`` the cross-entropy Hessian in the logits.

    Example
    -------
    >>> z = torch.tensor([[2.0, 0.0, -1.0]])
    >>> p = z.softmax(-1)
    >>> sketches = torch.cat([output_hessian_sketch(z, [str(i)], 0) for i in range(4000)])
    >>> estimate = sketches.T @ sketches / 4000
    >>> bool((estimate - (torch.diag(p[0]) - p.T @ p)).abs().max() < 0.02)
    True
    """
    p = logits.detach().softmax(dim=-1)
    eps = seeded_signs(ids, p.shape[-1], seed).to(p)
    root = p.sqrt() * eps
    return root - p * root.sum(dim=-1, keepdim=True)


def ggn_factors(model, batches, logits_fn, seed, factors=None, prefixes=("",)):
    """K-FAC factors of the Gauss-Newton curvature summed over ``batches``.

    Arguments
    ---------
    model : torch.nn.Module
        The model (put in eval mode), called as ``model(*inputs)``.
    batches : iterable
        ``(ids, inputs, targets)`` triples.
    logits_fn : callable
        ``logits_fn(scores, targets)``: the training logits of the
        cross-entropy (scores themselves, or with AAM's margin).
    seed : int
        Seed of the sketch signs (with each ID).
    factors : KroneckerFactors, optional
        Collection to add to; a new one over ``prefixes`` otherwise.
    prefixes : sequence of str
        Module-name prefixes in scope for a new collection.

    Returns
    -------
    KroneckerFactors
        The sums (and sample count) over the batches.
    """
    model.eval()
    factors = factors if factors is not None else KroneckerFactors(model, prefixes)
    params = [p for p in model.parameters() if p.requires_grad]
    for ids, inputs, targets in batches:
        with factors.collect(model):
            logits = logits_fn(model(*inputs), targets)
            sketch = output_hessian_sketch(logits, ids, seed)
            torch.autograd.grad((logits * sketch).sum(), params, allow_unused=True)
            count_gradients(len(targets))
    return factors
