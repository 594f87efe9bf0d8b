"""The exact Hessian of the L2 logistic objective at a point, as a fast operator with its diagonal.

For softmax cross-entropy the Hessian of one utterance's loss in its logits
is ``diag(p) - p p^T`` (``p``: its class probabilities), so, with
``phi~ = (phi, 1)`` and a direction ``V`` (``K x (d + 1)``, the layout of
:meth:`~speechbrain_unlearn.deletable.logistic.LogisticObjective.unpack`),

``H V = 1/n sum_i a_i phi~_i^T + lambda V``, with ``z_i = V phi~_i`` and
``a_i = p_i * z_i - p_i (p_i . z_i)``.

:class:`LogisticHessian` takes the probabilities once (chunked; those the
gradient at ``theta`` computed, or its own) and then each product with two
matrix products per chunk, in float64 or float32: about a third of the
cost of forward-over-reverse differentiation, which recomputes the softmax
every time. Its :meth:`LogisticHessian.diagonal`,
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
>>> single = LogisticHessian(objective, theta, dtype=torch.float32)
>>> torch.allclose(single @ v, hessian @ v, rtol=1e-4, atol=1e-5)
True
"""

import torch

from speechbrain_unlearn.cost import count_gradients


class LogisticHessian:
    """``H_S(theta)`` of a :class:`LogisticObjective` (see the module docstring).

    Arguments
    ---------
    objective : LogisticObjective
        The objective.
    theta : torch.Tensor
        The point.
    probs : list of torch.Tensor, optional
        Each chunk's class probabilities at ``theta``, as
        :meth:`~speechbrain_unlearn.deletable.logistic.LogisticObjective.evaluate`
        keeps them (default: computed here, in ``dtype``).
    dtype : torch.dtype
        Precision of the products (``float32`` for Newton directions: about
        twice as fast, and the solver's stopping rule is the float64 gradient).
    """

    def __init__(self, objective, theta, probs=None, dtype=torch.float64):
        self.objective, self.dtype = objective, dtype
        self.features = objective.features.to(dtype)
        if probs is None:
            probs = objective.probabilities(theta, dtype)
        self.probs = [p.to(dtype) for p in probs]

    def _chunks(self):
        chunk = self.objective.chunk
        for index, begin in enumerate(range(0, len(self.objective.labels), chunk)):
            yield self.features[begin : begin + chunk], self.probs[index]

    @torch.no_grad()
    def __matmul__(self, vector):
        """``H v`` for a flat float64 vector (computed in :attr:`dtype`, summed over chunks in float64)."""
        objective = self.objective
        weights, bias = objective.unpack(vector.to(self.dtype))
        out_weights = torch.zeros(weights.shape, dtype=torch.float64)
        out_bias = torch.zeros(bias.shape, dtype=torch.float64)
        for features, probs in self._chunks():
            z = torch.addmm(bias, features, weights.T)
            a = z.sub_(torch.linalg.vecdot(probs, z)[:, None]).mul_(probs)  # p * z - p (p . z)
            out_weights += a.T @ features
            out_bias += a.sum(dim=0)
        n = max(len(objective.labels), 1)
        count_gradients(len(objective.labels), passes=2)
        return objective.pack(out_weights, out_bias) / n + objective.l2 * vector

    @torch.no_grad()
    def diagonal(self):
        """The Hessian's diagonal, in the flat layout."""
        objective = self.objective
        out_weights = torch.zeros(objective.n_classes, objective.dim, dtype=self.dtype)
        out_bias = torch.zeros(objective.n_classes, dtype=self.dtype)
        for features, probs in self._chunks():
            spread = probs * (1 - probs)
            out_weights += spread.T @ features.square()
            out_bias += spread.sum(dim=0)
        n = max(len(objective.labels), 1)
        return objective.pack(out_weights, out_bias) / n + objective.l2
