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
statistics (:mod:`speechbrain_unlearn.aware`).

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
``theta*``: an approximation that grows with each request). After each
request the gradient residual ``||mean_S grad l_i(theta) + lambda theta||``
of the retain objective on a seeded retain sample S (zero at the retrained
optimum; Guo et al. 2020 bound the same quantity) is compared with its value
at ``theta*``; past ``influence_residual_bound`` times that, the method logs
it, retrains from scratch on R and reports ``fallback``.

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
``influence_requests``, ``influence_residual_bound``,
``reestimate_batchnorm``, ``batchnorm_samples``, ``repair_steps``,
``unlearn_batch_size``, ``unlearn_opt_class``, ``unlearn_lr_annealing``; from the
task: ``curvature_crop_frames``, ``weight_decay`` (``lambda``).
"""

import logging
import math
import time

import torch
from torch.func import functional_call, grad

from speechbrain_unlearn.aware import curvature_statistics
from speechbrain_unlearn.curvature.cached import KroneckerFactors, layer_matrix, split_layer_matrix
from speechbrain_unlearn.curvature.ggn_factors import ggn_factors
from speechbrain_unlearn.curvature.newton import newton_removal, removal_rhs
from speechbrain_unlearn.curvature.products import curvature_operator, dot, norm
from speechbrain_unlearn.curvature.solvers import top_eigenvalue
from speechbrain_unlearn.data.dataio import fixed_length_batches, make_dataset
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.evaluation.cost import count_gradients
from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.common import subset

logger = logging.getLogger(__name__)


def _copy_factors(model, factors):
    """A copy of stored factors that down-dates can change (the stored ones stay intact)."""
    copy = KroneckerFactors(model)
    copy.load_state_dict(factors.state_dict())
    return copy


def _union(first, second):
    """The :func:`make_dataset` dataset of two such datasets' rows."""
    src = first.source
    return make_dataset(src["rows"] + second.source["rows"], src["encoder"], src["store"], src["crop_frames"])


