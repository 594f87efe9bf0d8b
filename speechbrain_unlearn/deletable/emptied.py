"""A removal's warm start for the classes it empties: their rows re-solved with every other row fixed.

When a request removes every training utterance of a class (a speaker, a
keyword), that class's logits must fall from winning on its own
utterances to losing on all the others: the largest and least quadratic
change of the removal, which a Newton step from the original head
underestimates (on a VoxCeleb-sized problem one step reduces the gradient
five-fold, against seventy-fold for a request of single utterances).

Algorithm, for each emptied class ``c`` in turn (Gauss-Seidel over them)
------------------------------------------------------------------------
Input: the kept utterances' features ``phi~_i = (phi_i, 1)``, the head
``theta``; ``L_i``: the log-sum-exp of utterance ``i``'s logits over the
classes other than ``c`` (fixed).

1. with no kept utterance of class ``c``, the retain objective as a
   function of the row ``w = (W_c, b_c)`` alone is, up to a constant,
   ``f(w) = 1/n sum_i log(1 + exp(w . phi~_i - L_i)) + lambda/2 ||w||^2``
   (``+ r_c . w / n`` with the objective's perturbation ``r``, row ``c``):
   a ``(d + 1)``-dimensional, lambda-strongly convex logistic problem;
2. Newton's method (backtracking on ``f``) with the exact ``(d + 1) x (d + 1)`` Hessian
   ``1/n sum_i s_i (1 - s_i) phi~_i phi~_i^T + lambda I``
   (``s_i = sigmoid(w . phi~_i - L_i)``) until ``||grad f|| <= gtol``;
3. ``theta``'s row ``c`` <- ``w``.

The result is only a start: the certified solve that follows
(:func:`~speechbrain_unlearn.deletable.solve.remove`) runs on the whole
head, and the certificate does not depend on it.

Example
-------
>>> from speechbrain_unlearn.deletable.logistic import LogisticObjective
>>> from speechbrain_unlearn.deletable.solve import newton
>>> _ = torch.manual_seed(0)
>>> labels = torch.arange(90) % 3
>>> objective = LogisticObjective(torch.randn(3, 4)[labels] + torch.randn(90, 4), labels, 3, l2=0.01)
>>> theta, _, _ = newton(objective)
>>> kept = objective.restricted(labels != 2)
>>> start = resolve_emptied_rows(kept, theta, [2])
>>> bool(kept.gradient(start).norm() < kept.gradient(theta).norm() / 5)
True
"""

import torch


def resolve_emptied_rows(objective, theta, classes, gtol=1e-12, max_iter=50):
    """``theta`` with the rows of ``classes`` (which no utterance of ``objective`` has) re-solved.

    Arguments
    ---------
    objective : LogisticObjective
        The retain objective (the kept utterances).
    theta : torch.Tensor
        The head to start from (the original's).
    classes : list of int
        The classes the request emptied.
    gtol, max_iter : float, int
        Each row's gradient tolerance and Newton budget.
    """
    weights, bias = (t.clone() for t in objective.unpack(theta))
    features = torch.cat([objective.features, torch.ones(len(objective.labels), 1, dtype=torch.float64)], dim=1)
    rest = _logsumexp_without(objective, theta, classes)
    emptied = features @ torch.cat([weights[classes], bias[classes, None]], dim=1).T
    linear = torch.zeros_like(theta) if objective.linear is None else objective.linear
    linear_weights, linear_bias = objective.unpack(linear / max(len(features), 1))
    for j, c in enumerate(classes):
        others = torch.logaddexp(rest, torch.cat([emptied[:, :j], emptied[:, j + 1 :]], dim=1).logsumexp(dim=1))
        shift = torch.cat([linear_weights[c], linear_bias[c : c + 1]])
        start = torch.cat([weights[c], bias[c : c + 1]])
        row = _solve_row(features, others, start, shift, objective.l2, (gtol, max_iter))
        weights[c], bias[c] = row[:-1], row[-1]
        emptied[:, j] = features @ row
    return objective.pack(weights, bias)


@torch.no_grad()
def _logsumexp_without(objective, theta, classes):
    """Each utterance's log-sum-exp of its logits over the classes not in ``classes`` (float32 passes, chunked)."""
    weights, bias = objective.unpack(theta.float())
    features, out = objective.features.float(), []
    for begin in range(0, len(features), objective.chunk):
        logits = torch.addmm(bias, features[begin : begin + objective.chunk], weights.T)
        logits[:, classes] = -torch.inf
        out.append(logits.logsumexp(dim=1))
    return torch.cat(out).double() if out else torch.zeros(0, dtype=torch.float64)


@torch.no_grad()
def _solve_row(features, others, row, shift, l2, budget):
    """Newton's method with backtracking on ``f(w) + shift . w`` (the module docstring's), from ``row``.

    ``budget``: the gradient tolerance and the most Newton iterations.

    The ``(d + 1) x (d + 1)`` Hessian is summed in float32 (it only sets the
    direction); values and gradients are float64.
    """
    (gtol, max_iter), n = budget, max(len(features), 1)
    eye, single = torch.eye(features.shape[1], dtype=torch.float64), features.float()

    def value(w):
        loss = float(torch.nn.functional.softplus(features @ w - others).sum()) / n
        return loss + 0.5 * l2 * float(w @ w) + float(shift @ w)

    for _ in range(max_iter):
        share = torch.sigmoid(features @ row - others)
        gradient = features.T @ share / n + l2 * row + shift
        if float(gradient.norm()) <= gtol:
            break
        spread = (share * (1 - share)).float()
        hessian = ((single * spread[:, None]).T @ single).double() / n + l2 * eye
        step, t, before = torch.linalg.solve(hessian, gradient), 1.0, value(row)
        while t > 1e-8 and value(row - t * step) > before - 1e-4 * t * float(gradient @ step):
            t /= 2
        row = row - t * step
    return row
