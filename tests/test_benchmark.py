"""The benchmark driver on fake run folders: aggregation, report, plots, resume, failures, bad options.

No recipe is run: runs are synthetic ``unlearn_results.json`` files and the
recipe subprocess is replaced by a stub.
"""

import csv
import importlib
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import torch

from speechbrain_unlearn import benchmark
from speechbrain_unlearn.benchmark.headline import main as headline_main
from speechbrain_unlearn.benchmark.scale import main as scale_main
from speechbrain_unlearn.benchmark.sequential import main as sequential_main
from speechbrain_unlearn.deletable.state import DeletableState
from speechbrain_unlearn.io import read_json, write_csv, write_json, write_text

# The module itself, to patch: the package re-exports its function ``execute``, which hides the submodule.
execute_module = importlib.import_module("speechbrain_unlearn.benchmark.execute")
ROOT = benchmark.ROOT
PNG = b"\x89PNG\r\n\x1a\n"
BASE = ["--tasks", "SpeechCommands", "--scenarios", "sample", "--seeds", "1", "2", "--no-progress"]
#: test accuracy and average gap of the unlearned model per (method, seed)
FAKE = {
    ("finetune", 1): (0.90, 0.020),
    ("finetune", 2): (0.92, 0.024),
    ("influence", 1): (0.88, 0.004),
    ("influence", 2): (0.86, 0.006),
}
FLOOR = {1: 0.006, 2: 0.008}  # gap_noise_floor.avg per seed (finetune, seed 2 has none)


def fake_results(method, seed, scenario="sample", task="SpeechCommands"):
    test_acc, gap = FAKE[(method, seed)]
    metrics = {
        "original": {"test_acc": 0.95, "retain_acc": 1.0, "forget_acc": 1.0, "mia_auc": 0.62},
        "unlearned": {
            "test_acc": test_acc,
            "retain_acc": 0.97,
            "forget_acc": 0.9,
            "mia_auc": 0.55,
            "mia_svc_efficacy": 0.3 + 0.1 * seed,
        },
        "retrained": {"test_acc": 0.94 + 0.01 * seed, "retain_acc": 0.99, "forget_acc": 0.88, "mia_auc": 0.5},
    }
    curve = {"steps": [0, 5, 10, 20], "original": [1.0, 1.0, 1.0, 1.0], "retrained": [0.88, 0.88, 0.89, 0.9]}
    curve["unlearned"] = [0.9, 0.92, 0.94, 0.95] if method == "finetune" else [0.86, 0.9, 0.91, 0.92]
    results = {
        "task": task,
        "method": method,
        "scenario": scenario,
        "seed": seed,
        "sizes": {"train": 1200, "forget": 120, "retain": 1080, "test": 600},
        "metrics": metrics,
        "gap_to_retrain": {"test_acc": 0.01, "retain_acc": 0.01, "forget_acc": 0.02, "mia_auc": 0.05, "avg": gap},
        "gap_original_to_retrain": {"avg": 0.03},
        "gap_noise_floor": {"test_acc": 0.004, "retain_acc": 0.002, "forget_acc": 0.01, "mia_auc": 0.01},
        "time_s": {"train": 100.0, "retrain": 80.0 + seed, "unlearn": 10.0 if method == "finetune" else 2.0},
        "speedup_vs_retrain": 8.0 if method == "finetune" else 40.0,
        "method_status": {"status": "ok"},
        "relearn": {
            "benign": {
                "steps": 20,
                "memorization_recovery": 0.05,
                "memorization_recovery_original": 0.1,
                "post_attack": {},
            },
            "kshot": {"steps": 20, "memorization_recovery": 0.02, "memorization_recovery_original": 0.12},
        },
    }
    results["relearn"]["benign"]["curve"] = curve
    results["relearn"]["kshot"]["curve"] = {**curve, "unlearned": [v - 0.1 for v in curve["unlearned"]]}
    results["gap_noise_floor"]["avg"] = FLOOR[seed]
    if (method, seed) == ("finetune", 2):  # an old run: no noise floor, no SVC, no k-shot attack
        del results["gap_noise_floor"], results["metrics"]["unlearned"]["mia_svc_efficacy"], results["relearn"]["kshot"]
    if (method, seed) == ("influence", 2):
        results["method_status"] = {"status": "diverged", "reason": "retain accuracy fell", "restored_step": 3}
    return results


