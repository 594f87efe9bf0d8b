"""Tiny end-to-end runs of both recipes, and one-line answers to bad input."""

import json

import pytest
import torch

from tests.conftest import run_recipe

TINY = {
    "SpeechCommands": [
        "--n_speakers=10",
        "--repetitions=2",
        "--keywords=[yes, no, up]",
        "--number_of_epochs=2",
        "--cnn_channels=[4]",
        "--rnn_neurons=8",
        "--dnn_neurons=8",
    ],
    "VoxCeleb": [
        "--n_speakers=4",
        "--n_videos=4",
        "--utterances_per_video=3",
        "--forget_ratio=0.2",
        "--number_of_epochs=1",
        "--channels=[8, 8, 8, 8, 24]",
        "--emb_dim=8",
    ],
}
CONTRACT_METRICS = {"test_acc", "retain_acc", "forget_acc", "mia_auc"}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def tiny_run(task, method, cache, out, *extra, nproc=1):
    args = [*TINY[task], f"--cache_folder={cache}", f"--output_folder={out}", *extra]
    return run_recipe(task, method, *args, nproc=nproc)


@pytest.mark.parametrize(
    "task,scenario",
    [
        ("SpeechCommands", "sample"),
        ("SpeechCommands", "class"),
        ("SpeechCommands", "speaker"),
        ("VoxCeleb", "sample"),
        ("VoxCeleb", "class"),
        ("VoxCeleb", "speaker"),
    ],
)
def test_recipe_end_to_end(task, scenario, cache, tmp_path):
    out = tmp_path / "run"
    proc = tiny_run(task, "finetune", cache, out, f"--scenario={scenario}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "embedded corpus" in proc.stdout
    results = json.loads((out / "unlearn_results.json").read_text())
    assert (results["task"], results["method"], results["scenario"]) == (task, "finetune", scenario)
    assert set(results["sizes"]) == {"train", "forget", "retain", "test"}
    assert results["sizes"]["forget"] + results["sizes"]["retain"] == results["sizes"]["train"]
    for model in ("original", "unlearned", "retrained"):
        metrics = results["metrics"][model]
        assert CONTRACT_METRICS <= set(metrics)
        assert all(0.0 <= metrics[k] <= 1.0 for k in CONTRACT_METRICS)
        # whole classes are forgotten in `class`, and in `speaker` on VoxCeleb (a speaker is a class)
        forgets_classes = scenario == "class" or (task == "VoxCeleb" and scenario == "speaker")
        assert ("forget_test_acc" in metrics) == forgets_classes
    gap = results["gap_to_retrain"]
    assert set(gap) == CONTRACT_METRICS | {"avg"}
    for key in CONTRACT_METRICS:
        unlearned, retrained = results["metrics"]["unlearned"][key], results["metrics"]["retrained"][key]
        assert gap[key] == pytest.approx(abs(unlearned - retrained), abs=1e-6)
    assert gap["avg"] == pytest.approx(sum(gap[k] for k in CONTRACT_METRICS) / 4, abs=1e-5)
    assert set(results["time_s"]) == {"train", "retrain", "unlearn"} and results["speedup_vs_retrain"] > 0
    for name in (
        "unlearn_results.md",
        "forget.csv",
        "retain.csv",
        "test.csv",
        "unlearned_model.pt",
        "forget_record.json",
    ):
        assert (out / name).exists(), name
    record = json.loads((out / "forget_record.json").read_text())
    assert len(record["forget_ids"]) == results["sizes"]["forget"]
    test_rows = len((out / "test.csv").read_text().splitlines()) - 1
    if forgets_classes:
        forgotten = len((out / "test_forgotten.csv").read_text().splitlines()) - 1
        assert forgotten > 0 and results["sizes"]["test"] == test_rows - forgotten  # retained classes only
        assert set(results["forget_classes"]) == {
            line.split(",")[-1] for line in (out / "forget.csv").read_text().splitlines()[1:]
        }
    else:
        assert results["sizes"]["test"] == test_rows


@pytest.mark.parametrize("task", ["SpeechCommands", "VoxCeleb"])
def test_influence_step_raises_the_forget_loss(task, cache, tmp_path):
    out = tmp_path / "influence"
    proc = tiny_run(task, "influence", cache, out, "--repair_steps=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    diagnostics = json.loads((out / "unlearn_results.json").read_text())["method_diagnostics"]
    assert diagnostics["solver"]["converged"] and not diagnostics["solver"]["negative_curvature"]
    assert diagnostics["forget_loss_after"] > diagnostics["forget_loss_before"]
    assert diagnostics["step_norm"] > 0 and diagnostics["batchnorm_layers"] > 0
    # the update touches the head only: its parameter count is far below the model's
    state = torch.load(out / "unlearned_model.pt", weights_only=True)
    assert 0 < diagnostics["scope_parameters"] < sum(t.numel() for t in state.values()) / 2


def test_list_scenario_and_cache_reuse(cache, tmp_path):
    first = tmp_path / "first"
    assert tiny_run("SpeechCommands", "finetune", cache, first).returncode == 0
    forget = [line.split(",")[0] for line in (first / "train.csv").read_text().splitlines()[1:4]]
    (tmp_path / "ids.txt").write_text("\n".join(forget) + "\n")
    out = tmp_path / "list"
    proc = tiny_run(
        "SpeechCommands", "finetune", cache, out, "--scenario=list", f"--forget_list={tmp_path / 'ids.txt'}"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "unlearn_results.json").read_text())
    assert results["sizes"]["forget"] == 3
    assert results["cached"]["original"] is True  # same data, seed and task hparams as the first run


def test_changed_setting_misses_the_cache_and_reference_is_optional(cache, tmp_path):
    out = tmp_path / "noref"
    proc = tiny_run("SpeechCommands", "finetune", cache, out, "--retrain_reference=false", "--lr=0.003")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "unlearn_results.json").read_text())
    assert results["cached"]["original"] is False  # another learning rate: another original
    assert "retrained" not in results["metrics"] and results["gap_to_retrain"] is None
    assert results["time_s"]["retrain"] is None and results["speedup_vs_retrain"] is None
    assert "| retrain | - |" in (out / "unlearn_results.md").read_text()


