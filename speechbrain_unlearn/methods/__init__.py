"""Unlearning methods: one file per method, each a subclass of :class:`Unlearner`.

A method's hparams file names its class (``unlearner: !name:...``), so new
methods need no registry edit here.
"""

from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.finetune import FineTune
from speechbrain_unlearn.methods.influence import Influence
from speechbrain_unlearn.methods.retrain import Retrain

__all__ = ["FineTune", "Influence", "Retrain", "Unlearner"]
