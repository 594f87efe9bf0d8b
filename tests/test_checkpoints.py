"""AtomicCheckpointer under torchrun: every process waits until the checkpoint is visible."""

import os

import torch

from speechbrain_unlearn import checkpoints
from speechbrain_unlearn.checkpoints import AtomicCheckpointer


def test_every_process_waits_for_the_checkpoint_to_become_visible(tmp_path, monkeypatch):
    # SpeechBrain's delete_checkpoints lists the checkpoints on each process and deletes through
    # collective calls: a process that listed before CKPT.yaml was renamed in waited for ever
    seen = []
    monkeypatch.setattr(checkpoints, "ddp_barrier", lambda: seen.append(sorted(os.listdir(saved_path()))))
    checkpointer = AtomicCheckpointer(str(tmp_path), {"model": torch.nn.Linear(2, 2)})

    def saved_path():
        (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
        return folder

    checkpointer.save_checkpoint()
    assert seen == [["CKPT.yaml", "model.ckpt"]]  # the barrier comes after the rename, on every process
