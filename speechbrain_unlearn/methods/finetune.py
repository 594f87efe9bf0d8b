"""Fine-tuning on the retain set (catastrophic forgetting as unlearning).

Algorithm
---------
Input: original weights ``theta``, retain set R, epochs E, learning rate eta.

1. for each of E epochs, for each minibatch B of R:
   ``theta <- theta - eta * grad mean_{x in B} loss(x; theta)``
2. return ``theta``

The forget set is never looked at: whatever the model forgets it forgets
because the retain data overwrite it. A standard baseline (e.g. Golatkar
et al., 2020; Jia et al., 2023), cheap, usually weak on membership.
Hparams (``hparams/finetune.yaml``): ``unlearn_epochs``, ``unlearn_lr``,
``unlearn_batch_size``, ``unlearn_opt_class``, ``unlearn_lr_annealing``.
"""

from speechbrain_unlearn.methods.base import Unlearner


class FineTune(Unlearner):
    """Fine-tune the original on the retain set."""

    def unlearn(self, request):
        """Train on the retain set for ``unlearn_epochs`` epochs."""
        self.train_epochs(
            request.retain, self.hparams.unlearn_epochs, self.hparams.unlearn_batch_size, name="fine-tuning"
        )
        return {"epochs": int(self.hparams.unlearn_epochs), "retain_loss": self.train_loss}
