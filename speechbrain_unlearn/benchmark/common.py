"""Helpers shared by the benchmark's modules: the repository root, run-folder files, numbers, JSON reports."""

import json
import math
import os

import numpy as np

from speechbrain_unlearn.io import write_json

#: The repository root: recipes are run from here (their default ``cache_folder`` is relative).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: Files of a run folder: the recipe's results, and the command, status and log the benchmark writes.
RESULTS, COMMAND, STATUS, LOG = "unlearn_results.json", "benchmark_command.txt", "benchmark_status.json", "log.txt"


def dig(obj, path):
    """The value at a dotted ``path`` of nested dicts, or ``None`` where any level is missing.

    Example
    -------
    >>> dig({"a": {"b": 1}}, "a.b"), dig({"a": None}, "a.b"), dig({}, "a")
    (1, None, None)
    """
    for key in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def number(value):
    """``value`` as a float, or NaN when it is missing or not a number.

    Example
    -------
    >>> number(0.5), number(None), number("x"), number(True)
    (0.5, nan, nan, nan)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def mean_std(values):
    """Mean, sample standard deviation and count of the finite ``values``.

    Example
    -------
    >>> mean_std([0.1, 0.2, None, float("nan")])
    (0.15000000000000002, 0.07071067811865477, 2)
    >>> mean_std([0.3])
    (0.3, nan, 1)
    """
    finite = [v for v in map(number, values) if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, 0
    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan
    return float(np.mean(finite)), std, len(finite)


SUMMARY_START, SUMMARY_END = "<!-- benchmark summary: start -->", "<!-- benchmark summary: end -->"


def splice_summary(text, summary, start_marker=SUMMARY_START, end_marker=SUMMARY_END):
    r"""``text`` (a README) with the part between two markers (the summary's) replaced by ``summary``.

    Example
    -------
    >>> readme = f"intro\n{SUMMARY_START}\nold\n{SUMMARY_END}\nrest\n"
    >>> splice_summary(readme, "new\n").splitlines()[1:4]
    ['<!-- benchmark summary: start -->', 'new', '<!-- benchmark summary: end -->']
    >>> splice_summary("no markers", "new")
    Traceback (most recent call last):
    ...
    ValueError: no '<!-- benchmark summary: start -->' ... '<!-- benchmark summary: end -->' block
    """
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < start:
        raise ValueError(f"no {start_marker!r} ... {end_marker!r} block")
    return text[: start + len(start_marker)] + "\n" + summary + text[end:]


def readme_summary(text):
    """The block between the summary markers of ``text`` (``None`` without markers)."""
    start, end = text.find(SUMMARY_START), text.find(SUMMARY_END)
    if start < 0 or end < start:
        return None
    return text[start + len(SUMMARY_START) + 1 : end]


def emit_report(report, output=None):
    """Print ``report`` as JSON and, with ``output``, also write it there (atomically)."""
    print(json.dumps(report, indent=2))
    if output:
        write_json(output, report)
