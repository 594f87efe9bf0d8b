"""Fisher forgetting: Gaussian noise shaped by the inverse retain Fisher.

Golatkar, Achille and Soatto (2020), "Eternal Sunshine of the Spotless Net:
Selective Forgetting in Deep Networks", CVPR.

Algorithm
---------
Input: original weights ``theta``, forget set F, retain set R, noise scale
``alpha``, power ``p`` (the paper's 1/4), Fisher floor ``f_min``, standard
deviation cap ``sigma_max``.

1. the diagonal empirical Fisher of the retain loss: ``F = mean_{x in S}
   g_x (.) g_x``, per-sample training-loss gradients in eval mode, over a
   seeded sample S of R (all of R if it is small enough)
2. per-weight standard deviation
   ``sigma = min(sqrt(alpha) * max(F, f_min)^(-p), sigma_max)``: weights the
   retain data barely constrain (small ``F``) get the most noise
3. ``theta <- theta + sigma (.) eps``, ``eps ~ N(0, I)`` (seeded)
4. when whole classes are forgotten, also the head rows of those classes
   (not noised): with a linear head (logits, Speech Commands' CRDNN) the
   weight rows are set to 0 and the biases to ``fisher_class_bias``, a large
   negative logit, so the classes are never predicted (their code sets the
   forgotten class's last-layer parameters to 0 with a tiny variance); a
   cosine head (VoxCeleb's ECAPA) has no bias and its scores are cosines
   bounded by 1, so no value is "large negative", and a zero row scores 0,
   which wins whenever all other cosines are negative: each forgotten row
   becomes ``eps`` times the mean of the retained unit rows (``eps`` of
   :func:`torch.nn.functional.normalize`), whose score is the mean of the
   retained classes' cosines, never above the best of them (the edit of
   :func:`speechbrain_unlearn.methods.head_suppress.suppress_cosine`)
5. return ``theta``

The paper's noise is ``(lambda sigma_h^2)^(1/4) F^(-1/4)`` (``p = 1/4``,
``alpha = sqrt(lambda sigma_h^2)``); their released code uses variance
``alpha / F`` (``p = 1/2``), floors ``F`` at ``1e-3`` (variance cap
``1e3 alpha``), and in addition averages the variance over each output
unit's inputs and multiplies it by 10 for one-dimensional parameters and
the head: those two refinements are not applied here. Their code also takes
the Fisher as the expectation over the model's predicted labels; here it is
the empirical Fisher of the training loss (for VoxCeleb, with the AAM
margin).

Scenarios: all (``sample``, ``class``, ``speaker``, ``list``); step 4 only
when the forget set removes whole classes.
Hparams (``hparams/fisher.yaml``): ``fisher_alpha``, ``fisher_power``,
``fisher_min``, ``fisher_max_std``, ``fisher_samples``, ``fisher_class_bias``;
from the task: ``eval_batch_size``, ``curvature_crop_frames``, ``seed``.
"""

import torch

from speechbrain_unlearn.curvature.diagonal import squared_gradient_sums
from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.heads import class_rows, head_prefix, suppress_cosine


def noise_std(fisher, alpha, power, floor, cap):
    """``min(sqrt(alpha) * max(F, floor)^(-power), cap)``, element-wise.

    Example
    -------
    >>> fisher = torch.tensor([1.0, 1e-4, 0.0])
    >>> [round(s, 4) for s in noise_std(fisher, alpha=1e-4, power=0.25, floor=1e-8, cap=1.0).tolist()]
    [0.01, 0.1, 1.0]
    >>> [round(s, 4) for s in noise_std(fisher, alpha=1e-4, power=0.25, floor=1e-8, cap=0.05).tolist()]
    [0.01, 0.05, 0.05]
    """
    std = float(alpha) ** 0.5 * fisher.clamp(min=float(floor)).pow(-float(power))
    return std.clamp(max=float(cap))


class FisherForgetting(Unlearner):
    """Inverse-Fisher Gaussian noise (see the module docstring)."""

    def unlearn(self, request):
        """Estimate the retain Fisher, add the shaped noise, and clear forgotten classes' head rows."""
        hp, model = self.hparams, self.modules.model
        fisher, n_samples = self.retain_fisher(request.retain)
        forgotten = list(request.forgotten_classes)
        head_rows = class_rows(model, forgotten)
        params = dict(model.named_parameters())
        generator = torch.Generator(device=self.device).manual_seed(int(hp.seed))
        floor, cap = float(hp.fisher_min), float(hp.fisher_max_std)
        entries = floored = capped = 0
        noise_sq = weight_sq = std_sum = 0.0
        with torch.no_grad():
            for name, f in fisher.items():
                param = params[name]
                std = noise_std(f, hp.fisher_alpha, hp.fisher_power, floor, cap)
                if name in head_rows:
                    std[forgotten] = 0.0
                noise = std * torch.randn(param.shape, generator=generator, device=param.device, dtype=param.dtype)
                param.add_(noise)
                entries += f.numel()
                floored += int((f < floor).sum())
                capped += int((std >= cap).sum())
                std_sum += float(std.sum())
                noise_sq += float(noise.pow(2).sum())
                weight_sq += float(param.pow(2).sum())
            head_update = self.clear_classes(model, head_rows, forgotten)
        model.eval()
        return {
            "fisher_samples": n_samples,
            "mean_std": std_sum / max(entries, 1),
            "floored_fraction": floored / max(entries, 1),
            "capped_fraction": capped / max(entries, 1),
            "relative_noise_norm": (noise_sq / max(weight_sq, 1e-30)) ** 0.5,
            "forgotten_classes": forgotten,
            "head_update": head_update,
        }

    def retain_fisher(self, retain_set):
        """Step 1: the mean squared per-sample gradients over a seeded retain sample, and its size."""
        hp, model = self.hparams, self.modules.model
        sample = retain_set.sample(hp.fisher_samples, hp.seed)
        crop = hp.curvature_crop_frames
        stats, _ = squared_gradient_sums(model, hp.loss, sample, self.device, hp.eval_batch_size, crop)
        return stats.mean(), stats.count

    def clear_classes(self, model, head_rows, forgotten):
        """Step 4 on the forgotten classes' head rows; says what was done."""
        if not forgotten:
            return None
        prefix = head_prefix(model)
        bias = head_rows.get(f"{prefix}bias")
        if bias is not None:
            for param in head_rows.values():
                param[forgotten] = 0.0
            bias[forgotten] = float(self.hparams.fisher_class_bias)
            return "zero_rows_negative_bias"
        suppress_cosine(head_rows[f"{prefix}weight"], forgotten)
        return "cosine_rows_to_retained_mean"
