"""Solve the deletable part to a stated tolerance, remove a forget set, and certify the result.

Algorithm (inexact Newton on a lambda-strongly convex ``J``,
:class:`~speechbrain_unlearn.deletable.logistic.LogisticObjective`)
---------------------------------------------------------------------------
Input: ``J``, a start ``theta_0`` (zeros to train; the original's weights to
remove a forget set), the gradient tolerance ``gtol``.

1. ``J(theta)``, ``g = grad J(theta)`` in float64 and the class
   probabilities, in one pass (at the start: a float32 pass, or a removal's
   stored sums, see :func:`remove`); stop when ``||g|| <= gtol`` (a float64
   gradient: only it certifies);
2. the Newton direction ``s``: ``H(theta) s = -g`` by conjugate gradient
   (scipy, preconditioned by the Hessian's diagonal, or by its class blocks
   stored with the model, :mod:`~speechbrain_unlearn.deletable.blocks`;
   float32 products from
   :mod:`~speechbrain_unlearn.deletable.hessian` on those probabilities), to
   a relative residual ``max(min(0.5, sqrt(||g||)), gtol / (2 ||g||))``
   (superlinear convergence, and no more accuracy than ``gtol`` needs);
3. a backtracking (Armijo) line search on ``J`` along ``s`` (a full step near
   the minimiser), whose accepted full step's evaluation is step 1 of the
   next iteration;
4. ``theta <- theta + t s``; go to 1.

Every step is deterministic given the features. **Removal**
(:func:`remove`) runs the same iteration on ``J_{S - F}`` from the original's
weights ``theta*_S`` (the rows of classes F empties first re-solved alone,
:mod:`~speechbrain_unlearn.deletable.emptied`): for a quadratic the first Newton step is the exact
minimiser (the influence-function step); for cross-entropy a few steps reach
``gtol``. **Certificate** (:func:`certificate`): ``||grad J_R(theta)||`` and
the bound ``||theta - theta*_R|| <= ||grad J_R(theta)|| / lambda`` on the
distance to the model retrained on R without F.

Written by hand around scipy's conjugate gradient because the stopping rule
must be the gradient norm the certificate uses; scipy's trust-region and
Newton-CG minimisers stop on the value's precision or the step size.

Example
-------
>>> from speechbrain_unlearn.deletable.logistic import LogisticObjective
>>> _ = torch.manual_seed(0)
>>> features, labels = torch.randn(60, 4), torch.randint(0, 3, (60,))
>>> objective = LogisticObjective(features, labels, n_classes=3, l2=0.01)
>>> theta, report, sums = newton(objective, gtol=1e-10)
>>> report["converged"], report["gradient_norm"] <= 1e-10
(True, True)
>>> keep = torch.arange(60) >= 5
>>> removed, report, _ = remove(objective, theta, keep, gtol=1e-10, sums=sums)
>>> retrained, again, _ = newton(objective.restricted(keep), gtol=1e-10)
>>> bound = report["certificate"]["distance_bound"] + again["gradient_norm"] / objective.l2  # both are solves
>>> bool((removed - retrained).norm() <= bound)
True
"""

import types

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, cg

from speechbrain_unlearn import progress
from speechbrain_unlearn.deletable.emptied import resolve_emptied_rows
from speechbrain_unlearn.deletable.hessian import LogisticHessian

#: Precision of the Hessian products of Newton directions (the stopping rule is the float64 gradient).
DIRECTION_DTYPE = torch.float32


def newton_direction(objective, theta, gradient, rtol, probs=None, preconditioner=None):
    """``s`` with ``H(theta) s ~= -g`` to relative residual ``rtol``, and the number of Hessian products taken.

    scipy's conjugate gradient on :class:`~speechbrain_unlearn.deletable.hessian.LogisticHessian`
    in float32 (``probs``: the chunks' class probabilities at ``theta``, if
    already computed), preconditioned by ``preconditioner`` (a
    :class:`~speechbrain_unlearn.deletable.blocks.ClassBlocks`; default: the
    Hessian's diagonal at ``theta``).
    """
    size = objective.size
    hessian = LogisticHessian(objective, theta, probs=probs, dtype=DIRECTION_DTYPE)
    if preconditioner is None:
        inverse_diagonal = 1.0 / hessian.diagonal()
        preconditioner = types.SimpleNamespace(solve=lambda v: inverse_diagonal * v)
    products = [0]

    def matvec(v):
        products[0] += 1
        return (hessian @ torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64))).numpy()

    def precondition(v):
        return preconditioner.solve(torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64))).numpy()

    operator = LinearOperator((size, size), matvec=matvec, dtype=np.float64)
    inverse = LinearOperator((size, size), matvec=precondition, dtype=np.float64)
    step, _ = cg(operator, -gradient.numpy(), rtol=rtol, atol=0.0, maxiter=10 * size, M=inverse)
    return torch.from_numpy(step), products[0]


def line_search(objective, theta, value, gradient, step, precision=torch.float64, shrink=0.5, armijo=1e-4):
    """The largest ``t`` in ``1, 1/2, ...`` with sufficient decrease (within the rounding of ``value``).

    ``precision``: the dtype ``value`` was computed in. Returns ``t`` and the objective's
    :meth:`~speechbrain_unlearn.deletable.logistic.LogisticObjective.sums`
    at ``theta + t step`` with the chunks' probabilities there: for the
    full step (the usual case near the minimiser) the pass that tested it.
    """
    slope = float(gradient @ step)
    slack = 8 * torch.finfo(precision).eps * max(abs(value), 1.0)
    sums, probs = objective.sums(theta + step, probs_dtype=DIRECTION_DTYPE)
    if objective.penalised(theta + step, sums)[0] <= value + armijo * slope + slack:
        return 1.0, sums, probs
    t = shrink
    while t > 1e-12 and objective.value(theta + t * step) > value + armijo * t * slope + slack:
        t *= shrink
    return (t, *objective.sums(theta + t * step, probs_dtype=DIRECTION_DTYPE))


