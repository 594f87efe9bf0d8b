"""The recipe rows of ``tests/recipes/*.csv``, run as SpeechBrain's recipe tests run them.

The rows are in the format of SpeechBrain's own ``tests/recipes/<Dataset>.csv``
(``Script_file``, ``Hparam_file``, ``test_debug_flags``,
``test_debug_checks``...), so they can be contributed upstream as they are.
Each runs with SpeechBrain's debug flags (``--debug``: two batches an
epoch, one epoch) on the tiny embedded corpora, and its ``file_exists``
checks must hold in the output folder. A row with
``--task_hparams=.../train_full.yaml`` trains the published model size for
its debug epoch.
"""

import csv
import glob
import os
import subprocess
import sys

import pytest
import torch

from tests.support import ROOT

DEBUG_FLAGS = ["--debug", "--debug_batches=2", "--debug_epochs=1", "--device=cpu"]


def rows():
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "recipes", "*.csv"))):
        with open(path, newline="", encoding="utf-8") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                yield pytest.param(row, id=f"{os.path.basename(path)[:-4]}-{i}")


def expected_files(checks):
    """The files of a ``file_exists=[a,b]`` check."""
    assert checks.startswith("file_exists=[") and checks.endswith("]"), checks
    return [name.strip() for name in checks[len("file_exists=[") : -1].split(",") if name.strip()]


@pytest.mark.parametrize("row", rows())
def test_recipe_row_runs_in_debug_mode(row, tmp_path, cache):
    for key in ("Script_file", "Hparam_file", "Data_prep_file", "Readme_file"):
        assert os.path.exists(os.path.join(ROOT, row[key])), row[key]
    out = tmp_path / "out"
    command = [
        sys.executable,
        row["Script_file"],
        row["Hparam_file"],
        *row["test_debug_flags"].split(),
        *DEBUG_FLAGS,
        f"--output_folder={out}",
        f"--cache_folder={cache}",
    ]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    missing = [name for name in expected_files(row["test_debug_checks"]) if not (out / name).exists()]
    assert not missing, missing
    weights = torch.load(out / "unlearned_model" / "embedding_model.ckpt", map_location="cpu", weights_only=True)
    size = sum(t.numel() for t in weights.values())
    full = "train_full.yaml" in row["test_debug_flags"]
    assert (size > 1_000_000) == full, f"{size} parameters in the exported body"
