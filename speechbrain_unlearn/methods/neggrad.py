"""NegGrad: gradient ascent on the forget set.

Algorithm
---------
Input: original weights ``theta``, forget set F, epochs E, learning rate eta,
the divergence guard (:mod:`speechbrain_unlearn.methods.guard`).

1. for each of E epochs, for each minibatch B of F (seeded shuffle):

   a. ``L_F = mean_{x in B} loss(x; theta)``
   b. an optimiser step on ``-L_F``: ``theta <- theta + eta * grad L_F``
      (plain SGD; the configured optimiser in general)
   c. guard: if ``L_F`` is not finite, or (every ``guard_every`` steps) the
      accuracy on a seeded sample of retain utterances fell below
      ``guard_retain_floor``, restore the last good weights and stop
2. return ``theta``

The ascent has no minimum: it is the guard, and a small budget, that keep it
from driving the model to chance. The retain set is never trained on; it only
supplies the guard's check sample. Batches hold forget utterances only, so
BatchNorm layers keep their running statistics during the ascent (they would
otherwise drift towards the forget set's); dropout is active as in training.

NegGrad is the usual gradient-ascent baseline of the unlearning literature,
e.g. Golatkar, Achille & Soatto (2020), "Eternal sunshine of the spotless
net: selective forgetting in deep networks" and Thudi et al. (2022),
"Unrolling SGD: understanding factors influencing machine unlearning".

Hparams (``hparams/neggrad.yaml``): ``unlearn_epochs``, ``unlearn_lr``,
``unlearn_batch_size``, ``unlearn_opt_class``, ``guard_retain_floor``,
``guard_every``, ``guard_samples``.
"""

from speechbrain_unlearn.methods.base import Unlearner


class NegGrad(Unlearner):
    """Ascend the mean training loss of the forget set, under the divergence guard."""

    def unlearn(self, request):
        """Gradient ascent on the forget set for ``unlearn_epochs`` epochs."""
        hp = self.hparams
        model = self.modules.model
        optimizer = hp.unlearn_opt_class(model.parameters())
        loader = self.training_loader(request.forget, hp.unlearn_batch_size)

        def ascent(batch):
            forget_loss = hp.loss(model(*batch.feats), batch.label).mean()  # a. L_F
            return -forget_loss, forget_loss  # b. a step on -L_F (c. the guard checks it)

        epoch_losses = [
            self.guarded_epoch(loader, epoch, optimizer, ascent, keep_batchnorm_statistics=True)
            for epoch in range(int(hp.unlearn_epochs))
        ]
        model.eval()
        return {
            "epochs": int(hp.unlearn_epochs),
            "steps": self.guard.steps,
            "forget_loss_per_epoch": [round(x, 6) for x in epoch_losses],
        }
