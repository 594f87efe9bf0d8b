"""Teachers and the distillation divergence (Bad Teaching, SCRUB).

Example
-------
>>> import torch
>>> student = torch.log_softmax(torch.tensor([[2.0, 0.0], [0.0, 0.0]]), dim=-1)
>>> distillation_kl(student, student).tolist()
[0.0, 0.0]
>>> teacher = frozen_copy(torch.nn.Linear(2, 2))
>>> teacher.training, any(p.requires_grad for p in teacher.parameters())
(False, False)
"""

import copy

import torch.nn.functional as F


def distillation_kl(student_log_probs, teacher_log_probs, temperature=1.0):
    """``KL(teacher || student)`` of each row, both distributions softened at ``temperature``.

    The inputs are predictive log-probabilities (``loss.log_probs(scores)``,
    never raw scores: VoxCeleb's scores are cosines); softening divides them
    by the temperature and renormalises, which is the usual
    ``softmax(logits / T)``.

    Arguments
    ---------
    student_log_probs, teacher_log_probs : torch.Tensor
        ``(batch, n_classes)`` log-probabilities.
    temperature : float
        Softening temperature ``T`` (1: the distributions as they are).

    Returns
    -------
    torch.Tensor
        ``(batch,)`` divergences in nats (not multiplied by ``T**2``).

    Example
    -------
    >>> import torch
    >>> teacher = torch.log(torch.tensor([[0.5, 0.5]]))
    >>> student = torch.log(torch.tensor([[0.9, 0.1]]))
    >>> round(float(distillation_kl(student, teacher)), 4)
    0.5108
    >>> bool(distillation_kl(student, teacher, 4.0) < distillation_kl(student, teacher))
    True
    """
    student = F.log_softmax(student_log_probs / temperature, dim=-1)
    teacher = F.log_softmax(teacher_log_probs / temperature, dim=-1)
    return F.kl_div(student, teacher, reduction="none", log_target=True).sum(dim=-1)


def frozen_copy(model):
    """A copy of ``model`` in eval mode whose parameters take no gradient (a teacher)."""
    teacher = copy.deepcopy(model)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher
