"""Writers of a run's results: ``unlearn_results.json`` and ``unlearn_results.md``.

The JSON follows the run contract (``shared/DESIGN.md`` section 3); the
Markdown file and the console table show the same numbers.

Example
-------
>>> results = {"task": "SpeechCommands", "method": "finetune", "scenario": "sample", "seed": 1,
...     "metrics": {"original": {"test_acc": 0.95, "mia_auc": 0.61},
...                 "unlearned": {"test_acc": 0.94, "mia_auc": 0.55}},
...     "gap_to_retrain": {"test_acc": 0.01, "mia_auc": 0.02, "avg": 0.015},
...     "time_s": {"train": 60.0, "retrain": 55.0, "unlearn": 5.0}, "speedup_vs_retrain": 11.0}
>>> print(markdown_table(results).splitlines()[2])
| model | test_acc | mia_auc |
"""

import math

from speechbrain_unlearn.io import write_json, write_text


def _fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def markdown_table(results):
    """The run's numbers as a Markdown document."""
    models = [m for m in ("original", "retrained", "unlearned") if m in results["metrics"]]
    keys = []
    for model in models:
        keys += [k for k in results["metrics"][model] if k not in keys]
    title = f"{results['task']} / {results['method']} / {results['scenario']} / seed {results['seed']}"
    lines = [f"# {title}", ""]
    status = results.get("method_status") or {}
    if status.get("status") == "diverged":
        lines += [
            f"**The method diverged** ({status['reason']}); restored the weights of step {status['restored_step']}.",
            "",
        ]
    lines += ["| model | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for model in models:
        row = [_fmt(results["metrics"][model].get(k, float("nan"))) for k in keys]
        lines.append(f"| {model} | " + " | ".join(row) + " |")
    gap = results.get("gap_to_retrain")
    if gap:
        lines.append("| gap to retrain | " + " | ".join(_fmt(gap.get(k, "")) for k in keys) + " |")
        lines += ["", f"Average gap to the retrained reference: {_fmt(gap['avg'])}"]
    benign = (results.get("relearn") or {}).get("benign")
    if benign:
        sets = list(benign["post_attack"]["retrained"])
        lines += [
            "",
            f"Relearning attack (benign: {benign['steps']} retain steps at lr {benign['lr']:g}), after the attack:",
            "",
            "| model | " + " | ".join(sets) + " |",
            "|---" * (len(sets) + 1) + "|",
        ]
        lines += [
            f"| {m} | " + " | ".join(_fmt(benign["post_attack"][m][k]) for k in sets) + " |"
            for m in models
            if m in benign["post_attack"]
        ]
        lines += ["", f"Memorisation recovered (unlearned minus reference): {_fmt(benign['memorization_recovery'])}"]
    times = results.get("time_s", {})
    if times:
        lines += ["", "| stage | seconds |", "|---|---|"]
        lines += [f"| {stage} | {_fmt(t)} |" for stage, t in times.items()]
        if results.get("speedup_vs_retrain") is not None:
            lines += ["", f"Speed-up of unlearning over retraining: {_fmt(results['speedup_vs_retrain'])}x"]
    return "\n".join(lines) + "\n"


def write_report(folder, results):
    """Write the JSON and Markdown results into ``folder``; return the Markdown."""
    text = markdown_table(results)
    write_json(f"{folder}/unlearn_results.json", results)
    write_text(f"{folder}/unlearn_results.md", text)
    return text
