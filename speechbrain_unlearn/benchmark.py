#!/usr/bin/env python3
r"""Benchmark of unlearning methods: many recipe runs, one report.

Runs the unlearning recipe for every task x method x scenario x seed, each
in its own process::

    python recipes/<Task>/unlearn.py hparams/<method>.yaml --seed=<s> --scenario=<sc> \
        --output_folder=<output>/runs/<Task>/<method>/<sc>-<s> [--key=value ...]

(from the repository root, its console output in ``log.txt`` of that folder),
and aggregates their ``unlearn_results.json`` into ``<output>``:

* ``runs.csv``: one row per run (status and the numbers of its results);
* ``results.md``: per task and scenario, one row per method plus the original
  model (doing nothing) and the retrained reference, each cell the mean and
  standard deviation over seeds; an average gap within the noise floor (the
  gap between two references trained with different seeds) is marked ``≈``;
* ``tradeoff_<task>_<scenario>.png``: the average gap to the reference
  against test accuracy and against unlearning time;
* ``relearn_<task>_<scenario>.png``: forget accuracy along the k-shot and
  benign relearning attacks.

To run it::

    python -m speechbrain_unlearn.benchmark --quick   # 2 tasks x 3 methods, seed 1, small corpora
    python -m speechbrain_unlearn.benchmark           # every method, sample and class, seeds 1 2 3
    python -m speechbrain_unlearn.benchmark --tasks VoxCeleb --methods finetune influence --jobs 2
    python -m speechbrain_unlearn.benchmark --report-only   # only aggregate the runs already there
    python -m speechbrain_unlearn.benchmark --scaling --tasks SpeechCommands --override number_of_epochs=5

Runs of one (task, seed) share the trained original and reference through
the recipe's ``cache_folder``; the first run of each group fills the cache
before any other run of the group starts, also with ``--jobs`` > 1. A rerun
of the same command skips every run whose folder holds its results and the
same ``benchmark_command.txt``. A failed run is recorded (status ``failed``
and the last line of its log), the others go on, and the benchmark exits with
status 1. Class-only methods (``needs_forgotten_classes``: Boundary Shrink,
head suppression) are skipped, not failed, in scenarios that forget no whole
class (all but ``class``, and ``speaker`` on VoxCeleb).

``--override key=value`` is passed to every run as ``--key=value``;
``--override Task:key=value`` to the runs of that task only.

``--scaling`` measures wall time as the training set grows (1x, 2x, 4x:
:data:`SCALING_SIZES`) and as the forget set grows (``forget_ratio`` 0.05,
0.1, 0.2), for retraining and the methods (default ``finetune influence``),
in ``scaling.csv``, ``scaling.md`` and ``scaling_<task>.png``.

Authors
 * speechbrain-unlearn developers 2026
"""

import argparse
import concurrent.futures
import dataclasses
import functools
import importlib
import math
import os
import re
import shlex
import subprocess
import sys
import textwrap
import time

import numpy as np
from tqdm import tqdm

from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.io import atomic_path, read_json, write_csv, write_json, write_text

#: The repository root: recipes are run from here (their default ``cache_folder`` is relative).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKS = ("SpeechCommands", "VoxCeleb")
SCENARIOS = ("sample", "class", "speaker", "list")
#: Defaults of a full benchmark.
DEFAULTS = {"scenarios": ["sample", "class"], "seeds": [1, 2, 3], "output": os.path.join("docs", "benchmark")}
#: The ``--quick`` preset (tasks: all).
QUICK = {
    "methods": ["finetune", "influence", "neggrad_plus"],
    "scenarios": ["sample"],
    "seeds": [1],
    "output": os.path.join("docs", "benchmark-quick"),
}
#: Per-task overrides of ``--quick``: smaller embedded corpora, fewer epochs and
#: shadow models, so that a cold cache finishes in about 20 minutes on 2 CPU cores.
QUICK_OVERRIDES = {
    "SpeechCommands": {"n_speakers": 20, "number_of_epochs": 6, "lira_shadows": 2},
    "VoxCeleb": {"n_speakers": 12, "number_of_epochs": 8, "lira_shadows": 2},
}
#: ``--scaling``: the task key that grows the training set, and its values (1x, 2x, 4x).
SCALING_SIZES = {
    "SpeechCommands": ("repetitions", (5, 10, 20)),
    "VoxCeleb": ("utterances_per_video", (8, 16, 32)),
}
#: ``--scaling``: forget ratios (the first size's training set), and the one the size axis uses.
SCALING_RATIOS, SCALING_BASE_RATIO = (0.05, 0.1, 0.2), 0.1
SCALING_METHODS = ["finetune", "influence"]
#: Keys the benchmark sets itself.
RESERVED_KEYS = {"seed": "--seeds", "scenario": "--scenarios", "output_folder": "--output"}

#: Metrics of ``metrics.<model>`` read from every run.
METRICS = (
    "test_acc",
    "retain_acc",
    "forget_acc",
    "forget_test_acc",
    "mia_auc",
    "mia_entropy_auc",
    "mia_svc_efficacy",
    "lira_tpr_at_1pct_fpr",
    "lira_tpr_at_01pct_fpr",
    "eer",
    "min_dcf",
    "forgotten_speaker_id_rate",
)
GAP_KEYS = ("test_acc", "retain_acc", "forget_acc", "mia_auc", "avg")
ATTACKS = ("kshot", "benign")
ATTACK_NAMES = {
    "kshot": "k-shot attack: trains on half of the forget set, scored on the other half",
    "benign": "benign attack: trains on retain utterances only",
}
STAGES = ("train", "retrain", "unlearn")
#: The numeric columns of ``runs.csv``: dotted paths into ``unlearn_results.json``.
NUMERIC_KEYS = (
    [f"sizes.{k}" for k in ("train", "forget", "retain", "test")]
    + [f"metrics.{m}.{k}" for m in ("original", "unlearned", "retrained") for k in METRICS]
    + [f"{g}.{k}" for g in ("gap_to_retrain", "gap_noise_floor") for k in GAP_KEYS]
    + [
        f"relearn.{a}.{k}"
        for a in ATTACKS
        for k in ("memorization_recovery", "memorization_recovery_original", "steps")
    ]
    + ["distance_to_retrain.js_divergence", "distance_to_retrain.ks_pvalue"]
    + [f"cost.{s}.{k}" for s in STAGES for k in ("time_s", "peak_mem_mb", "grad_evals")]
    + [f"time_s.{s}" for s in STAGES]
    + ["speedup_vs_retrain"]
)
RUN_COLUMNS = ["task", "method", "scenario", "seed", "status", "method_status", "message", "folder"]
RESULTS, COMMAND, STATUS, LOG = "unlearn_results.json", "benchmark_command.txt", "benchmark_status.json", "log.txt"


