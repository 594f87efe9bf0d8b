"""The deletion-ready regime end to end: a core no request touches, exact certified removal from its head."""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from speechbrain.inference.classifiers import EncoderClassifier

from speechbrain_unlearn import forget, receipt
from speechbrain_unlearn.deletable.state import DeletableState
from tests.support import EVALUATION_ON, assert_model_folder_and_receipt, tiny_run

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
    # the deletion-ready model folder loads in SpeechBrain; the receipt holds the certificate
    stored = assert_model_folder_and_receipt(tmp_path / "run", results)
    assert stored["certificate"] == certificate and stored["training_regime"] == "deletion_ready"
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


def forget_cli(*args):
    """``python -m speechbrain_unlearn.forget`` in a subprocess."""
    cmd = [sys.executable, "-m", "speechbrain_unlearn.forget", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_two_requests_against_a_deployed_model_folder(cache, tmp_path, capsys):
    run = tmp_path / "run"
    results = deletion_ready_run("VoxCeleb", "influence", cache, run, "--export_original=true")
    retain = [line.split(",") for line in (run / "retain.csv").read_text().splitlines()[1:]]
    (tmp_path / "first.txt").write_text("\n".join(r[0] for r in retain[:2]) + "\n")
    (tmp_path / "second.txt").write_text(f"{retain[2][0]}\r\n{retain[3][0]}\r\n{retain[3][0]}\r\n")  # CRLF, duplicate
    first, second = tmp_path / "first", tmp_path / "second"
    proc = forget_cli(
        "--model",
        run / "unlearned_model",
        "--forget_list",
        tmp_path / "first.txt",
        "--output",
        first,
        "--data_folder",
        results["data"]["folder"],
    )
    assert proc.returncode == 0, proc.stderr
    assert "removed 2 utterances" in proc.stdout and proc.stdout.strip().endswith(str(first))
    assert (
        forget.main(["--model", str(first), "--forget_list", str(tmp_path / "second.txt"), "--output", str(second)])
        == 0
    )
    assert "1 duplicate IDs counted once" in capsys.readouterr().out
    for folder, requests in ((first, 1), (second, 2)):
        assert receipt.verify(str(folder)) == []
        assert len(json.loads((folder / forget.REQUEST_LOG).read_text())) == requests
        EncoderClassifier.from_hparams(source=str(folder), savedir=str(tmp_path / f"load-{requests}"))
    stored = json.loads((first / receipt.RECEIPT).read_text())
    audio = hashlib.sha256(b"".join(open(r[2], "rb").read() for r in sorted(retain[:2]))).hexdigest()
    assert stored["forget"]["audio_sha256"] == audio and stored["previous_receipt"]["file"].startswith("receipts/")
    # two requests served from the stored statistics equal the head retrained without both
    start = DeletableState.load(str(run / "unlearned_model" / "deletable.pt"))
    retrained = start.retrained([r[0] for r in retain[:4]])
    served = DeletableState.load(str(second / "deletable.pt"))
    bound = json.loads((second / receipt.RECEIPT).read_text())["certificate"]["distance_bound"]
    assert (
        served.ids == retrained.ids
        and float((served.theta - retrained.theta).norm()) <= bound + 2 * start.gtol / start.l2
    )
    # one byte of the model changes; a receipt in the chain is edited: verify names the file, then the link
    with open(second / "classifier.ckpt", "r+b") as fh:
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 1]))
    assert receipt.verify(str(second)) == ["classifier.ckpt: SHA-256 differs from the receipt"]
    link = json.loads((second / receipt.RECEIPT).read_text())["previous_receipt"]["file"]
    (second / link).write_text((second / link).read_text().replace('"influence"', '"retrain"'))
    assert receipt.verify(str(second))[-1].startswith(f"{receipt.RECEIPT} -> {link}: the link's SHA-256")


@pytest.mark.parametrize(
    "damage,args,message",
    [
        ("no_classifier", [], "classifier.ckpt is missing: --model must be a complete model folder"),
        ("wrong_classes", [], "classifier.ckpt has shape (2, 8), but the stored statistics have 4 classes"),
        (
            "none",
            ["--forget_list=unknown.txt"],
            "1 forget ID is not in the deletable part's training set (first: nobody)",
        ),
        ("none", ["--output=not_a_model"], "exists and is not a model folder; pick a new folder"),
        ("none", ["--output=model"], "is the input model; the input is never modified"),
    ],
)
def test_bad_requests_answer_in_one_line_and_write_nothing(damage, args, message, cache, tmp_path, capsys):
    run = tmp_path / "run"
    deletion_ready_run("VoxCeleb", "influence", cache, run)
    model = tmp_path / "model"
    shutil.copytree(run / "unlearned_model", model)
    if damage == "no_classifier":
        (model / "classifier.ckpt").unlink()
    elif damage == "wrong_classes":
        torch.save({"weight": torch.zeros(2, 8), "bias": torch.zeros(2)}, model / "classifier.ckpt")
    (tmp_path / "not_a_model").mkdir()
    (tmp_path / "not_a_model" / "notes.txt").write_text("mine")
    (tmp_path / "unknown.txt").write_text("nobody\n")
    (tmp_path / "ids.txt").write_text((run / "retain.csv").read_text().splitlines()[1].split(",")[0] + "\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    given = {a.split("=")[0]: a.split("=")[1] for a in args}
    argv = [
        "--model",
        str(model),
        "--forget_list",
        str(tmp_path / given.get("--forget_list", "ids.txt")),
        "--output",
        str(tmp_path / given.get("--output", "out")),
    ]
    assert forget.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before and (tmp_path / "not_a_model" / "notes.txt").exists()
