"""Selective Synaptic Dampening: shrink the weights far more important to the forget set than to the data.

Foster, Schoepf and Brintrup (2024), "Fast Machine Unlearning Without
Retraining Through Selective Synaptic Dampening", AAAI.

Algorithm
---------
Input: original weights ``theta``, forget set F (``n_F`` utterances),
retain set R (``n_R``), selection weight ``alpha``, dampening constant
``lambda``.

1. importances, the diagonal of the empirical Fisher (mean squared
   per-sample gradients of the training loss, eval mode):
   ``[]_F = mean_{x in F} g_x (.) g_x`` and, over the training set
   ``D = F u R``,
   ``[]_D = (n_F mean_F + n_R mean_R) / (n_F + n_R)`` (the two sums are
   taken separately and added; ``mean_R`` may be estimated on a seeded
   sample of R)
2. for every weight ``i`` with ``[]_F,i > alpha []_D,i``:
   ``theta_i <- beta_i theta_i``, ``beta_i = min(lambda []_D,i / []_F,i, 1)``
3. every other weight is left as it is; no training

Selection needs ``alpha n_F / (n_F + n_R) < 1``: since ``[]_D`` contains
``[]_F`` with weight ``n_F / n``, a weight can only satisfy
``[]_F > alpha []_D`` if ``alpha < n / n_F``. The paper's ``alpha = 10`` was
chosen for image classifiers forgetting a small share of the data (their
code also takes squared *minibatch* gradients, whose mean over D is much
smaller than that of per-sample gradients); with a 10% forget set (or one
of 10 keywords) it selects no weight at all here. The method then logs a
warning and reports ``selectable: false`` in its diagnostics.

Scenarios: all (``sample``, ``class``, ``speaker``, ``list``).
Hparams (``hparams/ssd.yaml``): ``ssd_alpha``, ``ssd_lambda``,
``ssd_retain_samples``; from the task: ``eval_batch_size``,
``curvature_crop_frames``.
"""

import logging

import torch

from speechbrain_unlearn.curvature.diagonal import squared_gradient_sums
from speechbrain_unlearn.methods.base import Unlearner

logger = logging.getLogger(__name__)


def dampening_factors(forget_importance, data_importance, alpha, lam):
    """SSD's per-weight factors: ``min(lambda D / F, 1)`` where ``F > alpha D``, else 1.

    Example
    -------
    >>> forget, data = torch.tensor([1.0, 1.0, 0.5, 2.0]), torch.tensor([0.05, 0.2, 0.01, 0.0])
    >>> dampening_factors(forget, data, alpha=10.0, lam=1.0).tolist()
    [0.05000000074505806, 1.0, 0.019999999552965164, 0.0]
    """
    selected = forget_importance > alpha * data_importance
    beta = (lam * data_importance / forget_importance.clamp(min=torch.finfo(forget_importance.dtype).tiny)).clamp(
        max=1.0
    )
    return torch.where(selected, beta, torch.ones_like(beta))


class SSD(Unlearner):
    """Selective Synaptic Dampening (see the module docstring)."""

    def unlearn(self, request):
        """Compute the importances and dampen the selected weights (steps 1 to 3)."""
        hp, model = self.hparams, self.modules.model
        forget_set, retain_set = request.forget, request.retain
        forget_imp, data_imp, n_retain = self.importances(forget_set, retain_set)
        alpha, lam = float(hp.ssd_alpha), float(hp.ssd_lambda)
        share = len(forget_set) / (len(forget_set) + len(retain_set))
        selectable = alpha * share < 1.0
        if not selectable:
            logger.warning(
                "ssd: ssd_alpha %s times the forget share %.3f is at least 1, so no weight can be selected; "
                "lower ssd_alpha below %.2f",
                alpha,
                share,
                1.0 / share,
            )
        params = dict(model.named_parameters())
        dampened, total, factors = 0, 0, []
        with torch.no_grad():
            for name, f_imp in forget_imp.items():
                beta = dampening_factors(f_imp, data_imp[name], alpha, lam)
                params[name].mul_(beta)
                changed = beta < 1.0
                dampened += int(changed.sum())
                total += beta.numel()
                factors.append(beta[changed])
        factors = torch.cat(factors) if factors else torch.zeros(0)
        model.eval()
        return {
            "selectable": selectable,
            "forget_share": round(share, 6),
            "dampened_weights": dampened,
            "dampened_fraction": dampened / max(total, 1),
            "mean_factor": float(factors.mean()) if len(factors) else None,
            "retain_importance_samples": n_retain,
        }

    def importances(self, forget_set, retain_set):
        """``[]_F`` and ``[]_D`` by parameter name, and the number of retain utterances sampled."""
        hp, model = self.hparams, self.modules.model
        crop, batch_size = hp.curvature_crop_frames, hp.eval_batch_size
        forget, _ = squared_gradient_sums(model, hp.loss, forget_set, self.device, batch_size, crop)
        sample = retain_set.sample(hp.ssd_retain_samples, hp.seed)
        retain, _ = squared_gradient_sums(model, hp.loss, sample, self.device, batch_size, crop)
        n_forget, n_retain = len(forget_set), len(retain_set)
        forget_mean, retain_mean = forget.mean(), retain.mean()
        data_mean = {
            k: (n_forget * forget_mean[k] + n_retain * retain_mean[k]) / (n_forget + n_retain) for k in forget_mean
        }
        return forget_mean, data_mean, retain.count