# --------------------------------------------------------------------------- small helpers


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


def fmt_mean_std(values, digits=4):
    """``mean ± std`` over the finite ``values`` (just the mean for one value, ``-`` for none).

    Example
    -------
    >>> fmt_mean_std([0.91, 0.89]), fmt_mean_std([12.34], 1), fmt_mean_std([None])
    ('0.9000 ± 0.0141', '12.3', '-')
    """
    mean, std, n = mean_std(values)
    if n == 0:
        return "-"
    return f"{mean:.{digits}f}" if n == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def parse_override(text):
    """``key=value`` or ``Task:key=value`` as ``(task or None, key, value)``.

    Example
    -------
    >>> parse_override("number_of_epochs=4"), parse_override("VoxCeleb:n_speakers=12")
    ((None, 'number_of_epochs', '4'), ('VoxCeleb', 'n_speakers', '12'))
    >>> parse_override("epochs")
    Traceback (most recent call last):
    ...
    speechbrain_unlearn.errors.UnlearnError: --override expects key=value or Task:key=value, got 'epochs'
    """
    match = re.fullmatch(r"(?:(\w+):)?([A-Za-z_]\w*)=(.*)", text, re.DOTALL)
    if not match:
        raise UnlearnError(f"--override expects key=value or Task:key=value, got {text!r}")
    task, key, value = match.groups()
    if task is not None and task not in TASKS:
        raise UnlearnError(f"--override {text!r}: unknown task {task!r}; choose from {', '.join(TASKS)}")
    if key in RESERVED_KEYS:
        raise UnlearnError(f"--override {text!r}: the benchmark sets {key}; use {RESERVED_KEYS[key]}")
    return task, key, value


def last_line(path):
    """The last non-empty line of a text file (``""`` if there is none)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = [line.strip() for line in fh.read()[-20000:].splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def save_png(fig, path, dpi=120):
    """Save a matplotlib figure as PNG, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)


def hparams_file(method):
    """The method's hparams file, ``hparams/<method>.yaml``."""
    return os.path.join(ROOT, "hparams", f"{method}.yaml")


def available_methods():
    """Names of the method hparams files (``retrain`` included)."""
    folder = os.path.join(ROOT, "hparams")
    return sorted(f[: -len(".yaml")] for f in os.listdir(folder) if f.endswith(".yaml"))


@functools.cache
def class_only(method):
    """Whether the method's unlearner class only applies when whole classes are forgotten.

    Reads the class named by ``unlearner: !name:...`` in the method's hparams
    and its ``needs_forgotten_classes`` attribute (``False`` if it cannot be
    found: the run then decides).
    """
    with open(hparams_file(method), encoding="utf-8") as fh:
        match = re.search(r"^unlearner:\s*!name:([\w.]+)", fh.read(), re.MULTILINE)
    if not match:
        return False
    module, _, name = match.group(1).rpartition(".")
    try:
        return bool(getattr(getattr(importlib.import_module(module), name), "needs_forgotten_classes", False))
    except (ImportError, AttributeError):
        return False


def forgets_classes(task, scenario):
    """Whether ``scenario`` removes whole classes on ``task`` (a VoxCeleb speaker is a class)."""
    return scenario == "class" or (task == "VoxCeleb" and scenario == "speaker")


# --------------------------------------------------------------------------- the plan


@dataclasses.dataclass
class Run:
    """One recipe run of the benchmark and what became of it."""

    task: str
    method: str
    scenario: str
    seed: int
    folder: str
    overrides: list
    #: Cache entries the run may fill: at most one running run per entry not yet filled.
    locks: tuple = ()
    #: ``pending``, ``ok``, ``failed``, ``skipped`` or ``missing``.
    status: str = "pending"
    message: str = ""
    reused: bool = False
    results: dict = None
    #: Scaling study: the grown key, its value and the forget ratio.
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def name(self):
        """A short name for the progress bar and messages."""
        return f"{self.task}/{self.method}/{os.path.basename(self.folder)}"

    def argv(self, python="python"):
        """The recipe command line (run from :data:`ROOT`).

        Example
        -------
        >>> run = Run("VoxCeleb", "finetune", "sample", 2, "/tmp/b/sample-2", [("n_speakers", "12")])
        >>> run.argv()[:3]
        ['python', 'recipes/VoxCeleb/unlearn.py', 'hparams/finetune.yaml']
        >>> run.argv()[3:]
        ['--seed=2', '--scenario=sample', '--output_folder=/tmp/b/sample-2', '--n_speakers=12']
        """
        folder = os.path.abspath(self.folder)
        inside = os.path.relpath(folder, ROOT)
        folder = folder if inside.startswith(os.pardir) else inside
        return [
            python,
            f"recipes/{self.task}/unlearn.py",
            f"hparams/{self.method}.yaml",
            f"--seed={self.seed}",
            f"--scenario={self.scenario}",
            f"--output_folder={folder}",
            *(f"--{k}={v}" for k, v in self.overrides),
        ]

    @property
    def command(self):
        """The command as recorded in ``benchmark_command.txt`` (interpreter written ``python``)."""
        return shlex.join(self.argv())

    def path(self, name):
        """A file of the run's folder."""
        return os.path.join(self.folder, name)

    def done_before(self):
        """Whether the folder holds results of this very command (the run is then not repeated)."""
        if not os.path.exists(self.path(RESULTS)) or not os.path.exists(self.path(COMMAND)):
            return False
        with open(self.path(COMMAND), encoding="utf-8") as fh:
            return fh.read().strip() == self.command


