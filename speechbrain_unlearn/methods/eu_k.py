"""EU-k: exactly unlearn the last k layers (re-initialise them and train them on the retain set).

Goel, Prabhu, Sanyal, Lim, Torr and Kumaraguru (2022), "Towards
Adversarial Evaluation of Machine Unlearning" (arXiv:2201.06640), the
baseline the speech unlearning benchmarks use.

Algorithm
---------
Input: original weights ``theta = (theta_body, theta_tail)``, with
``theta_tail`` the last ``k`` layers and the head
(:mod:`~speechbrain_unlearn.methods.layers`), retain set R, epochs E,
learning rate eta, seed s.

1. freeze ``theta_body``
2. ``theta_tail <- init(s)``: every tail module's own initialisation
   (``reset_parameters``; Xavier-uniform for a weight without one, such as
   ECAPA's cosine classifier), BatchNorm statistics included
3. for each of E epochs, for each minibatch B of R:
   ``theta_tail <- theta_tail - eta * grad_tail mean_{x in B} loss(x; theta)``
4. return ``theta``

The tail never sees the forget set, so it is what retraining it alone
would give; the frozen body still holds what it learnt of the forget set.
Every BatchNorm layer is in training mode, so the re-initialised ones learn
their statistics (the body's move towards the retain set's, as in
fine-tuning). The training loop is CF-k's
(:func:`~speechbrain_unlearn.methods.layers.train_tail`).

Scenarios: all. Hparams (``hparams/eu_k.yaml``): ``unlearn_layers`` (k),
``unlearn_epochs``, ``unlearn_lr``, ``unlearn_batch_size``,
``unlearn_opt_class``; from the task: ``seed``.
"""

import torch

from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.layers import tail_modules, train_tail


@torch.no_grad()
def reinitialise(modules):
    """Reset each module's own parameters and statistics as at construction."""
    for module in modules.values():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        elif hasattr(module, "reset_running_stats"):
            module.reset_running_stats()
        else:
            for p in module.parameters(recurse=False):
                if p.dim() >= 2:
                    torch.nn.init.xavier_uniform_(p)
                else:
                    torch.nn.init.zeros_(p)


class ExactUnlearningK(Unlearner):
    """Re-initialise the last ``unlearn_layers`` layers and the head, then train them on the retain set."""

    def unlearn(self, request):
        """1.-3. The tail re-initialised (seeded), then ``unlearn_epochs`` epochs of it on the retain set."""

        def reinitialise_tail(model):
            torch.manual_seed(int(self.hparams.seed))
            reinitialise(tail_modules(model, self.hparams.unlearn_layers))

        return train_tail(self, request, keep_batchnorm_statistics=False, prepare=reinitialise_tail)
