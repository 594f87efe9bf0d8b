"""(epsilon, delta) certified removal: the loss perturbation of Guo et al. (2020) on the deletable part.

Guo, Goldstein, Hannun and van der Maaten, "Certified data removal from
machine learning models" (ICML 2020): train on the perturbed objective

``L_b(theta; S) = sum_{i in S} l_i(theta) + n lambda/2 ||theta||^2 + b^T theta``

with ``b ~ N(0, sigma^2 I)`` drawn once. A removal that ends with
``||grad L_b(theta-; S - F)|| <= eps'`` is the exact minimiser of the same
objective with ``b`` shifted by at most ``eps'``, and with

``sigma = c eps' / epsilon``, ``c = sqrt(2 log(1.5 / delta))``

the removed model's distribution is (epsilon, delta)-indistinguishable from
that of a model retrained on ``S - F`` (their Theorem 3, Gaussian noise).

Algorithm (what this module computes)
-------------------------------------
Input: ``n`` utterances (the whole training set), the solver tolerance
``gtol`` on the mean-normalised objective ``J = L_b / n``
(:class:`~speechbrain_unlearn.deletable.logistic.LogisticObjective` with
``linear = b``), ``epsilon``, ``delta``, a seed.

1. ``eps' = 2 n gtol``: every solve stops at ``||grad J|| <= gtol`` on at
   most ``n`` utterances, so ``||grad L_b|| <= n gtol``; doubled because the
   retrained model is itself a solve to ``gtol``, not an exact minimiser;
2. ``sigma = sqrt(2 log(1.5 / delta)) eps' / epsilon``;
3. ``b = sigma z``, ``z ~ N(0, I)`` from the seed (the reference of a run
   draws the same ``b``, so the measured distance to it stays meaningful).

Because the removal iterates to ``gtol`` (and refuses to certify if it does
not get there), ``eps'`` is a bound the solver enforces, not an estimate;
with ``gtol = 1e-10`` the noise it needs is tiny.

Example
-------
>>> scale = noise_scale(1000, gtol=1e-10, epsilon=1.0, delta=1e-5)
>>> round(scale / (2 * 1000 * 1e-10), 3)  # sqrt(2 log(1.5e5))
4.882
>>> noise = draw_noise(6, scale, seed=1)
>>> noise.shape, noise.dtype, bool(torch.equal(noise, draw_noise(6, scale, seed=1)))
(torch.Size([6]), torch.float64, True)
>>> noise_scale(1000, 1e-10, epsilon=0.0, delta=1e-5)
Traceback (most recent call last):
...
speechbrain_unlearn.errors.UnlearnError: deletable_epsilon must be > 0 and deletable_delta in (0, 1), got 0.0, 1e-05
"""

import math

import torch

from speechbrain_unlearn.errors import UnlearnError


def noise_scale(n, gtol, epsilon, delta):
    """``sigma`` of the module docstring for ``n`` utterances solved to ``gtol``."""
    if not (epsilon > 0 and 0 < delta < 1):
        raise UnlearnError(f"deletable_epsilon must be > 0 and deletable_delta in (0, 1), got {epsilon}, {delta}")
    return math.sqrt(2 * math.log(1.5 / delta)) * 2 * n * gtol / epsilon


def draw_noise(size, scale, seed):
    """``b = scale z``, ``z ~ N(0, I_size)`` from its own generator seeded by ``seed`` (float64)."""
    generator = torch.Generator().manual_seed(int(seed))
    return scale * torch.randn(size, generator=generator, dtype=torch.float64)
