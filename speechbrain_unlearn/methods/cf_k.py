"""CF-k: catastrophically forget the last k layers (fine-tune only them on the retain set).

Goel, Prabhu, Sanyal, Lim, Torr and Kumaraguru (2022), "Towards
Adversarial Evaluation of Machine Unlearning" (arXiv:2201.06640), the
baseline the speech unlearning benchmarks use.

Algorithm
---------
Input: original weights ``theta = (theta_body, theta_tail)``, with
``theta_tail`` the last ``k`` layers and the head
(:mod:`~speechbrain_unlearn.methods.layers`), retain set R, epochs E,
learning rate eta.

1. freeze ``theta_body``
2. for each of E epochs, for each minibatch B of R:
   ``theta_tail <- theta_tail - eta * grad_tail mean_{x in B} loss(x; theta)``
3. return ``theta``

Like fine-tuning (``hparams/finetune.yaml``), the forget set is never
looked at; only the tail moves, so what the frozen layers encode of the
forget set stays. The frozen layers' BatchNorm statistics are kept (their
weights do not move; statistics of the retain set alone would shift them).

Scenarios: all. Hparams (``hparams/cf_k.yaml``): ``unlearn_layers`` (k),
``unlearn_epochs``, ``unlearn_lr``, ``unlearn_batch_size``,
``unlearn_opt_class``.
"""

from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.layers import train_tail


class CatastrophicForgettingK(Unlearner):
    """Fine-tune the last ``unlearn_layers`` layers and the head on the retain set."""

    def unlearn(self, request):
        """1.-2. ``unlearn_epochs`` epochs on the retain set of the tail only, the body and its statistics frozen."""
        return train_tail(self, request, keep_batchnorm_statistics=True)
