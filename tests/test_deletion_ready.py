"""The deletion-ready regime end to end: a core no request touches, exact certified removal from its head."""

import glob
import json
import os

import pytest

from tests.support import EVALUATION_ON, tiny_run

#: The tiny core corpora: other speakers than the tiny user corpora (another corpus seed).
TINY_CORE = {
    "SpeechCommands": ["--training_regime=deletion_ready", "--core_n_speakers=10"],
    "VoxCeleb": ["--training_regime=deletion_ready", "--core_n_speakers=6", "--core_utterances_per_video=3"],
}
#: Metrics that equal the reference's when the head equals the retrained head.
EXACT_METRICS = ("test_acc", "retain_acc", "forget_acc", "mia_auc", "forget_test_acc")


def deletion_ready_run(task, method, cache, out, *extra):
    proc = tiny_run(task, method, cache, out, *TINY_CORE[task], *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "unlearn_results.json").read_text())


@pytest.mark.parametrize(
    "task,scenario,requests",
    [
        ("SpeechCommands", "sample", 1),
        ("SpeechCommands", "class", 1),
        ("VoxCeleb", "speaker", 1),
        ("VoxCeleb", "sample", 3),
    ],
)
def test_influence_on_a_deletion_ready_model_equals_retraining_with_a_certificate(
    task, scenario, requests, cache, tmp_path
):
    results = deletion_ready_run(
        task,
        "influence",
        cache,
        tmp_path / "run",
        f"--scenario={scenario}",
        f"--influence_requests={requests}",
        *EVALUATION_ON,
    )
    assert results["training_regime"] == "deletion_ready"
    assert results["method_status"]["status"] == "ok" and results["influence"]["fallback"] is None
    influence = results["influence"]
    assert influence["requests"] == requests and influence["converged"]
    certificate = influence["certificate"]
    assert certificate["holds"] and certificate["distance"] <= certificate["distance_bound"] + 1e-6
    assert certificate["distance_bound"] == pytest.approx(certificate["gradient_norm"] / certificate["l2"])
    assert certificate["distance_to_retrain"] <= 1e-4
    assert influence["statistics_utterances"] == results["sizes"]["retain"]
    agreement = results["prediction_agreement"]
    assert set(agreement) >= {"test", "retain", "forget"} and agreement["test"] >= 0.999, agreement
    for key in EXACT_METRICS:
        if key in results["gap_to_retrain"]:
            assert results["gap_to_retrain"][key] <= 0.002, key
    # the core is the same and the head is the reference's: the attacks recover what they recover on it
    for attack in ("benign", "kshot"):
        recovery = results["relearn"][attack].get("memorization_recovery")
        assert recovery is None or abs(recovery) <= 0.01, attack
    # deterministic convex solves: the noise-floor reference is the reference
    assert results["gap_noise_floor"]["avg"] == 0.0


def test_retrain_in_the_deletion_ready_regime_is_the_reference(cache, tmp_path):
    results = deletion_ready_run("VoxCeleb", "retrain", cache, tmp_path / "run", "--scenario=class")
    assert results["metrics"]["unlearned"] == results["metrics"]["retrained"]
    # a convex solve on stored features, whose passes over the training set are counted
    assert results["cost"]["train"]["grad_evals"] % results["sizes"]["train"] == 0
    assert results["cost"]["train"]["grad_evals"] >= results["sizes"]["train"]
    # another seed draws another split and original, but trains no second core (its seed is core_seed)
    again = deletion_ready_run("VoxCeleb", "retrain", cache, tmp_path / "seed7", "--scenario=class", "--seed=7")
    assert again["metrics"]["unlearned"] == again["metrics"]["retrained"]
    assert len(glob.glob(os.path.join(cache, "models", "VoxCeleb", "core-*"))) == 1


def test_every_other_method_runs_on_a_deletion_ready_model(cache, tmp_path):
    results = deletion_ready_run("SpeechCommands", "neggrad_plus", cache, tmp_path / "run")
    assert results["method_status"]["status"] == "ok" and results["training_regime"] == "deletion_ready"
    assert results["metrics"]["unlearned"] != results["metrics"]["original"] or results["method_status"]["steps"] > 0


def test_a_core_that_shares_audio_with_the_user_data_is_refused(cache, tmp_path, tiny_vc):
    out = tmp_path / "run"
    proc = tiny_run(
        "VoxCeleb",
        "influence",
        cache,
        out,
        *TINY_CORE["VoxCeleb"],
        f"--data_folder={tiny_vc}",
        f"--core_data_folder={tiny_vc}",
        "--scenario=class",
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: the core set shares") and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_an_unknown_training_regime_is_refused_in_one_line(cache, tmp_path):
    proc = tiny_run("SpeechCommands", "influence", cache, tmp_path / "run", "--training_regime=convex")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: training_regime must be standard or deletion_ready, not 'convex'"
