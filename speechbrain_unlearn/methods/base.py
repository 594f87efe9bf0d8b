"""The ``Unlearner`` base class every unlearning method subclasses.

An unlearner is an :class:`~speechbrain_unlearn.brain.UtteranceBrain` whose
``modules.model`` starts as a *copy* of the original model. The pipeline calls
:meth:`Unlearner.unlearn` once with a
:class:`~speechbrain_unlearn.request.DeletionRequest` (the forget and retain
sets, the forgotten classes, the original's initialisation and stored
statistics) and then scores ``modules.model`` (left in eval mode) as the
unlearned model (through :meth:`Unlearner.run`, which adds the divergence guard,
:mod:`speechbrain_unlearn.methods.guard`: a method's loop calls
``self.guard.step(loss)`` after each optimiser step). A method file
subclasses it, implements ``unlearn`` (reading like the paper's algorithm
box) and, where it only makes sense for some scenarios, lists them in
``scenarios``.

Minibatch loops share three pieces: :meth:`Unlearner.minibatches` (a
loader's batches for an epoch, with the model in training mode, BatchNorm
statistics frozen on request), :meth:`Unlearner.guarded_step` (zero the
gradients, backpropagate, an optional gradient hook, the optimiser step and
the guard's check) and :meth:`Unlearner.guarded_epoch` (an epoch of guarded
steps on a method's per-batch objective).

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

from speechbrain_unlearn.brain import UtteranceBrain, train_keeping_batchnorm_statistics
from speechbrain_unlearn.cost import count_gradients
from speechbrain_unlearn.data.splits import SCENARIOS
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.methods.guard import Diverged, DivergenceGuard
from speechbrain_unlearn.methods.loop import UtteranceMean


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
            (``method_status`` in the results: ``ok`` or ``diverged``, why,
            and the step whose weights were restored).
        """
        self.guard = DivergenceGuard.from_hparams(self, request.retain)
        try:
            diagnostics = self.unlearn(request) or {}
            self.guard.check()
        except Diverged:
            diagnostics = {}
        self.modules.model.eval()
        return diagnostics, self.guard.status()

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

    def minibatches(self, loader, epoch, keep_batchnorm_statistics=False):
        """The batches of ``loader`` in its seeded order for ``epoch``, on the device.

        ``modules.model`` is put in training mode before each batch (the
        guard's accuracy check in between may change modes), with its
        BatchNorm layers in eval mode if ``keep_batchnorm_statistics``
        (batches of forget utterances only:
        :func:`~speechbrain_unlearn.brain.train_keeping_batchnorm_statistics`).
        """
        loader.sampler.set_epoch(epoch)
        model = self.modules.model
        for batch in loader:
            batch = batch.to(self.device)
            if keep_batchnorm_statistics:
                train_keeping_batchnorm_statistics(model)
            else:
                model.train()
            count_gradients(len(batch.label))
            yield batch

    def guarded_step(self, optimizer, loss, gradient_hook=None):
        """One optimiser step that lowers ``loss`` (a scalar tensor), then the guard's check of it.

        ``gradient_hook()``, if given, runs between the backward pass and the
        step (SalUn masks the gradients there). A method that ascends a loss
        passes its negative; the guard only checks that the value is finite.
        """
        optimizer.zero_grad()
        loss.backward()
        if gradient_hook is not None:
            gradient_hook()
        optimizer.step()
        self.guard.step(loss.detach())

    def training_objective(self, batch):
        """The mean training loss of ``batch``, to lower and to report (an ``objective`` of :meth:`guarded_epoch`)."""
        loss = self.hparams.loss(self.modules.model(*batch.feats), batch.label).mean()
        return loss, loss

    def guarded_epoch(self, loader, epoch, optimizer, objective, keep_batchnorm_statistics=False, gradient_hook=None):
        """One epoch of :meth:`guarded_step` over :meth:`minibatches`.

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
            See :meth:`guarded_step`.

        Returns
        -------
        float
            The reported value's mean over the epoch's utterances.
        """
        mean = UtteranceMean()
        for batch in self.minibatches(loader, epoch, keep_batchnorm_statistics):
            loss, reported = objective(batch)
            self.guarded_step(optimizer, loss, gradient_hook)
            mean.add(reported, len(batch.label))
        return mean.value

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
    exactly.
    """
    hp = brain.hparams
    brain.modules.model.load_state_dict(request.new_model().state_dict())
    torch.manual_seed(hp.seed)
    brain.train_epochs(request.retain, hp.number_of_epochs, hp.batch_size)
    return brain.train_loss
