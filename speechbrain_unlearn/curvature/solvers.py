"""Inverse curvature-vector products: conjugate gradient and LiSSA, with diagnostics.

Both solve ``A x = b`` for a curvature operator ``A`` (a callable mapping a
parameter dict to a parameter dict, e.g. from
:func:`~speechbrain_unlearn.curvature.products.curvature_operator`) and
return ``(x, report)``; the report says how far the solve got and why it
stopped, so a caller can refuse a bad step instead of trusting it blindly.

* :func:`conjugate_gradient`: for symmetric positive-definite ``A``; stops on
  the relative residual ``||b - A x|| / ||b|| <= tol``, on the iteration
  budget, or on *negative curvature* (``p^T A p <= 0``, which means ``A`` is
  not positive definite: damp it or use Gauss-Newton);
* :func:`lissa`: the Neumann series ``x = sum_j (I - A / s)^j b / s``
  (Agarwal et al., 2017; Koh & Liang, 2017), valid when every eigenvalue of
  ``A`` lies in ``(0, 2 s)``; stops when the update is small or reports
  divergence when the iterate blows up;
* :func:`top_eigenvalue`: power iteration, for LiSSA's scale and diagnostics.

Example
-------
>>> A = torch.tensor([[4.0, 1.0], [1.0, 3.0]])
>>> op = lambda v: {"w": A @ v["w"]}
>>> x, report = conjugate_gradient(op, {"w": torch.tensor([1.0, 2.0])}, tol=1e-8)
>>> torch.allclose(A @ x["w"], torch.tensor([1.0, 2.0]), atol=1e-5), report["converged"]
(True, True)
>>> x, report = lissa(op, {"w": torch.tensor([1.0, 2.0])}, scale=5.0, tol=1e-8, max_iter=1000)
>>> torch.allclose(A @ x["w"], torch.tensor([1.0, 2.0]), atol=1e-4), report["converged"]
(True, True)
"""

import math

import torch

from speechbrain_unlearn.curvature.products import add, dot, norm
from speechbrain_unlearn.curvature.products import scale as scaled


def _zeros_like(b):
    return {k: torch.zeros_like(v) for k, v in b.items()}


def conjugate_gradient(operator, b, tol=1e-4, max_iter=100, check_residual=True):
    """Solve ``A x = b`` by conjugate gradient.

    Arguments
    ---------
    operator : callable
        ``v -> A v`` on parameter dicts; ``A`` symmetric.
    b : dict
        Right-hand side.
    tol : float
        Target relative residual ``||b - A x|| / ||b||``.
    max_iter : int
        Iteration budget (one product each).
    check_residual : bool
        Recompute the true residual at the end (one more product) rather than
        trusting the recursively updated one.

    Returns
    -------
    tuple
        ``x`` and a report: ``iterations``, ``relative_residual``,
        ``converged``, ``negative_curvature``, ``stop`` (``converged``,
        ``max_iter`` or ``negative_curvature``), ``products``.

    Example
    -------
    >>> indefinite = lambda v: {"w": torch.tensor([1.0, -2.0]) * v["w"]}
    >>> _, report = conjugate_gradient(indefinite, {"w": torch.tensor([1.0, 1.0])})
    >>> report["negative_curvature"], report["stop"]
    (True, 'negative_curvature')
    """
    x = _zeros_like(b)
    b_norm = float(norm(b))
    report = {"iterations": 0, "products": 0, "converged": False, "negative_curvature": False, "stop": "max_iter"}
    if b_norm == 0.0:
        report.update(relative_residual=0.0, converged=True, stop="converged", restarts=0)
        return x, report
    r, restarts = dict(b), 0
    while True:
        # CG iterations from x with residual r; the recursive residual drifts in
        # float32, so a claimed convergence is checked and CG restarted from x.
        p, rs, done = dict(r), float(dot(r, r)), False
        while report["iterations"] < max_iter:
            ap = operator(p)
            report["products"] += 1
            p_ap = float(dot(p, ap))
            if not p_ap > 0.0:  # also catches NaN
                report.update(negative_curvature=True, stop="negative_curvature", curvature=p_ap / float(dot(p, p)))
                break
            alpha = rs / p_ap
            x = add(x, p, alpha)
            r = add(r, ap, -alpha)
            rs_new = float(dot(r, r))
            report["iterations"] += 1
            p, rs = add(r, p, rs_new / rs), rs_new
            if math.sqrt(rs) <= tol * b_norm:
                done = True
                break
        report["relative_residual"] = math.sqrt(rs) / b_norm
        if not check_residual or not report["iterations"]:
            report.update(converged=done, stop="converged" if done else report["stop"])
            break
        r = add(b, operator(x), -1.0)
        report["products"] += 1
        report["relative_residual"] = float(norm(r)) / b_norm
        true_done = report["relative_residual"] <= tol * 1.01 and not report["negative_curvature"]
        if true_done or not done or restarts >= 3:
            report.update(converged=true_done, stop="converged" if true_done else report["stop"])
            break
        restarts += 1
    report["restarts"] = restarts
    return x, report


