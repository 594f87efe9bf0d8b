"""Checks of a run's inputs that need no data, made before anything is read or written.

Each raises :class:`~speechbrain_unlearn.errors.UnlearnError` with one line:
what is wrong, which key or file, and how to fix it.

Example
-------
>>> check_seed(7)
>>> check_seed(-1)
Traceback (most recent call last):
...
speechbrain_unlearn.errors.UnlearnError: seed must be a whole number from 0 to 4294967295, got -1
>>> check_forget_ratio(1.5)
Traceback (most recent call last):
...
speechbrain_unlearn.errors.UnlearnError: forget_ratio must lie in (0, 1), got 1.5
>>> check_device("cpu")
>>> check_device("tpu:0")
Traceback (most recent call last):
...
speechbrain_unlearn.errors.UnlearnError: --device=tpu:0 is not a device torch knows; use cpu or cuda:<index>
"""

import os
import tempfile

import torch

from speechbrain_unlearn.errors import UnlearnError

#: The largest seed numpy's and torch's generators both take.
MAX_SEED = 2**32 - 1


def check_seed(seed):
    """Refuse a seed the random generators cannot take."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UnlearnError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")


def check_forget_ratio(ratio):
    """Refuse a forget ratio that is not a fraction strictly between 0 and 1."""
    numeric = isinstance(ratio, (int, float)) and not isinstance(ratio, bool)
    if not numeric or not 0 < ratio < 1:
        raise UnlearnError(f"forget_ratio must lie in (0, 1), got {ratio!r}")


def check_device(device):
    """Refuse a device torch does not know or this machine does not have (``None``: SpeechBrain's default)."""
    if device is None:
        return
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise UnlearnError(f"--device={device} is not a device torch knows; use cpu or cuda:<index>") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UnlearnError(f"--device={device}: this machine has no CUDA device visible to torch; use --device=cpu")
        if parsed.index is not None and parsed.index >= count:
            raise UnlearnError(f"--device={device}: this machine has {count} CUDA devices (0 to {count - 1})")
    elif parsed.type not in ("cpu", "cuda"):
        raise UnlearnError(f"--device={device}: only cpu and cuda are supported")


def check_writable(path, key):
    """Refuse a folder that cannot be created or written: a file in its way, or a read-only ancestor.

    Example
    -------
    >>> import tempfile
    >>> check_writable(os.path.join(tempfile.mkdtemp(), "new", "folder"), "output_folder")
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise UnlearnError(f"{key} {path} is a file, not a folder; choose another path")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UnlearnError(f"{key} {path}: {existing} is a file, not a folder; choose another path")
    try:  # a probe, removed at once: permissions, read-only mounts and root's exceptions alike
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise UnlearnError(
            f"{key} {path}: cannot write in {existing} ({err.strerror}); choose a folder you can write to"
        ) from None
