#!/usr/bin/env python3
r"""Unlearning recipe for keyword spotting on Speech Commands v0.02.

Trains (or loads from the cache) a CRDNN keyword classifier on the full
training set and a reference retrained without the forget set, applies the
unlearning method of the given hparams file, and reports how close the
result is to the reference.

To run this recipe (the embedded corpus is synthesised when ``data_folder``
is unset)::

    python recipes/SpeechCommands/unlearn.py hparams/finetune.yaml
    python recipes/SpeechCommands/unlearn.py hparams/finetune.yaml \
        --data_folder=/data/speech_commands_v0.02 --scenario=speaker

Authors
 * speechbrain-unlearn developers 2026
"""

import os

from speechbrain_unlearn.pipeline import main

if __name__ == "__main__":
    main("SpeechCommands", os.path.join(os.path.dirname(os.path.abspath(__file__)), "hparams", "train.yaml"))
