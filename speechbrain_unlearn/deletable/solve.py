"""Solve the deletable part to a stated tolerance, remove a forget set, and certify the result.

Algorithm (inexact Newton on a lambda-strongly convex ``J``,
:class:`~speechbrain_unlearn.deletable.logistic.LogisticObjective`)
---------------------------------------------------------------------------
Input: ``J``, a start ``theta_0`` (zeros to train; the original's weights to
remove a forget set), the gradient tolerance ``gtol``.

1. ``g = grad J(theta)``; stop when ``||g|| <= gtol``;
2. the Newton direction ``s``: ``H(theta) s = -g`` by conjugate gradient
   (scipy, preconditioned by the Hessian's diagonal; products from
   :mod:`~speechbrain_unlearn.deletable.hessian`), to a relative residual
   ``min(0.5, sqrt(||g||))`` (superlinear convergence);
3. a backtracking (Armijo) line search on ``J`` along ``s`` (a full step near
   the minimiser);
4. ``theta <- theta + t s``; go to 1.

Every step is deterministic given the features. **Removal**
(:func:`remove`) runs the same iteration on ``J_{S - F}`` from the original's
weights ``theta*_S``: for a quadratic the first Newton step is the exact
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
>>> theta, report = newton(objective, gtol=1e-10)
>>> report["converged"], report["gradient_norm"] <= 1e-10
(True, True)
>>> keep = torch.arange(60) >= 5
>>> removed, report = remove(objective, theta, keep, gtol=1e-10)
>>> retrained, again = newton(objective.restricted(keep), gtol=1e-10)
>>> bound = report["certificate"]["distance_bound"] + again["gradient_norm"] / objective.l2  # both are solves
>>> bool((removed - retrained).norm() <= bound)
True
"""

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, cg

from speechbrain_unlearn.deletable.hessian import LogisticHessian


def newton_direction(objective, theta, gradient, rtol):
    """``s`` with ``H(theta) s ~= -g`` to relative residual ``rtol``.

    scipy's conjugate gradient on :class:`~speechbrain_unlearn.deletable.hessian.LogisticHessian`,
    preconditioned by the Hessian's diagonal.
    """
    size = objective.size
    hessian = LogisticHessian(objective, theta)
    inverse_diagonal = (1.0 / hessian.diagonal()).numpy()

    def matvec(v):
        return (hessian @ torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64))).numpy()

    operator = LinearOperator((size, size), matvec=matvec, dtype=np.float64)
    preconditioner = LinearOperator((size, size), matvec=lambda v: inverse_diagonal * v, dtype=np.float64)
    step, _ = cg(operator, -gradient.numpy(), rtol=rtol, atol=0.0, maxiter=10 * size, M=preconditioner)
    return torch.from_numpy(step)


def line_search(objective, theta, value, gradient, step, shrink=0.5, armijo=1e-4):
    """The largest ``t`` in ``1, 1/2, ...`` with sufficient decrease (within the value's rounding)."""
    slope = float(gradient @ step)
    slack = 8 * np.finfo(np.float64).eps * max(abs(value), 1.0)
    t = 1.0
    while t > 1e-12:
        if objective.value(theta + t * step) <= value + armijo * t * slope + slack:
            return t
        t *= shrink
    return t


def newton(objective, start=None, gtol=1e-10, max_iter=100):
    """Minimise ``objective`` from ``start`` (default zeros) until ``||grad|| <= gtol`` (see the module docstring).

    Returns
    -------
    tuple
        ``theta`` (float64 vector) and a report: ``converged``,
        ``iterations``, ``gradient_norm``, ``value``.
    """
    theta = torch.zeros(objective.size, dtype=torch.float64) if start is None else start.detach().to(torch.float64)
    for iteration in range(max_iter + 1):
        value, gradient = objective.value_and_gradient(theta)
        norm = float(gradient.norm())
        if norm <= gtol or iteration == max_iter:
            break
        step = newton_direction(objective, theta, gradient, rtol=min(0.5, norm**0.5))
        theta = theta + line_search(objective, theta, value, gradient, step) * step
    report = {"converged": norm <= gtol, "iterations": iteration, "gradient_norm": norm, "value": value}
    return theta, report


def certificate(objective, theta):
    """The gradient norm of ``objective`` at ``theta`` and the bound on the distance to its minimiser.

    Example
    -------
    >>> from speechbrain_unlearn.deletable.logistic import LogisticObjective
    >>> objective = LogisticObjective(torch.eye(2), torch.tensor([0, 1]), n_classes=2, l2=0.5)
    >>> c = certificate(objective, torch.zeros(objective.size, dtype=torch.float64))
    >>> c["distance_bound"] == c["gradient_norm"] / 0.5
    True
    """
    norm = float(objective.gradient(theta).norm())
    return {"gradient_norm": norm, "l2": objective.l2, "distance_bound": norm / objective.l2}


def remove(objective, theta, keep, gtol=1e-10, max_iter=100):
    """Remove the utterances outside ``keep`` from a solution ``theta`` of ``objective``, with the certificate.

    Arguments
    ---------
    objective : LogisticObjective
        The objective ``theta`` minimises (the training set's).
    theta : torch.Tensor
        Its solution (the deployed deletable part).
    keep : torch.Tensor
        Boolean mask (or indices) of the utterances that stay.
    gtol, max_iter : float, int
        See :func:`newton`.

    Returns
    -------
    tuple
        The new ``theta`` and a report: :func:`newton`'s keys and
        ``certificate`` (:func:`certificate` on the kept utterances).
    """
    retained = objective.restricted(keep)
    removed, report = newton(retained, start=theta, gtol=gtol, max_iter=max_iter)
    return removed, {**report, "certificate": certificate(retained, removed)}
