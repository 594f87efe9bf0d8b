"""The ``Unlearner`` base class every unlearning method subclasses.

An unlearner is an :class:`~speechbrain_unlearn.brain.UtteranceBrain` whose
``modules.model`` starts as a *copy* of the original model. The pipeline calls
:meth:`Unlearner.unlearn` once with the forget and retain datasets and then
scores ``modules.model`` as the unlearned model. A method file subclasses it,
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


class Unlearner(UtteranceBrain):
    """Base of all unlearning methods."""

    #: The scenarios this method applies to.
    scenarios = SCENARIOS
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
    def check_hparams(cls, hparams):
        """Refuse, in one line, settings this method cannot use (before anything is written)."""

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
