r"""Loading a task's hparams together with a method's, with routed overrides.

A run is configured by two HyperPyYAML files: the task's
(``recipes/<Task>/hparams/train.yaml``: data, model, training, scenario) and
the method's (``hparams/<method>.yaml``, given on the command line). They are
loaded as one document, so a method file may refer to task keys (``<lr>``)
and the task file to method keys (``<method>`` in ``output_folder``). A
command-line override ``--key=value`` may name a top-level key of either
file; any other key is refused with one line naming the closest known keys.

Example
-------
>>> import tempfile, os
>>> tmp = tempfile.mkdtemp()
>>> task = os.path.join(tmp, "task.yaml"); method = os.path.join(tmp, "method.yaml")
>>> _ = open(task, "w").write("seed: 1\nlr: 0.1\nout: !ref run-<method>-<seed>\n")
>>> _ = open(method, "w").write("method: finetune\nunlearn_lr: !ref <lr> / 10\n")
>>> hp = load_hparams(task, method, {"seed": 7})
>>> hp["out"], hp["unlearn_lr"]
('run-finetune-7', 0.01)
>>> load_hparams(task, method, {"sede": 7})
Traceback (most recent call last):
...
speechbrain_unlearn.errors.UnlearnError: unknown key 'sede' (not in task.yaml or method.yaml); did you mean: seed?
"""

import difflib
import os
import re

from hyperpyyaml import load_hyperpyyaml
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from speechbrain_unlearn.errors import UnlearnError

_TOP_LEVEL_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:", re.MULTILINE)
#: Keys whose values are labels or IDs: read from the command line as strings,
#: so that a speaker hash such as ``00123456`` or ``1234e567`` stays intact.
STRING_KEYS = ("forget_classes", "forget_speakers", "keywords")
#: Contract keys and the types they must have after loading.
TYPED_KEYS = {
    "seed": int,
    "forget_ratio": (int, float),
    "retrain_reference": bool,
    "scenario": str,
    "number_of_epochs": int,
    "batch_size": int,
    "eval_batch_size": int,
    "lr": (int, float),
    "n_mels": int,
    "num_workers": int,
    "relearn_steps": int,
    "lira_shadows": int,
    "bootstrap_samples": int,
    "num_forget_classes": int,
    "num_forget_speakers": int,
    "export_original": bool,
    "noise_floor_reference": bool,
    "cache_features": bool,
    "unlearning_aware": bool,
}
#: Numeric keys and their smallest sensible value.
LEAST = {"number_of_epochs": 1, "batch_size": 1, "eval_batch_size": 1, "n_mels": 1, "lr": 0, "num_workers": 0}
LEAST.update(dict.fromkeys(("relearn_steps", "bootstrap_samples", "num_forget_classes", "num_forget_speakers"), 0))


def top_level_keys(text):
    r"""The top-level keys of a YAML mapping, in order.

    Example
    -------
    >>> top_level_keys("a: 1\nb:\n  c: 2\n# d: 3\n")
    ['a', 'b']
    """
    return _TOP_LEVEL_KEY.findall(text)


def without_keys(text, keys):
    r"""The YAML text without comments, blank lines and the top-level entries of ``keys``.

    Cache keys are taken over what remains, so that editing a comment or a
    key that does not change training never invalidates a trained model.

    Example
    -------
    >>> without_keys("# note\na: 1\nb:\n  c: 2\nd: 3  # why\n", {"b"})
    'a: 1\nd: 3  # why'
    """
    kept, skipping = [], False
    for line in text.splitlines():
        match = _TOP_LEVEL_KEY.match(line)
        if match:
            skipping = match.group(1) in keys
        if skipping or not line.strip() or line.lstrip().startswith("#"):
            continue
        kept.append(line)
    return "\n".join(kept)


def _read(path, what):
    if not path or not os.path.isfile(path):
        raise UnlearnError(f"{what} file {path!r} does not exist; pass e.g. hparams/finetune.yaml")
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def blocks(text):
    r"""The top-level entries of a YAML mapping as ``{key: text}``, in order (comments go with the entry above).

    Example
    -------
    >>> blocks("# head\na: 1\nb:\n  c: 2\n")
    {'': '# head\n', 'a': 'a: 1\n', 'b': 'b:\n  c: 2\n'}
    """
    found, key = {"": ""}, ""
    for line in text.splitlines(keepends=True):
        match = _TOP_LEVEL_KEY.match(line)
        if match:
            key = match.group(1)
            found[key] = ""
        found[key] += line
    return found


def _base_file(path, entry):
    """The file an ``extends: <file>`` entry of ``path`` names (relative to ``path``)."""
    name = entry.split(":", 1)[1].split("#")[0].strip().strip("'\"")
    return os.path.join(os.path.dirname(os.path.abspath(path)), name)


def syntax_error(paths):
    r"""The first YAML syntax error in ``paths`` (and the files they extend) as one line, or ``None``.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.yaml")
    >>> _ = open(path, "w").write("a: 1\nb: [1, 2\nc: 3\n")
    >>> print(syntax_error([path]).split("m.yaml ")[1])
    line 3: YAML syntax error, expected ',' or ']', but got ':' (while parsing a flow sequence at line 2)
    """
    for path in paths:
        text = _read(path, "hparams")
        try:
            YAML(pure=True).compose(text)
        except MarkedYAMLError as err:
            started = f" ({err.context} at line {err.context_mark.line + 1})" if err.context_mark else ""
            return f"{path} line {err.problem_mark.line + 1}: YAML syntax error, {err.problem}{started}"
        extends = blocks(text).get("extends")
        found = syntax_error([_base_file(path, extends)]) if extends else None
        if found:
            return found
    return None


