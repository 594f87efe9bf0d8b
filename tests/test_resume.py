"""Exact resume: a run killed in each stage (original, reference, unlearning, evaluation) ends as if uninterrupted."""

import glob
import json
import subprocess
import time

from tests.support import ROOT, recipe_command, tiny_args

#: Enough epochs that a kill at the first checkpoint lands inside the stage.
EPOCHS = ["--number_of_epochs=6", "--unlearn_epochs=6", "--unlearn_batch_size=4", "--retrain_reference=true"]
#: Relearning attacks after the evaluation, so a kill during evaluation lands before the results are written.
ATTACKS = ["--relearn_steps=20"]


def kill_at_checkpoint(command, pattern, complete=True, timeout=600):
    """Start ``command`` and SIGKILL it once a checkpoint matches ``pattern``; whether it was killed.

    ``complete``: once the checkpoint is whole; else as soon as its folder
    appears, most often while its files are being written.
    """
    return kill_when(command, f"{pattern}/CKPT+*" + ("/CKPT.yaml" if complete else ""), timeout)


def kill_when(command, pattern, timeout=600):
    """Start ``command`` and SIGKILL it once a file matches the glob ``pattern``; whether it was killed."""
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if glob.glob(pattern):
            proc.kill()
            proc.wait()
            return True
        time.sleep(0.01)
    proc.kill()
    return False


def test_a_run_killed_in_every_stage_ends_as_an_uninterrupted_one(tmp_path):
    task = "SpeechCommands"
    whole = tmp_path / "whole"
    proc = subprocess.run(
        recipe_command(task, "finetune", *tiny_args(task, tmp_path / "cache1", whole, *EPOCHS, *ATTACKS)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cache, out = tmp_path / "cache2", tmp_path / "killed"
    command = recipe_command(task, "finetune", *tiny_args(task, cache, out, *EPOCHS, *ATTACKS))
    # killed during the original's training, while its first checkpoint is being written
    assert kill_at_checkpoint(command, f"{cache}/models/{task}/original-*/ckpt", complete=False)
    assert not glob.glob(f"{cache}/models/{task}/original-*/model.pt")
    # killed during the reference's training, after its first epoch
    assert kill_at_checkpoint(command, f"{cache}/models/{task}/reference-*/ckpt")
    assert not glob.glob(f"{cache}/models/{task}/reference-*/model.pt")
    # killed during unlearning, after the method's first epoch
    assert kill_at_checkpoint(command, f"{out}/save/unlearn-*")
    # killed during evaluation, once its first scores are stored (unlearning is done by then)
    assert kill_when(command, f"{cache}/evaluations/{task}/*")
    assert glob.glob(f"{out}/save/unlearn-*/finished.json") and not (out / "unlearn_results.json").exists()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "unlearning finished in an earlier attempt" in proc.stdout and not (out / "save").exists()
    expected, resumed = (json.loads((f / "unlearn_results.json").read_text()) for f in (whole, out))
    assert resumed["metrics"] == expected["metrics"]
    assert resumed["gap_to_retrain"] == expected["gap_to_retrain"]
    # no finished stage repeated: the original and the reference come from the cache after the second kill
    assert resumed["cached"]["original"] and resumed["cached"]["reference"]
    assert resumed["threads"] == expected["threads"]
    # the killed attempt's unlearning time up to its checkpoint counts
    assert resumed["cost"]["unlearn"]["earlier_attempts_s"] > 0 == expected["cost"]["unlearn"]["earlier_attempts_s"]
