"""Forget/retain splits of a training manifest, for the four scenarios.

* ``sample``: a random ``forget_ratio`` of the utterances, stratified by
  class (each class loses ``round(forget_ratio * n_class)`` utterances);
* ``class``: every utterance of ``forget_classes`` (speakers for VoxCeleb,
  keywords for Speech Commands); the test set is split into retained and
  forgotten classes;
* ``speaker``: every utterance of ``forget_speakers``, classes kept (the
  privacy request against a keyword model);
* ``list``: the utterance IDs in the text file ``forget_list``.

Empty choices (``forget_classes: []``, ``forget_speakers: []``) are drawn
with ``seed``. Splits are deterministic given the seed, disjoint and
exhaustive over the training manifest; invalid requests raise
:class:`~speechbrain_unlearn.errors.UnlearnError` with one line.

Example
-------
>>> rows = [{"ID": f"u{i}", "label": "ab"[i % 2], "spk_id": f"s{i % 5}"} for i in range(40)]
>>> split = make_split(rows, "sample", seed=1, forget_ratio=0.1)
>>> len(split.forget), len(split.retain)
(4, 36)
>>> make_split(rows, "class", seed=1, forget_classes=["a"]).forget_classes
['a']
"""

import collections
import dataclasses
import logging

import numpy as np

from speechbrain_unlearn.checks import check_forget_ratio
from speechbrain_unlearn.errors import UnlearnError

logger = logging.getLogger(__name__)

SCENARIOS = ("sample", "class", "speaker", "list")
#: Pseudo-classes that are never drawn as the class to forget.
SPECIAL_LABELS = ("_silence_", "_unknown_")


@dataclasses.dataclass
class Split:
    """A forget/retain partition of a training manifest and how it was made.

    ``forget_classes`` lists every class the forget set removes entirely
    (the chosen classes for ``class``; e.g. the forgotten speaker for
    VoxCeleb ``speaker``): their test utterances are scored separately.
    """

    scenario: str
    forget: list
    retain: list
    forget_classes: list = dataclasses.field(default_factory=list)
    forget_speakers: list = dataclasses.field(default_factory=list)


def as_strings(value):
    """A list of strings from a YAML value: ``None``, one scalar or a list.

    Example
    -------
    >>> as_strings("stop"), as_strings(None), as_strings(["a", 3])
    (['stop'], [], ['a', '3'])
    """
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def _choose(rng, candidates, chosen, count, what, drawable=None):
    """Use ``chosen`` if given (checking it), else draw ``count`` of ``drawable``."""
    candidates = sorted(candidates)
    chosen = as_strings(chosen)
    if chosen:
        unknown = sorted(set(map(str, chosen)) - set(candidates))
        if unknown:
            shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise UnlearnError(
                f"forget_{what} names {len(unknown)} {what} not in the training set: {shown}; "
                f"available: {', '.join(candidates[:10])}{' ...' if len(candidates) > 10 else ''}"
            )
        return sorted(set(map(str, chosen)))
    drawable = sorted(candidates if drawable is None else drawable)
    if not 0 < count <= len(drawable) or (what == "classes" and count >= len(candidates)):
        raise UnlearnError(
            f"cannot draw {count} of the {len(drawable)} {what} in the training set; set num_forget_{what}"
        )
    return sorted(rng.choice(drawable, size=count, replace=False).tolist())


