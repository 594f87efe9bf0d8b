"""Progress a person can see: tqdm bars in a terminal, one log line per stage, no noise.

* **Bars** (tqdm, as SpeechBrain's own): corpus synthesis, every training
  epoch (SpeechBrain's ``fit`` bar), curvature passes, solver iterations and
  benchmark runs. They are shown when the error stream is a terminal, and
  never with ``--no-progress`` (or SpeechBrain's ``--noprogressbar``).
* **Stage lines**: every stage logs one line with its time when it ends
  (the pipeline's and the model cache's); a run's console is the stage
  lines, the results table and a last line naming the output folder.
* **Noise**: :func:`console` shows this package's lines and every library's
  warnings; SpeechBrain's per-``Brain`` set-up lines, checkpoint and
  scheduler messages go to ``log.txt`` only.

Example
-------
>>> configure(False)
>>> sum(bar(range(3), desc="counting"))
3
>>> showing()
False
"""

import logging
import logging.config
import os
import sys
import warnings

import yaml
from tqdm import tqdm

_SHOW = None  # None: decide from the terminal


def configure(show):
    """Show bars (``True``), never (``False``) or when the error stream is a terminal (``None``)."""
    global _SHOW
    _SHOW = show


def showing():
    """Whether bars are shown."""
    return sys.stderr.isatty() if _SHOW is None else bool(_SHOW)


def bar(iterable=None, desc=None, total=None, unit="it", **kwargs):
    """A tqdm bar, shown only when :func:`showing`; it clears itself when done."""
    return tqdm(
        iterable, desc=desc, total=total, unit=unit, disable=not showing(), dynamic_ncols=True, leave=False, **kwargs
    )


def without_progress_flags(argv):
    """``argv`` without ``--no-progress``, and whether it was there (which turns the bars off).

    Example
    -------
    >>> without_progress_flags(["m.yaml", "--no-progress", "--seed=1"])
    (['m.yaml', '--seed=1'], True)
    """
    rest = [arg for arg in argv if arg != "--no-progress"]
    return rest, len(rest) != len(argv)


class Ours(logging.Filter):
    """The console's filter: this package's lines, and everyone's warnings (``log.txt`` keeps all).

    Example
    -------
    >>> line = lambda name, level: logging.LogRecord(name, level, "", 0, "m", None, None)
    >>> ours = Ours()
    >>> ours.filter(line("speechbrain_unlearn.pipeline", logging.INFO))
    True
    >>> ours.filter(line("speechbrain.core", logging.INFO))
    False
    >>> ours.filter(line("speechbrain.core", logging.WARNING))
    True
    """

    #: Warnings that say nothing about the run (SpeechBrain's train logger saves no figures here).
    MEANINGLESS = ("torchvision is not available",)

    def filter(self, record):
        """Whether the console shows ``record``."""
        if record.getMessage().startswith(self.MEANINGLESS):
            return False
        return record.levelno >= logging.WARNING or record.name.startswith("speechbrain_unlearn")


#: The logging configuration of a run (SpeechBrain's, with the console filtered by :class:`Ours`).
LOG_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log-config.yaml")


def console():
    """The console log before the output folder exists: :data:`LOG_CONFIG` without its file.

    Once the folder exists, ``sb.create_experiment_directory(...,
    log_config=LOG_CONFIG)`` adds ``log.txt``.
    """
    with open(LOG_CONFIG, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    del config["handlers"]["file_handler"]
    config["root"]["handlers"] = ["console"]
    logging.config.dictConfig(config)


def load_forward_ad_quietly():
    """Load torch's forward-mode decompositions now, without the warning their loading gives.

    The first ``torch.func.jvp`` of a process loads them through
    ``torch.jit.script``, which warns that ``torch.jit.script`` is
    deprecated: torch's own business, nothing a user of this package can act
    on. The modules that take Jacobian-vector products call this once.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated", category=FutureWarning)
        try:
            from torch.autograd.forward_ad import _maybe_load_decompositions
        except ImportError:  # a torch that loads them otherwise
            return
        _maybe_load_decompositions()
