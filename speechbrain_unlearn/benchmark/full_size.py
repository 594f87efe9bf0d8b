"""``python -m speechbrain_unlearn.benchmark.full_size``: time and memory of the published model sizes.

For each task's ``train_full.yaml`` (ECAPA-TDNN 1024/80 Fbank/192 on 1,251
speakers; CRDNN on 35 words), builds the model, then measures on random
features of the training crop length:

1. ``--steps`` training steps (forward, backward, Adam step) of a batch of
   ``batch_size`` crops, after one warm-up step;
2. the same number of scoring batches (``eval_batch_size``, no gradients);
3. peak memory (:class:`~speechbrain_unlearn.cost.CostMeter`: the GPU's on
   CUDA, resident memory on CPU);

and extrapolates an epoch over the dataset's training utterances (VoxCeleb1
identification: 138,361; Speech Commands v0.02: 84,843) and a scoring pass
over all of its utterances, as seconds. The report names the device and the
thread count; numbers from a CPU are extrapolations of a few steps, labelled
as such. Features are computed on the fly in a real run (``cache_features:
false``), by ``num_workers`` loader processes beside the model.

Example
-------
>>> row = measure("SpeechCommands", steps=1, device="cpu", overrides={"cnn_channels": [4, 4], "rnn_neurons": 8,
...     "dnn_neurons": 8, "batch_size": 2, "eval_batch_size": 2})
>>> row["train_step_s"] > 0 and row["epoch_s"] > row["train_step_s"]
True
"""

import argparse
import os
import sys
import time

import torch

from speechbrain_unlearn.benchmark.common import ROOT, emit_report
from speechbrain_unlearn.config import load_hparams
from speechbrain_unlearn.cost import CostMeter

#: Training utterances, all utterances and classes of the published datasets.
DATASETS = {
    "VoxCeleb": {"train": 138_361, "all": 153_516, "classes": 1_251, "frames": 300},
    "SpeechCommands": {"train": 84_843, "all": 105_829, "classes": 35, "frames": 101},
}


def measure(task, steps=5, device="cpu", overrides=None):
    """Seconds per training step and scoring batch of ``task``'s full size, and their extrapolations."""
    hp = load_hparams(
        os.path.join(ROOT, "recipes", task, "hparams", "train_full.yaml"),
        os.path.join(ROOT, "hparams", "finetune.yaml"),
        {**(overrides or {}), "training_regime": "standard"},
    )
    size = DATASETS[task]
    frames = hp.get("train_crop_frames") or size["frames"]
    model = hp["model"](n_classes=size["classes"]).to(device)
    optimiser = hp["opt_class"](model.parameters())
    train_batch = torch.randn(hp["batch_size"], frames, hp["n_mels"], device=device)
    labels = torch.randint(size["classes"], (hp["batch_size"],), device=device)
    eval_batch = torch.randn(hp["eval_batch_size"], frames, hp["n_mels"], device=device)

    def step():
        optimiser.zero_grad()
        hp["loss"](model(train_batch, torch.ones(len(train_batch), device=device)), labels).mean().backward()
        optimiser.step()

    def timed(action):
        action()  # warm-up
        if device != "cpu":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            action()
        if device != "cpu":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / steps

    with CostMeter() as cost:
        model.train()
        train_step = timed(step)
        model.eval()
        with torch.no_grad():
            score = timed(lambda: model(eval_batch, torch.ones(len(eval_batch), device=device)))
    return {
        "task": task,
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch_size": hp["batch_size"],
        "frames": frames,
        "train_step_s": round(train_step, 4),
        "score_batch_s": round(score, 4),
        "epoch_s": round(train_step * size["train"] / hp["batch_size"], 1),
        "scoring_pass_s": round(score * size["all"] / hp["eval_batch_size"], 1),
        "peak_mem_mb": cost.result()["peak_mem_mb"],
    }


def main(argv=None):
    """Measure both tasks; print the report as JSON (and write it to ``--output``)."""
    p = argparse.ArgumentParser(prog="python -m speechbrain_unlearn.benchmark.full_size", description=__doc__)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--tasks", nargs="+", default=list(DATASETS))
    p.add_argument("--output", default=None)
    args = p.parse_args(argv)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    report = {
        "device": name,
        "extrapolated_from_steps": args.steps,
        "rows": [measure(task, args.steps, args.device) for task in args.tasks],
    }
    emit_report(report, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
