"""A deletion request: everything an unlearning method is given besides its hparams.

The driver (or a test) builds one :class:`DeletionRequest` and passes it to
:meth:`~speechbrain_unlearn.methods.base.Unlearner.run`; a method reads its
data from it, never from hparams, which hold only what the YAML files
declare.

Example
-------
>>> import torch
>>> from speechbrain_unlearn.data.utterances import UtteranceSet, label_encoder
>>> store = {f"u{i}": torch.zeros(3, 2) for i in range(4)}
>>> rows = [{"ID": f"u{i}", "label": "abc"[i % 3]} for i in range(4)]
>>> encoder = label_encoder("abc")
>>> everything = UtteranceSet(rows, encoder, store)
>>> request = DeletionRequest(
...     forget=everything.subset([0, 3]), retain=everything.subset([1, 2]),
...     forgotten_classes=(0,), n_classes=3, new_model=lambda seed=None: torch.nn.Linear(2, 3))
>>> request.removes_classes, request.retained_classes, request.size
(True, [1, 2], 2)
"""

import dataclasses
from typing import Callable, Optional


@dataclasses.dataclass(frozen=True)
class DeletionRequest:
    """What to remove, what to keep, and what the original's training left behind.

    Arguments
    ---------
    forget : UtteranceSet
        The utterances to remove (training items: cropped as in training).
    retain : UtteranceSet
        The rest of the original's training set.
    forgotten_classes : tuple of int
        Class indices the forget set removes whole (empty when it removes
        none, as in ``sample``).
    n_classes : int
        Number of classes the model scores.
    new_model : callable
        ``new_model(seed=None)`` gives the model before training, initialised
        with ``seed`` (the run's seed by default): the original's
        initialisation, for retraining and for an incompetent teacher.
    original_statistics : dict or DeletableState, optional
        What training stored beside the original: the curvature statistics
        of unlearning-aware training (:mod:`speechbrain_unlearn.curvature.aware`),
        or, in the deletion-ready regime, the deletable head's
        :class:`~speechbrain_unlearn.deletable.state.DeletableState`
        (:mod:`speechbrain_unlearn.deletion_ready`); ``None`` if nothing.
    training_key : str
        A digest of the task's training configuration (cache keys of models
        a method trains itself, such as SISA's shards).
    held_out : UtteranceSet, optional
        Whole utterances the original never trained on (the validation
        set), for checks a method makes; never the test set.
    """

    forget: object
    retain: object
    forgotten_classes: tuple
    n_classes: int
    new_model: Callable
    original_statistics: Optional[dict] = None
    training_key: str = ""
    held_out: object = None

    @property
    def removes_classes(self):
        """Whether the forget set removes whole classes."""
        return bool(self.forgotten_classes)

    @property
    def retained_classes(self):
        """The class indices that are not forgotten."""
        return sorted(set(range(self.n_classes)) - set(self.forgotten_classes))

    @property
    def size(self):
        """Number of utterances to remove."""
        return len(self.forget)

    @property
    def training_set(self):
        """The original's training set: the forget set followed by the retain set."""
        return self.forget.union(self.retain)
