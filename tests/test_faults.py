"""Faults injected into real runs (``tests/faults.py``): nothing half-written, nothing lost, the rerun correct."""

import glob
import hashlib
import json
import os
import subprocess
import sys

from tests.support import ROOT, recipe_command, tiny_args

TASK = "SpeechCommands"


def faulty(kind, pattern, cache, out):
    """The recipe run with one fault injected where a file matching ``pattern`` is written."""
    command = recipe_command(TASK, "finetune", *tiny_args(TASK, cache, out))
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "faults.py"), kind, pattern, *command[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


def plain(cache, out):
    command = recipe_command(TASK, "finetune", *tiny_args(TASK, cache, out))
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)


def one_line(proc, message):
    lines = proc.stderr.strip().splitlines()
    return proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_faults_in_every_write_leave_whole_files_and_a_correct_rerun(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    # killed once the feature cache's temporary copy is written, before it is renamed into place
    assert faulty("kill", "features-*.pt", cache, out).returncode == -9
    assert not glob.glob(f"{cache}/features/features-*.pt")
    # a full disk while SpeechBrain writes the original's first checkpoint
    proc = faulty("enospc", "model.ckpt", cache, out)
    assert one_line(proc, "model.ckpt: No space left on device; free space or fix the folder"), proc.stderr
    assert glob.glob(f"{cache}/features/features-*.pt")  # the stage before is kept
    # a read-only cache when the trained original is stored
    proc = faulty("erofs", "model.pt", cache, out)
    assert one_line(proc, "model.pt: Read-only file system"), proc.stderr
    assert not glob.glob(f"{cache}/models/{TASK}/original-*/model.pt")
    proc = plain(cache, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = json.loads((out / "unlearn_results.json").read_text())
    (original,) = glob.glob(f"{cache}/models/{TASK}/original-*/model.pt")
    stored = (sha(original), os.stat(original).st_mtime_ns)
    kept = {name: sha(out / name) for name in ("unlearn_results.json", "unlearning_receipt.json")}
    # the same command again, on a disk that fills as the results are written: the previous results stay whole
    proc = faulty("enospc", "unlearn_results.json", cache, out)
    assert one_line(proc, "unlearn_results.json: No space left on device"), proc.stderr
    assert {name: sha(out / name) for name in kept} == kept
    verify = [sys.executable, "-m", "speechbrain_unlearn.receipt", "verify", str(out)]
    assert subprocess.run(verify, cwd=ROOT, capture_output=True, text=True).returncode == 0
    proc = plain(cache, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = json.loads((out / "unlearn_results.json").read_text())
    assert (sha(original), os.stat(original).st_mtime_ns) == stored  # the cached original is never written again
    # the runs after the faults end as a run that met none
    proc = plain(tmp_path / "clean-cache", tmp_path / "clean")
    assert proc.returncode == 0, proc.stderr[-3000:]
    clean = json.loads((tmp_path / "clean" / "unlearn_results.json").read_text())
    assert first["metrics"] == again["metrics"] == clean["metrics"]
