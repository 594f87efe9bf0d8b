"""The ``Unlearner`` base class every unlearning method subclasses.

An unlearner is an :class:`~speechbrain_unlearn.brain.UtteranceBrain` whose
``modules.model`` starts as a *copy* of the original model. The pipeline calls
:meth:`Unlearner.unlearn` once with a
:class:`~speechbrain_unlearn.request.DeletionRequest` (the forget and retain
sets, the forgotten classes, the original's initialisation and stored
statistics) and then scores ``modules.model`` (left in eval mode) as the
unlearned model (through :meth:`Unlearner.run`, which adds the divergence guard,
:mod:`speechbrain_unlearn.methods.guard`: it checks every optimiser step a
method takes, through ``on_fit_batch_end``). A method file
subclasses it, implements ``unlearn`` (reading like the paper's algorithm
box) and, where it only makes sense for some scenarios, lists them in
``scenarios``.

Every method's steps go through the brain's one step loop
(:meth:`~speechbrain_unlearn.brain.UtteranceBrain.train_batches`, SpeechBrain's
``fit_batch``: ``--precision``, ``--max_grad_norm`` and
``--grad_accumulation_factor`` apply); a method supplies a per-batch
objective, ``objective(batch) -> (loss to lower, value to report)``, usually
to :meth:`Unlearner.guarded_epoch` (an epoch of a loader's
:meth:`~speechbrain_unlearn.brain.UtteranceBrain.minibatches`).

Hparams a method reads come from its own file in ``hparams/`` (merged with
the task's, so a method may refer to task keys such as ``<lr>``). By
convention the optimiser of a method's training loop is ``unlearn_opt_class``
and its schedule ``unlearn_lr_annealing``.

Example
-------
>>> class DoNothing(Unlearner):
...     def unlearn(self, request):
...         return {"steps": 0}
>>> DoNothing.check_scenario("sample")
>>> DoNothing.scenarios = ("class",)
>>> DoNothing.check_scenario("sample")
Traceback (most recent call last):
...
speechbrain_unlearn.errors.UnlearnError: DoNothing supports the scenarios class, not sample
"""

import torch

from speechbrain_unlearn.brain import UtteranceBrain
from speechbrain_unlearn.data.splits import SCENARIOS
from speechbrain_unlearn.deletable.state import DeletableState
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.loop import UtteranceMean, cycle
from speechbrain_unlearn.methods.guard import Diverged, DivergenceGuard


