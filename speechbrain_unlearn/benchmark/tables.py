"""The runs' results as tables: ``runs.csv`` and ``results.md``, ``scaling.csv`` and ``scaling.md``.

:func:`collect` reads the results of every run; the other functions turn
them into rows and Markdown (and the values the plots draw).
"""

import math
import os
import shlex

import numpy as np

from speechbrain_unlearn.benchmark.common import RESULTS, STATUS, dig, mean_std, number
from speechbrain_unlearn.benchmark.plan import SCALING_BASE_RATIO, SCALING_SIZES
from speechbrain_unlearn.evaluation.metrics import within_noise_floor
from speechbrain_unlearn.io import read_json

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
STAGES = ("train", "retrain", "unlearn")
#: The numeric columns of ``runs.csv``: dotted paths into ``unlearn_results.json``.
NUMERIC_KEYS = (
    [f"sizes.{k}" for k in ("train", "forget", "retain", "test")]
    + [f"metrics.{m}.{k}" for m in ("original", "unlearned", "retrained") for k in METRICS]
    + [f"{g}.{k}" for g in ("gap_to_retrain", "gap_noise_floor") for k in GAP_KEYS]
    + [
        f"relearn.{a}.{k}"
        for a in ATTACKS
        for k in (
            "memorization_recovery",
            "memorization_recovery_original",
            "steps",
            "auc_recovery",
            "auc_recovery_original",
            "steps_to_half",
            "steps_to_half_original",
            "steps_to_half_reference",
        )
    ]
    + ["distance_to_retrain.js_divergence", "distance_to_retrain.ks_pvalue", "prediction_agreement.test"]
    + [f"cost.{s}.{k}" for s in STAGES for k in ("time_s", "peak_mem_mb", "grad_evals")]
    + [f"time_s.{s}" for s in STAGES]
    + ["speedup_vs_retrain"]
)
RUN_COLUMNS = ["task", "method", "scenario", "seed", "status", "method_status", "training_regime", "message", "folder"]


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
        "training_regime": res.get("training_regime", "standard") if res else "",
        "message": run.message,
        "folder": run.folder,
    }
    for key in NUMERIC_KEYS:
        value = number(dig(res, key))
        row[key] = "" if math.isnan(value) else value
    return row


def method_value(key, model):
    """A getter of one results number for the method rows (``model`` ``unlearned``) or a baseline row."""
    if key in METRICS:
        return lambda res: dig(res, f"metrics.{model}.{key}")
    if key == "avg_gap":
        path = {"unlearned": "gap_to_retrain.avg", "original": "gap_original_to_retrain.avg"}.get(model)
        return (lambda res: dig(res, path)) if path else (lambda res: 0.0 if dig(res, "gap_to_retrain") else None)
    if key.split("_")[0] in ATTACKS:  # kshot, benign: the end point; kshot_auc, benign_auc: along the curve
        attack, name = key.split("_")[0], "auc_recovery" if key.endswith("_auc") else "memorization_recovery"
        suffix = {"unlearned": "", "original": "_original"}.get(model)
        if suffix is None:  # the reference is attacked like the others: its recovery is 0 by definition
            return lambda res: None if dig(res, f"relearn.{attack}.{name}") is None else 0.0
        return lambda res: dig(res, f"relearn.{attack}.{name}{suffix}")
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
    ("kshot_auc", "k-shot AUC recovery", 4),
    ("benign_auc", "benign AUC recovery", 4),
    ("eer", "EER", 4),
    ("time", "unlearn s", 1),
    ("speedup", "speed-up", 1),
)
#: Label of the reference's row.
REFERENCE = "reference (retrain)"
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


