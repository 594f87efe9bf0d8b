"""What the benchmark runs: its options and presets, and the recipe runs they make.

:func:`parse_args` reads the command line (presets applied, everything
validated); :func:`plan` (the benchmark) and :func:`scaling_plan` (the
scaling study) turn the options into :class:`Run` objects, one recipe run
each, in the order they are started.
"""

import argparse
import dataclasses
import functools
import importlib
import os
import re
import shlex

from speechbrain_unlearn.benchmark.common import COMMAND, RESULTS, ROOT, SUMMARY_END, SUMMARY_START, readme_summary
from speechbrain_unlearn.data.splits import SCENARIOS
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.tasks import TASKS as TASK_SPECS

TASKS = tuple(TASK_SPECS)
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
#: ``--scaling``: overrides of every scaling run, which measures the time of the standard
#: regime (training from scratch) only: no LiRA shadow models, no second reference for
#: the noise floor, no relearning attacks. Set after the
#: ``--quick`` preset and before the user's ``--override`` values, which win.
SCALING_OVERRIDES = {
    "training_regime": "standard",
    "lira_shadows": "0",
    "noise_floor_reference": "false",
    "relearn_steps": "0",
}
#: Keys the benchmark sets itself.
RESERVED_KEYS = {"seed": "--seeds", "scenario": "--scenarios", "output_folder": "--output"}


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
        help="passed to every run (of TASK) as --KEY=VALUE, {seed} in VALUE replaced by the run's seed; repeatable",
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (default 1)")
    parser.add_argument("--report-only", action="store_true", help="only aggregate the runs already in --output")
    parser.add_argument("--scaling", action="store_true", help="the scaling study instead of the benchmark")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--readme", help="also put summary.md between the benchmark summary markers of this file")
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

    opts.task_overrides = task_overrides(opts)
    if opts.report_only and not os.path.isdir(os.path.join(opts.output, "scaling" if opts.scaling else "runs")):
        what = "scaling runs" if opts.scaling else "runs"
        raise UnlearnError(f"--report-only: no {what} under {opts.output}; run the benchmark first or pass --output")
    if opts.readme:
        check_readme(opts.readme, opts.scaling)
    opts.argv = list(argv)
    return opts


def task_overrides(opts):
    """Each task's ``--KEY=VALUE`` overrides: the preset's, the scaling study's, then the user's (which win)."""
    overrides = {t: dict(QUICK_OVERRIDES[t]) if opts.quick else {} for t in opts.tasks}
    if opts.scaling:  # after the preset, before the user's overrides (which win)
        for task_overrides_ in overrides.values():
            task_overrides_.update(SCALING_OVERRIDES)
    for text in opts.override:
        task, key, value = parse_override(text)
        for t in [task] if task else opts.tasks:
            if t in overrides:
                overrides[t].pop(key, None)  # the user's value comes last, in the user's order
                overrides[t][key] = value
    if "list" in opts.scenarios and any("forget_list" not in o for o in overrides.values()):
        raise UnlearnError("scenario list needs --override forget_list=<file of utterance IDs>")
    if opts.scaling:
        for t in opts.tasks:
            clash = {SCALING_SIZES[t][0], "forget_ratio"} & set(overrides[t])
            if clash:
                raise UnlearnError(f"--scaling sets {', '.join(sorted(clash))} itself; do not override it")
    return overrides


def check_readme(path, scaling=False):
    """Refuse a ``--readme`` file that cannot take the summary (before anything runs)."""
    if scaling:
        raise UnlearnError("--readme takes the benchmark's summary; the scaling study has none")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as err:
        raise UnlearnError(f"--readme {path}: cannot read it ({err.strerror})") from None
    if readme_summary(text) is None:
        raise UnlearnError(
            f"--readme {path}: no summary block; add the lines {SUMMARY_START} and {SUMMARY_END} where it goes"
        )


class _Parser(argparse.ArgumentParser):
    """An argument parser that answers bad input with one ``error:`` line (see :func:`main`)."""

    def error(self, message):
        """Raise the message as a user error."""
        raise UnlearnError(message)


def plan(opts):
    """The runs of the benchmark, in the order they are started.

    Grouped by task, seed and scenario, so the first run of a group fills the
    cache the others reuse. Class-only methods in scenarios that forget no
    whole class are planned as ``skipped``. ``{seed}`` in an override's value
    becomes the run's seed (a forget list per seed, say).

    Example
    -------
    >>> opts = parse_args(["--tasks", "VoxCeleb", "--methods", "retrain", "--scenarios", "list", "--seeds", "1", "2",
    ...                    "--override", "forget_list=lists/VoxCeleb-{seed}.txt"])
    >>> [run.argv()[-1] for run in plan(opts)]
    ['--forget_list=lists/VoxCeleb-1.txt', '--forget_list=lists/VoxCeleb-2.txt']
    """
    runs = []
    for task in opts.tasks:
        for seed in opts.seeds:
            overrides = [(k, str(v).replace("{seed}", str(seed))) for k, v in opts.task_overrides[task].items()]
            for scenario in opts.scenarios:
                for method in opts.methods:
                    folder = os.path.join(opts.output, "runs", task, method, f"{scenario}-{seed}")
                    locks = (("corpus", task), ("original", task, seed), ("reference", task, scenario, seed))
                    run = Run(task, method, scenario, seed, folder, overrides, locks)
                    if not TASK_SPECS[task].removes_classes(scenario) and class_only(method):
                        run.status = "skipped"
                        run.message = f"class-only method: {scenario} forgets no whole class on {task}"
                    runs.append(run)
    return runs


def scaling_plan(opts):
    """The runs of the scaling study: sizes at the base forget ratio, forget ratios at the base size.

    The study measures time only, so every run gets :data:`SCALING_OVERRIDES`
    (``lira_shadows=0``, ``noise_floor_reference=false``, ``relearn_steps=0``:
    no LiRA shadow models, no noise-floor reference, no relearning attacks),
    put in ``opts.task_overrides`` by :func:`parse_args` before the user's
    ``--override`` values, which win.

    Example
    -------
    >>> opts = parse_args(["--scaling", "--tasks", "SpeechCommands", "--override", "relearn_steps=5"])
    >>> runs = scaling_plan(opts)
    >>> len(runs), runs[0].method, runs[0].argv()[6:]  # doctest: +NORMALIZE_WHITESPACE
    (10, 'finetune', ['--training_regime=standard', '--lira_shadows=0', '--noise_floor_reference=false',
                      '--relearn_steps=5', '--repetitions=5', '--forget_ratio=0.1'])
    """
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