def first_sums(objective, theta, gtol):
    """The sums at the start and the chunks' probabilities, for :func:`newton`.

    A float32 pass (it only sets the first direction), or float64 where the
    start may already be within ``gtol`` (then it certifies).
    """
    sums, probs = objective.sums(theta, probs_dtype=DIRECTION_DTYPE, dtype=torch.float32)
    if float(objective.penalised(theta, sums)[1].norm()) <= 2 * gtol:
        sums, probs = objective.sums(theta, probs_dtype=DIRECTION_DTYPE)
    return sums, probs


def newton(objective, start=None, gtol=1e-10, max_iter=100, sums=None, preconditioner=None):
    """Minimise ``objective`` from ``start`` (default zeros) until ``||grad|| <= gtol`` (see the module docstring).

    Arguments
    ---------
    objective, start, gtol, max_iter
        The objective, the start, the gradient tolerance, the iteration budget.
    sums : Sums, optional
        The objective's sums at ``start``, if known (:func:`remove` derives
        them from the stored ones): step 1 then needs no pass over the set.
    preconditioner : ClassBlocks, optional
        The conjugate gradient's preconditioner
        (:class:`~speechbrain_unlearn.deletable.blocks.ClassBlocks`, stored
        with the model; default: the Hessian's diagonal at each iterate).

    Returns
    -------
    tuple
        ``theta`` (float64 vector), a report (``converged``, ``iterations``,
        ``gradient_norm``, ``value``, ``products``: Hessian products) and
        the objective's :class:`~speechbrain_unlearn.deletable.logistic.Sums` at ``theta``.
    """
    theta = torch.zeros(objective.size, dtype=torch.float64) if start is None else start.detach().to(torch.float64)
    sums, probs = (sums, None) if sums is not None else first_sums(objective, theta, gtol)
    products, shown = 0, progress.bar(desc="Newton solve", unit="step")
    for iteration in range(max_iter + 1):
        value, gradient = objective.penalised(theta, sums)
        norm = float(gradient.norm())
        shown.set_postfix_str(f"gradient norm {norm:.2e} (stops at {gtol:.0e})", refresh=False)
        if norm <= gtol or iteration == max_iter:
            break
        rtol = max(min(0.5, norm**0.5), 0.5 * gtol / norm)
        step, taken = newton_direction(objective, theta, gradient, rtol, probs, preconditioner)
        t, sums, probs = line_search(objective, theta, value, gradient, step, sums.dtype)
        theta, products = theta + t * step, products + taken
        shown.update()
    shown.close()
    report = {"converged": norm <= gtol, "iterations": iteration, "gradient_norm": norm, "value": value}
    return theta, {**report, "products": products}, sums


def certificate(objective, theta, gradient_norm=None):
    """The gradient norm of ``objective`` at ``theta`` and the bound on the distance to its minimiser.

    ``gradient_norm``: that norm, if the solver has just computed it.

    Example
    -------
    >>> from speechbrain_unlearn.deletable.logistic import LogisticObjective
    >>> objective = LogisticObjective(torch.eye(2), torch.tensor([0, 1]), n_classes=2, l2=0.5)
    >>> c = certificate(objective, torch.zeros(objective.size, dtype=torch.float64))
    >>> c["distance_bound"] == c["gradient_norm"] / 0.5
    True
    """
    norm = float(objective.gradient(theta).norm()) if gradient_norm is None else float(gradient_norm)
    return {"gradient_norm": norm, "l2": objective.l2, "distance_bound": norm / objective.l2}


def remove(objective, theta, keep, gtol=1e-10, max_iter=100, sums=None, preconditioner=None):
    """Remove the utterances outside ``keep`` from a solution ``theta`` of ``objective``, with the certificate.

    Arguments
    ---------
    objective : LogisticObjective
        The objective ``theta`` minimises (the training set's).
    theta : torch.Tensor
        Its solution (the deployed deletable part).
    keep : torch.Tensor
        Boolean mask of the utterances that stay.
    gtol, max_iter, preconditioner
        See :func:`newton`.
    sums : Sums, optional
        ``objective``'s sums at ``theta`` (stored with the model): the kept
        utterances' sums are then these minus the forget set's, a pass over
        the forget set only.

    Returns
    -------
    tuple
        The new ``theta``, a report (:func:`newton`'s keys and
        ``certificate``, :func:`certificate` on the kept utterances) and the
        kept utterances' sums at the new ``theta``.
    """
    retained = objective.restricted(keep)
    emptied = sorted(set(objective.labels.tolist()) - set(retained.labels.tolist()))
    if emptied:
        theta, sums = resolve_emptied_rows(retained, theta, emptied), None
    elif sums is not None:
        sums = sums.minus(objective.restricted(~keep).sums(theta)[0])
    removed, report, after = newton(
        retained, start=theta, gtol=gtol, max_iter=max_iter, sums=sums, preconditioner=preconditioner
    )
    report["emptied_classes"] = emptied
    return removed, {**report, "certificate": certificate(retained, removed, report["gradient_norm"])}, after