def make_split(
    rows,
    scenario,
    seed,
    forget_ratio=0.1,
    forget_classes=(),
    forget_speakers=(),
    forget_list=None,
    num_forget_classes=1,
    num_forget_speakers=2,
):
    """Partition training ``rows`` into forget and retain sets.

    Arguments
    ---------
    rows : list of dict
        The training manifest (needs ``ID``, ``label`` and ``spk_id``).
    scenario : str
        One of :data:`SCENARIOS`.
    seed : int
        Seed for every random choice.
    forget_ratio : float
        Share of utterances to forget (``sample``), in (0, 1).
    forget_classes, forget_speakers : sequence of str
        Explicit choices; empty means draw ``num_forget_*`` with the seed.
    forget_list : str
        Path of a file with one utterance ID per line (``list``).
    num_forget_classes, num_forget_speakers : int
        How many to draw when no explicit choice is given.

    Returns
    -------
    Split
        The partition; ``forget`` and ``retain`` keep the manifest order.
    """
    if scenario not in SCENARIOS:
        raise UnlearnError(f"scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
    rng = np.random.default_rng(seed)
    labels = sorted({r["label"] for r in rows})
    split = Split(scenario, [], [])
    if scenario == "sample":
        check_forget_ratio(forget_ratio)
        forget_ids = set()
        for label in labels:
            ids = [r["ID"] for r in rows if r["label"] == label]
            count = int(round(float(forget_ratio) * len(ids)))
            forget_ids.update(rng.choice(ids, size=count, replace=False).tolist() if count else [])
    elif scenario == "class":
        drawable = [label for label in labels if label not in SPECIAL_LABELS]
        split.forget_classes = _choose(rng, labels, forget_classes, num_forget_classes, "classes", drawable)
        if len(split.forget_classes) >= len(labels):
            raise UnlearnError(
                f"forget_classes names all {len(labels)} classes: nothing would be left to classify; forget fewer"
            )
        forget_ids = {r["ID"] for r in rows if r["label"] in split.forget_classes}
    elif scenario == "speaker":
        speakers = {r["spk_id"] for r in rows if r["spk_id"] != "noise"}
        split.forget_speakers = _choose(rng, speakers, forget_speakers, num_forget_speakers, "speakers")
        forget_ids = {r["ID"] for r in rows if r["spk_id"] in split.forget_speakers}
    else:
        forget_ids = _read_forget_list(forget_list, {r["ID"] for r in rows})
    split.forget = [r for r in rows if r["ID"] in forget_ids]
    split.retain = [r for r in rows if r["ID"] not in forget_ids]
    if not split.forget:
        hint = {"sample": "raise forget_ratio", "list": f"{forget_list} lists no utterance ID"}[scenario]
        raise UnlearnError(f"the {scenario} scenario selected no utterance to forget; {hint}")
    if not split.retain:
        raise UnlearnError(f"the {scenario} scenario would forget the whole training set; forget less")
    retained = {r["label"] for r in split.retain}
    split.forget_classes = [label for label in labels if label not in retained]
    return split


def read_id_list(path, what="forget_list", unique=True):
    r"""The utterance IDs of a text file, one per line, in order (``#`` lines and blanks skipped, CRLF accepted).

    With ``unique``, an ID listed more than once is kept once, and a warning
    says how many lines repeated an ID; without, every line is returned.

    Example
    -------
    >>> import tempfile
    >>> path = tempfile.mktemp()
    >>> _ = open(path, "w").write("# forget\r\nu2\r\nu1\r\n\r\nu2\n")
    >>> read_id_list(path)
    ['u2', 'u1']
    """
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [line.strip() for line in fh if line.strip() and not line.startswith("#")]
    except (OSError, UnicodeDecodeError) as err:
        raise UnlearnError(f"cannot read {what} {path}: {getattr(err, 'strerror', None) or err}") from None
    counts = collections.Counter(lines)
    ids = list(counts)
    if not unique:
        return lines
    if len(ids) < len(lines):
        repeated = [i for i, n in counts.items() if n > 1]
        logger.warning(
            "%s %s repeats %d IDs (%d extra lines, e.g. %s); each is forgotten once",
            what,
            path,
            len(repeated),
            len(lines) - len(ids),
            repeated[0],
        )
    return ids


def _read_forget_list(path, known_ids):
    """Read a forget list, checking every ID is in the training set."""
    if not path:
        raise UnlearnError("scenario list needs forget_list=<file with one utterance ID per line>")
    ids = read_id_list(path)
    unknown = [i for i in ids if i not in known_ids]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise UnlearnError(f"forget_list has {len(unknown)} IDs not in the training manifest: {shown}")
    return set(ids)