def parse_args(argv):
    """The benchmark's options; defaults resolved (presets applied), everything validated."""
    parser = _Parser(
        prog="python -m speechbrain_unlearn.benchmark",
        description="Run unlearning recipes over tasks x methods x scenarios x seeds and aggregate them.",
    )
    parser.add_argument("--tasks", nargs="+", choices=TASKS, help="tasks (default: both)")
    parser.add_argument("--methods", nargs="+", help="names of hparams/<name>.yaml (default: all but retrain)")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, help="scenarios (default: sample class)")
    parser.add_argument("--seeds", nargs="+", type=int, help="seeds (default: 1 2 3; --quick, --scaling: 1)")
    parser.add_argument("--output", help="output folder (default: docs/benchmark; --quick: docs/benchmark-quick)")
    parser.add_argument("--quick", action="store_true", help="small preset (3 methods, sample, seed 1, small corpora)")
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="[TASK:]KEY=VALUE",
        help="passed to every run (of TASK) as --KEY=VALUE; repeatable",
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (default 1)")
    parser.add_argument("--report-only", action="store_true", help="only aggregate the runs already in --output")
    parser.add_argument("--scaling", action="store_true", help="the scaling study instead of the benchmark")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    opts = parser.parse_args(argv)

    preset = QUICK if opts.quick else {}
    opts.tasks = list(dict.fromkeys(opts.tasks or TASKS))
    known = available_methods()
    default_methods = SCALING_METHODS if opts.scaling else [m for m in known if m != "retrain"]
    opts.methods = list(dict.fromkeys(opts.methods or preset.get("methods") or default_methods))
    unknown = [m for m in opts.methods if m not in known]
    if unknown:
        raise UnlearnError(
            f"unknown method {', '.join(unknown)}: no hparams/<name>.yaml; choose from {', '.join(known)}"
        )
    opts.scenarios = list(dict.fromkeys(opts.scenarios or preset.get("scenarios") or DEFAULTS["scenarios"]))
    single_seed = [1] if opts.scaling else None
    opts.seeds = list(dict.fromkeys(opts.seeds or preset.get("seeds") or single_seed or DEFAULTS["seeds"]))
    opts.output = opts.output or preset.get("output") or DEFAULTS["output"]
    if opts.jobs < 1:
        raise UnlearnError(f"--jobs must be at least 1, got {opts.jobs}")

    opts.task_overrides = {t: dict(QUICK_OVERRIDES[t]) if opts.quick else {} for t in opts.tasks}
    for text in opts.override:
        task, key, value = parse_override(text)
        for t in [task] if task else opts.tasks:
            if t in opts.task_overrides:
                opts.task_overrides[t].pop(key, None)  # the user's value comes last, in the user's order
                opts.task_overrides[t][key] = value
    if "list" in opts.scenarios and any("forget_list" not in o for o in opts.task_overrides.values()):
        raise UnlearnError("scenario list needs --override forget_list=<file of utterance IDs>")
    if opts.scaling:
        for t in opts.tasks:
            clash = {SCALING_SIZES[t][0], "forget_ratio"} & set(opts.task_overrides[t])
            if clash:
                raise UnlearnError(f"--scaling sets {', '.join(sorted(clash))} itself; do not override it")
    if opts.report_only and not os.path.isdir(os.path.join(opts.output, "scaling" if opts.scaling else "runs")):
        what = "scaling runs" if opts.scaling else "runs"
        raise UnlearnError(f"--report-only: no {what} under {opts.output}; run the benchmark first or pass --output")
    opts.argv = list(argv)
    return opts


class _Parser(argparse.ArgumentParser):
    """An argument parser that answers bad input with one ``error:`` line (see :func:`main`)."""

    def error(self, message):
        """Raise the message as a user error."""
        raise UnlearnError(message)


def plan(opts):
    """The runs of the benchmark, in the order they are started.

    Grouped by task, seed and scenario, so the first run of a group fills the
    cache the others reuse. Class-only methods in scenarios that forget no
    whole class are planned as ``skipped``.
    """
    runs = []
    for task in opts.tasks:
        overrides = list(opts.task_overrides[task].items())
        for seed in opts.seeds:
            for scenario in opts.scenarios:
                for method in opts.methods:
                    folder = os.path.join(opts.output, "runs", task, method, f"{scenario}-{seed}")
                    locks = (("corpus", task), ("original", task, seed), ("reference", task, scenario, seed))
                    run = Run(task, method, scenario, seed, folder, overrides, locks)
                    if not forgets_classes(task, scenario) and class_only(method):
                        run.status = "skipped"
                        run.message = f"class-only method: {scenario} forgets no whole class on {task}"
                    runs.append(run)
    return runs


def scaling_plan(opts):
    """The runs of the scaling study: sizes at the base forget ratio, forget ratios at the base size."""
    runs = []
    for task in opts.tasks:
        key, sizes = SCALING_SIZES[task]
        points = [(s, SCALING_BASE_RATIO) for s in sizes]
        points += [(sizes[0], r) for r in SCALING_RATIOS if r != SCALING_BASE_RATIO]
        for seed in opts.seeds:
            for size, ratio in points:
                for method in opts.methods:
                    name = f"{key}-{size}_forget_ratio-{ratio}-{seed}"
                    folder = os.path.join(opts.output, "scaling", task, method, name)
                    overrides = [*opts.task_overrides[task].items(), (key, str(size)), ("forget_ratio", str(ratio))]
                    locks = (
                        ("corpus", task, size),
                        ("original", task, size, seed),
                        ("reference", task, size, ratio, seed),
                    )
                    extra = {"size_key": key, "size": size, "forget_ratio": ratio}
                    runs.append(Run(task, method, "sample", seed, folder, overrides, locks, extra=extra))
    return runs


