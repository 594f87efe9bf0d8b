"""``python -m speechbrain_unlearn.benchmark.headline``: the README's headline table, both training regimes.

Reads the ``runs.csv`` of a benchmark in the standard regime and of one in
the deletion-ready regime and writes, per task and scenario, the headline
method (influence) in each regime: the original's test accuracy, the
average gap to the reference, the k-shot and benign memorisation recovery,
the runs that fell back to retraining, the unlearning time, and the
speed-up over retraining the standard recipe (the standard benchmark's
reference training time for the same task, scenario and seed, measured on
the same machine) and over retraining the same regime's model (for the
deletion-ready regime: solving the deletable part exactly); where the
standard benchmark has no run of that scenario, its mean over the task and
seed's scenarios (retraining barely depends on which few utterances are
left out). Cells are the mean ± std over seeds; ``-`` where a benchmark has
no such runs. ``--before`` adds the runs of an earlier standard benchmark
as the regime ``standard, before`` (the same recipe before a change to the
method, for a before/after comparison). ``--readme`` puts the table between
the README's headline markers.

Example
-------
>>> rows = [
...     {"task": "VoxCeleb", "method": "influence", "scenario": "sample", "seed": "1", "status": "ok",
...      "method_status": "ok", "training_regime": "deletion_ready", "time_s.unlearn": "0.2",
...      "time_s.retrain": "0.4", "metrics.original.test_acc": "0.99", "gap_to_retrain.avg": "0.0",
...      "relearn.kshot.memorization_recovery": "0.0", "relearn.benign.memorization_recovery": "0.0"},
...     {"task": "VoxCeleb", "method": "influence", "scenario": "sample", "seed": "1", "status": "ok",
...      "method_status": "fallback", "training_regime": "standard", "time_s.unlearn": "600",
...      "time_s.retrain": "500", "metrics.original.test_acc": "0.98", "gap_to_retrain.avg": "0.0",
...      "relearn.kshot.memorization_recovery": "0.0", "relearn.benign.memorization_recovery": "0.0"},
... ]
>>> standard, ready = headline_rows(rows)
>>> standard[2:3] + standard[-4:], ready[2:3] + ready[-4:]
(['standard', '1/1', '600.00', '-', '-'], ['deletion_ready', '0/1', '0.20', '2500', '2.0'])
"""

import argparse
import os
import sys

from speechbrain_unlearn.benchmark.common import mean_std, splice_summary
from speechbrain_unlearn.io import read_csv, read_json, write_text

HEADLINE_START, HEADLINE_END = "<!-- headline: start -->", "<!-- headline: end -->"
BEFORE = "standard, before"
REGIMES = (BEFORE, "standard", "deletion_ready")
HEADER = [
    "task",
    "scenario",
    "regime",
    "original test acc",
    "gap to reference",
    "k-shot recovery",
    "benign recovery",
    "fell back",
    "unlearn s",
    "speed-up vs standard retrain",
    "speed-up vs retrain (same regime)",
]


def value(row, key):
    """The number in ``row[key]`` (a ``runs.csv`` string), NaN where it is empty or missing."""
    try:
        return float(row.get(key) or "nan")
    except ValueError:
        return float("nan")


def cell(values, digits):
    """Mean ± std of ``values`` with ``digits`` decimals, ``-`` if none."""
    mean, std, n = mean_std(values)
    if n == 0:
        return "-"
    return f"{mean:.{digits}f}" if n == 1 or std != std else f"{mean:.{digits}f} ± {std:.{digits}f}"


def standard_retrain_times(rows):
    """The standard benchmark's retraining time per ``(task, scenario, seed)`` and, averaged, per ``(task, seed)``."""
    times, by_seed = {}, {}
    for r in rows:
        if r["status"] == "ok" and r.get("training_regime") == "standard" and value(r, "time_s.retrain") > 0:
            times[(r["task"], r["scenario"], r["seed"])] = value(r, "time_s.retrain")
    for (task, _, seed), t in times.items():
        by_seed.setdefault((task, seed), []).append(t)
    return times | {key: sum(ts) / len(ts) for key, ts in by_seed.items()}


