"""Pieces of the methods' minibatch loops.

* :func:`cycle`: endless, reshuffled batches of the smaller set of a pair;
* :class:`UtteranceMean`: the mean over utterances of per-batch means.

The loop itself is :meth:`~speechbrain_unlearn.brain.UtteranceBrain.train_batches`.
"""

from speechbrain_unlearn.errors import UnlearnError


def cycle(loader):
    """Endless batches of ``loader``, reshuffled at each pass (``sampler.set_epoch``).

    Unlike :func:`itertools.cycle`, which replays the first pass, each pass
    is a new seeded order when the sampler has ``set_epoch``.

    Example
    -------
    >>> import torch
    >>> batches = cycle(torch.utils.data.DataLoader([1, 2, 3], batch_size=2))
    >>> [next(batches).tolist() for _ in range(3)]
    [[1, 2], [3], [1, 2]]
    """
    if len(loader) == 0:
        raise UnlearnError("cannot cycle an empty loader")
    passes = 0
    while True:
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(passes)
        yield from loader
        passes += 1


class UtteranceMean:
    """The mean over utterances of per-batch means: each batch weighs as many utterances as it holds.

    Example
    -------
    >>> import torch
    >>> mean = UtteranceMean()
    >>> mean.add(torch.tensor(1.0), 3)
    >>> mean.add(4.0, 1)
    >>> mean.value
    1.75
    """

    def __init__(self):
        self.total, self.count = 0.0, 0

    def add(self, batch_mean, size):
        """Add a batch of ``size`` utterances whose mean is ``batch_mean`` (a float or a scalar tensor)."""
        self.total, self.count = self.total + float(batch_mean) * size, self.count + size

    @property
    def value(self):
        """The mean so far (0 before any batch)."""
        return self.total / max(self.count, 1)
