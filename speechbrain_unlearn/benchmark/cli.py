"""The benchmark command: plan, run, collect and report (:func:`benchmark`), and its entry point (:func:`main`)."""

import os
import sys

from speechbrain_unlearn.benchmark.common import splice_summary
from speechbrain_unlearn.benchmark.execute import execute
from speechbrain_unlearn.benchmark.plan import parse_args, plan, scaling_plan
from speechbrain_unlearn.benchmark.plots import plot_relearn, plot_scaling, plot_tradeoff
from speechbrain_unlearn.benchmark.tables import (
    NUMERIC_KEYS,
    RUN_COLUMNS,
    collect,
    plot_name,
    results_markdown,
    run_row,
    scaling_markdown,
    scaling_rows,
    summary_markdown,
)
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.io import write_csv, write_text


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
        write_text(os.path.join(out, "summary.md"), summary_markdown(runs, opts))
        written += ["runs.csv", "results.md", "summary.md"]
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
    if opts.readme:
        with open(opts.readme, encoding="utf-8") as fh:
            text = fh.read()
        with open(os.path.join(opts.output, "summary.md"), encoding="utf-8") as fh:
            write_text(opts.readme, splice_summary(text, fh.read()))
        written.append(opts.readme)
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