def speedups(runs, standard_retrain):
    """Per run: the standard recipe's retraining time of its split (else its seed's) over its unlearning time."""
    out = []
    for run in runs:
        key = (run["task"], run["scenario"], run["seed"])
        retrain = standard_retrain.get(key) or standard_retrain.get((run["task"], run["seed"]))
        unlearn = value(run, "time_s.unlearn")
        out.append(retrain / unlearn if retrain and unlearn > 0 and run["method_status"] != "fallback" else None)
    return out


def headline_rows(rows, method="influence"):
    """The table's rows (lists of cells) from the runs of both benchmarks."""
    ok = [r for r in rows if r["status"] == "ok" and r["method"] == method]
    standard_retrain = standard_retrain_times(rows)
    table = []
    for task, scenario in dict.fromkeys((r["task"], r["scenario"]) for r in ok):
        for regime in REGIMES:
            runs = [r for r in ok if (r["task"], r["scenario"], r.get("training_regime")) == (task, scenario, regime)]
            if not runs:
                continue
            kept = [r for r in runs if r["method_status"] != "fallback"]
            speed = [value(r, "time_s.retrain") / value(r, "time_s.unlearn") for r in kept]
            table.append(
                [task, scenario, regime]
                + [cell([value(r, k) for r in runs], 3) for k in ("metrics.original.test_acc", "gap_to_retrain.avg")]
                + [cell([value(r, f"relearn.{a}.memorization_recovery") for r in runs], 3) for a in ("kshot", "benign")]
                + [f"{len(runs) - len(kept)}/{len(runs)}", cell([value(r, "time_s.unlearn") for r in runs], 2)]
                + [cell(speedups(runs, standard_retrain), 0), cell(speed, 1)]
            )
    return table


def before_rows(rows):
    """``rows`` of an earlier standard benchmark as the regime ``standard, before``.

    Its results JSONs may name a fallback only as ``influence.fallback`` (the
    method status said ``ok``): such runs are counted as fallbacks here.
    """
    out = []
    for row in rows:
        path = os.path.join(row.get("folder") or "", "unlearn_results.json")
        fallback = os.path.isfile(path) and (read_json(path).get("influence") or {}).get("fallback")
        out.append({**row, "training_regime": BEFORE} | ({"method_status": "fallback"} if fallback else {}))
    return out


def headline_markdown(rows, sources):
    """The table as Markdown, with the benchmarks it comes from."""
    lines = [
        f"From {' and '.join(f'`{s}/runs.csv`' for s in sources)} "
        "(`python -m speechbrain_unlearn.benchmark.headline`); "
        "influence, mean ± std over seeds. *gap to reference*: average absolute difference to the model retrained "
        "without the forget set (test, retain and forget accuracy, MIA AUC); *recovery*: forget accuracy above the "
        "reference's after 20 relearning steps; *fell back*: runs that retrained from scratch instead (no "
        "speed-up claimed for them); *speed-up vs standard retrain*: the standard recipe's retraining time for the "
        "same split and seed (`speaker`, `list`: that seed's mean over `sample` and `class`) over the unlearning "
        "time; *standard, before*: the standard regime before the fallback mends of this release.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|---" * len(HEADER) + "|",
    ]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in headline_rows(rows)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Write ``--output`` (and the README's headline block with ``--readme``)."""
    parser = argparse.ArgumentParser(prog="python -m speechbrain_unlearn.benchmark.headline", description=__doc__)
    parser.add_argument("--standard", default=os.path.join("docs", "benchmark-standard"))
    parser.add_argument("--deletion_ready", default=os.path.join("docs", "benchmark-deletion-ready"))
    parser.add_argument("--before", default=None, help="an earlier standard benchmark, shown as 'standard, before'")
    parser.add_argument("--output", default=os.path.join("docs", "headline.md"))
    parser.add_argument("--readme", default=None, help="also put the table between this file's headline markers")
    opts = parser.parse_args(argv)
    try:
        sources = [opts.standard, opts.deletion_ready]
        rows = [row for folder in sources for row in read_csv(os.path.join(folder, "runs.csv"))]
        if opts.before:
            sources.insert(0, opts.before)
            rows += before_rows(read_csv(os.path.join(opts.before, "runs.csv")))
        text = headline_markdown(rows, sources)
        readme = None
        if opts.readme:
            with open(opts.readme, encoding="utf-8") as fh:
                readme = splice_summary(fh.read(), text, HEADLINE_START, HEADLINE_END)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_text(opts.output, text)
    if readme is not None:
        write_text(opts.readme, readme)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
