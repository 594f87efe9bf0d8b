"""The deletable part of a deletion-ready model: L2-regularised multinomial logistic regression.

On fixed features ``phi_i`` (a frozen core model's, which no deletion request
may touch) of a set S of utterances with labels ``y_i`` in ``0..K-1``, the
weights ``theta = (W, b)`` (``W``: ``K x d``, ``b``: ``K``) minimise

``J_S(theta) = 1/|S| sum_{i in S} CE(W phi_i + b, y_i) + lambda/2 ||theta||^2``

(plus ``r^T theta / |S|`` with a fixed vector ``r``, ``linear``: the loss
perturbation of (epsilon, delta) certified removal,
:mod:`~speechbrain_unlearn.deletable.perturbation`; it leaves the Hessian as it is).

The cross-entropy is convex in ``theta`` and the penalty (the bias included)
makes ``J_S`` *lambda-strongly convex*, so it has one minimiser
``theta*_S`` and, for every ``theta``,

``||theta - theta*_S|| <= ||grad J_S(theta)|| / lambda``

(strong convexity: ``<grad J(a) - grad J(b), a - b> >= lambda ||a - b||^2``,
with ``b = theta*_S`` and Cauchy-Schwarz). Removing a forget set F is then
minimising ``J_{S - F}``: the retrained model is ``theta*_{S - F}``, and the
gradient norm at any candidate certifies how far from it the candidate is
(:mod:`speechbrain_unlearn.deletable.solve`).

:class:`LogisticObjective` evaluates ``J_S`` and its gradient in float64
(:meth:`LogisticObjective.evaluate`, the gradient written out) and gives
Hessian-vector products by forward-over-reverse differentiation
(``torch.func.jvp`` of ``torch.func.grad``: the reference the fast operator
of :mod:`~speechbrain_unlearn.deletable.hessian` is tested against); the
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
>>> theta = torch.randn(objective.size, dtype=torch.float64)
>>> by_autograd = grad(lambda t: objective._penalised(t, objective._chunk_value(t, 0)))(theta)
>>> torch.allclose(objective.gradient(theta), by_autograd)
True
>>> v = torch.randn(objective.size, dtype=torch.float64)
>>> hv = objective.hessian_vector(theta, v)
>>> bool(v @ hv >= objective.l2 * v @ v)  # the Hessian's smallest eigenvalue is at least lambda
True
"""

import dataclasses

import torch
from torch.func import grad, jvp

from speechbrain_unlearn import progress
from speechbrain_unlearn.cost import count_gradients

progress.load_forward_ad_quietly()