# --------------------------------------------------------------------------- running


def run_one(run):
    """Run the recipe of ``run`` in a subprocess; return its status and message.

    The previous results of the folder are removed first, so that a failed
    rerun never leaves stale results to be aggregated.
    """
    os.makedirs(run.folder, exist_ok=True)
    for name in (RESULTS, STATUS):
        if os.path.exists(run.path(name)):
            os.remove(run.path(name))
    write_text(run.path(COMMAND), run.command + "\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.time()
    # The recipe's own logger appends to log.txt too: append, never truncate.
    with open(run.path(LOG), "a", encoding="utf-8") as log:
        log.write(f"# benchmark, {time.strftime('%Y-%m-%d %H:%M:%S')}: {run.command}\n")
        log.flush()
        try:
            code = subprocess.run(
                run.argv(sys.executable), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, check=False
            ).returncode
        except OSError as err:
            code, message = -1, f"could not start the recipe: {err}"
    if code == 0 and os.path.exists(run.path(RESULTS)):
        status, message = "ok", ""
    elif code == 0:
        status, message = "failed", f"exit status 0 but no {RESULTS}"
    else:
        status = "failed"
        message = last_line(run.path(LOG)) if code != -1 else message
        message = message or f"exit status {code}"
    record = {"command": run.command, "status": status, "returncode": code, "message": message}
    write_json(run.path(STATUS), {**record, "wall_s": round(time.time() - start, 3)})
    return status, message


def execute(runs, jobs=1, progress=True):
    """Run every pending run of ``runs`` (``jobs`` at a time); set their status and message.

    A run already done with the same command is reused. A run may start
    when, for each cache entry it may fill (its ``locks``), the entry is
    filled (a run holding it succeeded) or no running run holds it; so the
    first run of a (task, seed) trains the original alone, the first of a
    (task, scenario, seed) the reference, and the methods of a group run in
    parallel after it.
    """
    filled, held = set(), set()
    todo = []
    for run in runs:
        if run.status != "pending":
            continue
        if run.done_before():
            run.status, run.reused = "ok", True
            filled.update(run.locks)
        else:
            todo.append(run)
    # disable=None: no bar when stderr is not a terminal
    bar = tqdm(
        total=len(runs), initial=len(runs) - len(todo), unit="run", desc="benchmark", disable=None if progress else True
    )
    running = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        while todo or running:
            while len(running) < jobs:
                ready = next((r for r in todo if all(k in filled or k not in held for k in r.locks)), None)
                if ready is None:
                    break
                todo.remove(ready)
                held.update(k for k in ready.locks if k not in filled)
                running[pool.submit(run_one, ready)] = ready
                bar.set_postfix_str(", ".join(r.name for r in running.values()))
            done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                run = running.pop(future)
                run.status, run.message = future.result()
                held.difference_update(run.locks)
                if run.status == "ok":
                    filled.update(run.locks)
                else:
                    bar.write(f"failed: {run.name}: {run.message}")
                bar.set_postfix_str(", ".join(r.name for r in running.values()))
                bar.update(1)
    bar.close()
    return runs


def collect(runs):
    """Read the results of every run that is not skipped; mark the others ``failed`` or ``missing``."""
    for run in runs:
        if run.status == "skipped":
            continue
        if os.path.exists(run.path(RESULTS)):
            try:
                run.results = read_json(run.path(RESULTS))
                run.status = "ok"
            except (OSError, ValueError) as err:
                run.status, run.message = "failed", f"unreadable {RESULTS}: {err}"
        elif run.status != "failed":
            record = {}
            if os.path.exists(run.path(STATUS)):
                try:
                    record = read_json(run.path(STATUS))
                except (OSError, ValueError):
                    record = {}
            if record.get("status") == "failed":
                run.status, run.message = "failed", record.get("message", "")
            else:
                run.status, run.message = "missing", f"no {RESULTS}"
    return runs


# --------------------------------------------------------------------------- runs.csv and results.md


def run_row(run):
    """The ``runs.csv`` row of a run: identity, status and the numbers of its results."""
    res = run.results or {}
    row = {
        "task": run.task,
        "method": run.method,
        "scenario": run.scenario,
        "seed": run.seed,
        "status": run.status,
        "method_status": dig(res, "method_status.status") or "",
        "message": run.message,
        "folder": run.folder,
    }
    for key in NUMERIC_KEYS:
        value = number(dig(res, key))
        row[key] = "" if math.isnan(value) else value
    return row


def _method_value(key, model):
    """A getter of one results number for the method rows (``model`` ``unlearned``) or a baseline row."""
    if key in METRICS:
        return lambda res: dig(res, f"metrics.{model}.{key}")
    if key == "avg_gap":
        path = {"unlearned": "gap_to_retrain.avg", "original": "gap_original_to_retrain.avg"}.get(model)
        return (lambda res: dig(res, path)) if path else (lambda res: 0.0 if dig(res, "gap_to_retrain") else None)
    if key in ATTACKS:
        suffix = {"unlearned": "", "original": "_original"}.get(model)
        if suffix is None:  # the reference is attacked like the others: its recovery is 0 by definition
            return lambda res: None if dig(res, f"relearn.{key}.memorization_recovery") is None else 0.0
        return lambda res: dig(res, f"relearn.{key}.memorization_recovery{suffix}")
    if key == "time":
        if model == "retrained":
            return lambda res: _first(dig(res, "time_s.retrain"), dig(res, "cost.retrain.time_s"))
        if model == "original":
            return lambda res: None
        return lambda res: _first(dig(res, "time_s.unlearn"), dig(res, "cost.unlearn.time_s"))
    if key == "speedup":
        if model == "retrained":
            return lambda res: 1.0 if dig(res, "time_s.retrain") is not None else None
        return lambda res: dig(res, "speedup_vs_retrain") if model == "unlearned" else None
    raise KeyError(key)


def _first(*values):
    return next((v for v in values if v is not None), None)


#: results.md columns: (key, header, digits); metrics of the unlearned model unless the row is a baseline.
COLUMNS = (
    ("test_acc", "test acc", 4),
    ("forget_acc", "forget acc", 4),
    ("forget_test_acc", "forget-test acc", 4),
    ("mia_auc", "MIA AUC", 4),
    ("mia_svc_efficacy", "SVC MIA efficacy", 4),
    ("lira_tpr_at_1pct_fpr", "LiRA TPR@1%FPR", 4),
    ("avg_gap", "avg gap", 4),
    ("kshot", "k-shot recovery", 4),
    ("benign", "benign recovery", 4),
    ("eer", "EER", 4),
    ("time", "unlearn s", 1),
    ("speedup", "speed-up", 1),
)
#: Columns shown even when every cell is empty.
ALWAYS = {"test_acc", "forget_acc", "mia_auc", "avg_gap", "time", "speedup"}


def by_seed(runs, getter):
    """One value per seed (the mean over that seed's runs): the original and reference are shared by a seed's runs."""
    values = {}
    for run in runs:
        values.setdefault(run.seed, []).append(getter(run.results))
    return [mean_std(v)[0] for v in values.values()]


def noise_floor(runs):
    """Per gap key, the per-seed values of ``gap_noise_floor`` (NaN where unknown)."""
    return {k: by_seed(runs, lambda res, k=k: dig(res, f"gap_noise_floor.{k}")) for k in GAP_KEYS}


def section(task, scenario, runs, methods):
    """The Markdown of one task x scenario: the table, the noise floor, skipped and failed runs."""
    ok = [r for r in runs if r.status == "ok"]
    floor = noise_floor(ok)
    floor_mean, floor_std, floor_n = mean_std(floor["avg"])

    rows = []  # (label, {column: cell}, n, avg gap mean, status count)
    for label, model, members in [("original (nothing)", "original", ok)] + [
        (m, "unlearned", [r for r in ok if r.method == m]) for m in methods
    ]:
        cells = {}
        for key, _, digits in COLUMNS:
            getter = _method_value(key, model)
            values = by_seed(members, getter) if model != "unlearned" else [getter(r.results) for r in members]
            cells[key] = (values, digits)
        not_ok = sum((dig(r.results, "method_status.status") or "ok") != "ok" for r in members)
        rows.append((label, cells, len({r.seed for r in members}), not_ok if model == "unlearned" else None))
    reference = {}
    for key, _, digits in COLUMNS:
        reference[key] = (by_seed(ok, _method_value(key, "retrained")), digits)
    rows.insert(1, ("reference (retrain)", reference, len({r.seed for r in ok}), None))

    shown = [c for c in COLUMNS if c[0] in ALWAYS or any(mean_std(cells[c[0]][0])[2] for _, cells, _, _ in rows)]
    header = ["method", "n", *(h for _, h, _ in shown), "not ok"]
    lines = [f"## {task}, {scenario}", ""]
    lines += ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    marked = False
    for label, cells, n, not_ok in rows:
        out = [label, str(n)]
        for key, _, _ in shown:
            values, digits = cells[key]
            text = fmt_mean_std(values, digits)
            if key == "avg_gap" and label != "reference (retrain)" and floor_n and text != "-":
                if mean_std(values)[0] <= floor_mean:
                    text += " ≈"
                    marked = True
            out.append(text)
        out.append("-" if not_ok is None or not n else str(not_ok))
        lines.append("| " + " | ".join(out) + " |")
    lines.append("")
    if marked:
        lines += [f"≈: within the noise floor (two references differ by {floor_mean:.4f} on average).", ""]
    if floor_n:
        parts = ", ".join(f"{k} {fmt_mean_std(floor[k])}" for k in GAP_KEYS if k != "avg")
        lines += [
            f"Noise floor (gap between two references trained with different seeds): avg "
            f"{fmt_mean_std(floor['avg'])} ({parts}; n = {floor_n}).",
            "",
        ]
    else:
        lines += ["Noise floor: unknown (no run recorded `gap_noise_floor`).", ""]
    for status, what in (("skipped", "Skipped"), ("failed", "Failed"), ("missing", "Missing")):
        listed = [r for r in runs if r.status == status]
        if listed:
            lines.append(f"{what}:")
            grouped = {}
            for r in listed:
                grouped.setdefault((r.method, r.message), []).append(str(r.seed))
            lines += [
                f"- {m}, seed{'s' * (len(seeds) > 1)} {', '.join(seeds)}: {message}"
                for (m, message), seeds in grouped.items()
            ]
            lines.append("")
    if ok:
        lines += [
            f"![trade-off]({plot_name('tradeoff', task, scenario)})",
            f"![relearning]({plot_name('relearn', task, scenario)})",
            "",
        ]
    return "\n".join(lines)


def command_line(opts):
    """The benchmark's command line, as given."""
    return " ".join(["python -m speechbrain_unlearn.benchmark", *map(shlex.quote, opts.argv)])


def plot_name(kind, task, scenario):
    """File name of a plot."""
    return f"{kind}_{task}_{scenario}.png"


def results_markdown(runs, opts):
    """The whole ``results.md``."""
    counts = {s: sum(r.status == s for r in runs) for s in ("ok", "failed", "skipped", "missing")}
    reused = sum(r.reused for r in runs)
    overrides = "; ".join(
        f"{t}: `{' '.join(f'--{k}={v}' for k, v in o.items())}`" for t, o in opts.task_overrides.items() if o
    )
    lines = [
        "# Unlearning benchmark",
        "",
        f"`{command_line(opts)}`",
        "",
        f"{len(runs)} runs: {counts['ok']} ok ({reused} reused from an earlier benchmark), {counts['failed']} "
        f"failed, {counts['skipped']} skipped (class-only methods), {counts['missing']} missing. Seeds: "
        f"{', '.join(map(str, opts.seeds))}." + (f" Overrides: {overrides}." if overrides else ""),
        "",
        "Cells are the mean ± sample standard deviation over seeds (n: seeds with results). Metrics are those of "
        "the unlearned model, except in the rows *original (nothing)* (the model trained on everything: what doing "
        "nothing gives) and *reference (retrain)* (retrained from scratch without the forget set: the goal). "
        "Accuracies, AUCs, the SVC efficacy (share of forget utterances called non-members), the LiRA true positive "
        "rate, EER and gaps are fractions in [0, 1]. *avg gap*: mean absolute difference to the reference in test, "
        "retain and forget accuracy and MIA AUC (lower is better). *recovery*: forget accuracy above the "
        "reference's after a relearning attack (lower is better). *unlearn s*: wall-clock seconds of unlearning "
        "(for the reference: of retraining); *speed-up*: retraining time over unlearning time. *not ok*: runs whose "
        "method diverged (weights of an earlier step restored).",
        "",
    ]
    for task in opts.tasks:
        for scenario in opts.scenarios:
            group = [r for r in runs if r.task == task and r.scenario == scenario]
            if group:
                methods = [m for m in opts.methods if any(r.method == m and r.status != "skipped" for r in group)]
                lines.append(section(task, scenario, group, methods))
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- plots


def _figure(ncols, title):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4 * ncols, 5.4))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    fig.suptitle(title)
    return fig, axes