def method_rows(runs, methods):
    """The rows of one task x scenario and its noise floor.

    Returns ``(rows, floor)``: ``rows`` holds ``(label, cells, n, not_ok)`` for
    the original, the reference and each method, where ``cells`` maps every
    :data:`COLUMNS` key to ``(values, digits)`` (one value per run or seed), ``n``
    counts the seeds with results and ``not_ok`` the runs whose method diverged
    or fell back to retraining (``None`` for the original and the reference); ``floor`` is
    :func:`noise_floor` of the runs.
    """
    ok = [r for r in runs if r.status == "ok"]
    rows = []
    for label, model, members in [("original (nothing)", "original", ok)] + [
        (m, "unlearned", [r for r in ok if r.method == m]) for m in methods
    ]:
        cells = {}
        for key, _, digits in COLUMNS:
            getter = method_value(key, model)
            values = by_seed(members, getter) if model != "unlearned" else [getter(r.results) for r in members]
            cells[key] = (values, digits)
        not_ok = sum((dig(r.results, "method_status.status") or "ok") != "ok" for r in members)
        rows.append((label, cells, len({r.seed for r in members}), not_ok if model == "unlearned" else None))
    reference = {key: (by_seed(ok, method_value(key, "retrained")), digits) for key, _, digits in COLUMNS}
    rows.insert(1, (REFERENCE, reference, len({r.seed for r in ok}), None))
    return rows, noise_floor(ok)


def avg_gap_cell(values, label, floor_mean, digits=4):
    """The ``avg gap`` cell: ``mean ± std``, with ``≈`` when the mean is within the noise floor.

    Example
    -------
    >>> avg_gap_cell([0.004, 0.006], "influence", 0.007), avg_gap_cell([0.02], "finetune", 0.007, 3)
    ('0.0050 ± 0.0014 ≈', '0.020')
    >>> avg_gap_cell([0.0, 0.0], REFERENCE, 0.007), avg_gap_cell([0.004], "influence", float("nan"))
    ('0.0000 ± 0.0000', '0.0040')
    """
    text = fmt_mean_std(values, digits)
    if label != REFERENCE and text != "-" and within_noise_floor(mean_std(values)[0], floor_mean):
        text += " ≈"
    return text


def table_cell(key, values, label, floor_mean, digits):
    """A table cell of column ``key``: :func:`avg_gap_cell` for the average gap, else :func:`fmt_mean_std`."""
    return avg_gap_cell(values, label, floor_mean, digits) if key == "avg_gap" else fmt_mean_std(values, digits)


def section(task, scenario, runs, methods):
    """The Markdown of one task x scenario: the table, the noise floor, skipped and failed runs."""
    ok = [r for r in runs if r.status == "ok"]
    rows, floor = method_rows(runs, methods)
    floor_mean, floor_std, floor_n = mean_std(floor["avg"])

    shown = [c for c in COLUMNS if c[0] in ALWAYS or any(mean_std(cells[c[0]][0])[2] for _, cells, _, _ in rows)]
    header = ["method", "n", *(h for _, h, _ in shown), "not ok"]
    lines = [f"## {task}, {scenario}", ""]
    lines += ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    marked = False
    for label, cells, n, not_ok in rows:
        out = [label, str(n)]
        for key, _, _ in shown:
            values, digits = cells[key]
            text = table_cell(key, values, label, floor_mean, digits)
            marked = marked or text.endswith("≈")
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


def regimes(runs):
    """The training regimes of the runs with results, in words (``training_regime`` of each results JSON).

    Example
    -------
    >>> from speechbrain_unlearn.benchmark.plan import Run
    >>> run = Run("VoxCeleb", "influence", "sample", 1, "f", [])
    >>> run.results = {"training_regime": "deletion_ready"}
    >>> regimes([run, Run("VoxCeleb", "retrain", "sample", 1, "g", [])])
    'training regime deletion_ready'
    """
    found = sorted({(r.results or {}).get("training_regime", "standard") for r in runs if r.results})
    return f"training regime {', '.join(found)}" if found else "no results yet"


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
        f"{len(runs)} runs ({regimes(runs)}): {counts['ok']} ok ({reused} reused from an earlier benchmark), "
        f"{counts['failed']} "
        f"failed, {counts['skipped']} skipped (class-only methods), {counts['missing']} missing. Seeds: "
        f"{', '.join(map(str, opts.seeds))}." + (f" Overrides: {overrides}." if overrides else ""),
        "",
        "Cells are the mean ± sample standard deviation over seeds (n: seeds with results). Metrics are those of "
        "the unlearned model, except in the rows *original (nothing)* (the model trained on everything: what doing "
        "nothing gives) and *reference (retrain)* (retrained from scratch without the forget set: the goal). "
        "Accuracies, AUCs, the SVC efficacy (share of forget utterances called non-members), the LiRA true positive "
        "rate, EER and gaps are fractions in [0, 1]. *avg gap*: mean absolute difference to the reference in test, "
        "retain and forget accuracy and MIA AUC (lower is better). *recovery*: forget accuracy above the "
        "reference's after a relearning attack (lower is better); *AUC recovery*: the same for the mean forget "
        "accuracy over the attack (the area under its curve). *unlearn s*: wall-clock seconds of unlearning "
        "(for the reference: of retraining); *speed-up*: retraining time over unlearning time (none claimed for a "
        "run that fell back to retraining). *not ok*: runs whose method diverged (weights of an earlier step "
        "restored) or fell back to retraining from scratch.",
        "",
    ]
    for task in opts.tasks:
        for scenario in opts.scenarios:
            group = [r for r in runs if r.task == task and r.scenario == scenario]
            if group:
                methods = [m for m in opts.methods if any(r.method == m and r.status != "skipped" for r in group)]
                lines.append(section(task, scenario, group, methods))
    return "\n".join(lines).rstrip() + "\n"


