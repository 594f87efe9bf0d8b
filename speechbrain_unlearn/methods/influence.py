"""Influence-function unlearning: a Newton step that removes the forget set.

Koh & Liang (2017), "Understanding black-box predictions via influence
functions"; Guo et al. (2020), "Certified data removal from machine learning
models"; Martens & Grosse (2015), Grosse & Martens (2016) and Eschenhagen
et al. (2023, K-FAC-reduce) for the K-FAC curvature of linear and
convolutional layers. The derivation of the step
(signs and ``1/(n-m)`` scaling) is in :mod:`speechbrain_unlearn.curvature.newton`.

Algorithm
---------
Input: original weights ``theta*`` trained on ``n`` utterances with L2
coefficient ``lambda``, forget set F (``m`` utterances), retain set R, scope S,
damping ``delta``, scale ``alpha``; optionally the original's stored curvature
statistics (:mod:`speechbrain_unlearn.curvature.aware`).

1. one pass over F (eval mode, padding-free batches):
   ``g_F = sum_{i in F} grad_S l_i(theta*)``, F's K-FAC factors and embeddings
2. retain curvature ``H_R``, block-diagonal over S:
   * the head: exact Gauss-Newton of the mean retain loss on the retain
     embeddings (PSD: split at the training logits, after AAM's margin);
   * every other layer in S: K-FAC ``A_bar (x) G_bar``: the sums stored
     with the original (source ``cached``; computed now over F and R when
     there are none, source ``computed``) *down-dated* by F's share
3. ``s = H_R^{-1} (g_F + m lambda theta*_S) / (n - m)``, with
   ``H_R + (lambda + delta) I``: conjugate gradient (or LiSSA) on the head,
   the exact damped Kronecker inverse on the other layers
4. ``theta_S <- theta*_S + alpha s`` (``alpha_class`` when whole classes are
   removed: their logits' optimum recedes without bound, and the quadratic
   model underestimates the move), then re-estimate BatchNorm statistics
   on a seeded sample of R (they still average F)
5. safeguard: if the mean loss of a seeded retain sample rose by more than
   ``tau``, or ``||alpha s|| > rho ||theta*_S||``, or anything is not finite,
   undo, multiply ``delta`` by 10 and go back to 3 (a bounded number of
   times; if none holds, the weights stay as they were and ``accepted`` is
   false): K-FAC underestimates the curvature of some directions, and an
   undamped step along them breaks the model
6. optionally, ``repair_steps`` minibatch steps on R at the learning rate
   the original's schedule ended with

Sequential requests: with ``influence_requests: k`` the forget set is served
as k requests (a seeded partition), steps 1-5 each, from the statistics the
previous request down-dated (the stored embeddings and factors stay those of
``theta*``: an approximation that grows with each request).

Fallback checks (``method_status: fallback``: the method retrains from
scratch on R and says why):

* after each request, the gradient residual ``||mean_S grad l_i(theta) +
  lambda theta||`` of the retain objective on a seeded retain sample S (zero
  at the retrained optimum; Guo et al. 2020 bound the same quantity) is
  measured in units of its standard error over S (``residual_z``: about 1
  at a stationary point, from sampling alone, however well the model fits
  its data), and its ratio to the original's ``residual_z_original``
  (``influence_residual_scale: standard_error``) may be at most
  ``influence_residual_bound``. (``original``, the former scale, divides
  the residual by the original's, which is about 0 at a memorised optimum,
  so that any step exceeded it.)
* when whole classes are removed, after the last request: the forgotten
  classes' accuracy on their held-out (validation) utterances may be at
  most ``influence_forgotten_bound``, so an accepted step never leaves a
  forgotten speaker or keyword recognised.

The scope S is ``head`` (the classifier alone), ``all`` (the head and every
``Linear``/``Conv1d``/``Conv2d`` layer) or an integer ``k`` (the head and the
last ``k`` such layers). Recurrent layers (the CRDNN's GRU) and normalisation
layers are not updated; ``scope_coverage`` reports the fraction of the
model's parameters the step touched.

Hparams (``hparams/influence.yaml``): ``influence_scope``,
``influence_curvature``, ``influence_solver``, ``influence_damping``,
``influence_l2``, ``influence_alpha``, ``influence_class_alpha``, ``influence_tol``,
``influence_max_iter``, ``influence_retain_tolerance`` (``tau``),
``influence_max_relative_step`` (``rho``),
``influence_check_samples``, ``influence_damping_trials``,
``influence_requests``, ``influence_residual_bound``, ``influence_residual_scale``,
``influence_forgotten_bound``,
``reestimate_batchnorm``, ``batchnorm_samples``, ``repair_steps``,
``unlearn_batch_size``, ``unlearn_opt_class``, ``unlearn_lr_annealing``; from the
task: ``curvature_crop_frames``, ``weight_decay`` (``lambda``).
"""