def read_task_text(path, _seen=()):
    r"""The text of a task hparams file, with ``extends: <file>`` resolved.

    A file that starts with ``extends: train.yaml`` (a path relative to it)
    is the named file with each top-level entry the extending file sets
    replaced by its own, and its other entries appended: a config at another
    size states only what differs.

    Example
    -------
    >>> import tempfile, os
    >>> tmp = tempfile.mkdtemp()
    >>> _ = open(os.path.join(tmp, "train.yaml"), "w").write("seed: 1\nmodel:\n  size: 8\nlr: 0.1\n")
    >>> _ = open(os.path.join(tmp, "full.yaml"), "w").write("extends: train.yaml\nmodel:\n  size: 512\nworkers: 4\n")
    >>> print(read_task_text(os.path.join(tmp, "full.yaml")), end="")
    seed: 1
    model:
      size: 512
    lr: 0.1
    workers: 4
    """
    text = _read(path, "task hparams")
    child = blocks(text)
    if "extends" not in child:
        return text
    base_path = _base_file(path, child.pop("extends"))
    if os.path.abspath(path) in _seen:
        raise UnlearnError(f"{path}: `extends` comes back to this file; extend a file that does not")
    base = blocks(read_task_text(base_path, (*_seen, os.path.abspath(path))))
    preamble = child.pop("")
    merged = {key: child.pop(key, value) for key, value in base.items()}
    merged[""] = preamble + base[""]
    return "".join(block if block.endswith("\n") else block + "\n" for block in {**merged, **child}.values() if block)


def parse_overrides(overrides):
    r"""Overrides as a dict, from SpeechBrain's YAML string or a dict.

    Example
    -------
    >>> parse_overrides("keywords: [yes, no, on]\nseed: 3")
    {'keywords': ['yes', 'no', 'on'], 'seed': 3}
    >>> parse_overrides("forget_speakers: 00123456")
    {'forget_speakers': ['00123456']}
    >>> parse_overrides("seed: 1\nseed: 2")
    Traceback (most recent call last):
    ...
    speechbrain_unlearn.errors.UnlearnError: --seed is given twice on the command line; keep one
    """
    if not overrides:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    keys = top_level_keys(overrides)
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise UnlearnError(
            f"--{', --'.join(twice)} {'is' if len(twice) == 1 else 'are'} given twice on the command line; keep one"
        )
    try:  # YAML 1.2, as HyperPyYAML reads it: `yes`, `no`, `on`, `off` stay strings
        parsed = YAML(typ="safe", pure=True).load(overrides) or {}
        as_text = YAML(typ="base", pure=True).load(overrides) or {}
    except YAMLError as err:
        raise UnlearnError(f"cannot parse the command-line overrides: {err}".splitlines()[0]) from None
    for key in STRING_KEYS:
        if key in as_text:
            value = as_text[key]
            parsed[key] = [] if value in ("", "null", "[]") else value if isinstance(value, list) else [value]
    return parsed


def load_hparams(task_file, method_file, overrides=None):
    """Load the task and method hparams as one namespace.

    Arguments
    ---------
    task_file : str
        The task's hparams file.
    method_file : str
        The method's hparams file.
    overrides : dict or str, optional
        Values for top-level keys of either file.

    Returns
    -------
    dict
        The loaded hparams (objects instantiated), plus ``hparams_text``
        (the merged source) and ``overrides`` (what the command line set).
    """
    task_text, method_text = read_task_text(task_file), _read(method_file, "method hparams")
    task_keys, method_keys = top_level_keys(task_text), top_level_keys(method_text)
    clash = sorted(set(task_keys) & set(method_keys))
    if clash:
        raise UnlearnError(
            f"{os.path.basename(method_file)} redefines task keys {clash}; override them on the command line instead"
        )
    overrides = parse_overrides(overrides)
    known = task_keys + method_keys
    for key in overrides:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=3)
            hint = f"; did you mean: {', '.join(close)}?" if close else f"; known keys: {', '.join(known)}"
            raise UnlearnError(
                f"unknown key {key!r} (not in {os.path.basename(task_file)} or {os.path.basename(method_file)}){hint}"
            )
    text = task_text.rstrip("\n") + "\n\n" + method_text
    try:
        hparams = load_hyperpyyaml(text, overrides)
    except MarkedYAMLError as err:  # a syntax error: the file and the line it is on
        raise UnlearnError(syntax_error([task_file, method_file]) or f"YAML syntax error: {err.problem}") from None
    except Exception as err:  # hyperpyyaml raises many types; show the first line only
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UnlearnError(f"cannot load the hparams ({type(err).__name__}): {first}") from None
    for key, kind in TYPED_KEYS.items():
        value = hparams.get(key)
        if key in hparams and (not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise UnlearnError(f"{key} must be {names}, got {value!r}")
        if key in LEAST and key in hparams and value < LEAST[key]:
            raise UnlearnError(f"{key} must be at least {LEAST[key]}, got {value!r}")
    hparams["hparams_text"] = text
    hparams["overrides"] = overrides
    return hparams
