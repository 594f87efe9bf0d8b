"""Run a recipe with one injected fault: ``python tests/faults.py KIND GLOB RECIPE ARGS...``.

``KIND`` is ``enospc`` or ``erofs`` (the write of a file whose name matches
``GLOB`` fails as on a full disk or a read-only folder) or ``kill`` (the
process is SIGKILLed once the file's temporary copy is written, before it is
renamed into place). The writes are this package's atomic writes
(:func:`speechbrain_unlearn.io.atomic_path`) and every ``torch.save``
(SpeechBrain's checkpoints).
"""

import contextlib
import errno
import fnmatch
import os
import runpy
import signal
import sys

import torch

from speechbrain_unlearn import io

KIND, PATTERN = "", ""
ATOMIC_PATH, TORCH_SAVE = io.atomic_path, torch.save


def hit(path):
    return bool(PATTERN) and fnmatch.fnmatch(os.path.basename(str(path)), PATTERN)


def fail(path):
    code = {"enospc": errno.ENOSPC, "erofs": errno.EROFS}[KIND]
    raise OSError(code, os.strerror(code), str(path))


@contextlib.contextmanager
def atomic_path(path):
    with ATOMIC_PATH(path) as tmp:
        if hit(path) and KIND != "kill":
            fail(path)
        yield tmp
        if hit(path) and KIND == "kill":
            os.kill(os.getpid(), signal.SIGKILL)


def save(obj, f, *args, **kwargs):
    if isinstance(f, (str, os.PathLike)) and hit(f) and KIND != "kill":
        fail(f)
    return TORCH_SAVE(obj, f, *args, **kwargs)


if __name__ == "__main__":
    KIND, PATTERN, script, *args = sys.argv[1:]
    io.atomic_path, torch.save = atomic_path, save
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")
