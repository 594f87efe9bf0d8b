"""The divergence guard of methods that ascend a loss.

Gradient ascent on the forget set (NegGrad, SCRUB's max-steps, ...) has no
minimum: run long enough, or with a step too large, it drives the loss to
infinity and the model to chance. The guard watches such a method:

* after every optimiser step (:meth:`DivergenceGuard.step`): the step's loss
  must be finite;
* every ``guard_every`` steps (:meth:`DivergenceGuard.check`): the accuracy on
  a seeded sample of ``guard_samples`` retain utterances must stay at or above
  ``guard_retain_floor``; a check that holds saves the weights as the last
  good ones.

When either fails it restores the last good weights (the original's if no
check held yet) and raises :class:`Diverged`; the pipeline records the reason
under ``method_status`` in the results and scores the restored model. Hparams
(a method's file): ``guard_retain_floor`` (``null``: no accuracy floor),
``guard_every``, ``guard_samples``.

Example
-------
>>> from speechbrain_unlearn.brain import UtteranceBrain
>>> from speechbrain_unlearn.losses import CrossEntropy
>>> class Toy(torch.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.lin = torch.nn.Linear(2, 2)
...     def forward(self, feats, lengths):
...         return self.lin(feats.mean(1))
>>> brain = UtteranceBrain({"model": Toy()}, hparams={"loss": CrossEntropy()}, run_opts={"device": "cpu"})
>>> from speechbrain_unlearn.data.utterances import UtteranceSet, label_encoder
>>> store = {f"u{i}": torch.full((3, 2), float(i % 2)) for i in range(8)}
>>> data = UtteranceSet([{"ID": f"u{i}", "label": i % 2} for i in range(8)], label_encoder([0, 1]), store)
>>> guard = DivergenceGuard(brain, data, floor=None, every=5, samples=4, seed=1)
>>> guard.step(0.5)
>>> with torch.no_grad():
...     _ = brain.modules.model.lin.weight.fill_(float("nan"))
>>> guard.step(float("nan"))
Traceback (most recent call last):
...
speechbrain_unlearn.methods.guard.Diverged: the loss was not finite at step 2
>>> bool(torch.isfinite(brain.modules.model.lin.weight).all()), guard.status()["status"]
(True, 'diverged')
"""

import copy
import math

import torch


class Diverged(Exception):
    """A guarded method stopped; the weights are the last good ones."""


class DivergenceGuard:
    """Stop a method whose loss is not finite or whose retain accuracy collapses.

    Arguments
    ---------
    brain : UtteranceBrain
        The unlearner; its ``modules.model`` is watched and restored.
    retain_set : UtteranceSet
        Retain utterances; a seeded sample of them is the accuracy check.
    floor : float or None
        Lowest acceptable accuracy on the check sample (``None``: no check).
    every : int
        Steps between accuracy checks.
    samples : int
        Size of the check sample.
    seed : int
        Seed of the sample.
    """

    def __init__(self, brain, retain_set, floor, every, samples, seed):
        self.brain, self.floor, self.every = brain, floor, max(int(every), 1)
        self.check_set = retain_set.sample(int(samples), seed, seeded_order=True)
        self.steps, self.good_step, self.reason, self.accuracy = 0, 0, None, None
        self.good = copy.deepcopy(brain.modules.model.state_dict())

    @classmethod
    def from_hparams(cls, brain, retain_set):
        """The guard configured by ``guard_*`` hparams (only the finite check without them)."""
        hp = brain.hparams
        return cls(
            brain,
            retain_set,
            getattr(hp, "guard_retain_floor", None),
            getattr(hp, "guard_every", 1),
            getattr(hp, "guard_samples", 0),
            getattr(hp, "seed", 0),
        )

    def step(self, loss):
        """Call after every optimiser step with its loss (a float or a scalar tensor)."""
        self.steps += 1
        if not math.isfinite(float(loss)):
            self.trip(f"the loss was not finite at step {self.steps}")
        if self.floor is not None and self.steps % self.every == 0:
            self.check()

    def check(self):
        """Check the weights are finite and the retain accuracy holds; save them if so, else trip."""
        model = self.brain.modules.model
        if self.floor is None:
            if not all(torch.isfinite(p).all() for p in model.parameters()):
                self.trip(f"the weights were not finite after step {self.steps}")
            return
        # every module's own mode: a loop may keep BatchNorm layers in eval mode while it trains
        modes = [(module, module.training) for module in model.modules()]
        params_finite = all(torch.isfinite(p).all() for p in model.parameters())
        self.accuracy = float(self.brain.score(self.check_set)["correct"].mean()) if params_finite else 0.0
        for module, training in modes:
            module.training = training
        if self.accuracy < self.floor:
            self.trip(
                f"retain accuracy {self.accuracy:.3f} fell below guard_retain_floor {self.floor} at step {self.steps}"
            )
        self.good = copy.deepcopy(model.state_dict())
        self.good_step = self.steps

    def trip(self, reason):
        """Restore the last good weights and raise :class:`Diverged`."""
        self.reason = reason
        self.brain.modules.model.load_state_dict(self.good)
        raise Diverged(reason)

    def status(self):
        """``method_status`` for the results JSON."""
        return {
            "status": "ok" if self.reason is None else "diverged",
            "reason": self.reason,
            "steps": self.steps,
            "restored_step": None if self.reason is None else self.good_step,
            "retain_check_acc": self.accuracy,
        }
