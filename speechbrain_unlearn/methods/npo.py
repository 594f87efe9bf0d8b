"""NPO: Negative Preference Optimization on the forget set, with a retain term (NPO+RT).

Zhang, Lin, Bai and Mei (2024), "Negative Preference Optimization: From
Catastrophic Collapse to Effective Unlearning" (COLM); a baseline of
MU-Bench for speech.

Algorithm
---------
Input: original weights ``theta_ref`` (frozen copy), retain set R, forget
set F, epochs E, learning rate eta, inverse temperature ``beta > 0``,
retain weight ``lambda >= 0``, the divergence guard
(:mod:`speechbrain_unlearn.methods.guard`).

1. ``theta <- theta_ref``
2. for each of E epochs, for each minibatch B_R of R (seeded shuffle), paired
   with the next minibatch B_F of F (cycled):

   a. per forget utterance, the log-likelihood ratio
      ``r(x) = log p(y|x; theta) - log p(y|x; theta_ref)`` (``log p = -loss``)
   b. ``L_NPO = (2 / beta) * mean_{x in B_F} log(1 + exp(beta * r(x)))``
   c. ``L = L_NPO + lambda * mean_{x in B_R} loss(x; theta)``
   d. an optimiser step on ``L``; the guard checks it
3. return ``theta``

``L_NPO`` is NegGrad's ascent made bounded: its gradient is NegGrad's,
weighted by ``sigmoid(beta * r(x))``, which vanishes as an utterance's
likelihood falls below the original's, so NPO slows down instead of
collapsing (as ``beta -> 0`` it is NegGrad). ``lambda = 0`` is plain NPO.
The forget batch keeps the BatchNorm running statistics, as NegGrad+'s.

Scenarios: all. Hparams (``hparams/npo.yaml``): ``npo_beta`` (``beta``),
``npo_retain_weight`` (``lambda``), ``unlearn_epochs``, ``unlearn_lr``,
``unlearn_batch_size``, ``unlearn_opt_class``, ``guard_retain_floor``,
``guard_every``, ``guard_samples``.

Example
-------
>>> r = torch.zeros(3)  # the original itself: (2 / beta) log 2
>>> round(float(npo_loss(r, beta=0.1)), 4)
13.8629
"""

import torch
import torch.nn.functional as F

from speechbrain_unlearn.brain import train_keeping_batchnorm_statistics
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.distillation import frozen_copy


def npo_loss(log_ratio, beta):
    """``(2 / beta) * mean log(1 + exp(beta * log_ratio))``: NPO's loss of per-utterance log-likelihood ratios."""
    return 2.0 / beta * F.softplus(beta * log_ratio).mean()


class NPO(Unlearner):
    """NPO on the forget set plus the weighted retain loss, on paired minibatches, under the divergence guard."""

    @classmethod
    def check_hparams(cls, hparams):
        """``npo_beta`` must be positive, ``npo_retain_weight`` not negative."""
        if not float(hparams["npo_beta"]) > 0:
            raise UnlearnError(f"npo_beta must be > 0, not {hparams['npo_beta']}")
        if not float(hparams["npo_retain_weight"]) >= 0:
            raise UnlearnError(f"npo_retain_weight must be >= 0, not {hparams['npo_retain_weight']}")

    def unlearn(self, request):
        """``unlearn_epochs`` passes over the retain set, each retain batch paired with a forget batch."""
        hp, model = self.hparams, self.modules.model
        beta, weight = float(hp.npo_beta), float(hp.npo_retain_weight)
        reference = frozen_copy(model)  # 1. theta_ref
        optimizer = hp.unlearn_opt_class(model.parameters())

        def npo_rt(retain_batch, forget_batch):
            retain_loss = hp.loss(model(*retain_batch.feats), retain_batch.label).mean()
            train_keeping_batchnorm_statistics(model)
            with torch.no_grad():
                reference_loss = hp.loss(reference(*forget_batch.feats), forget_batch.label)
            forget_loss = hp.loss(model(*forget_batch.feats), forget_batch.label)
            loss = npo_loss(reference_loss - forget_loss, beta)  # a.-b. r = log p - log p_ref
            return loss + weight * retain_loss, retain_loss, forget_loss.mean()  # c. (d: the step loop)

        history = self.paired_epochs(request, optimizer, npo_rt)  # 2.
        model.eval()
        return {"epochs": int(hp.unlearn_epochs), "beta": beta, "steps": self.guard.steps, "per_epoch": history}
