"""Shared fixtures: tiny embedded corpora, synthesised once per test session."""

import os
import subprocess
import sys

import pytest

from speechbrain_unlearn.data.synth import synthesise_speech_commands, synthesise_voxceleb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_SC = dict(words=["yes", "no", "up"], n_speakers=10, repetitions=2)
TINY_VC = dict(n_speakers=4, n_videos=4, utterances_per_video=2)


@pytest.fixture(scope="session")
def corpus_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("corpora"))


@pytest.fixture(scope="session")
def tiny_sc(corpus_cache):
    return synthesise_speech_commands(corpus_cache, **TINY_SC)


@pytest.fixture(scope="session")
def tiny_vc(corpus_cache):
    return synthesise_voxceleb(corpus_cache, **TINY_VC)


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
