"""Head suppression: a control that masks the forgotten classes' outputs and changes nothing else.

This is a control, not an unlearning method. It edits the forgotten classes'
rows of the classifier head so that they are never the prediction; every
other weight, and so every embedding, is the original's. The embeddings still
identify the forgotten classes (a probe, a verification trial or a relearning
attack on them finds them intact), which accuracy-only metrics miss: its
``forget_test_acc`` of 0 is what a method must beat on the other metrics.

Algorithm
---------
Input: original weights, the forgotten classes C_F (the labels of the forget
set, which must be whole classes), the retained classes C_R, margin ``c``.

1. Linear head (logits ``s_k = w_k . h + b_k``, Speech Commands' CRDNN): for
   each f in C_F, ``w_f <- mean_{k in C_R} w_k`` and
   ``b_f <- mean_{k in C_R} b_k - c``. Then ``s_f = mean_{k in C_R} s_k - c``,
   below ``max_{k in C_R} s_k`` by at least ``c`` for *every* input: f is
   never the argmax, and its probability is below ``exp(-c)`` times the
   top one's (a mask, without the overflow a huge negative bias risks).
2. Cosine head (SpeechBrain's ``Classifier``, VoxCeleb's ECAPA: scores
   ``s_k = <e / ||e||, w_k / max(||w_k||, eps)>``, with ``eps = 1e-12`` of
   :func:`torch.nn.functional.normalize`): zeroing a row gives ``s_f = 0``,
   which wins whenever every retained cosine is negative, and any row of
   norm at least ``eps`` is normalised to a unit vector that some embedding
   points at (``s_f = 1``, unbeatable). A row of norm below ``eps`` is
   divided by ``eps``, not by its norm, so its normalised row can be any
   vector of norm at most 1. So ``w_f <- eps * m`` with
   ``m = mean_{k in C_R} w_k / ||w_k||`` (``||m|| <= 1``): the normalised row
   is ``m`` and ``s_f = mean_{k in C_R} s_k <= max_{k in C_R} s_k`` for every
   embedding, equal only when all retained cosines are equal (a tie). The
   edit changes the weights only, so the state dict loads into a fresh model
   of the same class. The margin does not apply here (cosines are bounded).
3. nothing else changes: the retained classes' scores, hence every
   prediction that was not a forgotten class, are the original's.

No training and no forget utterance are needed (only their labels).
Applies only when whole classes are forgotten (``needs_forgotten_classes``).

Hparams (``hparams/head_suppress.yaml``): ``suppress_logit_margin`` (``c``).
"""

import torch
from speechbrain.lobes.models.ECAPA_TDNN import Classifier

from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.heads import head_of, suppress_cosine, suppress_linear


class HeadSuppress(Unlearner):
    """Control: the forgotten classes are never predicted; all else is the original."""

    needs_forgotten_classes = True

    def unlearn(self, request):
        """Edit the head's rows of the request's forgotten classes."""
        forgotten = list(request.forgotten_classes)
        model = self.modules.model
        head = head_of(model)
        if not isinstance(head, (torch.nn.Linear, Classifier)):
            raise UnlearnError(
                f"head_suppress edits a Linear head or SpeechBrain's cosine Classifier, not {type(head).__name__}"
            )
        if len(forgotten) >= head.weight.shape[0]:
            raise UnlearnError("head_suppress needs at least one retained class")
        if isinstance(head, torch.nn.Linear):
            suppress_linear(head, forgotten, self.hparams.suppress_logit_margin)
        else:
            suppress_cosine(head.weight, forgotten)
        model.eval()
        return {"suppressed_classes": forgotten, "head": type(head).__name__}
