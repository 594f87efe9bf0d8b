"""Bad Teaching: distil from a competent teacher on retain data and an incompetent one on forget data.

Chundawat, Tarun, Mandal and Kankanhalli (2023), "Can Bad Teaching Induce
Forgetting? Unlearning in Deep Networks Using an Incompetent Teacher", AAAI.

Algorithm
---------
Input: original weights ``theta*``, forget set F, retain set R, retain
fraction ``rho``, temperature ``T``, epochs E, learning rate eta.

1. competent teacher ``T_c``: a frozen copy of ``theta*``; incompetent
   teacher ``T_d``: a freshly initialised model of the same architecture,
   frozen; student ``S``: a copy of ``theta*``
2. ``R_s``: a seeded random sample of ``rho |R|`` retain utterances (the
   paper distils on 30% of the retain data)
3. for each of E epochs, for each shuffled minibatch B of ``F u R_s``
   (forget and retain utterances mixed):
   ``p_x = softmax(T_d(x) / T)`` if ``x in F`` else ``softmax(T_c(x) / T)``;
   ``theta_S <- theta_S - eta grad mean_{x in B} KL(p_x || softmax(S(x) / T))``
4. return ``theta_S``

The teachers' and the student's distributions are the models' predictive
log-probabilities (``loss.log_probs``; softmax of the scaled cosines for
VoxCeleb's AAM head), softened at ``T``. The student is trained in train
mode; the teachers stay in eval mode. The loop calls the divergence guard
(finiteness of every step's loss; an accuracy floor only if the guard keys
are set) although it ascends nothing.

Scenarios: all (``sample``, ``class``, ``speaker``, ``list``).
Hparams (``hparams/bad_teacher.yaml``): ``bad_teacher_temperature``,
``bad_teacher_retain_fraction``, ``unlearn_epochs``, ``unlearn_lr``,
``unlearn_batch_size``, ``unlearn_opt_class``.
"""

import torch

from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.distillation import distillation_kl, frozen_copy
from speechbrain_unlearn.methods.relabel import WithFields


class BadTeacher(Unlearner):
    """Competent/incompetent teacher distillation (see the module docstring)."""

    def unlearn(self, request):
        """Distil the student on forget and sampled retain utterances (steps 1 to 4)."""
        hp, model = self.hparams, self.modules.model
        competent = frozen_copy(model)
        forget_set, retain_set = request.forget, request.retain
        incompetent = frozen_copy(request.new_model().to(self.device))
        fraction = float(hp.bad_teacher_retain_fraction)
        n_retain = max(1, int(round(fraction * len(retain_set))))
        retain_part = retain_set.sample(n_retain, hp.seed)
        data = torch.utils.data.ConcatDataset([WithFields(forget_set, forget=1), WithFields(retain_part, forget=0)])
        loader = self.training_loader(data, hp.unlearn_batch_size)
        optimizer = hp.unlearn_opt_class(model.parameters())
        temperature = float(hp.bad_teacher_temperature)

        def distillation(batch):
            feats, lengths = batch.feats
            with torch.no_grad():
                good = hp.loss.log_probs(competent(feats, lengths))
                bad = hp.loss.log_probs(incompetent(feats, lengths))
                teacher = torch.where(batch.forget.bool().unsqueeze(1), bad, good)  # p_x
            student = hp.loss.log_probs(model(feats, lengths))
            loss = distillation_kl(student, teacher, temperature).mean()
            return loss, loss

        epoch_losses = [
            self.guarded_epoch(loader, epoch, optimizer, distillation) for epoch in range(int(hp.unlearn_epochs))
        ]
        model.eval()
        return {
            "epochs": int(hp.unlearn_epochs),
            "steps": self.guard.steps,
            "forget_utterances": len(forget_set),
            "retain_utterances": len(retain_part),
            "kl_per_epoch": epoch_losses,
        }
