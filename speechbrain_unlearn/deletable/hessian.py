"""The exact Hessian of the L2 logistic objective at a point, as a fast operator with its diagonal.

For softmax cross-entropy the Hessian of one utterance's loss in its logits
is ``diag(p) - p p^T`` (``p``: its class probabilities), so, with
``phi~ = (phi, 1)`` and a direction ``V`` (``K x (d + 1)``, the layout of
:meth:`~speechbrain_unlearn.deletable.logistic.LogisticObjective.unpack`),

``H V = 1/n sum_i a_i phi~_i^T + lambda V``, with ``z_i = V phi~_i`` and
``a_i = p_i * z_i - p_i (p_i . z_i)``.

:class:`LogisticHessian` computes the probabilities once (chunked, stored
in float64) and then each product with two matrix products per chunk:
about a third of the cost of forward-over-reverse differentiation, which
recomputes the softmax every time. Its :meth:`LogisticHessian.diagonal`,
``1/n sum_i p_ik (1 - p_ik) phi~_ij^2 + lambda``, preconditions conjugate
gradient. The products equal ``torch.func``'s (a test checks it).

Example
-------
>>> from speechbrain_unlearn.deletable.logistic import LogisticObjective
>>> _ = torch.manual_seed(0)
>>> objective = LogisticObjective(torch.randn(30, 3), torch.arange(30) % 4, n_classes=4, l2=0.1)
>>> theta, v = torch.randn(objective.size, dtype=torch.float64), torch.randn(objective.size, dtype=torch.float64)
>>> hessian = LogisticHessian(objective, theta)
>>> torch.allclose(hessian @ v, objective.hessian_vector(theta, v))
True
>>> bool((hessian.diagonal() >= objective.l2).all())
True
"""

import torch


class LogisticHessian:
    """``H_S(theta)`` of a :class:`LogisticObjective` (see the module docstring)."""

    def __init__(self, objective, theta):
        self.objective = objective
        with torch.no_grad():
            self.probs = [
                torch.softmax(objective.logits(theta, objective.features[b : b + objective.chunk]), dim=1)
                for b in range(0, len(objective.labels), objective.chunk)
            ]

    def _chunks(self):
        objective = self.objective
        for index, begin in enumerate(range(0, len(objective.labels), objective.chunk)):
            yield objective.features[begin : begin + objective.chunk], self.probs[index]

    @torch.no_grad()
    def __matmul__(self, vector):
        """``H v`` for a flat float64 vector."""
        objective = self.objective
        weights, bias = objective.unpack(vector)
        out_weights, out_bias = torch.zeros_like(weights), torch.zeros_like(bias)
        for features, probs in self._chunks():
            z = features @ weights.T + bias
            a = probs * z - probs * (probs * z).sum(dim=1, keepdim=True)
            out_weights += a.T @ features
            out_bias += a.sum(dim=0)
        n = max(len(objective.labels), 1)
        return objective.pack(out_weights, out_bias) / n + objective.l2 * vector

    @torch.no_grad()
    def diagonal(self):
        """The Hessian's diagonal, in the flat layout."""
        objective = self.objective
        out_weights = torch.zeros(objective.n_classes, objective.dim, dtype=torch.float64)
        out_bias = torch.zeros(objective.n_classes, dtype=torch.float64)
        for features, probs in self._chunks():
            spread = probs * (1 - probs)
            out_weights += spread.T @ features.square()
            out_bias += spread.sum(dim=0)
        n = max(len(objective.labels), 1)
        return objective.pack(out_weights, out_bias) / n + objective.l2