@dataclasses.dataclass(frozen=True)
class Sums:
    """Sums over ``count`` utterances at one ``theta``: of their losses and of their loss gradients (float64).

    What removal starts from: the sums of the kept utterances are those of
    the whole set minus the forget set's (:meth:`minus`), so the retain
    objective's value and gradient at the deployed head cost a pass over
    the forget set only.
    """

    count: int
    loss: float
    gradient: torch.Tensor
    #: The precision they were computed in (float64 for a certificate).
    dtype: torch.dtype = torch.float64

    def minus(self, other):
        """The sums without ``other``'s utterances (taken at the same ``theta``)."""
        dtype = self.dtype if torch.finfo(self.dtype).eps >= torch.finfo(other.dtype).eps else other.dtype
        return Sums(self.count - other.count, self.loss - other.loss, self.gradient - other.gradient, dtype)


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
    linear : torch.Tensor, optional
        The perturbation ``r`` (default: none).
    """

    def __init__(self, features, labels, n_classes, l2, chunk=16384, linear=None):
        if not l2 > 0:
            raise ValueError(f"the L2 strength must be positive, not {l2}")
        self.features = torch.as_tensor(features, dtype=torch.float64)
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.n_classes, self.l2, self.chunk = int(n_classes), float(l2), int(chunk)
        self.linear = None if linear is None else torch.as_tensor(linear, dtype=torch.float64)

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
        perturbed = loss_sum if self.linear is None else loss_sum + self.linear @ theta
        return perturbed / max(len(self.labels), 1) + 0.5 * self.l2 * (theta @ theta)

    def value(self, theta):
        """``J_S(theta)``."""
        loss_sum = sum(self._chunk_value(theta, b) for b in range(0, len(self.labels), self.chunk))
        return float(self._penalised(theta, torch.as_tensor(loss_sum, dtype=torch.float64)))

    def _chunk_ranges(self):
        return [(b, min(b + self.chunk, len(self.labels))) for b in range(0, len(self.labels), self.chunk)]

    @torch.no_grad()
    def sums(self, theta, probs_dtype=None, dtype=torch.float64):
        """The set's :class:`Sums` at ``theta`` and (given ``probs_dtype``) each chunk's class probabilities.

        ``dtype``: the precision of the pass (float32 halves its time; only
        float64 sums may certify, :func:`~speechbrain_unlearn.deletable.solve.newton`
        uses float32 ones for a first direction).

        The gradient of the cross-entropy in the logits is ``p_i - e_{y_i}``,
        so ``sum_i grad l_i = sum_i (p_i - e_{y_i}) phi~_i^T``: one product
        for the logits and one for the gradient per chunk, written out
        rather than differentiated, so the probabilities are computed once
        and can serve the Hessian at ``theta``
        (:class:`~speechbrain_unlearn.deletable.hessian.LogisticHessian`).
        """
        weights, bias = self.unpack(theta.to(dtype))
        grad_weights = torch.zeros(weights.shape, dtype=torch.float64)
        grad_bias = torch.zeros(bias.shape, dtype=torch.float64)
        every, loss_sum, kept = self.features.to(dtype), 0.0, []
        for begin, end in self._chunk_ranges():
            features, labels = every[begin:end], self.labels[begin:end]
            logits = torch.addmm(bias, features, weights.T)
            logits.sub_(logits.amax(dim=1, keepdim=True))
            picked = logits.gather(1, labels[:, None])
            total = logits.exp_().sum(dim=1, keepdim=True)
            loss_sum += float((total.log() - picked).sum())
            probs = logits.div_(total)
            if probs_dtype is not None:
                kept.append(probs.to(probs_dtype, copy=True))
            probs[torch.arange(len(labels)), labels] -= 1.0
            grad_weights += probs.T @ features
            grad_bias += probs.sum(dim=0)
        count_gradients(len(self.labels))
        return Sums(len(self.labels), loss_sum, self.pack(grad_weights, grad_bias), dtype), kept or None

    @torch.no_grad()
    def probabilities(self, theta, dtype=torch.float32):
        """Each chunk's class probabilities at ``theta``, computed in ``dtype`` (what Hessian products need)."""
        weights, bias = self.unpack(theta.to(dtype))
        features = self.features.to(dtype)
        return [torch.softmax(torch.addmm(bias, features[b:e], weights.T), dim=1) for b, e in self._chunk_ranges()]

    def penalised(self, theta, sums):
        """``J_S(theta)`` and its gradient from the set's :class:`Sums` at ``theta``."""
        n, loss, gradient = max(sums.count, 1), sums.loss, sums.gradient
        if self.linear is not None:
            loss, gradient = loss + float(self.linear @ theta), gradient + self.linear
        return loss / n + 0.5 * self.l2 * float(theta @ theta), gradient / n + self.l2 * theta

    def evaluate(self, theta, probs_dtype=None):
        """``J_S(theta)``, its gradient and (given ``probs_dtype``) the chunks' class probabilities, in one pass."""
        sums, probs = self.sums(theta, probs_dtype)
        return (*self.penalised(theta, sums), probs)

    def value_and_gradient(self, theta):
        """``J_S(theta)`` and its gradient (float64)."""
        value, gradient, _ = self.evaluate(theta)
        return value, gradient

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
        features, labels = self.features[keep], self.labels[keep]
        return LogisticObjective(features, labels, self.n_classes, self.l2, self.chunk, self.linear)
