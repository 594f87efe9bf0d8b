#!/usr/bin/env python3
r"""Unlearning recipe for speaker identification on VoxCeleb1.

Trains (or loads from the cache) an ECAPA-TDNN speaker classifier on the full
training set and a reference retrained without the forget set, applies the
unlearning method of the given hparams file, and reports how close the
result is to the reference.

To run this recipe (the embedded corpus is synthesised when ``data_folder``
is unset)::

    python recipes/VoxCeleb/unlearn.py hparams/finetune.yaml
    python recipes/VoxCeleb/unlearn.py hparams/finetune.yaml \
        --data_folder=/data/voxceleb1 --scenario=class

Authors
 * speechbrain-unlearn developers 2026
"""

import os

from speechbrain_unlearn.pipeline import main

if __name__ == "__main__":
    main("VoxCeleb", os.path.join(os.path.dirname(os.path.abspath(__file__)), "hparams", "train.yaml"))