#: ``summary.md`` (the README's results table): per task, these columns of :data:`COLUMNS`, 3 decimals.
SUMMARY_COLUMNS = (
    ("avg_gap", "gap"),
    ("kshot", "k-shot"),
    ("benign", "benign"),
    ("test_acc", "test acc"),
    ("speedup", "speed-up"),
)
#: The summary's first method row: the project's headline method.
HEADLINE = "influence"
#: Short task names of the summary's column headers.
TASK_ABBREVIATIONS = {"SpeechCommands": "SC", "VoxCeleb": "VC"}


def summary_markdown(runs, opts):
    """``summary.md``: one compact table per scenario, a row per method, both tasks side by side.

    The headline method (:data:`HEADLINE`) comes first after the original and
    the reference. Every cell comes from the same aggregation as ``results.md`` (mean ± std
    over seeds, ``≈`` within the noise floor); a cell with fewer seeds than the
    benchmark's says ``(n=k)``. The README embeds this file verbatim.
    """
    seeds = len(opts.seeds)
    lines = [
        f"Aggregated by `{command_line(opts)}` (seeds {', '.join(map(str, opts.seeds))}); {regimes(runs)}; "
        "mean ± std over seeds. "
        + ", ".join(f"{abbr}: {task}" for task, abbr in TASK_ABBREVIATIONS.items() if task in opts.tasks)
        + ". *gap*: average gap to the reference (≈: within the noise floor of two references); *k-shot*, "
        "*benign*: memorisation recovery after the relearning attacks (forget accuracy above the reference's "
        "after the same attack); *speed-up*: retraining time over unlearning time. Lower is better except for "
        f"test accuracy and speed-up; every metric per task is in `{opts.output}/results.md`.",
        "",
    ]
    for scenario in opts.scenarios:
        tables = {}
        for task in opts.tasks:
            group = [r for r in runs if r.task == task and r.scenario == scenario]
            methods = [m for m in opts.methods if any(r.method == m and r.status != "skipped" for r in group)]
            methods.sort(key=lambda m: m != HEADLINE)
            tables[task] = method_rows(group, methods) if group else ([], {"avg": []})
        labels = list(dict.fromkeys(label for rows, _ in tables.values() for label, *_ in rows))
        if not labels:
            continue
        header = ["method"] + [f"{TASK_ABBREVIATIONS.get(t, t)} {h}" for t in opts.tasks for _, h in SUMMARY_COLUMNS]
        lines += [f"**{scenario}**", "", "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
        for label in labels:
            out = [label]
            for task in opts.tasks:
                rows, floor = tables[task]
                row = next((r for r in rows if r[0] == label), None)
                floor_mean = mean_std(floor["avg"])[0]
                for key, _ in SUMMARY_COLUMNS:
                    if row is None:
                        out.append("-")
                        continue
                    values, digits = row[1][key]
                    text = table_cell(key, values, label, floor_mean, min(digits, 3))
                    n = mean_std(values)[2]
                    if text != "-" and n < seeds and label not in ("original (nothing)", REFERENCE):
                        text += f" (n={n})"
                    out.append(text)
            lines.append("| " + " | ".join(out) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


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
                "retrain_s": _blank(method_value("time", "retrained")(res)),
                "unlearn_s": _blank(method_value("time", "unlearned")(res)),
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
            y = mean_std(by_seed(at, method_value("time", model)))[0]
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