import logging
import math
import time

import torch
from torch.func import functional_call, grad

from speechbrain_unlearn.brain import UtteranceBrain
from speechbrain_unlearn.cost import count_gradients
from speechbrain_unlearn.curvature.aware import curvature_statistics
from speechbrain_unlearn.curvature.cached import KroneckerFactors
from speechbrain_unlearn.curvature.ggn_factors import ggn_factors
from speechbrain_unlearn.curvature.kfac_step import kfac_layers, kfac_newton_step
from speechbrain_unlearn.curvature.newton import newton_removal
from speechbrain_unlearn.curvature.per_sample import per_sample_grads
from speechbrain_unlearn.curvature.products import curvature_operator, dot, norm
from speechbrain_unlearn.curvature.solvers import top_eigenvalue
from speechbrain_unlearn.deletable.state import DeletableState
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.methods.base import Unlearner, retrain_from_scratch
from speechbrain_unlearn.methods.heads import HeadOnly, head_prefix, in_head

logger = logging.getLogger(__name__)


def _copy_factors(model, factors):
    """A copy of stored factors that down-dates can change (the stored ones stay intact)."""
    copy = KroneckerFactors(model)
    copy.load_state_dict(factors.state_dict())
    return copy


class Influence(Unlearner):
    """Newton-step removal of the forget set (see the module docstring)."""

    #: The results JSON key of this method's diagnostics.
    results_key = "influence"

    #: The deletion-ready state after the last request (``None`` in the standard regime).
    deletable_state = None

    def unlearn(self, request):
        """Serve the deletion request(s), then the optional repair (see the module docstring)."""
        if isinstance(request.original_statistics, DeletableState):
            return self.remove_exactly(request)
        hp, model = self.hparams, self.modules.model
        model.eval()
        self.alpha = float(hp.influence_class_alpha if request.removes_classes else hp.influence_alpha)
        layers = self.scope_layers(model, hp.influence_scope)
        names = [n for n, _ in model.named_parameters() if n.rsplit(".", 1)[0] in layers or in_head(model, n)]
        self.prepare_checks(request)
        start = time.time()
        source, stats = self.statistics(request)
        statistics_time = time.time() - start
        reports, fallback, residuals = self.serve_requests(request, stats, layers, names)
        start = time.time()
        if int(hp.repair_steps) > 0 and fallback is None:
            self.repair(request.retain, int(hp.repair_steps))
        repair_time = time.time() - start
        total = sum(p.numel() for p in model.parameters())
        touched = sum(p.numel() for n, p in model.named_parameters() if n in names)
        out = {
            **reports[-1],
            "requests": len(reports),
            "curvature_source": source,
            "scope": hp.influence_scope,
            "scope_layers": len(layers) + 1,
            "scope_parameters": int(touched),
            "scope_coverage": round(touched / total, 4),
            **residuals,
            "fallback": fallback,
            # utterances the down-dated statistics still cover (the retain set once all requests are served)
            "statistics_utterances": len(stats["ids"]),
            # the statistics pass over the training set, as a share of the original's training time
            "training_overhead": (request.original_statistics or {}).get("training_overhead"),
        }
        out["time_s"] = {"statistics": round(statistics_time, 3), **out["time_s"], "repair": round(repair_time, 3)}
        if len(reports) > 1:
            out["per_request"] = reports
        return out

    def serve_requests(self, request, stats, layers, names):
        """Steps 1-5 for each request, each followed by the residual check; then the forgotten-class check.

        Returns the requests' reports, the fallback (``None`` if none) and
        the residual at the original, with its standard error and their
        ratio ``residual_z_original``.
        """
        hp = self.hparams
        residual_original, error_original = self.residual_at_original(names)
        z_original = residual_original / max(error_original, 1e-30)
        reports, fallback, n_current = [], None, request.size + len(request.retain)
        for part in self.requests(request.forget):
            report = self.remove(part, n_current, stats, layers)
            n_current -= len(part)
            report["gradient_residual"], report["residual_standard_error"] = self.gradient_residual(names)
            report["residual_z"] = report["gradient_residual"] / max(report["residual_standard_error"], 1e-30)
            report["residual_ratio_to_original"] = report["gradient_residual"] / max(residual_original, 1e-30)
            by_error = hp.influence_residual_scale == "standard_error"
            report["residual_ratio"] = (
                report["residual_z"] / z_original if by_error else report["residual_ratio_to_original"]
            )
            reports.append(report)
            if report["residual_ratio"] > float(hp.influence_residual_bound):
                fallback = self.fall_back(
                    request,
                    f"the gradient residual ratio {report['residual_ratio']:.3g} is above "
                    f"influence_residual_bound {hp.influence_residual_bound}",
                )
                break
        if fallback is None and request.removes_classes:
            reports[-1]["forgotten_check"] = check = self.forgotten_check()
            if check["accuracy"] is not None and check["accuracy"] > float(hp.influence_forgotten_bound):
                fallback = self.fall_back(
                    request,
                    f"the forgotten classes are still recognised: accuracy {check['accuracy']:.3g} on "
                    f"{check['utterances']} held-out utterances is above influence_forgotten_bound "
                    f"{hp.influence_forgotten_bound}",
                )
        original = {
            "gradient_residual_original": residual_original,
            "residual_standard_error_original": error_original,
            "residual_z_original": z_original,
        }
        return reports, fallback, original

    def remove_exactly(self, request):
        """Deletion-ready: each request removed exactly from the stored state, with its certificate.

        Newton steps on the convex retain objective of the deletable head,
        from the current head, to ``deletable_gtol`` (:meth:`DeletableState.remove`);
        no audio is read. The certificate of the last request bounds the
        distance to the head retrained without every request served.
        """
        state, reports = request.original_statistics, []
        for part in self.requests(request.forget):
            start = time.time()
            state, report = state.remove(part.ids)
            reports.append({**report, "time_s": {"solve": round(time.time() - start, 3)}})
        self.modules.model.set_head(state.theta)
        self.deletable_state = state
        out = {
            **reports[-1],
            "regime": "deletion_ready",
            "requests": len(reports),
            "statistics_utterances": len(state.ids),
            "fallback": None,
        }
        if len(reports) > 1:
            out["per_request"] = reports
        return out

    def prepare_checks(self, request):
        """What every request checks against: seeded samples of the final retain set.

        And, when whole classes go, the held-out utterances of those classes.
        """
        hp, retain_set = self.hparams, request.retain
        check = retain_set.sample(hp.influence_check_samples, hp.seed, seeded_order=True)
        self.check_batches = list(check.fixed_length_batches(hp.curvature_crop_frames, hp.eval_batch_size))
        self.bn_sample = retain_set.sample(hp.batchnorm_samples, hp.seed, seeded_order=True)
        held_out, forgotten = request.held_out, set(request.forgotten_classes)
        self.forgotten_held_out = None
        if held_out is not None and forgotten:
            self.forgotten_held_out = held_out.subset(
                [i for i, label in enumerate(held_out.labels) if label in forgotten]
            )

    def forgotten_check(self):
        """Accuracy of the stepped model on held-out utterances of the forgotten classes (``None``: none held out)."""
        held_out = self.forgotten_held_out
        if held_out is None or len(held_out) == 0:
            return {"accuracy": None, "utterances": 0}
        correct = self.score(held_out, self.hparams.eval_batch_size)["correct"]
        return {"accuracy": float(correct.mean()), "utterances": len(held_out)}

    def statistics(self, request):
        """The curvature statistics to down-date: a copy of the stored ones, or computed now over F and R."""
        hp, model = self.hparams, self.modules.model
        stored = request.original_statistics
        if stored is not None:
            return "cached", {**stored, "factors": _copy_factors(model, stored["factors"])}
        crop, batch_size = hp.curvature_crop_frames, hp.eval_batch_size
        return "computed", curvature_statistics(model, request.training_set, hp.loss, int(hp.seed), crop, batch_size)

    def residual_at_original(self, names):
        """The residual of doing nothing and its standard error, with BatchNorm statistics of R as after a step."""
        model = self.modules.model
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        if self.hparams.reestimate_batchnorm:
            self.reestimate_batchnorm(self.bn_sample, self.hparams.eval_batch_size)
        residual = self.gradient_residual(names)
        model.load_state_dict(saved)
        return residual

    @classmethod
    def check_hparams(cls, hparams):
        """The scope and the number of requests, checked before anything is written."""
        scope = hparams["influence_scope"]
        if scope not in ("head", "all") and not (isinstance(scope, int) and not isinstance(scope, bool) and scope >= 0):
            raise UnlearnError(f"influence_scope must be head, all or a number of layers, not {scope!r}")
        if not isinstance(hparams["influence_requests"], int) or hparams["influence_requests"] < 1:
            raise UnlearnError(f"influence_requests must be at least 1, not {hparams['influence_requests']!r}")
        if hparams["influence_residual_scale"] not in ("standard_error", "original"):
            raise UnlearnError(
                "influence_residual_scale must be standard_error or original, "
                f"not {hparams['influence_residual_scale']!r}"
            )

    def requests(self, forget_set):
        """The forget set as ``influence_requests`` deletion requests (a seeded partition)."""
        n_requests = int(self.hparams.influence_requests)
        if n_requests > len(forget_set):
            raise UnlearnError(
                f"influence_requests ({n_requests}) is more than the forget set's {len(forget_set)} utterances"
            )
        order = torch.randperm(len(forget_set), generator=torch.Generator().manual_seed(int(self.hparams.seed) + 1))
        return [forget_set.subset(sorted(part.tolist())) for part in torch.tensor_split(order, n_requests)]

    def remove(self, part, n_train, stats, layers):
        """Remove one request from ``self.modules.model`` and down-date ``stats`` (steps 1 to 5)."""
        start = time.time()
        forget = self.forget_pass(part, layers)  # 1.
        self.downdate(stats, forget, layers)  # 2.
        times = {"forget_pass": time.time() - start}
        start = time.time()
        step = self.damped_step(forget, stats, layers, n_train, len(part))  # 3. to 5.
        times["solve"] = time.time() - start
        grad_all = {**{k[len("model.") :]: v for k, v in forget["g_head"].items()}, **forget["g_layers"]}
        predicted = forget["loss_before"] + float(dot({k: grad_all[k] for k in step["step"]}, step["step"]))
        n_forget = len(part)
        return {
            "solver": step["solver"],
            "damping_trials": step["trials"],
            "damping": step["trials"][-1]["damping"],
            "accepted": step["accepted"],
            "step_norm": float(norm(step["step"])),
            "forget_loss_before": forget["loss_before"] / n_forget,
            "forget_loss_predicted": predicted / n_forget,
            "forget_loss_after": step["loss_after"] / n_forget,
            "top_eigenvalue": {"head": step["head_top"], "kfac": step["kfac_top"]},
            "batchnorm_layers": step["batchnorm_layers"],
            "time_s": {k: round(v, 3) for k, v in times.items()},
        }

    def forget_pass(self, part, layers):
        """Step 1: one pass over the request: its batches, gradients, loss, embeddings and head gradient."""
        hp, model = self.hparams, self.modules.model
        batches = list(part.fixed_length_batches(hp.curvature_crop_frames, hp.eval_batch_size))
        names = [n for n, _ in model.named_parameters() if n.rsplit(".", 1)[0] in layers]
        g_layers, loss_before = self.forget_gradients(model, batches, names)
        with torch.no_grad():
            embeddings = torch.cat([model.embed(*b.feats) for b in batches])
            labels = torch.cat([b.label for b in batches])
        head = HeadOnly(model)
        head_params = {
            k: v.detach().clone() for k, v in head.named_parameters() if k.startswith(f"model.{head_prefix(model)}")
        }

        def head_loss(p, emb, y):
            return hp.loss(functional_call(head, p, (emb,)), y).sum()

        g_head = grad(head_loss)(head_params, embeddings, labels)
        return {
            "batches": batches,
            "g_layers": g_layers,
            "loss_before": loss_before,
            "g_head": g_head,
            "head": head,
            "head_params": head_params,
        }

    def downdate(self, stats, forget, layers):
        """Step 2: subtract the request's share from the factors; drop its stored embeddings."""
        hp, model = self.hparams, self.modules.model
        forget_ids = {i for b in forget["batches"] for i in b.id}
        if layers:
            batches = ((b.id, b.feats, b.label) for b in forget["batches"])
            stats["factors"].merge(ggn_factors(model, batches, hp.loss.logits, int(hp.seed)), sign=-1.0)
        keep = torch.tensor([i not in forget_ids for i in stats["ids"]])
        stats.update(
            embeddings=stats["embeddings"][keep],
            labels=stats["labels"][keep],
            ids=[i for i, k in zip(stats["ids"], keep.tolist()) if k],
        )

    def damped_step(self, forget, stats, layers, n_train, n_forget):
        """Steps 3 to 5: solve and step, raising the damping until the safeguard holds (else undo)."""
        hp, model = self.hparams, self.modules.model
        damping = float(hp.influence_l2) + float(hp.influence_damping)
        check_before = self.check_loss()
        saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
        trials = []
        for trial in range(int(hp.influence_damping_trials)):
            if trial:
                model.load_state_dict(saved)
            result = self.trial_step(forget, stats, layers, (n_train, n_forget), damping, saved)
            result["retain_loss_change"] = self.check_loss() - check_before
            trials.append({k: result.pop(k) for k in ("damping", "retain_loss_change", "relative_step")})
            if self.acceptable(trials[-1]["retain_loss_change"], trials[-1]["relative_step"], result["loss_after"]):
                break
            damping *= 10.0
        accepted = self.acceptable(trials[-1]["retain_loss_change"], trials[-1]["relative_step"], result["loss_after"])
        if not accepted:
            # no damping made the step safe: leave the weights as they were
            model.load_state_dict(saved)
            result["step"] = {k: torch.zeros_like(v) for k, v in result["step"].items()}
            result["loss_after"] = forget["loss_before"]
            result["batchnorm_layers"] = self.reestimate()
        result["head_top"] = top_eigenvalue(result.pop("operator"), forget["head_params"], iters=10)
        return {**result, "trials": trials, "accepted": accepted}

    def trial_step(self, forget, stats, layers, sizes, damping, saved):
        """One damping trial: the head's and the layers' Newton steps, applied; what the safeguard reads."""
        hp, model = self.hparams, self.modules.model
        emb_r, y_r, head = stats["embeddings"], stats["labels"], forget["head"]
        operator = curvature_operator(
            hp.influence_curvature,
            lambda p: hp.loss.logits(functional_call(head, p, (emb_r,)), y_r),
            lambda logits: hp.loss.cross_entropy(logits, y_r).mean(),
            forget["head_params"],
            damping=damping,
        )
        l2 = float(hp.influence_l2)
        head_step, report = newton_removal(
            forget["g_head"],
            forget["head_params"],
            *sizes,
            operator,
            l2=l2,
            alpha=self.alpha,
            solver=hp.influence_solver,
            tol=float(hp.influence_tol),
            max_iter=int(hp.influence_max_iter),
        )
        body_step, kfac_top = kfac_newton_step(
            model, stats["factors"], layers, forget["g_layers"], sizes, l2, damping, self.alpha
        )
        step_all = {**{k[len("model.") :]: v for k, v in head_step.items()}, **body_step}
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in step_all.items():
                params[name].add_(value)
        # the forget loss the first-order prediction refers to (BatchNorm as it was)
        loss_after = self.forget_gradients(model, forget["batches"], [])[1]
        # the retain check runs with BatchNorm statistics of the stepped weights
        bn_layers = self.reestimate()
        relative_step = float(norm(step_all)) / max(float(norm({k: saved[k] for k in step_all})), 1e-12)
        return {
            "step": step_all,
            "solver": report,
            "loss_after": loss_after,
            "batchnorm_layers": bn_layers,
            "damping": damping,
            "relative_step": relative_step,
            "operator": operator,
            "kfac_top": kfac_top,
        }

    def reestimate(self):
        """Re-estimate BatchNorm statistics on the retain sample if ``reestimate_batchnorm`` (the number of layers)."""
        if not self.hparams.reestimate_batchnorm:
            return 0
        return self.reestimate_batchnorm(self.bn_sample, self.hparams.eval_batch_size)

    def check_loss(self):
        """Mean loss of the retain check sample."""
        return self.forget_gradients(self.modules.model, self.check_batches, [])[1] / sum(
            len(b.id) for b in self.check_batches
        )

    def gradient_residual(self, names):
        """``||mean_S grad l_i + lambda theta||`` over the scope on the retain check sample, and its standard error.

        The residual is the gradient of the retain objective, which vanishes
        at the retrained optimum: the honest proxy of accumulated error (Guo
        et al. 2020). Its standard error ``sqrt(sum_i ||g_i - g_bar||^2 /
        (|S| (|S| - 1)))`` (per-utterance gradients ``g_i``) is the size the
        residual has from sampling alone at a stationary point, however well
        the model fits its data.
        """
        model = self.modules.model
        params = dict(model.named_parameters())
        total, squares, count = 0.0, 0.0, 0
        for batch in self.check_batches:
            grads, _ = per_sample_grads(
                model, {n: params[n] for n in names}, self._summed_loss, batch.feats, batch.label
            )
            flat = torch.cat([grads[n].reshape(len(batch.label), -1) for n in names], dim=1)
            total, squares, count = total + flat.sum(0), squares + float(flat.square().sum()), count + len(flat)
        mean = total / count
        theta = torch.cat([params[n].detach().reshape(-1) for n in names])
        residual = float((mean + float(self.hparams.influence_l2) * theta).norm())
        spread = max(squares - count * float(mean @ mean), 0.0) / max(count * (count - 1), 1)
        return residual, spread**0.5

    def _summed_loss(self, outputs, targets):
        return self.hparams.loss(outputs, targets).sum()

    def fall_back(self, request, why):
        """Retrain from scratch on the retain set, saying ``why`` (``method_status`` ``fallback``)."""
        self.fallback = f"{why}: retrained from scratch on the retain set instead"
        logger.warning("influence: %s", self.fallback)
        start = time.time()
        brain = UtteranceBrain(
            modules={"model": self.modules.model},
            opt_class=self.hparams.opt_class,
            hparams=vars(self.hparams),
            run_opts={"device": str(self.device)},
            checkpointer=self.checkpointer,
        )
        retrain_from_scratch(brain, request)
        return {"method": "retrain", "time_s": round(time.time() - start, 3)}

    def acceptable(self, retain_change, relative_step, forget_loss):
        """The safeguard: a finite step within the trust region that keeps the retain loss."""
        finite = all(math.isfinite(v) for v in (retain_change, relative_step, forget_loss))
        return (
            finite
            and retain_change <= float(self.hparams.influence_retain_tolerance)
            and relative_step <= float(self.hparams.influence_max_relative_step)
        )

    @staticmethod
    def scope_layers(model, scope):
        """The K-FAC layers (module names) the step updates besides the head."""
        layers = kfac_layers(model, model.head_name)
        if scope == "head":
            return []
        if scope == "all":
            return layers
        if isinstance(scope, int) and not isinstance(scope, bool) and scope >= 0:
            return layers[len(layers) - scope :] if scope else []
        raise UnlearnError(f"influence_scope must be head, all or a number of layers, not {scope!r}")

    def forget_gradients(self, model, batches, names):
        """Summed forget gradients of parameters ``names`` and the summed forget loss."""
        named = dict(model.named_parameters())
        params = [named[n] for n in names]
        total = {n: torch.zeros_like(named[n]) for n in names}
        loss_sum = 0.0
        model.eval()
        for batch in batches:
            loss = self.hparams.loss(model(*batch.feats), batch.label).sum()
            count_gradients(len(batch.label))
            if params:
                for n, g in zip(names, torch.autograd.grad(loss, params, allow_unused=True)):
                    if g is not None:
                        total[n] += g
            loss_sum += float(loss.detach())
        return total, loss_sum

    def repair(self, retain_set, steps):
        """``steps`` minibatch steps on the retain set with this method's optimiser."""
        optimizer = self.hparams.unlearn_opt_class(self.modules.model.parameters())
        self.train_steps(retain_set, steps, optimizer, self.hparams.unlearn_batch_size)