def test_retrain_is_deterministic(cache, tmp_path):
    metrics = []
    for name in ("a", "b"):
        proc = tiny_run("VoxCeleb", "retrain", cache, tmp_path / name)
        assert proc.returncode == 0, proc.stderr[-3000:]
        metrics.append(json.loads((tmp_path / name / "unlearn_results.json").read_text())["metrics"])
    assert metrics[0] == metrics[1]
    assert metrics[0]["unlearned"] == metrics[0]["retrained"]  # retrain reproduces the reference


def test_real_layout_folder(tmp_path, tiny_vc, cache):
    out = tmp_path / "real"
    proc = tiny_run("VoxCeleb", "finetune", cache, out, f"--data_folder={tiny_vc}", "--scenario=class")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "embedded corpus" not in proc.stdout
    assert json.loads((out / "unlearn_results.json").read_text())["data"]["embedded"] is False


@pytest.mark.parametrize(
    "task,args,message",
    [
        ("VoxCeleb", ["--data_folder=/nonexistent/vox"], "does not exist"),
        ("SpeechCommands", ["--data_folder={tmp}"], "is not in the Speech Commands v0.02"),
        ("SpeechCommands", ["--data_folder={vc}"], "it is a VoxCeleb folder"),
        ("SpeechCommands", ["--forget_ratio=1.5"], "forget_ratio must lie in (0, 1)"),
        ("SpeechCommands", ["--forget_ratio=0.001"], "selected no utterance"),
        ("SpeechCommands", ["--scenario=class", "--forget_classes=[yes, no, up]"], "names all 3 classes"),
        (
            "SpeechCommands",
            ["--scenario=list", "--forget_list={ids}"],
            "2 IDs not in the training manifest: ghost-1, ghost-2",
        ),
        ("VoxCeleb", ["--forget_ration=0.2"], "unknown key 'forget_ration'"),
    ],
)
def test_bad_input_answers_in_one_line(task, args, message, tmp_path, tiny_vc, cache):
    (tmp_path / "ids.txt").write_text("ghost-1\nghost-2\n")
    args = [a.format(tmp=tmp_path, vc=tiny_vc, ids=tmp_path / "ids.txt") for a in args]
    out = tmp_path / "out"
    proc = tiny_run(task, "finetune", cache, out, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_runs_under_torchrun_on_cpu(cache, tmp_path):
    """DESIGN section 5: every stage runs under torchrun (gloo on CPU); the main process writes."""
    out = tmp_path / "ddp"
    proc = tiny_run("SpeechCommands", "retrain", str(tmp_path / "cache"), out, nproc=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("# SpeechCommands / retrain") == 1  # one report, from the main process
    results = json.loads((out / "unlearn_results.json").read_text())
    assert results["metrics"]["unlearned"] == results["metrics"]["retrained"]
