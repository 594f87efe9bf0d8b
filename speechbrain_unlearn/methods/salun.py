"""SalUn: random-label fine-tuning restricted to the weights salient for the forget set.

Fan, Liu, Zhang, Wei, Wong and Liu (2024), "SalUn: Empowering Machine
Unlearning via Gradient-based Weight Saliency in Both Image Classification
and Generation", ICLR.

Algorithm
---------
Input: original weights ``theta*``, forget set F, retain set R, kept
fraction ``s`` of the weights, epochs E, learning rate eta.

1. weight saliency (eval mode, ``theta = theta*``):
   ``g = | grad_theta sum_{x in F} loss(x; theta) |``, element-wise
2. mask ``m = 1[g >= gamma]``, with ``gamma`` the threshold that keeps the
   ``s`` largest entries of ``g`` over *all* parameters together (a global
   ranking, as in their code; the paper's default keeps half, ``s = 0.5``)
3. random labels: each forget utterance gets a seeded random label other
   than its own (drawn among the retained classes when whole classes are
   forgotten)
4. for each of E epochs, for each shuffled minibatch B of F (random labels)
   and R (true labels) mixed:
   ``theta <- theta - eta * m (.) grad mean_{x in B} loss(x; theta)``:
   the gradient is multiplied by the mask before each step, so only salient
   weights move
5. return ``theta``

Only the gradient is masked (as in their code): an optimiser with weight
decay would still move the other weights, so the optimiser here has none.
BatchNorm running statistics are updated in train mode as usual. The loop
calls the divergence guard (finiteness of every step's loss).

Scenarios: all (``sample``, ``class``, ``speaker``, ``list``).
Hparams (``hparams/salun.yaml``): ``salun_sparsity`` (``s``), ``unlearn_epochs``,
``unlearn_lr``, ``unlearn_batch_size``, ``unlearn_opt_class``; from the task:
``eval_batch_size``, ``curvature_crop_frames``.
"""

import torch

from speechbrain_unlearn.cost import count_gradients
from speechbrain_unlearn.curvature.diagonal import all_reduce_sums, statistic_batches
from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.relabel import randomly_relabelled


def saliency_mask(gradients, fraction):
    """Masks keeping the ``fraction`` largest ``|gradient|`` entries over all tensors together.

    Arguments
    ---------
    gradients : dict
        Parameter name to gradient tensor.
    fraction : float
        Share of all entries kept, in (0, 1].

    Returns
    -------
    dict
        Parameter name to a 0/1 tensor of the same shape and dtype (exactly
        ``round(fraction * total)`` ones; ties broken by position).

    Example
    -------
    >>> masks = saliency_mask({"a": torch.tensor([0.1, -3.0]), "b": torch.tensor([[2.0, 0.0]])}, 0.5)
    >>> masks["a"].tolist(), masks["b"].tolist()
    ([0.0, 1.0], [[1.0, 0.0]])
    """
    names = list(gradients)
    flat = torch.cat([gradients[n].detach().abs().reshape(-1) for n in names])
    keep = min(max(int(round(float(fraction) * flat.numel())), 1), flat.numel())
    chosen = torch.zeros_like(flat)
    chosen[torch.topk(flat, keep, sorted=False).indices] = 1.0
    masks, start = {}, 0
    for n in names:
        size = gradients[n].numel()
        masks[n] = chosen[start : start + size].reshape(gradients[n].shape).to(gradients[n].dtype)
        start += size
    return masks


def mask_gradients(params, masks):
    """Multiply each parameter's gradient by its mask, in place (``m (.) grad``; parameters without one are left).

    Example
    -------
    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> w.sum().backward()
    >>> mask_gradients({"w": w}, {"w": torch.tensor([1.0, 0.0, 1.0])})
    >>> w.grad.tolist()
    [1.0, 0.0, 1.0]
    """
    for name, mask in masks.items():
        if params[name].grad is not None:
            params[name].grad.mul_(mask)


class SalUn(Unlearner):
    """Saliency-masked random-label fine-tuning (see the module docstring)."""

    def unlearn(self, request):
        """Mask the salient weights, then fine-tune them on random forget labels and the retain set."""
        hp, model = self.hparams, self.modules.model
        masks = self.saliency(request.forget)  # steps 1 and 2
        allowed = request.retained_classes if request.removes_classes else None
        relabelled = randomly_relabelled(request.forget, request.n_classes, hp.seed, allowed)  # step 3
        data = torch.utils.data.ConcatDataset([relabelled, request.retain])
        loader = self.training_loader(data, hp.unlearn_batch_size)
        params = dict(model.named_parameters())
        optimizer = hp.unlearn_opt_class(model.parameters())
        epoch_losses = [  # step 4: only the masked gradient reaches the optimiser
            self.guarded_epoch(
                loader, epoch, optimizer, self.training_objective, gradient_hook=lambda: mask_gradients(params, masks)
            )
            for epoch in range(int(hp.unlearn_epochs))
        ]
        model.eval()
        kept = sum(int(m.sum()) for m in masks.values())
        return {
            "epochs": int(hp.unlearn_epochs),
            "steps": self.guard.steps,
            "mask_fraction": kept / sum(m.numel() for m in masks.values()),
            "masked_weights": kept,
            "relabelled_to_retained_classes": allowed is not None,
            "loss_per_epoch": epoch_losses,
        }

    def saliency(self, forget_set):
        """Steps 1 and 2: the saliency masks, by parameter name."""
        hp, model = self.hparams, self.modules.model
        model.eval()
        params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        grads = {n: torch.zeros_like(p) for n, p in params.items()}
        batches = statistic_batches(forget_set, hp.eval_batch_size, hp.curvature_crop_frames)
        for batch in batches:
            batch = batch.to(self.device)
            loss = hp.loss(model(*batch.feats), batch.label).sum()
            count_gradients(len(batch.label))
            for name, g in zip(params, torch.autograd.grad(loss, list(params.values()), allow_unused=True)):
                if g is not None:
                    grads[name] += g
        all_reduce_sums(grads)
        return saliency_mask(grads, hp.salun_sparsity)
