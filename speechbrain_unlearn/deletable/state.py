"""What a deletion request needs, stored with a deletion-ready model, and serving requests from it.

:class:`DeletableState` holds the user training set's core features, labels
and IDs, the solve settings (``l2``, ``gtol``) and the head ``theta`` that
minimises their objective. A request names utterance IDs (or a whole class,
as the IDs of its utterances); :meth:`DeletableState.remove` solves the
objective without them from the current head
(:func:`~speechbrain_unlearn.deletable.solve.remove`) and returns the next
state, so requests chain: the state after request k is the start of request
k + 1, and the audio of retained users is never read again. The state is
saved and loaded as plain tensors (no code is unpickled).

Example
-------
>>> _ = torch.manual_seed(0)
>>> ids = [f"u{i}" for i in range(30)]
>>> state = DeletableState.fit(ids, torch.randn(30, 4), torch.arange(30) % 3, n_classes=3, l2=0.01)
>>> after, report = state.remove(["u3", "u7"])
>>> len(after.ids), report["certificate"]["gradient_norm"] <= state.gtol
(28, True)
>>> retrained = state.retrained(["u3", "u7"])
>>> bool((after.theta - retrained.theta).norm() <= 2 * state.gtol / state.l2)
True
>>> state.remove(["nobody"])
Traceback (most recent call last):
...
speechbrain_unlearn.errors.UnlearnError: 1 forget ID is not in the deletable part's training set (first: nobody); ...
"""

import dataclasses

import torch

from speechbrain_unlearn.deletable.blocks import ClassBlocks
from speechbrain_unlearn.deletable.hessian import LogisticHessian
from speechbrain_unlearn.deletable.logistic import LogisticObjective, Sums
from speechbrain_unlearn.deletable.solve import DIRECTION_DTYPE, newton, remove
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.io import load_tensors, save_tensors


@dataclasses.dataclass(frozen=True)
class DeletableState:
    """The stored statistics of the deletable part and its head (see the module docstring).

    Besides the set and the head: ``loss_sum`` and ``gradient_sum``, the
    set's :class:`~speechbrain_unlearn.deletable.logistic.Sums` at ``theta``
    (a request subtracts the forget set's from them, so its first Newton
    iteration needs no pass over the kept set), and ``blocks``, the Cholesky
    factors of the Hessian's class blocks at the head solved on the whole
    set (:class:`~speechbrain_unlearn.deletable.blocks.ClassBlocks`): the
    conjugate gradient's preconditioner for every later request (a
    preconditioner need not be exact; the certificate does not depend on it).
    ``noise``: the loss perturbation of (epsilon, delta) certified removal
    (:mod:`~speechbrain_unlearn.deletable.perturbation`) for ``privacy``
    ``(epsilon, delta)``, kept by every request and by :meth:`retrained`;
    ``None``: none.
    """

    ids: tuple
    features: torch.Tensor
    labels: torch.Tensor
    n_classes: int
    l2: float
    gtol: float
    theta: torch.Tensor
    loss_sum: float = None
    gradient_sum: torch.Tensor = None
    blocks: torch.Tensor = None
    noise: torch.Tensor = None
    privacy: tuple = None

    @classmethod
    def fit(cls, ids, features, labels, n_classes, l2, gtol=1e-10, noise=None, privacy=None):
        """The state whose head is solved on the whole set from zeros, to ``gtol`` (perturbed by ``noise``)."""
        state = cls(
            tuple(ids),
            torch.as_tensor(features, dtype=torch.float64),
            torch.as_tensor(labels),
            n_classes,
            float(l2),
            float(gtol),
            torch.zeros(0),
            noise=noise,
            privacy=privacy,
        )
        objective = state.objective()
        theta, report, sums = newton(objective, gtol=state.gtol)
        if not report["converged"]:
            raise UnlearnError(
                f"the deletable part did not reach gtol {gtol} ({report['gradient_norm']:.3g}); raise it"
            )
        blocks = ClassBlocks.of(LogisticHessian(objective, theta, dtype=DIRECTION_DTYPE))
        return dataclasses.replace(state, blocks=blocks.factors).at(theta, sums)

    def at(self, theta, sums):
        """The state with the head ``theta`` and the set's sums there."""
        return dataclasses.replace(self, theta=theta, loss_sum=sums.loss, gradient_sum=sums.gradient)

    def gradient_norm(self):
        """``||grad J(theta)||`` of the stored set at the stored head: what certifies it (from the stored sums)."""
        objective, sums = self.objective(), self.sums()
        sums = objective.sums(self.theta)[0] if sums is None else sums
        return float(objective.penalised(self.theta, sums)[1].norm())

    def preconditioner(self):
        """The stored :class:`~speechbrain_unlearn.deletable.blocks.ClassBlocks` (``None`` if stored without)."""
        return None if self.blocks is None else ClassBlocks(self.blocks)

    def sums(self):
        """The set's sums at ``theta`` (``None`` for a state stored without them)."""
        if self.gradient_sum is None:
            return None
        return Sums(len(self.ids), self.loss_sum, self.gradient_sum)

    def objective(self):
        """The objective the head minimises."""
        return LogisticObjective(self.features, self.labels, self.n_classes, self.l2, linear=self.noise)

    def keep_mask(self, forget_ids):
        """The mask of the utterances that stay, refusing IDs the set does not hold."""
        forget = set(forget_ids)
        unknown = sorted(forget - set(self.ids))
        if unknown:
            raise UnlearnError(
                f"{len(unknown)} forget ID{'s are' if len(unknown) > 1 else ' is'} not in the deletable part's "
                f"training set (first: {unknown[0]}); were they removed by an earlier request?"
            )
        return torch.tensor([utt not in forget for utt in self.ids])

    def remove(self, forget_ids):
        """The state without ``forget_ids`` and the request's report (:func:`remove`'s, with ``removed``)."""
        keep = self.keep_mask(forget_ids)
        theta, report, sums = remove(
            self.objective(), self.theta, keep, gtol=self.gtol, sums=self.sums(), preconditioner=self.preconditioner()
        )
        kept = [utt for utt, k in zip(self.ids, keep.tolist()) if k]
        after = dataclasses.replace(self, ids=tuple(kept), features=self.features[keep], labels=self.labels[keep])
        if self.noise is not None:  # (epsilon, delta)-certified only where the solve reached gtol
            certified = report["certificate"]["gradient_norm"] <= self.gtol
            report["certificate"]["epsilon_delta"] = list(self.privacy) if certified else None
        return after.at(theta, sums), {**report, "removed": int((~keep).sum())}

    def retrained(self, forget_ids):
        """The state solved from zeros without ``forget_ids``: retraining the deletable part exactly."""
        keep = self.keep_mask(forget_ids)
        kept = [utt for utt, k in zip(self.ids, keep.tolist()) if k]
        features, labels = self.features[keep], self.labels[keep]
        return DeletableState.fit(kept, features, labels, self.n_classes, self.l2, self.gtol, self.noise, self.privacy)

    def save(self, path):
        """Write the state atomically as plain tensors and values."""
        save_tensors(path, {**dataclasses.asdict(self), "ids": list(self.ids)})

    @classmethod
    def load(cls, path):
        """The state :meth:`save` wrote."""
        stored = load_tensors(path)
        return cls(**{**stored, "ids": tuple(stored["ids"])})
