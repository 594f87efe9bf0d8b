"""speechbrain-unlearn: make trained SpeechBrain models forget, and prove it.

Subpackages: ``data`` (embedded corpora, dataset prep, splits), ``methods``
(one file per unlearning method), ``evaluation`` (metrics and reports); the
shared :mod:`~speechbrain_unlearn.brain`, :mod:`~speechbrain_unlearn.models`
and the stage driver :mod:`~speechbrain_unlearn.pipeline`.
"""

__version__ = "0.1.0"
