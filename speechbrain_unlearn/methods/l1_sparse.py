"""l1-sparse unlearning: fine-tune on the retain set with a decaying l1 penalty.

Algorithm
---------
Input: original weights ``theta``, retain set R, epochs E, learning rate
eta, initial l1 coefficient ``gamma``; T = E * (minibatches per epoch)
updates in all.

1. for t = 0, ..., T - 1, the t-th minibatch B of R (E epochs, seeded
   shuffle):

   a. ``gamma_t = gamma * (1 - t / T)`` (linear decay to 0)
   b. ``theta <- theta - eta * grad [mean_{x in B} loss(x; theta) + gamma_t * ||theta||_1]``
      (a subgradient step, plain SGD; the configured optimiser in general)
2. return ``theta``

The penalty covers every trainable parameter (weights, biases, normalisation
scales), as in the authors' code. Early updates sparsify the model, which the
paper finds removes much of what fine-tuning alone leaves of the forget set;
the decay lets the last updates restore the retain fit. The forget set is
never looked at.

Jia, Liu, Ram, Yao, Liu, Liu, Sharma & Liu (2023), "Model sparsity can
simplify machine unlearning" (NeurIPS): l1-sparse MU, with the linearly
decaying schedule of the penalty that the paper found best.

Hparams (``hparams/l1_sparse.yaml``): ``l1_gamma`` (``gamma``),
``unlearn_epochs``, ``unlearn_lr``, ``unlearn_batch_size``,
``unlearn_opt_class``.
"""

import torch

from speechbrain_unlearn.methods.base import Unlearner


def l1_norm(parameters):
    """``sum |theta|`` over the given parameters (differentiable).

    Example
    -------
    >>> float(l1_norm([torch.tensor([1.0, -2.0]), torch.tensor([[-0.5]])]))
    3.5
    """
    return sum(p.abs().sum() for p in parameters)


def linear_decay(gamma, step, total):
    """The coefficient at update ``step`` of ``total``: ``gamma`` decaying linearly to 0.

    Example
    -------
    >>> [linear_decay(1.0, t, 4) for t in range(4)]
    [1.0, 0.75, 0.5, 0.25]
    """
    return float(gamma) * (1.0 - step / max(int(total), 1))


class L1Sparse(Unlearner):
    """Fine-tune on the retain set with an l1 penalty whose coefficient decays linearly to 0."""

    def unlearn(self, request):
        """``unlearn_epochs`` epochs on the retain set of loss plus ``gamma_t * ||theta||_1``."""
        hp = self.hparams
        model = self.modules.model
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = hp.unlearn_opt_class(params)
        loader = self.training_loader(request.retain, hp.unlearn_batch_size)
        total = int(hp.unlearn_epochs) * len(loader)
        gammas = iter([linear_decay(hp.l1_gamma, t, total) for t in range(total)])  # a. gamma_t, t = 0..T-1
        with torch.no_grad():
            l1_before = float(l1_norm(params))

        def penalised(batch):
            retain_loss = hp.loss(model(*batch.feats), batch.label).mean()
            return retain_loss + next(gammas) * l1_norm(params), retain_loss  # b. the step's loss

        losses = [
            round(self.guarded_epoch(loader, epoch, optimizer, penalised), 6) for epoch in range(int(hp.unlearn_epochs))
        ]
        model.eval()
        with torch.no_grad():
            l1_after = float(l1_norm(params))
        return {
            "epochs": int(hp.unlearn_epochs),
            "steps": self.guard.steps,
            "l1_before": round(l1_before, 4),
            "l1_after": round(l1_after, 4),
            "retain_loss_per_epoch": losses,
        }
