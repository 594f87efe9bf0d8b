"""Bootstrap standard errors of per-utterance statistics.

A score measured on a few dozen forget utterances moves by several points
between samples; every accuracy and attack score of a run is reported with
the standard deviation of the same statistic over ``n`` resamples (with
replacement, each group of utterances resampled on its own, the same seeded
resamples for every model).

Example
-------
>>> correct = np.array([1.0, 0.0] * 50)
>>> se = bootstrap_se(np.mean, [correct], n=400, seed=0)
>>> 0.04 < se < 0.06  # sqrt(0.25 / 100) = 0.05
True
>>> bootstrap_se(np.mean, [np.array([])], n=10, seed=0)
nan
"""

import numpy as np


def bootstrap_se(statistic, groups, n=200, seed=0):
    """Standard deviation of ``statistic(*resampled groups)`` over ``n`` bootstrap resamples.

    Arguments
    ---------
    statistic : callable
        Takes one array per group and returns a float.
    groups : list of numpy.ndarray
        Per-utterance values; each is resampled independently.
    n : int
        Number of resamples.
    seed : int
        Seed of the resampling.

    Returns
    -------
    float
        The bootstrap standard error (``nan`` if a group is empty or ``n`` < 2).
    """
    if n < 2 or any(len(g) == 0 for g in groups):
        return float("nan")
    rng = np.random.default_rng([int(seed), 11])
    values = []
    for _ in range(int(n)):
        values.append(statistic(*(g[rng.integers(len(g), size=len(g))] for g in groups)))
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