class Unlearner(UtteranceBrain):
    """Base of all unlearning methods."""

    #: The scenarios this method applies to.
    scenarios = SCENARIOS
    #: True for methods that only apply when the forget set removes whole classes.
    needs_forgotten_classes = False
    #: Seconds of ``unlearn`` spent training a model the method needs beforehand
    #: (SISA's shards): reported as training, not as unlearning time.
    training_time_s = 0.0
    #: hparams key of this method's optimiser factory.
    opt_key = "unlearn_opt_class"
    #: If set, the results JSON also holds this method's diagnostics under this key.
    results_key = None
    annealing_key = "unlearn_lr_annealing"
    #: The divergence guard while :meth:`run` runs.
    guard = None
    #: Set by a method that handed the request to retraining from scratch: why (``method_status`` ``fallback``).
    fallback = None

    @classmethod
    def check_scenario(cls, scenario):
        """Refuse, in one line, a scenario this method does not support."""
        if scenario not in cls.scenarios:
            raise UnlearnError(f"{cls.__name__} supports the scenarios {', '.join(cls.scenarios)}, not {scenario}")

    @classmethod
    def check_split(cls, forget_classes):
        """Refuse, in one line, a forget set that does not remove the whole classes this method needs."""
        if cls.needs_forgotten_classes and not forget_classes:
            raise UnlearnError(
                f"{cls.__name__} forgets whole classes: use scenario class (or speaker on VoxCeleb, "
                "where a speaker is a class)"
            )

    @classmethod
    def check_hparams(cls, hparams):
        """Refuse, in one line, settings this method cannot use (before anything is written)."""

    def run(self, request):
        """:meth:`unlearn` of ``request`` (a ``DeletionRequest``) under the divergence guard.

        The model is left in eval mode, also when the guard stopped the
        method mid-loop or the method trained through ``fit``.

        Returns
        -------
        tuple of dict
            The method's diagnostics (empty if it diverged) and its status
            (``method_status`` in the results: ``ok``, ``diverged`` or
            ``fallback`` (the method retrained from scratch instead), why,
            and the step whose weights were restored).
        """
        self.guard = guard = DivergenceGuard.from_hparams(self, request.retain)
        try:
            diagnostics = self.unlearn(request) or {}
            guard.check()
        except Diverged:
            diagnostics = {}
        finally:
            self.guard = None
        self.modules.model.eval()
        status = guard.status()
        if self.fallback is not None and status["status"] == "ok":
            status = {**status, "status": "fallback", "reason": self.fallback}
        return diagnostics, status

    def results_keys(self, diagnostics):
        """The method's keys of the results JSON: ``method_diagnostics`` (and :attr:`results_key`, the same dict).

        The diagnostics say whether the method resumed from a checkpoint
        (``resumed``) unless the method reported it.
        """
        diagnostics.setdefault("resumed", bool(self.resumed))
        keys = {"method_diagnostics": diagnostics}
        if self.results_key:
            keys[self.results_key] = diagnostics
        return keys

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """After each optimiser step (of ``fit`` or a method's loop): the guard's check, then the loop's callback.

        A method that ascends a loss lowers its negative; the guard only checks
        that the value is finite (and, every ``guard_every`` steps, the retain
        accuracy).
        """
        if should_step and self.guard is not None:
            self.guard.step(loss.detach())
        super().on_fit_batch_end(batch, outputs, loss, should_step)

    def guarded_epoch(self, loader, epoch, optimizer, objective, keep_batchnorm_statistics=False, gradient_hook=None):
        """One epoch of the step loop on ``objective`` over the :meth:`minibatches` of ``loader``.

        Arguments
        ---------
        loader : torch.utils.data.DataLoader
            A loader of :meth:`training_loader`.
        epoch : int
            Epoch number (the loader's shuffle).
        optimizer : torch.optim.Optimizer
            The method's optimiser.
        objective : callable
            ``objective(batch)`` gives the batch's loss to lower and the
            batch-mean value to report (often the same tensor).
        keep_batchnorm_statistics : bool
            See :meth:`minibatches`.
        gradient_hook : callable, optional
            See :meth:`train_batches`.

        Returns
        -------
        float
            The reported value's mean over the epoch's utterances.
        """
        batches = self.minibatches(loader, epoch, keep_batchnorm_statistics)
        return self.train_batches(batches, optimizer, objective, gradient_hook=gradient_hook)

    def paired_epochs(self, request, optimizer, objective):
        """``unlearn_epochs`` passes over the retain set, each retain batch paired with the next forget batch.

        The forget set's loader is cycled (reshuffled at each pass), since it
        is the smaller set; the forget batch is moved to the device.

        Arguments
        ---------
        request : DeletionRequest
            Its ``retain`` and ``forget`` sets.
        optimizer : torch.optim.Optimizer
            The method's optimiser.
        objective : callable
            ``objective(retain_batch, forget_batch)`` gives the loss to lower,
            the retain loss and the forget loss (batch means, for the log).

        Returns
        -------
        list of dict
            Per epoch, ``retain_loss`` and ``forget_loss`` (means over utterances).
        """
        hp = self.hparams
        retain_loader = self.training_loader(request.retain, hp.unlearn_batch_size)
        forget_batches = cycle(self.training_loader(request.forget, hp.unlearn_batch_size))

        def paired(retain_batch):
            forget_batch = next(forget_batches).to(self.device)
            loss, retain_loss, forget_loss = objective(retain_batch, forget_batch)
            forget_mean.add(float(forget_loss.detach()), len(forget_batch.label))
            return loss, retain_loss

        history = []
        for epoch in range(int(hp.unlearn_epochs)):
            forget_mean = UtteranceMean()  # the epoch's, which paired() adds to
            retain_mean = self.guarded_epoch(retain_loader, epoch, optimizer, paired)
            history.append({"retain_loss": round(retain_mean, 6), "forget_loss": round(forget_mean.value, 6)})
        return history

    def unlearn(self, request):
        """Remove the forget set's influence from ``self.modules.model``.

        Arguments
        ---------
        request : DeletionRequest
            The forget and retain sets (training items: randomly cropped
            where the task crops) and what else a method may use.

        Returns
        -------
        dict
            Method diagnostics for the results JSON (plain Python values).
        """
        raise NotImplementedError


def retrain_from_scratch(brain, request):
    """Train ``brain``'s model on the retain set from the original's initialisation; the last epoch's loss.

    ``brain`` trains with the task's recipe (its optimiser and schedule) and
    the run's seed: with the same seed this reproduces the run's reference
    exactly. In the deletion-ready regime it solves the head from zeros on
    the retain set's stored features (the run's reference, exactly).
    """
    hp = brain.hparams
    brain.modules.model.load_state_dict(request.new_model().state_dict())
    if isinstance(request.original_statistics, DeletableState):
        # deletion-ready: retraining is solving the deletable head from zeros on the retain set
        state = request.original_statistics.retrained(request.forget.ids)
        brain.modules.model.set_head(state.theta)
        return state.objective().value(state.theta)
    torch.manual_seed(hp.seed)
    brain.train_epochs(request.retain, hp.number_of_epochs, hp.batch_size, name="retraining")
    return brain.train_loss
