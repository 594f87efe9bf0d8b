"""Per-sample classification losses with one interface for both tasks.

A loss maps scores ``(batch, n_classes)`` and integer targets ``(batch,)`` to
per-sample training losses ``(batch,)``; ``log_probs(scores)`` gives the
model's predictive distribution, used for evaluation losses, membership
attacks and distances between models. SpeechBrain's AAM wrapper returns a
batch sum; methods and attacks need per-sample values, hence these classes.

Example
-------
>>> scores = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
>>> targets = torch.tensor([0, 1])
>>> CrossEntropy()(scores, targets).shape
torch.Size([2])
>>> aam, cosines = AAMSoftmax(margin=0.2, scale=30), torch.tensor([[0.3, 0.2], [0.1, 0.25]])
>>> bool((aam(cosines, targets) > aam.nll(cosines, targets)).all())
True
"""

import math

import torch
import torch.nn.functional as F


class CrossEntropy(torch.nn.Module):
    """Cross-entropy on logits, optionally label-smoothed.

    Arguments
    ---------
    label_smoothing : float
        Passed to :func:`torch.nn.functional.cross_entropy`.
    """

    def __init__(self, label_smoothing=0.0):
        super().__init__()
        self.label_smoothing = label_smoothing

    def logits(self, scores, targets):
        """The training logits (for AAM: with the target's margin applied).

        The loss is convex in these, so a Gauss-Newton split here (model plus
        margin as the "network", cross-entropy as the "loss") stays positive
        semi-definite.
        """
        return scores

    def cross_entropy(self, logits, targets):
        """Per-sample (label-smoothed) cross-entropy of training logits."""
        return F.cross_entropy(logits, targets, reduction="none", label_smoothing=self.label_smoothing)

    def forward(self, scores, targets):
        """Per-sample training loss."""
        return self.cross_entropy(self.logits(scores, targets), targets)

    def log_probs(self, scores):
        """Predictive log-probabilities."""
        return F.log_softmax(scores, dim=-1)

    def nll(self, scores, targets):
        """Per-sample negative log-likelihood of the predictive distribution."""
        return -self.log_probs(scores).gather(1, targets.unsqueeze(1)).squeeze(1)


class AAMSoftmax(CrossEntropy):
    """Additive angular margin softmax on cosine scores (ArcFace, as in ECAPA).

    The target cosine ``cos(t)`` becomes ``cos(t + margin)`` (with the usual
    fallback ``cos(t) - margin * sin(margin)`` past ``pi - margin``), all scores
    are multiplied by ``scale``, and cross-entropy is taken per sample. The
    predictive distribution is ``softmax(scale * cos)``, without the margin.

    Arguments
    ---------
    margin : float
        Angular margin in radians.
    scale : float
        Inverse temperature.
    label_smoothing : float
        Passed to the cross-entropy.
    """

    def __init__(self, margin=0.2, scale=30.0, label_smoothing=0.0):
        super().__init__(label_smoothing)
        self.margin, self.scale = margin, scale

    def logits(self, scores, targets):
        """``scale * cos`` with the target cosine replaced by ``cos(t + margin)``."""
        cosine = scores.clamp(-1 + 1e-7, 1 - 1e-7)
        sine = torch.sqrt(1.0 - cosine**2)
        phi = cosine * math.cos(self.margin) - sine * math.sin(self.margin)
        phi = torch.where(cosine > math.cos(math.pi - self.margin), phi, cosine - self.margin * math.sin(self.margin))
        onehot = F.one_hot(targets, scores.shape[-1]).to(scores.dtype)
        return self.scale * (onehot * phi + (1.0 - onehot) * cosine)

    def log_probs(self, scores):
        """Predictive log-probabilities ``log_softmax(scale * cos)``."""
        return F.log_softmax(self.scale * scores, dim=-1)