class _Head(torch.nn.Module):
    """The head of a model as a module of its own, for ``functional_call``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, embeddings):
        return self.model.classify(embeddings)


class Influence(Unlearner):
    """Newton-step removal of the forget set (see the module docstring)."""

    #: The results JSON key of this method's diagnostics.
    results_key = "influence"

    def unlearn(self, forget_set, retain_set):
        """Serve the deletion request(s), then the optional repair (see the module docstring)."""
        hp, model = self.hparams, self.modules.model
        model.eval()
        crop, batch_size = hp.curvature_crop_frames, hp.eval_batch_size
        layers = self.scope_layers(model, hp.influence_scope)
        names = [n for n, _ in model.named_parameters() if n.rsplit(".", 1)[0] in layers or self.in_head(model, n)]

        # what every request checks against: seeded samples of the final retain set
        order = torch.randperm(len(retain_set), generator=torch.Generator().manual_seed(int(hp.seed))).tolist()
        check = subset(retain_set, order[: int(hp.influence_check_samples)])
        self.check_batches = list(fixed_length_batches(check, crop, batch_size))
        self.bn_sample = torch.utils.data.Subset(retain_set, order[: int(hp.batchnorm_samples)])

        start = time.time()
        stored = getattr(hp, "original_curvature", None)
        if stored is not None:
            source = "cached"
            stats = {**stored, "factors": _copy_factors(model, stored["factors"])}
        else:
            source = "computed"
            stats = curvature_statistics(model, _union(forget_set, retain_set), hp.loss, int(hp.seed), crop, batch_size)
        statistics_time = time.time() - start

        # the residual of doing nothing, with BatchNorm statistics of R as after a step
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        if hp.reestimate_batchnorm:
            self.reestimate_batchnorm(self.bn_sample, batch_size)
        residual_original = self.gradient_residual(names)
        model.load_state_dict(saved)
        n_current = len(forget_set) + len(retain_set)
        reports, fallback = [], None
        for request in self.requests(forget_set):
            report = self.remove(request, n_current, stats, layers)
            n_current -= len(request.source["rows"])
            report["gradient_residual"] = self.gradient_residual(names)
            report["residual_ratio"] = report["gradient_residual"] / max(residual_original, 1e-30)
            reports.append(report)
            if report["residual_ratio"] > float(hp.influence_residual_bound):
                fallback = self.fall_back(forget_set, retain_set)
                break

        start = time.time()
        if int(hp.repair_steps) > 0 and fallback is None:
            self.repair(retain_set, int(hp.repair_steps))
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
            "gradient_residual_original": residual_original,
            "fallback": fallback,
            # utterances the down-dated statistics still cover (the retain set once all requests are served)
            "statistics_utterances": len(stats["ids"]),
        }
        out["time_s"] = {"statistics": round(statistics_time, 3), **out["time_s"], "repair": round(repair_time, 3)}
        if len(reports) > 1:
            out["per_request"] = reports
        return out

    @classmethod
    def check_hparams(cls, hparams):
        """The scope and the number of requests, checked before anything is written."""
        scope = hparams["influence_scope"]
        if scope not in ("head", "all") and not (isinstance(scope, int) and not isinstance(scope, bool) and scope >= 0):
            raise UnlearnError(f"influence_scope must be head, all or a number of layers, not {scope!r}")
        if not isinstance(hparams["influence_requests"], int) or hparams["influence_requests"] < 1:
            raise UnlearnError(f"influence_requests must be at least 1, not {hparams['influence_requests']!r}")

    def requests(self, forget_set):
        """The forget set as ``influence_requests`` deletion requests (a seeded partition)."""
        n_requests = int(self.hparams.influence_requests)
        rows = forget_set.source["rows"]
        if n_requests > len(rows):
            raise UnlearnError(
                f"influence_requests ({n_requests}) is more than the forget set's {len(rows)} utterances"
            )
        order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(int(self.hparams.seed) + 1))
        return [subset(forget_set, sorted(part.tolist())) for part in torch.tensor_split(order, n_requests)]

    def remove(self, request, n_train, stats, layers):
        """Remove one request from ``self.modules.model`` and down-date ``stats`` (steps 1 to 5)."""
        hp, model, times = self.hparams, self.modules.model, {}
        n_forget = len(request.source["rows"])
        crop, batch_size = hp.curvature_crop_frames, hp.eval_batch_size
        l2, damping = float(hp.influence_l2), float(hp.influence_l2) + float(hp.influence_damping)

        # 1. one pass over the forget set
        start = time.time()
        forget_batches = list(fixed_length_batches(request, crop, batch_size))
        names = [n for n, _ in model.named_parameters() if n.rsplit(".", 1)[0] in layers]
        g_forget, loss_before = self.forget_gradients(model, forget_batches, names)
        with torch.no_grad():
            emb_f = torch.cat([model.embed(*b.feats) for b in forget_batches])
            y_f = torch.cat([b.label for b in forget_batches])
        # 2. the retain curvature: down-date the statistics
        forget_ids = {i for b in forget_batches for i in b.id}
        if layers:
            batches = ((b.id, b.feats, b.label) for b in forget_batches)
            stats["factors"].merge(ggn_factors(model, batches, hp.loss.logits, int(hp.seed)), sign=-1.0)
        keep = torch.tensor([i not in forget_ids for i in stats["ids"]])
        stats.update(
            embeddings=stats["embeddings"][keep],
            labels=stats["labels"][keep],
            ids=[i for i, k in zip(stats["ids"], keep.tolist()) if k],
        )
        emb_r, y_r = stats["embeddings"], stats["labels"]
        times["forget_pass"] = time.time() - start

        # 3. solve, 4. step, 5. safeguard: damping raised until the step is safe
        start = time.time()
        head = _Head(model)
        prefix = f"model.{model.head_name}."
        head_params = {k: v.detach().clone() for k, v in head.named_parameters() if k.startswith(prefix)}

        def head_loss(p, emb, y):
            return hp.loss(functional_call(head, p, (emb,)), y).sum()

        g_head = grad(head_loss)(head_params, emb_f, y_f)
        check_before = self.check_loss()
        saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
        trials = []
        for trial in range(int(hp.influence_damping_trials)):
            if trial:
                model.load_state_dict(saved)
            operator = curvature_operator(
                hp.influence_curvature,
                lambda p: hp.loss.logits(functional_call(head, p, (emb_r,)), y_r),
                lambda logits: hp.loss.cross_entropy(logits, y_r).mean(),
                head_params,
                damping=damping,
            )
            head_step, report = newton_removal(
                g_head,
                head_params,
                n_train,
                n_forget,
                operator,
                l2=l2,
                alpha=self.alpha(),
                solver=hp.influence_solver,
                tol=float(hp.influence_tol),
                max_iter=int(hp.influence_max_iter),
            )
            body_step, kfac_top = self.kfac_step(
                model, stats["factors"], layers, g_forget, (n_train, n_forget), l2, damping, self.alpha()
            )
            step_all = {**{k[len("model.") :]: v for k, v in head_step.items()}, **body_step}
            params = dict(model.named_parameters())
            with torch.no_grad():
                for name, value in step_all.items():
                    params[name].add_(value)
            # the forget loss the first-order prediction refers to (BatchNorm as it was)
            loss_after = self.forget_gradients(model, forget_batches, [])[1]
            # the retain check runs with BatchNorm statistics of the stepped weights
            bn_layers = self.reestimate_batchnorm(self.bn_sample, batch_size) if hp.reestimate_batchnorm else 0
            relative_step = float(norm(step_all)) / max(float(norm({k: saved[k] for k in step_all})), 1e-12)
            change = self.check_loss() - check_before
            trials.append({"damping": damping, "retain_loss_change": change, "relative_step": relative_step})
            if self.acceptable(change, relative_step, loss_after):
                break
            damping *= 10.0
        accepted = self.acceptable(trials[-1]["retain_loss_change"], trials[-1]["relative_step"], loss_after)
        if not accepted:
            # no damping made the step safe: leave the weights as they were
            model.load_state_dict(saved)
            step_all = {k: torch.zeros_like(v) for k, v in step_all.items()}
            loss_after = loss_before
            bn_layers = self.reestimate_batchnorm(self.bn_sample, batch_size) if hp.reestimate_batchnorm else 0
        times["solve"] = time.time() - start
        grad_all = {**{k[len("model.") :]: v for k, v in g_head.items()}, **g_forget}
        predicted = loss_before + float(dot({k: grad_all[k] for k in step_all}, step_all))
        return {
            "solver": report,
            "damping_trials": trials,
            "damping": trials[-1]["damping"],
            "accepted": accepted,
            "step_norm": float(norm(step_all)),
            "forget_loss_before": loss_before / n_forget,
            "forget_loss_predicted": predicted / n_forget,
            "forget_loss_after": loss_after / n_forget,
            "top_eigenvalue": {"head": top_eigenvalue(operator, head_params, iters=10), "kfac": kfac_top},
            "batchnorm_layers": bn_layers,
            "time_s": {k: round(v, 3) for k, v in times.items()},
        }

    def alpha(self):
        """The step scale: ``influence_class_alpha`` when whole classes are removed."""
        hp = self.hparams
        return float(hp.influence_class_alpha if getattr(hp, "forget_removes_classes", False) else hp.influence_alpha)

    def check_loss(self):
        """Mean loss of the retain check sample."""
        return self.forget_gradients(self.modules.model, self.check_batches, [])[1] / sum(
            len(b.id) for b in self.check_batches
        )

    def gradient_residual(self, names):
        """``||mean_S grad l_i + lambda theta||`` over the scope on the retain check sample.

        The gradient of the retain objective, which vanishes at the retrained
        optimum: the honest proxy of accumulated error (Guo et al. 2020).
        """
        model = self.modules.model
        grads, loss_sum = self.forget_gradients(model, self.check_batches, names)
        count = sum(len(b.id) for b in self.check_batches)
        params = dict(model.named_parameters())
        l2 = float(self.hparams.influence_l2)
        return float(norm({n: grads[n] / count + l2 * params[n].detach() for n in names}))

    def fall_back(self, forget_set, retain_set):
        """Retrain from scratch on the retain set when the residual bound is passed."""
        from speechbrain_unlearn.methods.retrain import Retrain

        logger.warning("influence: gradient residual above the bound; falling back to retraining")
        start = time.time()
        brain = Retrain(
            modules={"model": self.modules.model},
            opt_class=self.hparams.opt_class,
            hparams=vars(self.hparams),
            run_opts={"device": str(self.device)},
            checkpointer=self.checkpointer,
        )
        brain.unlearn(forget_set, retain_set)
        return {"method": "retrain", "time_s": round(time.time() - start, 3)}

    @staticmethod
    def in_head(model, name):
        """Whether parameter ``name`` belongs to the head."""
        return name.startswith(f"{model.head_name}.")

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
        layers = [n for n in KroneckerFactors(model).layers if not n.startswith(model.head_name)]
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
            loss_sum += float(loss)
        return total, loss_sum

    @staticmethod
    def kfac_step(model, factors, layers, g_forget, sizes, l2, damping, alpha):
        """The K-FAC block of the Newton step, by parameter name, and the top eigenvalue."""
        n_train, n_forget = sizes
        if not layers:
            return {}, None
        modules = dict(model.named_modules())
        params = dict(model.named_parameters())
        scope = {n: params[n] for n in g_forget}
        rhs = removal_rhs(g_forget, scope, n_train, n_forget, l2)
        mats = {}
        for layer in layers:
            module = modules[layer]
            mats[layer] = layer_matrix(module, rhs[f"{layer}.weight"], rhs.get(f"{layer}.bias"))
        solved, top = factors.inverse_product(mats, damping)
        step = {}
        for layer, mat in solved.items():
            weight, bias = split_layer_matrix(modules[layer], mat)
            step[f"{layer}.weight"] = alpha * weight
            if bias is not None:
                step[f"{layer}.bias"] = alpha * bias
        return step, top

    def repair(self, retain_set, steps):
        """``steps`` minibatch steps on the retain set with this method's optimiser."""
        optimizer = self.hparams.unlearn_opt_class(self.modules.model.parameters())
        self.train_steps(retain_set, steps, optimizer, self.hparams.unlearn_batch_size)
