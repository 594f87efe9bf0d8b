"""NegGrad+: descend the retain loss while ascending the forget loss.

Algorithm
---------
Input: original weights ``theta``, retain set R, forget set F, epochs E,
learning rate eta, weight ``beta`` in [0, 1], the divergence guard
(:mod:`speechbrain_unlearn.methods.guard`).

1. for each of E epochs, for each minibatch B_R of R (seeded shuffle), paired
   with the next minibatch B_F of F (F's loader is cycled, reshuffled at
   each pass, since F is the smaller set):

   a. ``L = beta * mean_{x in B_R} loss(x; theta) - (1 - beta) * mean_{x in B_F} loss(x; theta)``
   b. an optimiser step on ``L`` (plain SGD: ``theta <- theta - eta * grad L``)
   c. guard: if ``L`` is not finite, or (every ``guard_every`` steps) the
      accuracy on a seeded sample of retain utterances fell below
      ``guard_retain_floor``, restore the last good weights and stop
2. return ``theta``

``beta = 1`` is fine-tuning on R, ``beta = 0`` is NegGrad. The retain batch
runs in training mode; the forget batch keeps the BatchNorm running
statistics (see :func:`~speechbrain_unlearn.methods.neggrad.train_keeping_batchnorm_statistics`).

Kurmanji, Triantafillou, Hayes & Triantafillou (2023), "Towards unbounded
machine unlearning" (NeurIPS), where NegGrad+ is introduced as a strong
baseline beside SCRUB.

Hparams (``hparams/neggrad_plus.yaml``): ``neggrad_beta`` (``beta``),
``unlearn_epochs``, ``unlearn_lr``, ``unlearn_batch_size``,
``unlearn_opt_class``, ``guard_retain_floor``, ``guard_every``,
``guard_samples``.
"""

import torch

from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.neggrad import train_keeping_batchnorm_statistics


def cycle(loader):
    """Endless batches of ``loader``, reshuffled at each pass (``sampler.set_epoch``).

    Unlike :func:`itertools.cycle`, which replays the first pass, each pass
    is a new seeded order when the sampler has ``set_epoch``.

    Example
    -------
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


class NegGradPlus(Unlearner):
    """Weighted retain descent and forget ascent on paired minibatches, under the divergence guard."""

    @classmethod
    def check_hparams(cls, hparams):
        """``neggrad_beta`` must lie in [0, 1]."""
        beta = float(hparams["neggrad_beta"])
        if not 0.0 <= beta <= 1.0:
            raise UnlearnError(f"neggrad_beta must lie in [0, 1], not {beta}")

    def unlearn(self, forget_set, retain_set):
        """``unlearn_epochs`` passes over ``retain_set``, each retain batch paired with a forget batch."""
        hp = self.hparams
        beta = float(hp.neggrad_beta)
        model = self.modules.model
        optimizer = hp.unlearn_opt_class(model.parameters())
        retain_loader = torch.utils.data.DataLoader(retain_set, **self.loader_kwargs(retain_set, hp.unlearn_batch_size))
        forget_loader = torch.utils.data.DataLoader(forget_set, **self.loader_kwargs(forget_set, hp.unlearn_batch_size))
        forget_batches = cycle(forget_loader)
        history = []
        for epoch in range(int(hp.unlearn_epochs)):
            retain_loader.sampler.set_epoch(epoch)
            sums = torch.zeros(3)
            for retain_batch in retain_loader:
                retain_batch = retain_batch.to(self.device)
                forget_batch = next(forget_batches).to(self.device)
                model.train()
                retain_loss = hp.loss(model(*retain_batch.feats), retain_batch.label).mean()
                train_keeping_batchnorm_statistics(model)
                forget_loss = hp.loss(model(*forget_batch.feats), forget_batch.label).mean()
                loss = beta * retain_loss - (1.0 - beta) * forget_loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                self.guard.step(loss.detach())
                sums += torch.tensor([retain_loss.item(), forget_loss.item(), 1.0])
            history.append(
                {"retain_loss": round(float(sums[0] / sums[2]), 6), "forget_loss": round(float(sums[1] / sums[2]), 6)}
            )
        model.eval()
        return {"epochs": int(hp.unlearn_epochs), "beta": beta, "steps": self.guard.steps, "per_epoch": history}