def lissa(operator, b, scale=1.0, tol=1e-4, max_iter=1000, blowup=1e6):
    """Approximate ``A^{-1} b`` with the LiSSA / Neumann-series recursion.

    ``y_0 = b``, ``y_j = b + y_{j-1} - A y_{j-1} / s`` and ``x = y / s``; this
    converges iff every eigenvalue of ``A`` lies in ``(0, 2 s)``: choose
    ``scale`` above the top eigenvalue (see :func:`top_eigenvalue`).

    Arguments
    ---------
    operator : callable
        ``v -> A v`` on parameter dicts.
    b : dict
        Right-hand side.
    scale : float
        ``s``; must exceed half the top eigenvalue of ``A``.
    tol : float
        Stop when ``||y_j - y_{j-1}|| <= tol * ||y_j||``.
    max_iter : int
        Iteration budget (one product each).
    blowup : float
        Report divergence when ``||y_j|| > blowup * ||b||`` or is not finite.

    Returns
    -------
    tuple
        ``x`` and a report: ``iterations``, ``converged``, ``diverged``,
        ``stop``, ``relative_update``, ``products``.

    Example
    -------
    >>> op = lambda v: {"w": torch.tensor([1.0, 3.0]) * v["w"]}
    >>> _, report = lissa(op, {"w": torch.ones(2)}, scale=1.0)
    >>> report["diverged"], report["stop"]
    (True, 'diverged')
    """
    y = dict(b)
    b_norm = float(norm(b))
    report = {"iterations": 0, "products": 0, "converged": False, "diverged": False, "stop": "max_iter"}
    for it in range(1, max_iter + 1):
        a_y = operator(y)
        new = add(add(b, y), a_y, -1.0 / scale)
        report["products"] += 1
        report["iterations"] = it
        new_norm = float(norm(new))
        step = float(norm(add(new, y, -1.0)))
        y = new
        report["relative_update"] = step / max(new_norm, 1e-30)
        if not math.isfinite(new_norm) or new_norm > blowup * max(b_norm, 1e-30):
            report.update(diverged=True, stop="diverged")
            break
        if report["relative_update"] <= tol:
            report.update(converged=True, stop="converged")
            break
    return scaled(y, 1.0 / scale), report


def top_eigenvalue(operator, like, iters=20, seed=0):
    """Estimate the largest-magnitude eigenvalue of ``A`` by power iteration.

    Arguments
    ---------
    operator : callable
        ``v -> A v`` on parameter dicts.
    like : dict
        A parameter dict giving keys and shapes.
    iters : int
        Power iterations (one product each).
    seed : int
        Seed of the random start.

    Returns
    -------
    float
        The Rayleigh quotient after ``iters`` iterations.

    Example
    -------
    >>> op = lambda v: {"w": torch.tensor([1.0, 5.0, 2.0]) * v["w"]}
    >>> round(top_eigenvalue(op, {"w": torch.zeros(3)}, iters=50), 3)
    5.0
    """
    gen = torch.Generator().manual_seed(seed)
    v = {k: torch.randn(t.shape, generator=gen, dtype=t.dtype).to(t.device) for k, t in like.items()}
    v = scaled(v, 1.0 / float(norm(v)))
    value = 0.0
    for _ in range(iters):
        a_v = operator(v)
        value = float(dot(v, a_v))
        a_norm = float(norm(a_v))
        if a_norm == 0.0:
            return 0.0
        v = scaled(a_v, 1.0 / a_norm)
    return value
