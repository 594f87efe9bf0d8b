"""The ``Unlearner`` base class every unlearning method subclasses.

An unlearner is an :class:`~speechbrain_unlearn.brain.UtteranceBrain` whose
``modules.model`` starts as a *copy* of the original model. The pipeline calls
:meth:`Unlearner.unlearn` once with the forget and retain datasets and then
scores ``modules.model`` as the unlearned model (through :meth:`Unlearner.run`,
which adds the divergence guard, :mod:`speechbrain_unlearn.methods.guard`:
a method's loop calls ``self.guard.step(loss)`` after each optimiser
step). A method file subclasses it,
implements ``unlearn`` (reading like the paper's algorithm box) and, where it
only makes sense for some scenarios, lists them in ``scenarios``.

Hparams a method reads come from its own file in ``hparams/`` (merged with
the task's, so a method may refer to task keys such as ``<lr>``). By
convention the optimiser of a method's training loop is ``unlearn_opt_class``
and its schedule ``unlearn_lr_annealing``.

Example
-------
>>> class DoNothing(Unlearner):
...     def unlearn(self, forget_set, retain_set):
...         return {"steps": 0}
>>> DoNothing.check_scenario("sample")
>>> DoNothing.scenarios = ("class",)
>>> DoNothing.check_scenario("sample")
Traceback (most recent call last):
...
speechbrain_unlearn.errors.UnlearnError: DoNothing supports the scenarios class, not sample
"""

from speechbrain_unlearn.brain import UtteranceBrain
from speechbrain_unlearn.data.splits import SCENARIOS
from speechbrain_unlearn.errors import UnlearnError
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

    def run(self, forget_set, retain_set):
        """:meth:`unlearn` under the divergence guard.

        Returns
        -------
        tuple of dict
            The method's diagnostics (empty if it diverged) and its status
            (``method_status`` in the results: ``ok`` or ``diverged``, why,
            and the step whose weights were restored).
        """
        self.guard = DivergenceGuard.from_hparams(self, retain_set)
        try:
            diagnostics = self.unlearn(forget_set, retain_set) or {}
            self.guard.check()
        except Diverged:
            diagnostics = {}
        return diagnostics, self.guard.status()

    def unlearn(self, forget_set, retain_set):
        """Remove the forget set's influence from ``self.modules.model``.

        Arguments
        ---------
        forget_set, retain_set : DynamicItemDataset
            Training items (randomly cropped where the task crops).

        Returns
        -------
        dict
            Method diagnostics for the results JSON (plain Python values).
        """
        raise NotImplementedError
