"""Curvature-vector products of a loss, model-agnostic, through ``torch.func``.

A *parameter dict* maps names to tensors (as ``dict(model.named_parameters())``
or any subset of it: the *scope* of the curvature); a *vector* is a dict of
the same shapes. Products never form a matrix:

* :func:`hvp`: Hessian-vector product ``H v`` of a scalar loss, forward-over-
  reverse (``jvp`` of ``grad``);
* :func:`ggn_vp`: generalised Gauss-Newton product ``J^T H_out J v``, where
  ``J`` is the Jacobian of the model outputs and ``H_out`` the Hessian of the
  loss in the outputs: positive semi-definite for convex losses (cross-entropy,
  AAM with margin as a fixed function of the cosines), unlike ``H``.

Functions take ``output_fn(params) -> outputs`` and ``loss_fn(outputs) ->
scalar`` so that labels, margins and data stay in closures; for a model with
BatchNorm call it in eval mode (running statistics), as
:func:`model_functions` does.

Example
-------
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
>>> x, y = torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 1])
>>> params = dict(model.named_parameters())
>>> output_fn, loss_fn = model_functions(model, x, lambda out: torch.nn.functional.cross_entropy(out, y))
>>> v = {k: torch.randn_like(p) for k, p in params.items()}
>>> hv, gv = hvp(output_fn, loss_fn, params, v), ggn_vp(output_fn, loss_fn, params, v)
>>> sorted(hv) == sorted(params) and all(gv[k].shape == params[k].shape for k in params)
True
>>> bool(dot(v, gv) >= 0)  # Gauss-Newton is positive semi-definite
True
"""

import torch
from torch.func import functional_call, grad, jvp, vjp

from speechbrain_unlearn import progress

progress.load_forward_ad_quietly()


def dot(a, b):
    """Inner product of two parameter dicts."""
    return sum((a[k] * b[k]).sum() for k in a)


def add(a, b, alpha=1.0):
    """``a + alpha * b`` for parameter dicts."""
    return {k: a[k] + alpha * b[k] for k in a}


def scale(a, alpha):
    """``alpha * a`` for a parameter dict."""
    return {k: alpha * v for k, v in a.items()}


def norm(a):
    """Euclidean norm of a parameter dict."""
    return torch.sqrt(dot(a, a))


def detached(params):
    """A parameter dict of detached tensors (the point products are taken at)."""
    return {k: v.detach() for k, v in params.items()}


def model_functions(model, inputs, loss_of_outputs, frozen=None):
    """``output_fn`` and ``loss_fn`` for a model called as ``model(*inputs)``.

    Arguments
    ---------
    model : torch.nn.Module
        Called with its buffers and the parameters outside the scope as they are;
        put it in eval mode first if it has BatchNorm.
    inputs : torch.Tensor or tuple
        Positional inputs of the model.
    loss_of_outputs : callable
        Maps outputs to a scalar loss (labels, margins and reduction inside).
    frozen : dict, optional
        Values for parameters outside the scope (default: the model's own).

    Returns
    -------
    tuple of callables
        ``output_fn(params)`` and ``loss_fn(outputs)``.
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    base = {k: v.detach() for k, v in model.named_parameters()}
    base.update({k: v for k, v in model.named_buffers()})
    if frozen:
        base.update(frozen)

    def output_fn(params):
        return functional_call(model, {**base, **params}, inputs)

    return output_fn, loss_of_outputs


def loss_grad(output_fn, loss_fn, params):
    """Gradient of ``loss_fn(output_fn(params))`` as a parameter dict."""
    return grad(lambda p: loss_fn(output_fn(p)))(detached(params))


def hvp(output_fn, loss_fn, params, vector):
    """Hessian-vector product ``H v`` (forward-over-reverse).

    Arguments
    ---------
    output_fn, loss_fn : callable
        See :func:`model_functions`.
    params : dict
        The point (and scope) of the Hessian.
    vector : dict
        ``v``, same keys and shapes as ``params``.

    Returns
    -------
    dict
        ``H v``.
    """
    gradient = grad(lambda p: loss_fn(output_fn(p)))
    return jvp(gradient, (detached(params),), (vector,))[1]


def ggn_vp(output_fn, loss_fn, params, vector):
    """Generalised Gauss-Newton product ``J^T H_out J v``.

    Arguments
    ---------
    output_fn, loss_fn : callable
        See :func:`model_functions`.
    params : dict
        The point (and scope) of the curvature.
    vector : dict
        ``v``, same keys and shapes as ``params``.

    Returns
    -------
    dict
        ``J^T H_out J v``.
    """
    outputs, j_v = jvp(output_fn, (detached(params),), (vector,))
    outputs = outputs.detach()
    h_j_v = jvp(grad(loss_fn), (outputs,), (j_v,))[1]
    _, pullback = vjp(output_fn, detached(params))
    return pullback(h_j_v)[0]


def curvature_operator(kind, output_fn, loss_fn, params, damping=0.0):
    """``v -> (C + damping I) v`` for ``kind`` ``hessian`` or ``ggn``.

    Example
    -------
    >>> w = {"w": torch.tensor([1.0, 2.0])}
    >>> op = curvature_operator("hessian", lambda p: p["w"], lambda o: (o ** 2).sum(), w, damping=1.0)
    >>> op({"w": torch.tensor([1.0, 0.0])})["w"]
    tensor([3., 0.])
    """
    product = {"hessian": hvp, "ggn": ggn_vp}.get(kind)
    if product is None:
        raise ValueError(f"curvature kind must be hessian or ggn, got {kind!r}")

    def operator(vector):
        out = product(output_fn, loss_fn, params, vector)
        return add(out, vector, damping) if damping else out

    return operator


__all__ = [
    "add",
    "curvature_operator",
    "detached",
    "dot",
    "ggn_vp",
    "hvp",
    "loss_grad",
    "model_functions",
    "norm",
    "scale",
]
