"""Random labels: fine-tune on the forget set relabelled at random, with the retain set.

Algorithm
---------
Input: original weights ``theta``, forget set F, retain set R, epochs E,
learning rate eta, seed s.

1. for each utterance x in F with label y, draw (once, seeded by s) a label
   ``y'`` uniformly among the classes other than y; when whole classes are
   forgotten (scenario ``class``, or ``speaker`` on VoxCeleb), among the
   retained classes only (a forgotten class is no target to move towards)
2. ``D = {(x, y') : x in F} + R``
3. for each of E epochs, for each minibatch B of D (seeded shuffle):
   ``theta <- theta - eta * grad mean_{(x, y) in B} loss(x, y; theta)``
4. return ``theta``

The wrong labels overwrite what the model memorised about F, while the
retain set holds the rest of its behaviour in place.

Golatkar, Achille & Soatto (2020), "Eternal sunshine of the spotless net:
selective forgetting in deep networks" (the random-label fine-tuning
baseline); Graves, Nagisetty & Ganesh (2021), "Amnesiac machine learning"
(the same relabelling, with the retain data).

Hparams (``hparams/random_label.yaml``): ``unlearn_epochs``, ``unlearn_lr``,
``unlearn_batch_size``, ``unlearn_opt_class``; from the task: ``seed``.
"""

import torch

from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.relabel import randomly_relabelled


class RandomLabel(Unlearner):
    """Fine-tune on the randomly relabelled forget set together with the retain set."""

    def unlearn(self, request):
        """Relabel the forget set (seeded) and train on it and the retain set for ``unlearn_epochs`` epochs."""
        hp = self.hparams
        retained = request.retained_classes if request.removes_classes else None
        relabelled = randomly_relabelled(request.forget, request.n_classes, hp.seed, retained)  # step 1
        data = torch.utils.data.ConcatDataset([relabelled, request.retain])  # step 2: D
        model = self.modules.model
        optimizer = hp.unlearn_opt_class(model.parameters())
        loader = self.training_loader(data, hp.unlearn_batch_size)
        losses = [  # step 3
            round(self.guarded_epoch(loader, epoch, optimizer, self.training_objective), 6)
            for epoch in range(int(hp.unlearn_epochs))
        ]
        model.eval()
        return {
            "epochs": int(hp.unlearn_epochs),
            "steps": self.guard.steps,
            "relabelled": len(relabelled),
            "label_pool": "retained classes" if retained is not None else "all other classes",
            "train_loss_per_epoch": losses,
        }
