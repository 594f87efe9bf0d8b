r"""The Newton-step removal of a forget set: the update influence unlearning makes.

Derivation
----------
The original ``theta*`` minimises the regularised empirical risk over the
``n`` training utterances ``D``::

    L(theta) = 1/n sum_{i in D} l_i(theta) + lambda/2 ||theta||^2,   grad L(theta*) = 0.

Removing ``F`` (``m`` utterances) leaves the retain risk::

    L_R(theta) = 1/(n-m) sum_{i in R} l_i(theta) + lambda/2 ||theta||^2.

One Newton step on ``L_R`` from ``theta*`` gives
``theta_R ~ theta* - H_R^{-1} grad L_R(theta*)`` with
``H_R = 1/(n-m) sum_R hess l_i + lambda I``. Stationarity of ``theta*`` gives
``sum_R grad l_i(theta*) = -sum_F grad l_i(theta*) - n lambda theta*``, hence::

    grad L_R(theta*) = -1/(n-m) (sum_F grad l_i(theta*) + m lambda theta*)
    theta_R ~ theta* + H_R^{-1} (sum_F grad l_i(theta*) + m lambda theta*) / (n-m).

The step *adds* the inverse-curvature-weighted forget gradient (it climbs the
forget loss), scaled by ``1/(n-m)``; it needs the forget set's gradients
only, never the retain set's. It is exact to second order for smooth convex
losses, and on deep networks approximates a proximal response rather than
leave-one-out retraining (measure it against the retrained reference).

Example
-------
>>> rhs_scale = lambda n, m: 1.0 / (n - m)
>>> round(rhs_scale(1000, 100), 6)
0.001111
"""

from speechbrain_unlearn.curvature.products import scale
from speechbrain_unlearn.curvature.solvers import conjugate_gradient, lissa


def removal_rhs(forget_grad_sum, params, n_train, n_forget, l2=0.0):
    """``(sum_F grad l_i + m lambda theta) / (n - m)``, the vector ``H_R^{-1}`` acts on.

    Arguments
    ---------
    forget_grad_sum : dict
        Sum over the forget set of per-sample loss gradients at ``theta*``.
    params : dict
        ``theta*`` (the scope of the update).
    n_train, n_forget : int
        ``n`` and ``m``.
    l2 : float
        ``lambda``, the L2 coefficient the training minimised with.

    Returns
    -------
    dict
        The right-hand side.
    """
    if not 0 < n_forget < n_train:
        raise ValueError(f"need 0 < n_forget < n_train, got {n_forget} and {n_train}")
    return {k: (forget_grad_sum[k] + n_forget * l2 * params[k].detach()) / (n_train - n_forget) for k in params}


def newton_removal(
    forget_grad_sum, params, n_train, n_forget, retain_operator, l2=0.0, alpha=1.0, solver="cg", **solver_kwargs
):
    """The removal step ``alpha * H_R^{-1} (sum_F grad l_i + m lambda theta) / (n - m)``.

    Arguments
    ---------
    forget_grad_sum : dict
        Sum over the forget set of per-sample loss gradients at ``theta*``.
    params : dict
        ``theta*`` (the scope of the update).
    n_train, n_forget : int
        ``n`` and ``m``.
    retain_operator : callable
        ``v -> H_R v``: the curvature of the *mean* retain loss plus
        ``lambda`` (and any damping) times the identity.
    l2 : float
        ``lambda``.
    alpha : float
        Step scale (1: the Newton step).
    solver : str
        ``cg`` or ``lissa``.
    **solver_kwargs
        Passed to the solver (``tol``, ``max_iter``, ``scale``, ...).

    Returns
    -------
    tuple
        The step to add to ``params`` and the solver's report.
    """
    rhs = removal_rhs(forget_grad_sum, params, n_train, n_forget, l2)
    solve = {"cg": conjugate_gradient, "lissa": lissa}.get(solver)
    if solve is None:
        raise ValueError(f"solver must be cg or lissa, got {solver!r}")
    step, report = solve(retain_operator, rhs, **solver_kwargs)
    return scale(step, alpha), report
