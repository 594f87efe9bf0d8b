"""Checkpoints a killed stage resumes from exactly: whole or invisible, with the random state.

* :class:`AtomicCheckpointer`: SpeechBrain's ``Checkpointer``, whose
  checkpoint becomes visible only once every file of it is written.
  SpeechBrain writes a checkpoint's ``CKPT.yaml`` first and its parameter
  files after, so a run killed in between left a checkpoint that recovery
  picked and failed to load (``EOFError``); here ``CKPT.yaml``, by which
  SpeechBrain recognises a checkpoint, is renamed into place last.
* :class:`RandomState`: training draws random crops and dropout masks from
  torch's global generator. SpeechBrain's checkpoints hold the weights,
  the optimiser and the epoch counter; this recoverable adds the
  generator, saved at each checkpoint and restored on recovery, so a stage
  killed after epoch k and rerun continues from epoch k + 1 exactly as an
  uninterrupted run (the data order is already the sampler's seeded order
  of each epoch).

Example
-------
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "rng.ckpt")
>>> state = RandomState()
>>> _ = torch.manual_seed(3)
>>> state.save(path)
>>> first = torch.rand(2)
>>> state.load(path, end_of_epoch=True)
>>> bool(torch.equal(first, torch.rand(2)))
True
"""

import os

import torch
from speechbrain.utils.checkpoints import (
    METAFNAME,
    Checkpointer,
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)
from speechbrain.utils.distributed import ddp_barrier, if_main_process

#: Where :class:`AtomicCheckpointer` writes ``CKPT.yaml`` before renaming it into place.
PENDING_META = ".pending-" + METAFNAME


class AtomicCheckpointer(Checkpointer):
    """SpeechBrain's ``Checkpointer`` whose checkpoints appear whole or not at all (see the module docstring).

    Example
    -------
    >>> import tempfile
    >>> checkpointer = AtomicCheckpointer(tempfile.mkdtemp(), {"model": torch.nn.Linear(2, 2)})
    >>> saved = checkpointer.save_checkpoint()
    >>> sorted(os.listdir(saved.path)), checkpointer.find_checkpoint() == saved
    (['CKPT.yaml', 'model.ckpt'], True)
    """

    def _save_checkpoint_metafile(self, fpath, meta_to_include=None, end_of_epoch=True):
        return super()._save_checkpoint_metafile(fpath.with_name(PENDING_META), meta_to_include or {}, end_of_epoch)

    def save_checkpoint(self, *args, **kwargs):
        """Save as SpeechBrain does, then make the checkpoint visible by renaming its meta file into place.

        Under torchrun every process waits for the rename: SpeechBrain's
        ``delete_checkpoints`` lists the checkpoints on each process and
        deletes through collective calls, so a process that listed before
        the rename would wait on a different call than the main one, for ever.
        """
        saved = super().save_checkpoint(*args, **kwargs)
        if if_main_process():
            os.replace(os.path.join(saved.path, PENDING_META), os.path.join(saved.path, METAFNAME))
        ddp_barrier()
        return saved


@register_checkpoint_hooks
class RandomState:
    """torch's CPU generator (and CUDA's, where there is one) for a ``Checkpointer``."""

    @mark_as_saver
    def save(self, path):
        """Write the generators' states (plain tensors)."""
        state = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(state, path)

    @mark_as_loader
    def load(self, path, end_of_epoch):
        """Restore the generators' states."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        torch.set_rng_state(state["cpu"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
