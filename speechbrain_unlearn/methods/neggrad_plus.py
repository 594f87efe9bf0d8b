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
statistics (see :func:`~speechbrain_unlearn.brain.train_keeping_batchnorm_statistics`).
The per-epoch diagnostics are the two losses' means over the epoch's retain
and forget utterances.

Kurmanji, Triantafillou, Hayes & Triantafillou (2023), "Towards unbounded
machine unlearning" (NeurIPS), where NegGrad+ is introduced as a strong
baseline beside SCRUB.

Hparams (``hparams/neggrad_plus.yaml``): ``neggrad_beta`` (``beta``),
``unlearn_epochs``, ``unlearn_lr``, ``unlearn_batch_size``,
``unlearn_opt_class``, ``guard_retain_floor``, ``guard_every``,
``guard_samples``.
"""

from speechbrain_unlearn.brain import train_keeping_batchnorm_statistics
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.methods.base import Unlearner


class NegGradPlus(Unlearner):
    """Weighted retain descent and forget ascent on paired minibatches, under the divergence guard."""

    @classmethod
    def check_hparams(cls, hparams):
        """``neggrad_beta`` must lie in [0, 1]."""
        beta = float(hparams["neggrad_beta"])
        if not 0.0 <= beta <= 1.0:
            raise UnlearnError(f"neggrad_beta must lie in [0, 1], not {beta}")

    def unlearn(self, request):
        """``unlearn_epochs`` passes over the retain set, each retain batch paired with a forget batch."""
        hp = self.hparams
        beta = float(hp.neggrad_beta)
        model = self.modules.model
        optimizer = hp.unlearn_opt_class(model.parameters())

        def weighted(retain_batch, forget_batch):
            retain_loss = hp.loss(model(*retain_batch.feats), retain_batch.label).mean()
            train_keeping_batchnorm_statistics(model)
            forget_loss = hp.loss(model(*forget_batch.feats), forget_batch.label).mean()
            return beta * retain_loss - (1.0 - beta) * forget_loss, retain_loss, forget_loss  # a. L (b, c: the loop)

        history = self.paired_epochs(request, optimizer, weighted)
        model.eval()
        return {"epochs": int(hp.unlearn_epochs), "beta": beta, "steps": self.guard.steps, "per_epoch": history}
