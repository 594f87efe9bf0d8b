"""Exact unlearning: retrain from scratch on the retain set.

Algorithm
---------
Input: the initial weights ``theta_0`` of the original (same seed), retain
set R, the task's training recipe (optimiser, schedule, epochs).

1. ``theta <- theta_0``
2. train on R with the task's recipe
3. return ``theta``

This is the gold standard every other method is measured against and the
cost they must beat. With the same seed it reproduces the run's reference
exactly (gap 0), which doubles as a determinism check.
"""

import torch

from speechbrain_unlearn.methods.base import Unlearner


class Retrain(Unlearner):
    """Retrain from the original's initialisation on the retain set."""

    opt_key = "opt_class"
    annealing_key = "lr_annealing"

    def unlearn(self, forget_set, retain_set):
        """Re-initialise and train on ``retain_set`` with the task recipe."""
        self.modules.model.load_state_dict(self.hparams.initial_model().state_dict())
        torch.manual_seed(self.hparams.seed)
        self.train_epochs(retain_set, self.hparams.number_of_epochs, self.hparams.batch_size)
        return {"epochs": int(self.hparams.number_of_epochs), "retain_loss": self.train_loss}
