"""Writers of a run's results: ``unlearn_results.json`` and ``unlearn_results.md``.

The JSON holds the keys the README lists under "Outputs" (none is ever renamed); the
Markdown file and the console table show the same numbers: one row per
metric and one column per model, each value with its bootstrap standard
error, the gap of the unlearned model to the reference, and the noise floor
(the gap between two references trained with different seeds). A gap at or
below its noise floor is marked ``≈``: the difference is not measurable.

Example
-------
>>> results = {"task": "SpeechCommands", "method": "finetune", "scenario": "sample", "seed": 1,
...     "metrics": {"original": {"test_acc": 0.95, "mia_auc": 0.61},
...                 "unlearned": {"test_acc": 0.94, "mia_auc": 0.55}},
...     "gap_to_retrain": {"test_acc": 0.01, "mia_auc": 0.02, "avg": 0.015},
...     "gap_noise_floor": {"test_acc": 0.02, "mia_auc": 0.01, "avg": 0.015},
...     "time_s": {"train": 60.0, "retrain": 55.0, "unlearn": 5.0}, "speedup_vs_retrain": 11.0}
>>> lines = markdown_table(results).splitlines()
>>> lines[2]
'| metric | original | unlearned | gap to retrain | noise floor |'
>>> lines[4]
'| test_acc | 0.9500 | 0.9400 | 0.0100 ≈ | 0.0200 |'
"""

import math

from speechbrain_unlearn.evaluation.metrics import within_noise_floor
from speechbrain_unlearn.io import write_json, write_text

MODELS = ("original", "retrained", "unlearned")


def _fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _with_se(value, se):
    if se is None or not isinstance(value, float) or (isinstance(se, float) and math.isnan(se)):
        return _fmt(value)
    return f"{_fmt(value)} ± {se:.4f}"


def gap_cell(gap, floor):
    """A gap, marked ``≈`` when it is at or below its noise floor."""
    if gap is None:
        return "-"
    return f"{_fmt(gap)} ≈" if within_noise_floor(gap, floor) else _fmt(gap)


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def metrics_section(results):
    """Per metric: each model's value ± standard error, the gap and its noise floor."""
    models = [m for m in MODELS if m in results["metrics"]]
    keys = []
    for model in models:
        keys += [k for k in results["metrics"][model] if k not in keys]
    gap, floor = results.get("gap_to_retrain") or {}, results.get("gap_noise_floor") or {}
    errors = results.get("standard_errors") or {}
    rows = []
    for k in keys:
        row = [k] + [_with_se(results["metrics"][m].get(k, float("nan")), errors.get(m, {}).get(k)) for m in models]
        if gap or floor:
            row += [gap_cell(gap.get(k), floor.get(k)), _fmt(floor.get(k))]
        rows.append(row)
    header = ["metric", *models] + (["gap to retrain", "noise floor"] if gap or floor else [])
    lines = _table(header, rows)
    if gap:
        avg, noise = gap.get("avg"), floor.get("avg")
        verdict = (
            " (within the noise floor: not distinguishable from the reference)"
            if gap_cell(avg, noise)[-1:] == "≈"
            else ""
        )
        lines += ["", f"Average gap to the retrained reference: {_fmt(avg)}; noise floor {_fmt(noise)}{verdict}"]
    return lines


def distance_section(results):
    """JS divergence and KS forget quality of the unlearned and original models to the reference."""
    rows = [
        [label] + [_fmt((results.get(key) or {}).get(k)) for k in ("js_divergence", "ks_pvalue")]
        for label, key in (
            ("unlearned", "distance_to_retrain"),
            ("original", "distance_original_to_retrain"),
            ("second reference (noise floor)", "distance_noise_floor"),
        )
        if results.get(key)
    ]
    if not rows:
        return []
    return ["", "Distance to the reference on the forget set:", ""] + _table(
        ["model", "JS divergence (nats)", "KS p-value (forget quality)"], rows
    )


def relearn_section(results):
    """Post-attack accuracies and memorisation recovered, per attack."""
    rows = []
    for attack, report in (results.get("relearn") or {}).items():
        if "post_attack" not in report:
            rows.append([attack, "-", "-", "-", "-", report.get("skipped", "-"), "-"])
            continue
        first = next(iter(report["post_attack"]["retrained"]))
        post = [_fmt(report["post_attack"].get(m, {}).get(first)) for m in MODELS]
        rows.append(
            [f"{attack} ({first})", str(report["steps"]), *post]
            + [_fmt(report["memorization_recovery"]), _fmt(report["memorization_recovery_original"])]
        )
    if not rows:
        return []
    header = ["attack (set)", "steps", *(f"{m} after" for m in MODELS), "recovery (unlearned)", "recovery (original)"]
    title = "Relearning attacks (recovery: post-attack accuracy minus the reference's):"
    return ["", title, ""] + _table(header, rows) + relearn_curve_section(results)


