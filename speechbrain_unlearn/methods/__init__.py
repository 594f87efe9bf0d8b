"""Unlearning methods: one file per method, each a subclass of :class:`Unlearner`.

A method's hparams file names its class (``unlearner: !name:...``), so new
methods need no registry edit here.
"""

from speechbrain_unlearn.methods.bad_teacher import BadTeacher
from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.boundary import BoundaryShrink
from speechbrain_unlearn.methods.cf_k import CatastrophicForgettingK
from speechbrain_unlearn.methods.eu_k import ExactUnlearningK
from speechbrain_unlearn.methods.finetune import FineTune
from speechbrain_unlearn.methods.fisher import FisherForgetting
from speechbrain_unlearn.methods.head_suppress import HeadSuppress
from speechbrain_unlearn.methods.influence import Influence
from speechbrain_unlearn.methods.l1_sparse import L1Sparse
from speechbrain_unlearn.methods.neggrad import NegGrad
from speechbrain_unlearn.methods.neggrad_plus import NegGradPlus
from speechbrain_unlearn.methods.npo import NPO
from speechbrain_unlearn.methods.random_label import RandomLabel
from speechbrain_unlearn.methods.retrain import Retrain
from speechbrain_unlearn.methods.salun import SalUn
from speechbrain_unlearn.methods.scrub import Scrub
from speechbrain_unlearn.methods.sisa import Sisa
from speechbrain_unlearn.methods.ssd import SSD

__all__ = [
    "BadTeacher",
    "BoundaryShrink",
    "CatastrophicForgettingK",
    "ExactUnlearningK",
    "FineTune",
    "FisherForgetting",
    "HeadSuppress",
    "Influence",
    "L1Sparse",
    "NegGrad",
    "NegGradPlus",
    "NPO",
    "RandomLabel",
    "Retrain",
    "SSD",
    "SalUn",
    "Scrub",
    "Sisa",
    "Unlearner",
]
