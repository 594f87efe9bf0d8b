"""SCRUB: a student that moves away from its teacher on the forget set and stays close on the retain set.

Kurmanji, Triantafillou, Hayes and Triantafillou (2023), "Towards Unbounded
Machine Unlearning", NeurIPS.

Algorithm
---------
Input: original weights ``theta*`` (the teacher), forget set F, retain set R,
epochs E, max-step epochs ``M <= E``, weights ``alpha`` and ``gamma``,
temperature ``T``, learning rate eta.

Let ``d(x) = T^2 KL(softmax(t(x) / T) || softmax(s(x) / T))`` be the
distillation divergence of the student ``s`` from the frozen teacher ``t``
on utterance ``x`` (their code's ``DistillKL``).

1. student ``theta <- theta*``; teacher: a frozen copy of ``theta*``
2. for epoch ``e = 1..E``:

   a. if ``e <= M`` (a max-step epoch), for each minibatch B of F:
      ``theta <- theta + eta grad mean_{x in B} d(x)`` (ascent: move away
      from the teacher on the forget set)
   b. (a min-step epoch) for each minibatch B of R:
      ``theta <- theta - eta grad mean_{x in B} [alpha d(x) + gamma loss(x)]``
      (stay close to the teacher, and correct, on the retain set)

3. return ``theta``

The max-steps ascend a divergence that has no upper bound, so every step is
watched by the divergence guard (:mod:`speechbrain_unlearn.methods.guard`):
a non-finite loss, or retain accuracy on a check sample below the floor,
restores the last good weights and stops (``method_status``: ``diverged``).
Both passes run the student in train mode, as their code does, and the
teacher in eval mode. This matters for the first max-step: the student
starts as the teacher, where the divergence and its gradient vanish; in
train mode BatchNorm normalises with the batch's statistics (and dropout is
on), so the two differ and the ascent has a direction from the first step.
The max-steps' forget-only batches pull BatchNorm's running statistics
towards the forget set; the min-steps that follow pull them back.
Distributions are predictive log-probabilities (``loss.log_probs``).

Scenarios: all (``sample``, ``class``, ``speaker``, ``list``).
Hparams (``hparams/scrub.yaml``): ``scrub_epochs`` (E), ``scrub_max_epochs``
(M), ``scrub_alpha``, ``scrub_gamma``, ``scrub_temperature`` (T),
``scrub_forget_batch_size``, ``unlearn_lr``, ``unlearn_batch_size``,
``unlearn_opt_class``, ``guard_retain_floor``, ``guard_every``,
``guard_samples``.
"""

import torch

from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.distillation import distillation_kl, frozen_copy


class Scrub(Unlearner):
    """SCRUB's alternating max/min distillation (see the module docstring)."""

    @classmethod
    def check_hparams(cls, hparams):
        """The number of max-step epochs is at most the number of epochs."""
        epochs, max_epochs = int(hparams["scrub_epochs"]), int(hparams["scrub_max_epochs"])
        if not 0 <= max_epochs <= epochs:
            raise UnlearnError(f"scrub_max_epochs must lie in [0, scrub_epochs={epochs}], not {max_epochs}")

    def unlearn(self, request):
        """Alternate max-step epochs on the forget set and min-step epochs on the retain set."""
        hp, model = self.hparams, self.modules.model
        teacher = frozen_copy(model)
        optimizer = hp.unlearn_opt_class(model.parameters())
        forget_loader = self.training_loader(request.forget, hp.scrub_forget_batch_size)
        retain_loader = self.training_loader(request.retain, hp.unlearn_batch_size)
        self.temperature = float(hp.scrub_temperature)
        alpha, gamma = float(hp.scrub_alpha), float(hp.scrub_gamma)
        report = {"max_steps": 0, "min_steps": 0, "forget_kl_per_max_epoch": [], "retain_loss_per_epoch": []}
        for epoch in range(int(hp.scrub_epochs)):
            if epoch < int(hp.scrub_max_epochs):  # a. max-steps: ascend d on F
                ascent = self.batch_objective(teacher, lambda d, ce: -d, maximise=True)
                report["forget_kl_per_max_epoch"].append(self.guarded_epoch(forget_loader, epoch, optimizer, ascent))
                report["max_steps"] += len(forget_loader)
            # b. min-steps: descend alpha d + gamma loss on R
            descent = self.batch_objective(teacher, lambda d, ce: alpha * d + gamma * ce)
            report["retain_loss_per_epoch"].append(self.guarded_epoch(retain_loader, epoch, optimizer, descent))
            report["min_steps"] += len(retain_loader)
        model.eval()
        return {"epochs": int(hp.scrub_epochs), "max_epochs": int(hp.scrub_max_epochs), **report}

    def batch_objective(self, teacher, combine, maximise=False):
        """The objective of a pass's steps (:meth:`guarded_epoch`): ``combine(divergence, task loss)``, batch means.

        It reports the divergence ``d`` on max-steps and the combined loss on
        min-steps (the task loss is only computed on min-steps).
        """
        hp, model = self.hparams, self.modules.model

        def objective(batch):
            feats, lengths = batch.feats
            scores = model(feats, lengths)
            with torch.no_grad():
                target = hp.loss.log_probs(teacher(feats, lengths))
            divergence = distillation_kl(hp.loss.log_probs(scores), target, self.temperature).mean()
            divergence = divergence * self.temperature**2
            task = hp.loss(scores, batch.label).mean() if not maximise else None
            loss = combine(divergence, task)
            return loss, divergence if maximise else loss

        return objective
