"""Per-sample gradients, vectorised with ``torch.func.vmap(grad)`` and chunked.

:func:`per_sample_grads` returns, for a batch of ``B`` samples, a dict of
``(B, *param.shape)`` gradients of each sample's own loss with respect to the
parameters in scope. It calls the model on one sample at a time inside
``vmap``, so BatchNorm must be in eval mode (running statistics), as for any
per-sample quantity. Models whose layers ``vmap`` cannot batch (SpeechBrain's
CRDNN with its recurrent layer, at the time of writing) fall back to a loop
over samples; the path taken is reported.

Example
-------
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Linear(3, 2)
>>> x, y = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
>>> ce = lambda out, target: torch.nn.functional.cross_entropy(out, target)
>>> grads, path = per_sample_grads(model, dict(model.named_parameters()), ce, (x,), y)
>>> grads["weight"].shape, path
(torch.Size([4, 2, 3]), 'vmap')
>>> batch = torch.func.grad(lambda p: ce(torch.func.functional_call(model, p, (x,)), y) * 4)(
...     {k: v.detach() for k, v in model.named_parameters()})
>>> torch.allclose(grads["weight"].sum(0), batch["weight"], atol=1e-6)
True
"""

import torch
from torch.func import functional_call, grad, vmap

from speechbrain_unlearn.cost import count_gradients


def per_sample_grads(model, params, loss_fn, inputs, targets, chunk_size=32, path="auto"):
    """Gradients of each sample's loss with respect to ``params``.

    Arguments
    ---------
    model : torch.nn.Module
        Called as ``model(*inputs)`` on a batch of one.
    params : dict
        The parameters in scope (names as in ``model.named_parameters()``).
    loss_fn : callable
        ``loss_fn(outputs, targets)`` for a batch of one, returning a scalar.
    inputs : tuple of torch.Tensor
        Batched inputs, first dimension ``B``.
    targets : torch.Tensor
        Batched targets, first dimension ``B``.
    chunk_size : int
        Samples per ``vmap`` chunk (memory bound).
    path : str
        ``vmap``, ``loop`` or ``auto`` (``vmap``, falling back to ``loop``).

    Returns
    -------
    tuple
        A dict of ``(B, *shape)`` gradients and the path taken.
    """
    scope = {k: v.detach() for k, v in params.items()}
    base = {k: v.detach() for k, v in model.named_parameters() if k not in scope}
    base.update(dict(model.named_buffers()))

    def one_loss(p, *sample):
        *x, target = sample
        out = functional_call(model, {**base, **p}, tuple(t.unsqueeze(0) for t in x))
        return loss_fn(out, target.unsqueeze(0))

    count_gradients(len(targets))
    if path in ("auto", "vmap"):
        try:
            in_dims = (None,) + (0,) * (len(inputs) + 1)
            return vmap(grad(one_loss), in_dims=in_dims, chunk_size=chunk_size)(scope, *inputs, targets), "vmap"
        except (RuntimeError, NotImplementedError):
            if path == "vmap":
                raise
    rows = [grad(one_loss)(scope, *(t[i] for t in inputs), targets[i]) for i in range(len(targets))]
    return {k: torch.stack([r[k] for r in rows]) for k in scope}, "loop"
