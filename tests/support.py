"""Helpers the tests share: the repository root, tiny corpus sizes and recipe runs in a subprocess."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_SC = dict(words=["yes", "no", "up"], n_speakers=10, repetitions=2)
TINY_VC = dict(n_speakers=4, n_videos=4, utterances_per_video=2)
TINY = {
    "SpeechCommands": [
        "--n_speakers=10",
        "--repetitions=2",
        "--keywords=[yes, no, up]",
        "--number_of_epochs=2",
        "--cnn_channels=[4]",
        "--rnn_neurons=8",
        "--dnn_neurons=8",
        "--training_regime=standard",
    ],
    "VoxCeleb": [
        "--n_speakers=4",
        "--n_videos=4",
        "--utterances_per_video=3",
        "--forget_ratio=0.2",
        "--number_of_epochs=1",
        "--channels=[8, 8, 8, 8, 24]",
        "--emb_dim=8",
        "--training_regime=standard",
    ],
}
CONTRACT_METRICS = {"test_acc", "retain_acc", "forget_acc", "mia_auc"}
#: Tiny runs skip the extra evaluation models and attacks unless a test asks for them.
EVALUATION_OFF = ["--relearn_steps=0", "--lira_shadows=0", "--noise_floor_reference=false"]
EVALUATION_ON = ["--relearn_steps=20", "--lira_shadows=2", "--noise_floor_reference=true"]


def run_recipe(task, method, *args, cwd=None, nproc=1):
    """Run ``recipes/<task>/unlearn.py hparams/<method>.yaml args`` in a subprocess.

    With ``nproc > 1`` the recipe runs under ``torchrun`` (gloo on CPU).
    """
    launcher = (
        [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    )
    cmd = [
        *launcher,
        os.path.join(ROOT, "recipes", task, "unlearn.py"),
        os.path.join(ROOT, "hparams", f"{method}.yaml"),
        *args,
    ]
    if nproc > 1:
        cmd.append("--distributed_backend=gloo")
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd or ROOT, timeout=900)


def tiny_args(task, cache, out, *extra):
    """The command-line options of a tiny run: the tiny sizes, evaluation off, and ``extra`` (which win)."""
    given = {e.split("=")[0] for e in extra}
    args = [
        *(a for a in TINY[task] + EVALUATION_OFF if a.split("=")[0] not in given),
        f"--cache_folder={cache}",
        f"--output_folder={out}",
    ]
    return args + list(extra)


def tiny_run(task, method, cache, out, *extra, nproc=1):
    return run_recipe(task, method, *tiny_args(task, cache, out, *extra), nproc=nproc)


def recipe_command(task, method, *args):
    """The command line of ``recipes/<task>/unlearn.py hparams/<method>.yaml args``."""
    script = os.path.join(ROOT, "recipes", task, "unlearn.py")
    return [sys.executable, script, os.path.join(ROOT, "hparams", f"{method}.yaml"), *args]


def method_recipe_results(task, method, extra, cache, tmp_path):
    """The results of ``method`` on the tiny ``task`` corpus, after checking that it ran with status ok."""
    out = tmp_path / "run"
    proc = tiny_run(task, method, cache, out, *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "unlearn_results.json").read_text())
    assert (results["task"], results["method"]) == (task, method)
    assert results["method_status"]["status"] == "ok", results["method_status"]
    return results


def assert_model_folder_and_receipt(out, results):
    """``out/unlearned_model`` loads with SpeechBrain's ``EncoderClassifier`` and the run's receipt verifies."""
    import hashlib

    from speechbrain.inference.classifiers import EncoderClassifier

    from speechbrain_unlearn import receipt

    model = EncoderClassifier.from_hparams(source=str(out / "unlearned_model"), savedir=str(out / "loaded"))
    test_wav = (out / "test.csv").read_text().splitlines()[1].split(",")[2]
    out_prob, _, _, label = model.classify_file(test_wav)
    labels = [line.split(",")[-1] for line in (out / "train.csv").read_text().splitlines()[1:]]
    assert out_prob.shape[-1] == len(set(labels)) and label[0] in labels
    assert receipt.verify(str(out)) == []
    stored = json.loads((out / receipt.RECEIPT).read_text())
    ids = sorted(line.split(",")[0] for line in (out / "forget.csv").read_text().splitlines()[1:])
    assert stored["forget"]["ids_sha256"] == hashlib.sha256("\n".join(ids).encode()).hexdigest()
    assert stored["forget"]["n_utterances"] == results["sizes"]["forget"]
    assert stored["method"] == results["method"] and stored["method_status"] == results["method_status"]["status"]
    assert {"unlearned_model/classifier.ckpt", "forget.csv"} <= set(stored["files"])
    return stored
