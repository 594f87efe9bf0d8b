"""The deletable part of a deletion-ready model: L2-regularised multinomial logistic regression.

On fixed features ``phi_i`` (a frozen core model's, which no deletion request
may touch) of a set S of utterances with labels ``y_i`` in ``0..K-1``, the
weights ``theta = (W, b)`` (``W``: ``K x d``, ``b``: ``K``) minimise

``J_S(theta) = 1/|S| sum_{i in S} CE(W phi_i + b, y_i) + lambda/2 ||theta||^2``.

The cross-entropy is convex in ``theta`` and the penalty (the bias included)
makes ``J_S`` *lambda-strongly convex*, so it has one minimiser
``theta*_S`` and, for every ``theta``,

``||theta - theta*_S|| <= ||grad J_S(theta)|| / lambda``

(strong convexity: ``<grad J(a) - grad J(b), a - b> >= lambda ||a - b||^2``,
with ``b = theta*_S`` and Cauchy-Schwarz). Removing a forget set F is then
minimising ``J_{S - F}``: the retrained model is ``theta*_{S - F}``, and the
gradient norm at any candidate certifies how far from it the candidate is
(:mod:`speechbrain_unlearn.deletable.solve`).

:class:`LogisticObjective` evaluates ``J_S`` and its gradient in float64 and
gives Hessian-vector products by forward-over-reverse differentiation
(``torch.func.jvp`` of ``torch.func.grad``), for a Newton-CG solver; the
logits are computed in chunks of utterances so memory stays bounded for
large sets.

Example
-------
>>> import math
>>> _ = torch.manual_seed(0)
>>> objective = LogisticObjective(torch.randn(20, 3), torch.arange(20) % 4, n_classes=4, l2=0.1)
>>> theta = torch.zeros(objective.size, dtype=torch.float64)
>>> value, gradient = objective.value_and_gradient(theta)
>>> round(value, 4) == round(math.log(4), 4), gradient.shape
(True, torch.Size([16]))
>>> v = torch.randn(objective.size, dtype=torch.float64)
>>> hv = objective.hessian_vector(theta, v)
>>> bool(v @ hv >= objective.l2 * v @ v)  # the Hessian's smallest eigenvalue is at least lambda
True
"""

import torch
from torch.func import grad, jvp


class LogisticObjective:
    """``J_S`` of an L2-regularised multinomial logistic model on fixed features (see the module docstring).

    Arguments
    ---------
    features : torch.Tensor
        ``(n, d)`` features of the set S.
    labels : torch.Tensor
        ``(n,)`` integer labels.
    n_classes : int
        Number of classes ``K`` (classes absent from S keep rows of ``W``).
    l2 : float
        The penalty ``lambda > 0``: the strong-convexity modulus.
    chunk : int
        Utterances per chunk of logits.
    """

    def __init__(self, features, labels, n_classes, l2, chunk=16384):
        if not l2 > 0:
            raise ValueError(f"the L2 strength must be positive, not {l2}")
        self.features = torch.as_tensor(features, dtype=torch.float64)
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.n_classes, self.l2, self.chunk = int(n_classes), float(l2), int(chunk)

    @property
    def dim(self):
        """Feature dimension ``d``."""
        return self.features.shape[1]

    @property
    def size(self):
        """Number of parameters, ``K (d + 1)``."""
        return self.n_classes * (self.dim + 1)

    def unpack(self, theta):
        """``(W, b)`` of a flat parameter vector."""
        weights = theta[: self.n_classes * self.dim].reshape(self.n_classes, self.dim)
        return weights, theta[self.n_classes * self.dim :]

    def pack(self, weights, bias):
        """The flat float64 parameter vector of ``(W, b)``."""
        return torch.cat([weights.reshape(-1), bias.reshape(-1)]).to(torch.float64)

    def logits(self, theta, features=None):
        """Class scores ``phi W^T + b`` of ``features`` (default: the set's)."""
        weights, bias = self.unpack(theta)
        features = self.features if features is None else torch.as_tensor(features, dtype=torch.float64)
        return features @ weights.T + bias

    def _chunk_value(self, theta, begin):
        features = self.features[begin : begin + self.chunk]
        labels = self.labels[begin : begin + self.chunk]
        return torch.nn.functional.cross_entropy(self.logits(theta, features), labels, reduction="sum")

    def _penalised(self, theta, loss_sum):
        return loss_sum / max(len(self.labels), 1) + 0.5 * self.l2 * (theta @ theta)

    def value(self, theta):
        """``J_S(theta)``."""
        loss_sum = sum(self._chunk_value(theta, b) for b in range(0, len(self.labels), self.chunk))
        return float(self._penalised(theta, torch.as_tensor(loss_sum, dtype=torch.float64)))

    def value_and_gradient(self, theta):
        """``J_S(theta)`` and its gradient (float64)."""
        theta = theta.detach().requires_grad_(True)
        total = torch.zeros((), dtype=torch.float64)
        for begin in range(0, len(self.labels), self.chunk):
            total = total + self._chunk_value(theta, begin)
        value = self._penalised(theta, total)
        (gradient,) = torch.autograd.grad(value, theta)
        return float(value.detach()), gradient

    def gradient(self, theta):
        """``grad J_S(theta)``."""
        return self.value_and_gradient(theta)[1]

    def hessian_vector(self, theta, vector):
        """``H_S(theta) v``: forward-over-reverse differentiation of the chunked gradient."""
        n = max(len(self.labels), 1)
        product = self.l2 * vector
        for begin in range(0, len(self.labels), self.chunk):
            chunk_gradient = grad(lambda t, b=begin: self._chunk_value(t, b))
            product = product + jvp(chunk_gradient, (theta,), (vector,))[1] / n
        return product

    def restricted(self, keep):
        """The objective of the subset ``keep`` (a boolean mask or indices) with the same ``K`` and ``lambda``."""
        return LogisticObjective(self.features[keep], self.labels[keep], self.n_classes, self.l2, self.chunk)
