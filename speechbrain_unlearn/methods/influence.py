"""Influence-function unlearning: a Newton step that removes the forget set.

Koh & Liang (2017), "Understanding black-box predictions via influence
functions"; Guo et al. (2020), "Certified data removal from machine learning
models". The derivation of the step (signs and ``1/(n-m)`` scaling) is in
:mod:`speechbrain_unlearn.curvature.newton`.

Algorithm
---------
Input: original weights ``theta*`` trained on ``n`` utterances, forget set F
(``m`` utterances), retain set R, scope S (parameters the update touches),
curvature ``C`` (Gauss-Newton by default: positive semi-definite), damping
``delta``, L2 coefficient ``lambda``, scale ``alpha``.

1. ``g_F = sum_{i in F} grad_S l_i(theta*)``             (forget gradients only)
2. ``H_R v = C_R v + (lambda + delta) v``, ``C_R`` the mean curvature over a
   seeded sample of R                                     (products, no matrix)
3. solve ``H_R s = (g_F + m lambda theta*_S) / (n - m)`` by CG (or LiSSA),
   recording residual, iterations and negative curvature
4. ``theta_S <- theta*_S + alpha s``
5. re-estimate BatchNorm statistics on R                  (they still average F)
6. optionally, ``repair_steps`` minibatch steps on R at the learning rate
   the original's schedule ended with

With the ``head`` scope (the default) the body is frozen: embeddings are
computed once and every curvature product costs a pass through the head
only, which is what makes a request cheap.

Hparams (``hparams/influence.yaml``): ``influence_scope``,
``influence_curvature``, ``influence_solver``, ``influence_damping``,
``influence_l2``, ``influence_alpha``, ``influence_tol``,
``influence_max_iter``, ``influence_curvature_samples``,
``reestimate_batchnorm``, ``repair_steps``.
"""

import time

import torch
from torch.func import functional_call, grad

from speechbrain_unlearn.curvature.newton import newton_removal
from speechbrain_unlearn.curvature.products import curvature_operator, dot, norm
from speechbrain_unlearn.curvature.solvers import top_eigenvalue
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.methods.base import Unlearner


class _Head(torch.nn.Module):
    """The head of a model as a module of its own, for ``functional_call``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, embeddings):
        return self.model.classify(embeddings)


class Influence(Unlearner):
    """Newton-step removal of the forget set on the head (see the module docstring)."""

    def unlearn(self, forget_set, retain_set):
        """Apply the influence update, then BatchNorm re-estimation and optional repair."""
        hp, times = self.hparams, {}
        if hp.influence_scope != "head":
            raise UnlearnError(f"influence_scope {hp.influence_scope!r} is not supported yet; use head")
        model = self.modules.model
        n_forget, n_retain = len(forget_set), len(retain_set)

        start = time.time()
        sample = torch.randperm(n_retain, generator=torch.Generator().manual_seed(int(hp.seed)))
        retain_sample = torch.utils.data.Subset(retain_set, sample[: int(hp.influence_curvature_samples)].tolist())
        emb_f, y_f = self.embed(forget_set, hp.eval_batch_size)
        emb_r, y_r = self.embed(retain_sample, hp.eval_batch_size)
        times["embed"] = time.time() - start

        head = _Head(model)
        prefix = f"model.{model.head_name}."
        params = {k: v.detach().clone() for k, v in head.named_parameters() if k.startswith(prefix)}

        def forget_loss(p):
            return hp.loss(functional_call(head, p, (emb_f,)), y_f).sum()

        # 1. forget gradients, 2. retain curvature operator, 3. solve, 4. step
        start = time.time()
        g_forget = grad(forget_loss)(params)
        # Gauss-Newton split at the training logits (after AAM's margin): the
        # cross-entropy is convex there, so the curvature stays PSD.
        operator = curvature_operator(
            hp.influence_curvature,
            lambda p: hp.loss.logits(functional_call(head, p, (emb_r,)), y_r),
            lambda logits: hp.loss.cross_entropy(logits, y_r).mean(),
            params,
            damping=float(hp.influence_l2) + float(hp.influence_damping),
        )
        step, report = newton_removal(
            g_forget,
            params,
            n_forget + n_retain,
            n_forget,
            operator,
            l2=float(hp.influence_l2),
            alpha=float(hp.influence_alpha),
            solver=hp.influence_solver,
            tol=float(hp.influence_tol),
            max_iter=int(hp.influence_max_iter),
        )
        times["solve"] = time.time() - start
        loss_before = float(forget_loss(params)) / n_forget
        updated = {k: params[k] + step[k] for k in params}
        predicted = loss_before + float(dot(g_forget, step)) / n_forget
        loss_after = float(forget_loss(updated)) / n_forget
        with torch.no_grad():
            for name, value in head.named_parameters():
                if name in updated:
                    value.copy_(updated[name])
        top = top_eigenvalue(operator, params, iters=10)

        # 5. BatchNorm statistics, 6. optional repair
        start = time.time()
        bn_layers = self.reestimate_batchnorm(retain_set, hp.eval_batch_size) if hp.reestimate_batchnorm else 0
        times["batchnorm"] = time.time() - start
        start = time.time()
        if int(hp.repair_steps) > 0:
            self.repair(retain_set, int(hp.repair_steps))
        times["repair"] = time.time() - start
        return {
            "solver": report,
            "step_norm": float(norm(step)),
            "forget_loss_before": loss_before,
            "forget_loss_predicted": predicted,
            "forget_loss_after": loss_after,
            "top_eigenvalue": top,
            "scope_parameters": int(sum(v.numel() for v in params.values())),
            "batchnorm_layers": bn_layers,
            "time_s": {k: round(v, 3) for k, v in times.items()},
        }

    def repair(self, retain_set, steps):
        """``steps`` minibatch steps on the retain set with this method's optimiser."""
        loader = torch.utils.data.DataLoader(
            retain_set, **self.loader_kwargs(retain_set, self.hparams.unlearn_batch_size)
        )
        model = self.modules.model
        optimizer = self.hparams.unlearn_opt_class(model.parameters())
        model.train()
        done = 0
        while done < steps:
            for batch in loader:
                batch = batch.to(self.device)
                loss = self.hparams.loss(model(*batch.feats), batch.label).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                done += 1
                if done >= steps:
                    break
        model.eval()