def _colors(methods):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(methods) <= 10 else "tab20"]
    return {m: cmap(i % cmap.N) for i, m in enumerate(methods)}


def _legend(fig, axes):
    handles, labels = {}, []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in handles:
                handles[label] = handle
                labels.append(label)
    ncol = min(len(labels), 6) or 1
    rows = math.ceil(len(labels) / ncol)
    fig.legend([handles[k] for k in labels], labels, loc="lower center", ncol=ncol, fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.045 * rows, 1, 1))


def plot_tradeoff(path, task, scenario, runs, methods):
    """Average gap against test accuracy (left) and unlearning time (right), one point per method."""
    ok = [r for r in runs if r.status == "ok"]
    seeds = len({r.seed for r in ok})
    fig, (left, right) = _figure(
        2, f"{task}, {scenario}: forgetting against utility and cost (mean ± std over {_seeds(seeds)})"
    )
    colors = _colors(methods)
    floor, _, floor_n = mean_std(noise_floor(ok)["avg"])
    for ax in (left, right):
        if floor_n:
            ax.axhspan(0, floor, color="0.85", zorder=0, label=f"noise floor ({floor:.4f})")
        ax.axhline(0, color="0.6", lw=0.8, zorder=0)

    def point(members, x_get, scale=1.0, model="unlearned"):
        xs = [number(x_get(r.results)) * scale for r in members]
        gap = _method_value("avg_gap", model)
        ys = [number(gap(r.results)) for r in members]
        return mean_std(xs), mean_std(ys)

    test_acc = _method_value("test_acc", "unlearned")
    unlearn_time = _method_value("time", "unlearned")
    for method in methods:
        members = [r for r in ok if r.method == method]
        if not members:
            continue
        for ax, getter, scale in ((left, test_acc, 100.0), (right, unlearn_time, 1.0)):
            (x, xs, nx), (y, ys, ny) = point(members, getter, scale)
            if not (nx and ny) or (ax is right and x <= 0):
                continue
            ax.errorbar(
                x,
                y,
                xerr=0 if math.isnan(xs) else xs,
                yerr=0 if math.isnan(ys) else ys,
                fmt="o",
                color=colors[method],
                ecolor=(*colors[method][:3], 0.5),
                elinewidth=1,
                capsize=2,
                zorder=3,
                label=method,
            )
            ax.annotate(method, (x, y), textcoords="offset points", xytext=(5, 5), fontsize="small")
    if ok:
        orig_acc = mean_std(by_seed(ok, _method_value("test_acc", "original")))
        orig_gap = mean_std(by_seed(ok, _method_value("avg_gap", "original")))
        ref_acc = mean_std(by_seed(ok, _method_value("test_acc", "retrained")))
        ref_time = mean_std(by_seed(ok, _method_value("time", "retrained")))
        if orig_acc[2] and orig_gap[2]:
            left.errorbar(
                orig_acc[0] * 100,
                orig_gap[0],
                xerr=_z(orig_acc[1]) * 100,
                yerr=_z(orig_gap[1]),
                fmt="X",
                ms=10,
                zorder=2,
                color="black",
                capsize=3,
                label="original (nothing)",
            )
            right.axhline(orig_gap[0], color="black", ls=":", label="original (nothing)")
            right.annotate(
                "original (nothing)",
                (0, orig_gap[0]),
                xycoords=("axes fraction", "data"),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize="small",
            )
        if ref_acc[2]:
            left.plot(ref_acc[0] * 100, 0, "*", ms=16, color="gold", mec="black", label="reference (retrain)")
        if ref_time[2] and ref_time[0] > 0:
            right.axvline(ref_time[0], color="black", ls="--", lw=1)
            right.annotate(
                "retrain",
                (ref_time[0], 1),
                xycoords=("data", "axes fraction"),
                xytext=(-4, -4),
                textcoords="offset points",
                rotation=90,
                ha="right",
                va="top",
            )
            right.plot(ref_time[0], 0, "*", ms=16, color="gold", mec="black", label="reference (retrain)")
    left.set_xlabel("test accuracy of the unlearned model (%)")
    right.set_xlabel("unlearning wall time (s, log scale)")
    if right.has_data():
        _log_axis(right.xaxis)
    for ax, title in ((left, "gap vs. utility"), (right, "gap vs. cost")):
        ax.set_ylabel("average gap to the retrained reference (fraction)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    if not ok:
        for ax in (left, right):
            ax.text(0.5, 0.5, "no results", transform=ax.transAxes, ha="center")
    _legend(fig, (left, right))
    save_png(fig, path)


def _log_axis(axis):
    """A log-scale axis with plain tick labels at 1, 2, 5 x powers of ten (no overlapping minor labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if axis.axis_name == "x":
        axis.axes.set_xscale("log")
    else:
        axis.axes.set_yscale("log")
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _seeds(n):
    return f"{n} seed{'s' * (n != 1)}"


def _z(value):
    return 0.0 if math.isnan(value) else value


def relearn_curves(members, kind, model):
    """Steps and the mean forget accuracy (%) along a relearning attack, over ``members``' runs.

    Runs without a ``curve`` but with post-attack accuracies give two points:
    before (the model's forget accuracy) and after the attack.
    """
    by_steps = {}
    for run in members:
        res = run.results
        curve = dig(res, f"relearn.{kind}.curve")
        steps = values = None
        if isinstance(curve, dict) and curve.get("steps") and curve.get(model):
            steps, values = curve["steps"], curve[model]
        else:
            after = dig(res, f"relearn.{kind}.post_attack.{model}.forget_acc")
            before = dig(res, f"metrics.{model}.forget_acc")
            total = dig(res, f"relearn.{kind}.steps")
            if after is not None and before is not None and total:
                steps, values = [0, total], [before, after]
        if steps is not None and len(steps) == len(values):
            by_steps.setdefault(tuple(steps), {}).setdefault(run.seed, []).append(values)
    if not by_steps:
        return None, None
    steps, per_seed = max(by_steps.items(), key=lambda item: len(item[1]))
    seeds = [np.nanmean(np.array(v, dtype=float), axis=0) for v in per_seed.values()]
    return list(steps), 100 * np.nanmean(np.array(seeds), axis=0)


def plot_relearn(path, task, scenario, runs, methods):
    """Forget accuracy along the k-shot (left) and benign (right) relearning attacks."""
    ok = [r for r in runs if r.status == "ok"]
    seeds = len({r.seed for r in ok})
    fig, axes = _figure(2, f"{task}, {scenario}: relearning attacks (mean over {_seeds(seeds)})")
    colors = _colors(methods)
    for ax, kind in zip(axes, ATTACKS):
        drawn, ticks = False, set()
        for method in methods:
            steps, acc = relearn_curves([r for r in ok if r.method == method], kind, "unlearned")
            if steps is not None:
                ax.plot(steps, acc, "o-", color=colors[method], label=method)
                drawn = True
                ticks.update(steps)
        for model, label, style in (
            ("original", "original (nothing)", dict(color="black", ls="--", marker="X")),
            ("retrained", "reference (retrain)", dict(color="goldenrod", ls="--", marker="*", ms=10)),
        ):
            steps, acc = relearn_curves(ok, kind, model)
            if steps is not None:
                ax.plot(steps, acc, label=label, **style)
                drawn = True
                ticks.update(steps)
        if not drawn:
            why = next(
                (dig(r.results, f"relearn.{kind}.skipped") for r in ok if dig(r.results, f"relearn.{kind}.skipped")),
                None,
            )
            text = f"no data: skipped ({why})" if why else f"no data (no relearn.{kind} in the runs)"
            ax.text(0.5, 0.5, textwrap.fill(text, 50), transform=ax.transAxes, ha="center", va="center")
        ax.set_title(ATTACK_NAMES[kind])
        ax.set_xlabel("attack steps (minibatch updates)")
        ax.set_ylabel("forget accuracy after the attack steps (%)")
        if ticks:
            ax.set_xticks(sorted(ticks))
        ax.grid(alpha=0.3)
    _legend(fig, axes)
    save_png(fig, path)


# --------------------------------------------------------------------------- scaling


def scaling_rows(runs):
    """``scaling.csv``: one row per scaling run, with the sizes and times it measured."""
    rows = []
    for run in runs:
        res = run.results or {}
        rows.append(
            {
                "task": run.task,
                "method": run.method,
                "seed": run.seed,
                "size_key": run.extra["size_key"],
                "size": run.extra["size"],
                "forget_ratio": run.extra["forget_ratio"],
                "status": run.status,
                "message": run.message,
                "train_utterances": _blank(dig(res, "sizes.train")),
                "forget_utterances": _blank(dig(res, "sizes.forget")),
                "retrain_s": _blank(_method_value("time", "retrained")(res)),
                "unlearn_s": _blank(_method_value("time", "unlearned")(res)),
                "speedup_vs_retrain": _blank(dig(res, "speedup_vs_retrain")),
            }
        )
    return rows


def _blank(value):
    value = number(value)
    return "" if math.isnan(value) else value


def scaling_series(runs, task, axis, methods):
    """``{line: (x, mean time)}`` for one task and axis (``train`` or ``forget``), lines retrain and methods."""
    key, sizes = SCALING_SIZES[task]
    ok = [r for r in runs if r.task == task and r.status == "ok"]
    if axis == "train":
        ok = [r for r in ok if r.extra["forget_ratio"] == SCALING_BASE_RATIO]
        point = lambda r: r.extra["size"]  # noqa: E731
    else:
        ok = [r for r in ok if r.extra["size"] == sizes[0]]
        point = lambda r: r.extra["forget_ratio"]  # noqa: E731
    series = {}
    for line, model, members in [("retrain", "retrained", ok)] + [
        (m, "unlearned", [r for r in ok if r.method == m]) for m in methods
    ]:
        xs, ys = [], []
        for p in sorted({point(r) for r in members}):
            at = [r for r in members if point(r) == p]
            x = mean_std(dig(r.results, f"sizes.{axis}") for r in at)[0]
            y = mean_std(by_seed(at, _method_value("time", model)))[0]
            if math.isfinite(x) and math.isfinite(y) and x > 0 and y > 0:
                xs.append(x)
                ys.append(y)
        if xs:
            series[line] = (xs, ys)
    return series


def slope(xs, ys):
    """The log-log slope of ``ys`` against ``xs`` (time ~ size^slope), NaN under two points.

    Example
    -------
    >>> round(slope([100, 200, 400], [1.0, 2.0, 4.0]), 3)
    1.0
    """
    if len(xs) < 2:
        return math.nan
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def scaling_markdown(runs, opts):
    """The whole ``scaling.md``."""
    lines = [
        "# Scaling of unlearning and retraining time",
        "",
        f"`{command_line(opts)}`",
        "",
        "Wall-clock seconds (mean over seeds) of retraining the reference (`time_s.retrain`) and of each "
        "method's unlearning (`time_s.unlearn`), as the training set grows at forget ratio "
        f"{SCALING_BASE_RATIO}, and as the forget set grows on the smallest training set. *slope*: exponent b "
        "of a log-log fit time ~ size^b.",
        "",
    ]
    for task in opts.tasks:
        for axis, what in (("train", "training utterances"), ("forget", "forget utterances")):
            series = scaling_series(runs, task, axis, opts.methods)
            lines += [f"## {task}: time against {what}", ""]
            if not series:
                lines += ["No results.", ""]
                continue
            xs = sorted({x for s in series.values() for x in s[0]})
            names = list(series)
            lines += ["| " + " | ".join([what, *(f"{n} s" for n in names)]) + " |", "|---" * (len(names) + 1) + "|"]
            for x in xs:
                cells = [f"{dict(zip(*series[n])).get(x, math.nan):.1f}" for n in names]
                lines.append(f"| {x:.0f} | " + " | ".join(c.replace("nan", "-") for c in cells) + " |")
            slopes = [slope(*series[n]) for n in names]
            lines.append("| slope | " + " | ".join("-" if math.isnan(s) else f"{s:.2f}" for s in slopes) + " |")
            lines.append("")
        failed = [r for r in runs if r.task == task and r.status in ("failed", "missing")]
        if failed:
            lines += ["Not measured:"] + [f"- {r.name}: {r.message}" for r in failed] + [""]
    return "\n".join(lines).rstrip() + "\n"


def plot_scaling(path, task, runs, methods):
    """Time against training utterances (left) and forget utterances (right), log-log."""
    fig, axes = _figure(2, f"{task}: wall time as the data grows")
    colors = _colors(methods)
    for ax, axis, what in zip(axes, ("train", "forget"), ("training utterances", "forget utterances")):
        series = scaling_series(runs, task, axis, methods)
        for line, (xs, ys) in series.items():
            style = dict(color="black", ls="--", marker="*", ms=10) if line == "retrain" else dict(color=colors[line])
            ax.plot(xs, ys, marker=style.pop("marker", "o"), label=line, **style)
        if series:
            _log_axis(ax.xaxis)
            _log_axis(ax.yaxis)
            points = sorted({x for xs, _ in series.values() for x in xs})
            ax.set_xticks(points, [f"{x:.0f}" for x in points])
        else:
            ax.text(0.5, 0.5, "no results", transform=ax.transAxes, ha="center")
        ax.set_xlabel(f"{what} (log scale)")
        ax.set_ylabel("wall time (s, log scale)")
        ax.set_title(f"time vs. {what}")
        ax.grid(alpha=0.3, which="both")
    _legend(fig, axes)
    save_png(fig, path)


# --------------------------------------------------------------------------- main


def write_outputs(runs, opts):
    """Write the report files of the benchmark (or of the scaling study); return their paths."""
    out = opts.output
    written = []
    if opts.scaling:
        rows = scaling_rows(runs)
        write_csv(os.path.join(out, "scaling.csv"), rows, list(rows[0]) if rows else None)
        write_text(os.path.join(out, "scaling.md"), scaling_markdown(runs, opts))
        written += ["scaling.csv", "scaling.md"]
        for task in opts.tasks:
            plot_scaling(os.path.join(out, f"scaling_{task}.png"), task, runs, opts.methods)
            written.append(f"scaling_{task}.png")
    else:
        write_csv(os.path.join(out, "runs.csv"), [run_row(r) for r in runs], RUN_COLUMNS + list(NUMERIC_KEYS))
        write_text(os.path.join(out, "results.md"), results_markdown(runs, opts))
        written += ["runs.csv", "results.md"]
        for task in opts.tasks:
            for scenario in opts.scenarios:
                group = [r for r in runs if r.task == task and r.scenario == scenario]
                methods = [m for m in opts.methods if any(r.method == m and r.status == "ok" for r in group)]
                if not methods:
                    continue
                for kind, plot in (("tradeoff", plot_tradeoff), ("relearn", plot_relearn)):
                    name = plot_name(kind, task, scenario)
                    plot(os.path.join(out, name), task, scenario, group, methods)
                    written.append(name)
    return [os.path.join(out, name) for name in written]


def benchmark(argv):
    """Run (or only aggregate) the benchmark; return the exit status (0, or 1 if a run failed)."""
    opts = parse_args(argv)
    runs = scaling_plan(opts) if opts.scaling else plan(opts)
    if not opts.report_only:
        execute(runs, opts.jobs, progress=not opts.no_progress)
    collect(runs)
    written = write_outputs(runs, opts)
    counts = {s: sum(r.status == s for r in runs) for s in ("ok", "failed", "skipped", "missing")}
    reused = sum(r.reused for r in runs)
    print(
        f"{len(runs)} runs: {counts['ok']} ok ({reused} reused), {counts['failed']} failed, "
        f"{counts['skipped']} skipped, {counts['missing']} missing"
    )
    for run in runs:
        if run.status == "failed":
            print(f"  failed: {run.name}: {run.message}")
    print("wrote " + ", ".join(written))
    return 1 if counts["failed"] and not opts.report_only else 0


def main(argv=None):
    """Command-line entry: bad input gets one ``error:`` line and exit status 2."""
    try:
        return benchmark(sys.argv[1:] if argv is None else list(argv))
    except UnlearnError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
