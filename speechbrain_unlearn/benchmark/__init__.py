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
* ``summary.md``: per scenario, one compact table of every method on both
  tasks (average gap, recoveries, test accuracy, speed-up), which
  ``--readme README.md`` also puts between the README's
  ``<!-- benchmark summary: start -->`` and ``... end -->`` lines;
* ``tradeoff_<task>_<scenario>.png``: the average gap to the reference
  against test accuracy and against unlearning time;
* ``relearn_<task>_<scenario>.png``: forget accuracy along the k-shot and
  benign relearning attacks.

To run it::

    python -m speechbrain_unlearn.benchmark --quick   # 2 tasks x 3 methods, seed 1, small corpora
    python -m speechbrain_unlearn.benchmark           # every method, sample and class, seeds 1 2 3
    python -m speechbrain_unlearn.benchmark --tasks VoxCeleb --methods finetune influence --jobs 2
    python -m speechbrain_unlearn.benchmark --report-only   # only aggregate the runs already there
    python -m speechbrain_unlearn.benchmark --report-only --readme README.md   # and update the README
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
:data:`~speechbrain_unlearn.benchmark.plan.SCALING_SIZES`) and as the forget
set grows (``forget_ratio`` 0.05, 0.1, 0.2), for retraining and the methods
(default ``finetune influence``), in ``scaling.csv``, ``scaling.md`` and
``scaling_<task>.png``. Its runs measure time only: each gets
``--lira_shadows=0 --noise_floor_reference=false --relearn_steps=0`` (no
shadow models, noise-floor reference or relearning attacks) before the
``--override`` values, which win.

Authors
 * speechbrain-unlearn developers 2026
"""

from speechbrain_unlearn.benchmark.cli import benchmark, main
from speechbrain_unlearn.benchmark.common import ROOT, SUMMARY_END, SUMMARY_START, readme_summary, splice_summary
from speechbrain_unlearn.benchmark.execute import execute
from speechbrain_unlearn.benchmark.plan import Run, class_only, parse_args, plan, scaling_plan
from speechbrain_unlearn.benchmark.plots import relearn_curves

__all__ = [
    "ROOT",
    "Run",
    "SUMMARY_END",
    "SUMMARY_START",
    "benchmark",
    "class_only",
    "execute",
    "main",
    "parse_args",
    "plan",
    "readme_summary",
    "relearn_curves",
    "scaling_plan",
    "splice_summary",
]
