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

from speechbrain_unlearn.methods.base import Unlearner, retrain_from_scratch


class Retrain(Unlearner):
    """Retrain from the original's initialisation on the retain set."""

    opt_key = "opt_class"
    annealing_key = "lr_annealing"

    def unlearn(self, request):
        """Re-initialise and train on the retain set with the task recipe."""
        retain_loss = retrain_from_scratch(self, request)
        return {"epochs": int(self.hparams.number_of_epochs), "retain_loss": retain_loss}