def relearn_curve_section(results):
    """Along the relearning curves: area recovered and steps to half the pre-unlearning accuracy."""
    keys = [
        "auc_recovery",
        "auc_recovery_original",
        "steps_to_half",
        "steps_to_half_original",
        "steps_to_half_reference",
    ]
    attacks = {a: r for a, r in (results.get("relearn") or {}).items() if "auc_recovery" in r}
    if not attacks:
        return []
    rows = [
        [a, *(_fmt(r[k]) if isinstance(r[k], float) else "not reached" if r[k] is None else str(r[k]) for k in keys)]
        for a, r in attacks.items()
    ]
    header = [
        "attack",
        "AUC recovery (unlearned)",
        "(original)",
        "steps to half (unlearned)",
        "(original)",
        "(reference)",
    ]
    title = (
        "Along the curves (AUC: mean accuracy over the attack minus the reference's; half: of the original's before):"
    )
    return ["", title, ""] + _table(header, rows)


def verification_section(results):
    """How many trials ``eer`` scored; forgotten speakers' same-speaker cosine scores against the reference's."""
    verification = results.get("verification") or {}
    lines = []
    if "trials" in verification:
        counts = verification["trials"]
        lines = [
            "",
            f"Verification: {counts['scored']} of {counts['listed']} trials scored for eer and min_dcf "
            f"({counts['forgotten_speaker']} of forgotten speakers apart, "
            f"{counts['unknown_utterance']} naming an utterance in no split)"
            + (f"; none computed: {counts['reason']}." if "reason" in counts else "."),
        ]
    same = verification.get("forgotten_same_speaker") or {}
    if not same:
        return lines
    rows = [
        [m, _fmt(v["mean_score"]), _fmt(v["reference_mean_score"]), _fmt(v["ks_pvalue"]), str(v["trials"])]
        for m, v in same.items()
    ]
    header = ["model", "mean same-speaker cosine", "reference's", "KS p-value", "trials"]
    return lines + ["", "Forgotten speakers, same-speaker verification trials:", ""] + _table(header, rows)


def cost_section(results):
    """Time, peak memory and gradient evaluations of each stage, and the speed-up."""
    cost = results.get("cost")
    if cost:
        rows = [
            [
                stage,
                f"{c['time_s']:.1f}",
                "-" if c["peak_mem_mb"] is None else f"{c['peak_mem_mb']:.0f}",
                str(c["grad_evals"]),
            ]
            for stage, c in cost.items()
            if c is not None
        ]
        rows += [[stage, "-", "-", "-"] for stage, c in cost.items() if c is None]
        lines = ["", *_table(["stage", "seconds", "peak memory (MB)", "gradient evaluations"], rows)]
    else:
        times = results.get("time_s", {})
        lines = ["", *_table(["stage", "seconds"], [[stage, _fmt(t)] for stage, t in times.items()])] if times else []
    if results.get("speedup_vs_retrain") is not None:
        lines += ["", f"Speed-up of unlearning over retraining: {_fmt(results['speedup_vs_retrain'])}x"]
    return lines


def markdown_table(results):
    """The run's numbers as a Markdown document."""
    title = f"{results['task']} / {results['method']} / {results['scenario']} / seed {results['seed']}"
    lines = [f"# {title}", ""]
    status = results.get("method_status") or {}
    if status.get("status") == "fallback":
        lines = [f"**{results['method']} fell back to retraining**: {status['reason']}.", "", *lines]
    if status.get("status") == "diverged":
        lines += [
            f"**The method diverged** ({status['reason']}); restored the weights of step {status['restored_step']}.",
            "",
        ]
    lines += metrics_section(results)
    lines += distance_section(results)
    lines += relearn_section(results)
    lines += verification_section(results)
    lines += cost_section(results)
    return "\n".join(lines) + "\n"


def write_report(folder, results):
    """Write the JSON and Markdown results into ``folder``; return the Markdown."""
    text = markdown_table(results)
    write_json(f"{folder}/unlearn_results.json", results)
    write_text(f"{folder}/unlearn_results.md", text)
    return text
