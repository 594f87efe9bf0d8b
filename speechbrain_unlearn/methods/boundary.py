"""Boundary Shrink: relabel each forgotten utterance with its nearest other class, and fine-tune.

Algorithm
---------
Input: original weights ``theta_0`` (a frozen copy is the attacked model),
forget set F (whole classes C_F), epochs E, learning rate eta, FGSM step
``epsilon``.

1. ``theta <- theta_0``
2. for each of E epochs, for each minibatch B of F (seeded shuffle), for
   each utterance (x, y) in B:

   a. FGSM on the input features, against the frozen original:
      ``x' = x + epsilon * sigma_x * sign(grad_x nll(x, y; theta_0))``, where
      ``sigma_x`` is the standard deviation of x's features (the step is in
      units of the utterance's own feature scale, since Fbank features are
      log energies of no fixed range) and the step is zero on padded frames
      (lengths are relative)
   b. the neighbour label ``y_nb = argmax_{c not in C_F} s_c(x'; theta_0)``:
      the attacked prediction, i.e. the nearest class across the decision
      boundary; where the attack did not reach a retained class (the
      prediction is still y or another forgotten class), the best-scoring
      retained class at x', the nearest one by the model's own ranking
3. ``theta <- theta - eta * grad mean_{(x, y_nb)} loss(x, y_nb; theta)`` for
   each minibatch (the unperturbed x, the neighbour labels)
4. return ``theta``

Shrinking the forgotten classes' decision space into their neighbours mimics
the retrained model, which sends those utterances to the nearest retained
classes, with little damage to the retained classes' boundaries. Applies only
when whole classes are forgotten (``needs_forgotten_classes``). Batches hold
forget utterances only, so BatchNorm layers keep their running statistics.

Chen, Gao, Wei, Xu & Liu (2023), "Boundary unlearning: rapid forgetting of
deep networks via shifting the decision boundary" (CVPR), Boundary Shrink.
The paper's attacked prediction may be the true class when the attack fails;
here the label is always a retained class (step 2b).

Hparams (``hparams/boundary.yaml``): ``boundary_epsilon`` (``epsilon``),
``unlearn_epochs``, ``unlearn_lr``, ``unlearn_batch_size``,
``unlearn_opt_class``.
"""

import torch

from speechbrain_unlearn.cost import count_gradients
from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.distillation import frozen_copy
from speechbrain_unlearn.models import length_mask


def feature_scale(feats, lengths):
    """Per-utterance standard deviation of the features over the valid frames, ``(batch, 1, 1)``.

    Example
    -------
    >>> feats = torch.zeros(2, 4, 3)
    >>> feats[0] = torch.tensor([0.0, 2.0, 0.0]).repeat(4, 1)
    >>> feats[1, :2] = torch.tensor([[1.0, 1.0, 1.0], [3.0, 3.0, 3.0]])
    >>> feature_scale(feats, torch.tensor([1.0, 0.5])).flatten()
    tensor([0.9428, 1.0000])
    """
    mask = length_mask(feats, lengths).expand_as(feats)
    count = mask.sum(dim=(1, 2), keepdim=True)
    mean = (feats * mask).sum(dim=(1, 2), keepdim=True) / count
    return torch.sqrt((((feats - mean) * mask) ** 2).sum(dim=(1, 2), keepdim=True) / count)


class BoundaryShrink(Unlearner):
    """Fine-tune the forgotten classes' utterances towards their nearest retained class (FGSM neighbours)."""

    needs_forgotten_classes = True

    def neighbour_labels(self, attacked, feats, lengths, labels, forgotten):
        """FGSM step on ``feats`` against ``attacked``; the best retained class of the attacked scores.

        Returns
        -------
        tuple of torch.Tensor
            The neighbour labels ``(batch,)`` and whether the attacked
            prediction itself was a retained class ``(batch,)``.
        """
        x = feats.detach().clone().requires_grad_(True)
        # cuDNN's recurrent layers refuse a backward pass in eval mode
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            loss = self.hparams.loss.nll(attacked(x, lengths), labels).sum()
            (grad,) = torch.autograd.grad(loss, x)
            count_gradients(len(labels))
        step = self.hparams.boundary_epsilon * feature_scale(feats, lengths) * grad.sign()
        with torch.no_grad():
            scores = attacked(feats + step * length_mask(feats, lengths), lengths)
            reached = ~torch.isin(scores.argmax(dim=1), forgotten)
            scores[:, forgotten] = float("-inf")
            return scores.argmax(dim=1), reached

    def unlearn(self, request):
        """Fine-tune on the forget set with FGSM neighbour labels for ``unlearn_epochs`` epochs."""
        hp = self.hparams
        model = self.modules.model
        attacked = frozen_copy(model)
        forgotten = torch.tensor(list(request.forgotten_classes), device=self.device)
        optimizer = hp.unlearn_opt_class(model.parameters())
        loader = self.training_loader(request.forget, hp.unlearn_batch_size)
        found = {"reached": 0, "count": 0, "neighbours": set()}

        def towards_neighbours(batch):
            feats, lengths = batch.feats
            labels, hit = self.neighbour_labels(attacked, feats, lengths, batch.label, forgotten)  # step 2
            found["reached"] += int(hit.sum())
            found["count"] += len(labels)
            found["neighbours"].update(labels.tolist())
            loss = hp.loss(model(feats, lengths), labels).mean()  # step 3 (the step loop)
            return loss, loss

        for epoch in range(int(hp.unlearn_epochs)):
            self.guarded_epoch(loader, epoch, optimizer, towards_neighbours, keep_batchnorm_statistics=True)
        model.eval()
        return {
            "epochs": int(hp.unlearn_epochs),
            "steps": self.guard.steps,
            "forgotten_classes": forgotten.tolist(),
            # the share of FGSM steps whose attacked prediction was already a retained class
            "attack_reached_retained": round(found["reached"] / max(found["count"], 1), 4),
            "neighbour_classes": sorted(found["neighbours"]),
        }