def make_runs(out, methods=("finetune", "influence"), seeds=(1, 2), extra=()):
    """Fake folders of finished runs, as the benchmark with ``BASE`` options would have left them."""
    opts = benchmark.parse_args([*BASE, "--methods", *methods, "--output", str(out), *extra])
    for run in benchmark.plan(opts):
        if run.status == "skipped" or (run.method, run.seed) not in FAKE:
            continue
        write_json(run.path("unlearn_results.json"), fake_results(run.method, run.seed))
        write_text(run.path("benchmark_command.txt"), run.command + "\n")
    return opts


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def table_row(md, label):
    return next(line for line in md.splitlines() if line.startswith(f"| {label} |"))


def cells(md, label):
    header = next(line for line in md.splitlines() if line.startswith("| method |"))
    names = [c.strip() for c in header.strip("|").split("|")]
    values = [c.strip() for c in table_row(md, label).strip("|").split("|")]
    return dict(zip(names, values))


@pytest.fixture
def launches(monkeypatch):
    """Replace the recipe subprocess: record each command; succeed unless its method is in ``fail``."""
    calls, fail = [], set()

    def fake_run(argv, cwd, stdout, stderr, env, check):
        assert cwd == ROOT and argv[0] == sys.executable
        calls.append(argv)
        method = os.path.basename(argv[2])[: -len(".yaml")]
        seed = int(next(a for a in argv if a.startswith("--seed="))[len("--seed=") :])
        folder = next(a for a in argv if a.startswith("--output_folder="))[len("--output_folder=") :]
        if method in fail:
            stdout.write("training...\nerror: unknown key 'lira_shadowz'\n")
            return subprocess.CompletedProcess(argv, 2)
        write_json(os.path.join(ROOT, folder, "unlearn_results.json"), fake_results(method, seed))
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(execute_module.subprocess, "run", fake_run)
    return calls, fail


def test_report_only_aggregates(tmp_path):
    out = tmp_path / "bench"
    make_runs(out, methods=("finetune", "influence", "boundary"))
    status = benchmark.main(
        [*BASE, "--methods", "finetune", "influence", "boundary", "--output", str(out), "--report-only"]
    )
    assert status == 0

    rows = read_rows(out / "runs.csv")
    assert [(r["method"], r["seed"], r["status"]) for r in rows] == [
        ("finetune", "1", "ok"),
        ("influence", "1", "ok"),
        ("boundary", "1", "skipped"),
        ("finetune", "2", "ok"),
        ("influence", "2", "ok"),
        ("boundary", "2", "skipped"),
    ]
    first = rows[0]
    assert float(first["metrics.unlearned.test_acc"]) == 0.90
    assert float(first["gap_to_retrain.avg"]) == 0.020
    assert float(first["gap_noise_floor.avg"]) == 0.006
    assert float(first["relearn.kshot.memorization_recovery"]) == 0.02
    assert first["metrics.unlearned.eer"] == ""  # a key no run has: empty
    old = rows[3]  # finetune seed 2 lacks the newer keys
    assert old["gap_noise_floor.avg"] == "" and old["relearn.kshot.memorization_recovery"] == ""
    assert rows[4]["method_status"] == "diverged"
    assert "class-only" in rows[2]["message"]

    md = (out / "results.md").read_text()
    assert "## SpeechCommands, sample" in md
    fine, infl = cells(md, "finetune"), cells(md, "influence")
    assert fine["n"] == "2" and fine["test acc"] == "0.9100 ± 0.0141"
    assert infl["test acc"] == "0.8700 ± 0.0141"
    assert fine["SVC MIA efficacy"] == "0.4000"  # one seed has it: a mean without std
    assert fine["k-shot recovery"] == "0.0200" and fine["benign recovery"] == "0.0500 ± 0.0000"
    assert fine["unlearn s"] == "10.0 ± 0.0" and infl["speed-up"] == "40.0 ± 0.0"
    assert infl["not ok"] == "1" and fine["not ok"] == "0"
    assert "EER" not in fine and "forget-test acc" not in fine  # no run has them
    # noise floor: mean 0.007 over the two seeds; influence (0.005) is within it, finetune (0.022) is not
    assert infl["avg gap"] == "0.0050 ± 0.0014 ≈"
    assert fine["avg gap"] == "0.0220 ± 0.0028"
    assert cells(md, "original (nothing)")["avg gap"] == "0.0300 ± 0.0000"
    assert md.count("≈") == 2  # the influence cell and the footnote
    assert "≈: within the noise floor (two references differ by 0.0070" in md
    assert "Noise floor (gap between two references trained with different seeds): avg 0.0070 ± 0.0014" in md
    ref = cells(md, "reference (retrain)")
    assert ref["test acc"] == "0.9550 ± 0.0071" and ref["avg gap"] == "0.0000 ± 0.0000"
    assert ref["unlearn s"] == "81.5 ± 0.7"
    assert "boundary, seeds 1, 2: class-only method" in md
    assert "| boundary |" not in md

    for name in ("tradeoff_SpeechCommands_sample.png", "relearn_SpeechCommands_sample.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 20_000, name
    assert not list(out.glob("**/.tmp-*"))


def test_summary_goes_into_the_readme_between_its_markers(tmp_path):
    out, readme = tmp_path / "bench", tmp_path / "README.md"
    make_runs(out)
    before, after = "# Tool\n\nintro\n" + benchmark.SUMMARY_START + "\n", benchmark.SUMMARY_END + "\n\nrest\n"
    readme.write_text(before + "stale numbers\n" + after)
    args = [*BASE, "--methods", "finetune", "influence", "--output", str(out), "--report-only"]
    assert benchmark.main([*args, "--readme", str(readme)]) == 0

    summary = (out / "summary.md").read_text()
    assert readme.read_text() == before + summary + after
    assert "stale" not in readme.read_text()
    assert "**sample**" in summary and "**class**" not in summary  # only the scenarios run
    labels = [line.split("|")[1].strip() for line in summary.splitlines() if line.startswith("| ")]
    assert labels == ["method", "original (nothing)", "reference (retrain)", "influence", "finetune"]
    header = next(line for line in summary.splitlines() if line.startswith("| method |"))
    assert header == "| method | SC gap | SC k-shot | SC benign | SC test acc | SC speed-up |"
    fine, infl = cells(summary, "finetune"), cells(summary, "influence")
    assert infl["SC gap"] == "0.005 ± 0.001 ≈" and fine["SC gap"] == "0.022 ± 0.003"
    assert fine["SC k-shot"] == "0.020 (n=1)"  # seed 2 has no k-shot attack
    assert infl["SC benign"] == "0.050 ± 0.000" and infl["SC speed-up"] == "40.0 ± 0.0"
    assert cells(summary, "reference (retrain)")["SC gap"] == "0.000 ± 0.000"
    assert cells(summary, "original (nothing)")["SC gap"] == "0.030 ± 0.000"
    # the summary's numbers are the results table's, rounded
    assert cells((out / "results.md").read_text(), "finetune")["avg gap"] == "0.0220 ± 0.0028"

    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    (out / "summary.md").unlink()
    assert benchmark.main([*args, "--readme", str(plain)]) == 2
    assert plain.read_text() == "no markers\n" and not (out / "summary.md").exists()


def test_readme_shows_the_committed_benchmark_summary():
    """Every number of the README's results table is the committed benchmark's ``docs/benchmark/summary.md``."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        block = benchmark.readme_summary(fh.read())
    with open(os.path.join(ROOT, "docs", "benchmark", "summary.md"), encoding="utf-8") as fh:
        summary = fh.read()
    assert block == summary, "rerun: python -m speechbrain_unlearn.benchmark --report-only --readme README.md"


def test_relearn_curve_from_post_attack_accuracies():
    """Runs without a ``curve`` (older runs) give two points: before and after the attack."""
    results = fake_results("finetune", 1)
    del results["relearn"]["benign"]["curve"]
    results["relearn"]["benign"]["post_attack"] = {"unlearned": {"forget_acc": 0.95}, "original": {"forget_acc": 1.0}}
    runs = [benchmark.Run("SpeechCommands", "finetune", "sample", 1, "x", [], results=results, status="ok")]
    steps, acc = benchmark.relearn_curves(runs, "benign", "unlearned")
    assert steps == [0, 20] and list(acc) == pytest.approx([90.0, 95.0])
    assert benchmark.relearn_curves(runs, "benign", "retrained") == (None, None)
    steps, acc = benchmark.relearn_curves(runs, "kshot", "unlearned")
    assert steps == [0, 5, 10, 20] and acc[0] == pytest.approx(80.0)


def test_class_only_methods():
    assert benchmark.class_only("boundary") and benchmark.class_only("head_suppress")
    assert not benchmark.class_only("finetune")


def test_unknown_noise_floor_gets_no_marker(tmp_path):
    out = tmp_path / "bench"
    opts = make_runs(out, methods=("influence",))
    for run in benchmark.plan(opts):
        results = read_json(run.path("unlearn_results.json"))
        results["gap_noise_floor"] = None
        write_json(run.path("unlearn_results.json"), results)
    assert benchmark.main([*BASE, "--methods", "influence", "--output", str(out), "--report-only"]) == 0
    md = (out / "results.md").read_text()
    assert "≈" not in md and "Noise floor: unknown" in md


def test_resume_skips_runs_with_the_same_command(tmp_path, launches):
    calls, _ = launches
    out = tmp_path / "bench"
    opts = make_runs(out)
    args = [*BASE, "--methods", "finetune", "influence", "--output", str(out)]
    assert benchmark.main(args) == 0
    assert calls == []
    assert "4 ok (4 reused" in (out / "results.md").read_text()

    stale = benchmark.plan(opts)[1]  # influence, seed 1: made with other settings
    write_text(stale.path("benchmark_command.txt"), stale.command + " --number_of_epochs=2\n")
    assert benchmark.main(args) == 0
    assert len(calls) == 1 and calls[0][1:] == stale.argv()[1:]
    assert (out / "runs/SpeechCommands/influence/sample-1/log.txt").read_text().startswith("# benchmark")
    assert read_json(stale.path("benchmark_status.json"))["status"] == "ok"

    calls.clear()  # the same command again: nothing to do; other overrides: everything reruns
    assert benchmark.main(args) == 0 and calls == []
    assert benchmark.main([*args, "--override", "number_of_epochs=3"]) == 0
    assert len(calls) == 4 and all(c[-1] == "--number_of_epochs=3" for c in calls)


def test_failed_run_is_recorded_and_the_rest_goes_on(tmp_path, launches, capsys):
    calls, fail = launches
    fail.add("influence")
    out = tmp_path / "bench"
    status = benchmark.main([*BASE, "--methods", "finetune", "influence", "--output", str(out)])
    assert status == 1
    assert len(calls) == 4
    rows = read_rows(out / "runs.csv")
    assert [r["status"] for r in rows] == ["ok", "failed", "ok", "failed"]
    assert rows[1]["message"] == "error: unknown key 'lira_shadowz'"
    md = (out / "results.md").read_text()
    assert "Failed:" in md and "influence, seeds 1, 2: error: unknown key 'lira_shadowz'" in md
    assert cells(md, "influence")["n"] == "0"
    assert "failed: SpeechCommands/influence/sample-1: error: unknown key" in capsys.readouterr().out
    failed = out / "runs/SpeechCommands/influence/sample-1"
    assert not (failed / "unlearn_results.json").exists()
    assert read_json(failed / "benchmark_status.json")["returncode"] == 2

    # the report alone keeps the failure; a rerun retries only the failed runs
    assert benchmark.main([*BASE, "--methods", "finetune", "influence", "--output", str(out), "--report-only"]) == 0
    assert [r["status"] for r in read_rows(out / "runs.csv")] == ["ok", "failed", "ok", "failed"]
    calls.clear()
    fail.clear()
    assert benchmark.main([*BASE, "--methods", "finetune", "influence", "--output", str(out)]) == 0
    assert [c[2] for c in calls] == ["hparams/influence.yaml"] * 2


def test_a_failed_rerun_never_reports_stale_results(tmp_path, launches):
    _, fail = launches
    out = tmp_path / "bench"
    opts = make_runs(out, methods=("influence",))
    run = benchmark.plan(opts)[0]
    write_text(run.path("benchmark_command.txt"), "python something else\n")
    fail.add("influence")
    assert benchmark.main([*BASE, "--methods", "influence", "--output", str(out)]) == 1
    assert [r["status"] for r in read_rows(out / "runs.csv")] == ["failed", "ok"]


def test_parallel_runs_wait_for_the_first_of_their_group(tmp_path, monkeypatch):
    events, lock = [], threading.Lock()

    def fake_run_one(run):
        with lock:
            events.append(("start", run.name))
        time.sleep(0.05)
        with lock:
            events.append(("end", run.name))
        return "ok", ""

    monkeypatch.setattr(execute_module, "run_one", fake_run_one)
    runs = [
        benchmark.Run("SpeechCommands", m, "sample", s, str(tmp_path / f"{m}-{s}"), [], ("corpus", ("original", s)))
        for s in (1, 2)
        for m in ("a", "b", "c")
    ]
    benchmark.execute(runs, jobs=3, progress=False)
    assert all(r.status == "ok" for r in runs)
    order = [name for kind, name in events if kind == "start"]
    # the first run fills the corpus alone; seed 2's first run waits for none of seed 1's methods
    assert events[:2] == [("start", runs[0].name), ("end", runs[0].name)]
    assert events[2:5] == [("start", runs[1].name), ("start", runs[2].name), ("start", runs[3].name)]
    first_of_seed2 = events.index(("end", runs[3].name))
    assert all(events.index(("start", r.name)) > first_of_seed2 for r in runs[4:])
    assert len(order) == 6


def test_quick_preset_and_overrides(monkeypatch):
    monkeypatch.chdir(ROOT)  # the default output is relative to where the benchmark is started
    opts = benchmark.parse_args(
        ["--quick", "--override", "number_of_epochs=4", "--override", "VoxCeleb:lira_shadows=4"]
    )
    assert opts.output == os.path.join("docs", "benchmark-quick")
    assert opts.methods == ["finetune", "influence", "neggrad_plus"] and opts.seeds == [1]
    runs = benchmark.plan(opts)
    assert len(runs) == 6 and {r.scenario for r in runs} == {"sample"}
    sc = next(r for r in runs if r.task == "SpeechCommands").argv()
    vc = next(r for r in runs if r.task == "VoxCeleb").argv()
    assert sc[-3:] == ["--n_speakers=20", "--lira_shadows=2", "--number_of_epochs=4"]
    assert vc[-3:] == ["--n_speakers=12", "--number_of_epochs=4", "--lira_shadows=4"]
    assert sc[5] == "--output_folder=docs/benchmark-quick/runs/SpeechCommands/finetune/sample-1"


def test_default_methods_and_skips():
    opts = benchmark.parse_args(["--tasks", "VoxCeleb", "--seeds", "1"])
    assert "retrain" not in opts.methods and {"finetune", "influence", "boundary"} <= set(opts.methods)
    skipped = {(r.method, r.scenario) for r in benchmark.plan(opts) if r.status == "skipped"}
    assert skipped == {("boundary", "sample"), ("head_suppress", "sample")}
    opts = benchmark.parse_args(["--tasks", "VoxCeleb", "--seeds", "1", "--scenarios", "speaker"])
    assert not [r for r in benchmark.plan(opts) if r.status == "skipped"]  # a VoxCeleb speaker is a class


@pytest.mark.parametrize(
    "args, message",
    [
        (["--methods", "finetune", "nosuch"], "error: unknown method nosuch: no hparams/<name>.yaml; choose from"),
        (["--tasks", "LibriSpeech"], "error: argument --tasks: invalid choice: 'LibriSpeech'"),
        (["--scenarios", "everything"], "error: argument --scenarios: invalid choice"),
        (["--seeds", "one"], "error: argument --seeds: invalid int value: 'one'"),
        (["--override", "epochs"], "error: --override expects key=value or Task:key=value, got 'epochs'"),
        (["--override", "seed=3"], "error: --override 'seed=3': the benchmark sets seed; use --seeds"),
        (["--jobs", "0"], "error: --jobs must be at least 1, got 0"),
        (["--report-only"], "error: --report-only: no runs under"),
        (["--scenarios", "list"], "error: scenario list needs --override forget_list="),
        (["--scaling", "--override", "forget_ratio=0.3"], "error: --scaling sets forget_ratio itself"),
        (["--frobnicate"], "error: unrecognized arguments: --frobnicate"),
        (["--readme", "/nonexistent/README.md"], "error: --readme /nonexistent/README.md: cannot read it"),
        (["--scaling", "--readme", "README.md"], "error: --readme takes the benchmark's summary; the scaling"),
    ],
)
def test_bad_options_one_error_line_nothing_written(tmp_path, capsys, args, message):
    out = tmp_path / "bench"
    assert benchmark.main([*args, "--output", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_command_line_entry(tmp_path):
    """``python -m speechbrain_unlearn.benchmark``: a report from fakes, and a bad option."""
    out = tmp_path / "bench"
    make_runs(out)
    args = [sys.executable, "-m", "speechbrain_unlearn.benchmark", *BASE, "--methods", "finetune", "influence"]
    done = subprocess.run([*args, "--output", str(out), "--report-only"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "4 runs: 4 ok" in done.stdout and (out / "results.md").exists()
    bad = subprocess.run([*args, "--tasks", "Nope", "--output", str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: ")
    assert not (tmp_path / "x").exists()


def test_scaling_runs_measure_time_only():
    """Scaling runs train from scratch (standard regime) and skip LiRA shadows, the noise-floor reference and
    relearning, unless the user overrides them."""
    opts = benchmark.parse_args(
        ["--scaling", "--override", "VoxCeleb:lira_shadows=2", "--override", "number_of_epochs=2"]
    )
    runs = benchmark.scaling_plan(opts)
    sc = next(r for r in runs if r.task == "SpeechCommands").argv()
    vc = next(r for r in runs if r.task == "VoxCeleb").argv()
    assert sc[6:] == [
        "--training_regime=standard",
        "--lira_shadows=0",
        "--noise_floor_reference=false",
        "--relearn_steps=0",
        "--number_of_epochs=2",
        "--repetitions=5",
        "--forget_ratio=0.1",
    ]
    assert vc[6:] == [
        "--training_regime=standard",
        "--noise_floor_reference=false",
        "--relearn_steps=0",
        "--lira_shadows=2",  # the user's value replaces the default, on VoxCeleb only
        "--number_of_epochs=2",
        "--utterances_per_video=8",
        "--forget_ratio=0.1",
    ]
    assert all({"--noise_floor_reference=false", "--relearn_steps=0"} <= set(r.argv()) for r in runs)
    # the --quick preset's lira_shadows gives way to the scaling default; the benchmark itself keeps it
    quick = benchmark.parse_args(["--scaling", "--quick", "--tasks", "SpeechCommands"])
    assert quick.task_overrides["SpeechCommands"]["lira_shadows"] == "0"
    plain = benchmark.plan(benchmark.parse_args(["--quick", "--tasks", "SpeechCommands"]))[0].argv()
    assert "--lira_shadows=2" in plain and not any(a.startswith(("--relearn_steps", "--noise_floor")) for a in plain)


def scaling_results(task, method, size, ratio, seed):
    train = 240 * size // 5
    forget = round(train * ratio)
    return {
        "task": task,
        "method": method,
        "scenario": "sample",
        "seed": seed,
        "sizes": {"train": train, "forget": forget, "retain": train - forget, "test": 600},
        "time_s": {"retrain": 0.5 * train, "unlearn": (0.05 if method == "finetune" else 0.01) * train + forget},
    }


def test_scaling_report(tmp_path, launches):
    calls, _ = launches
    out = tmp_path / "bench"
    args = ["--scaling", "--tasks", "SpeechCommands", "--output", str(out), "--no-progress"]
    opts = benchmark.parse_args(args)
    runs = benchmark.scaling_plan(opts)
    assert len(runs) == 2 * 5  # 2 methods x (3 sizes + 2 more forget ratios)
    for run in runs[:-1]:  # the last one is missing
        size, ratio = run.extra["size"], run.extra["forget_ratio"]
        write_json(run.path("unlearn_results.json"), scaling_results(run.task, run.method, size, ratio, run.seed))
    assert benchmark.main([*args, "--report-only"]) == 0
    assert calls == []
    rows = read_rows(out / "scaling.csv")
    assert len(rows) == 10 and [r["status"] for r in rows].count("missing") == 1
    assert rows[0]["size_key"] == "repetitions" and float(rows[0]["train_utterances"]) == 240
    md = (out / "scaling.md").read_text()
    assert "## SpeechCommands: time against training utterances" in md
    assert "| 240 | 120.0 | 36.0 | 26.4 |" in md  # retrain, finetune, influence
    assert "| slope | 1.00 |" in md
    data = (out / "scaling_SpeechCommands.png").read_bytes()
    assert data.startswith(PNG) and len(data) > 20_000


def test_scale_benchmark_serves_both_requests_within_their_certificates(tmp_path, capsys):
    out = tmp_path / "scale.json"
    args = ["--utterances=300", "--classes=10", "--dim=6", "--request_utterances=5", "--check_retrain"]
    args += ["--relative_bound=1e-7"]
    assert scale_main(args + [f"--output={out}"]) == 0
    report = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == report
    utterances, speaker = report["requests"]
    assert utterances["removed"] == 5 and 25 <= speaker["removed"] <= 30  # 30 utterances a speaker
    assert (utterances["emptied_classes"], speaker["emptied_classes"]) == (0, 1)
    for request in (utterances, speaker):
        assert request["certificate"]["relative_distance_bound"] <= 1e-7
        # both the served head and the retrain are solves: the certified distance is the sum of their bounds
        bound = (request["certificate"]["gradient_norm"] + request["retrain_certificate_gradient_norm"]) / 1e-3
        assert request["distance_to_retrain"] <= bound and request["relative_distance_to_retrain"] < 1e-6
        assert request["time_s"] > 0 and request["peak_mem_mb"] > 0
    with pytest.raises(SystemExit):
        scale_main(["--utterances=10", "--request_utterances=10"])


def test_sequential_benchmark_serves_utterances_then_speakers_and_ends_at_the_retrain(tmp_path, capsys):
    gen = torch.Generator().manual_seed(0)
    ids = [f"spk{i % 8}-utt{i:03d}" for i in range(160)]
    labels = torch.arange(160) % 4
    features = torch.randn(4, 5, generator=gen)[labels] + torch.randn(160, 5, generator=gen)
    DeletableState.fit(ids, features, labels, n_classes=4, l2=0.01).save(tmp_path / "deletable.pt")
    rows = "\n".join(f"{utt},{utt.split('-')[0]}" for utt in ids)
    (tmp_path / "train.csv").write_text(f"ID,spk_id\n{rows}\n")
    args = [f"--state={tmp_path / 'deletable.pt'}", f"--train_csv={tmp_path / 'train.csv'}"]
    plan = ["--utterance_requests=12", "--speaker_requests=3", f"--output={tmp_path / 'o.json'}"]
    assert sequential_main(args + plan) == 0
    report = json.loads((tmp_path / "o.json").read_text())
    assert report["requests"] == 15 and report["removed"] == 12 + 3 * 20  # 20 utterances a speaker
    assert [r["removed"] for r in report["per_request"]] == [1] * 12 + [20] * 3
    retrain = report["retrain"]
    assert retrain["holds"] and retrain["relative_distance"] < 1e-8 and retrain["same_predictions"] == 1.0
    assert json.loads(capsys.readouterr().out)["retrain"] == retrain
    (tmp_path / "bad.csv").write_text("ID,label\nx,y\n")
    assert sequential_main([args[0], f"--train_csv={tmp_path / 'bad.csv'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "ID and spk_id columns" in err[0]


def test_headline_puts_both_regimes_of_influence_into_the_readme(tmp_path, capsys):
    base = {"task": "VoxCeleb", "method": "influence", "scenario": "class", "status": "ok", "method_status": "ok"}
    numbers = {"metrics.original.test_acc": 0.98, "gap_to_retrain.avg": 0.01}
    numbers |= {"relearn.kshot.memorization_recovery": 0.5, "relearn.benign.memorization_recovery": 0.25}
    for regime, folder, unlearn, retrain in (("standard", "std", 100.0, 500.0), ("deletion_ready", "dr", 0.25, 0.5)):
        times = {"training_regime": regime, "time_s.unlearn": unlearn, "time_s.retrain": retrain}
        rows = [{**base, **numbers, **times, "seed": seed} for seed in (1, 2)]
        rows[1]["method_status"] = "fallback" if regime == "standard" else "ok"
        write_csv(tmp_path / folder / "runs.csv", rows, list(rows[0]))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- headline: start -->\nold\n<!-- headline: end -->\nrest\n")
    args = [f"--standard={tmp_path / 'std'}", f"--deletion_ready={tmp_path / 'dr'}", f"--output={tmp_path / 'h.md'}"]
    assert headline_main(args + [f"--readme={readme}"]) == 0
    table = (tmp_path / "h.md").read_text()
    assert table in readme.read_text() and "old" not in readme.read_text()
    standard, ready = [line for line in table.splitlines() if line.startswith("| VoxCeleb")]
    # the standard regime: one of two runs fell back, and only the other claims a speed-up (500 / 100)
    assert "| 1/2 |" in standard and standard.endswith("| 5 | 5.0 |")
    # deletion-ready: the standard retrain of the same split over its own time (500 / 0.25), and its own retrain's
    assert "| 0/2 |" in ready and ready.endswith("| 2000 ± 0 | 2.0 ± 0.0 |")
    # an earlier standard benchmark whose fallback is named only in the run's JSON counts as a fallback
    run = tmp_path / "before" / "run"
    write_json(run / "unlearn_results.json", {"influence": {"fallback": {"method": "retrain"}}})
    write_csv(tmp_path / "before" / "runs.csv", [{**base, **numbers, "seed": 1, "folder": str(run)}])
    assert headline_main(args + [f"--before={tmp_path / 'before'}"]) == 0
    before = [line for line in (tmp_path / "h.md").read_text().splitlines() if "| standard, before |" in line]
    assert len(before) == 1 and "| 1/1 |" in before[0]
    capsys.readouterr()
    assert headline_main([f"--standard={tmp_path / 'missing'}"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
