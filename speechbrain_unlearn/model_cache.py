"""The models every run of a task and split shares, trained once and cached.

The original (trained on the full training set), the reference (retrained
from scratch on the retain set, same seed, same label encoder), the
noise-floor reference (the same retain set, another seed) and the LiRA
shadow models are each stored under
``<cache_folder>/models/<task>/<name>-<key>/`` (``model.pt``, ``meta.json``),
with a key of exactly what the model depends on: the task hparams (text and
overrides, other than :data:`RUN_KEYS`), the SpeechBrain run options in
:data:`TRAINING_RUN_OPTS`, the training rows and, where it is not the run's,
the seed. A changed setting never reuses a stale model; training resumes
from per-epoch checkpoints.

With ``unlearning_aware: true`` the original's curvature statistics
(:mod:`speechbrain_unlearn.curvature.aware`) are stored beside it
(``curvature.pt``), computed once.
"""

import logging
import os
import shutil

import torch
from speechbrain.utils.distributed import if_main_process

from speechbrain_unlearn.brain import UtteranceBrain
from speechbrain_unlearn.checkpoints import AtomicCheckpointer
from speechbrain_unlearn.config import read_task_text, top_level_keys, without_keys
from speechbrain_unlearn.cost import CostMeter
from speechbrain_unlearn.curvature.aware import curvature_statistics, from_state, to_state
from speechbrain_unlearn.data.fingerprints import rows_key
from speechbrain_unlearn.io import digest, load_tensors, read_json, save_tensors, write_json

logger = logging.getLogger(__name__)

#: SpeechBrain run options that change what training produces.
TRAINING_RUN_OPTS = (
    "debug",
    "debug_batches",
    "debug_epochs",
    "max_grad_norm",
    "precision",
    "grad_accumulation_factor",
    "auto_mix_prec",
    "bfloat16_mix_prec",
)
#: Task keys that choose what to forget, where to write or how to evaluate, not how to train.
RUN_KEYS = {
    "output_folder",
    "cache_folder",
    "scenario",
    "forget_ratio",
    "forget_classes",
    "forget_speakers",
    "forget_list",
    "exclude_list",
    "num_forget_classes",
    "num_forget_speakers",
    "retrain_reference",
    "export_original",
    "pretrained_source",
    "data_folder",
    "relearn_steps",
    "relearn_lr",
    "lira_shadows",
    "noise_floor_reference",
    "noise_floor_seed_offset",
    "bootstrap_samples",
}


def training_config(task_hparams_file, overrides, run_opts):
    """What a trained model depends on besides its rows: the task hparams, their overrides, the run options."""
    task_text = read_task_text(task_hparams_file)
    task_keys = set(top_level_keys(task_text)) - RUN_KEYS
    return {
        "task_text": without_keys(task_text, RUN_KEYS),
        "overrides": {k: v for k, v in overrides.items() if k in task_keys},
        # SpeechBrain run options that change training (debug runs get their own entries)
        "run_opts": {k: run_opts[k] for k in TRAINING_RUN_OPTS if k in run_opts.overridden_args},
        # torch's CPU kernels sum in an order that depends on the thread count: another count, another model
        "threads": torch.get_num_threads(),
    }


def stage_cost(meta):
    """``{time_s, peak_mem_mb, grad_evals}`` of a trained stage from its metadata (``None`` if absent).

    Models cached before costs were recorded lack ``peak_mem_mb`` (``None``);
    their ``grad_evals`` is the training loop's ``epochs x utterances``.
    """
    if meta is None:
        return None
    return {
        "time_s": meta["time_s"],
        "peak_mem_mb": meta.get("peak_mem_mb"),
        "grad_evals": int(meta.get("grad_evals", meta["epochs"] * meta["utterances"])),
    }


class ModelCache:
    """Train, or load from the cache, the models a run shares with others (see the module docstring).

    Arguments
    ---------
    task : str
        The task (the cache's subfolder).
    config : dict
        :func:`training_config`; its digest is :attr:`training_key`.
    hp : dict
        The run's hparams.
    run_opts : dict
        SpeechBrain run options.
    sets : RunSets
        The run's sets: ``training_items(rows)``, ``valid`` and ``new_model(seed)``.
    """

    def __init__(self, task, config, hp, run_opts, sets, pretrained=None):
        self.task, self.config, self.hp, self.run_opts, self.sets = task, config, hp, run_opts, sets
        #: A :class:`~speechbrain_unlearn.pretrained.ModelFolder` that is the original (``pretrained_source``).
        self.pretrained = pretrained
        self.training_key = digest(config)

    def folder(self, name, rows, seed):
        """The cache folder of a model: its name and the key of what it depends on."""
        key_of = {**self.config, "rows": rows_key(rows)}  # the audio by content, not by path
        if seed != int(self.hp["seed"]):
            key_of["training_seed"] = seed
            name = f"{name}-seed{seed}"
        return os.path.join(self.hp["cache_folder"], "models", self.task, f"{name}-{digest(key_of)}")

    def trained(self, name, rows, seed=None):
        """The model trained from scratch on ``rows`` and its metadata, from the cache if it is there.

        ``seed`` (default: the run's) seeds the initialisation and the
        shuffles. ``model.pt`` is never written again once stored; the
        metadata's time is the training time, summed over interrupted and
        resumed attempts.
        """
        seed = int(self.hp["seed"] if seed is None else seed)
        folder = self.folder(name, rows, seed)
        model = self.sets.new_model(seed)
        model_path, meta_path = os.path.join(folder, "model.pt"), os.path.join(folder, "meta.json")
        if os.path.exists(model_path) and os.path.exists(meta_path):
            model.load_state_dict(load_tensors(model_path))
            logger.info("%s model loaded from the cache %s", name, folder)
            return model, {**read_json(meta_path), "cached": True, "folder": folder}
        meta = self.train(model, name, rows, seed, folder)
        if if_main_process():
            save_tensors(model_path, model.state_dict())
            write_json(meta_path, meta)
            shutil.rmtree(os.path.join(folder, "ckpt"), ignore_errors=True)
        return model, {**meta, "cached": False, "folder": folder}

    def train(self, model, name, rows, seed, folder):
        """Train ``model`` on ``rows`` with the task's recipe (resuming from ``folder/ckpt``); its metadata.

        The original of a run with ``pretrained_source`` is loaded from that
        folder instead: nothing is trained.
        """
        hp = {**self.hp, "seed": seed}
        if name == "original" and self.pretrained is not None:
            self.pretrained.load_original(model, self.sets.encoder)
            brain = UtteranceBrain(modules={"model": model}, hparams=hp, run_opts=self.run_opts)
            valid_acc = float(brain.score(self.sets.valid, hp["eval_batch_size"])["correct"].mean())
            logger.info("original model loaded from %s: valid accuracy %.4f", self.pretrained.folder, valid_acc)
            return {
                "time_s": 0.0,
                "epochs": 0,
                "utterances": len(rows),
                "valid_acc": round(valid_acc, 4),
                "resumed": False,
                "peak_mem_mb": None,
                "grad_evals": 0,
                "pretrained_source": os.path.abspath(self.pretrained.folder),
            }
        brain = UtteranceBrain(
            modules={"model": model},
            opt_class=hp["opt_class"],
            hparams=hp,
            run_opts=self.run_opts,
            checkpointer=AtomicCheckpointer(os.path.join(folder, "ckpt"), {"model": model}),
        )
        logger.info("training the %s model on %d utterances (%s)", name, len(rows), folder)
        torch.manual_seed(seed)
        with CostMeter() as cost:
            items, log_file = self.sets.training_items(rows), os.path.join(folder, "train_log.txt")
            elapsed = brain.train_epochs(items, hp["number_of_epochs"], hp["batch_size"], name=name, log_file=log_file)
        valid_acc = float(brain.score(self.sets.valid, hp["eval_batch_size"])["correct"].mean())
        logger.info("%s model: %.1f s, valid accuracy %.4f", name, elapsed, valid_acc)
        return {
            "time_s": round(elapsed, 3),
            "epochs": int(hp["number_of_epochs"]),
            "utterances": len(rows),
            "valid_acc": round(valid_acc, 4),
            "resumed": brain.resumed,
            "peak_mem_mb": cost.result()["peak_mem_mb"],
            "grad_evals": cost.result()["grad_evals"],
        }

    def statistics(self, model, meta, rows):
        """The original's stored curvature statistics (computed once if missing), or ``None``.

        Only with ``unlearning_aware: true``. When they are first computed,
        ``meta.json`` gains their time (``curvature_time_s``); the model
        file is left as it is.
        """
        hp = self.hp
        if not hp.get("unlearning_aware"):
            return None
        path = os.path.join(meta["folder"], "curvature.pt")
        if os.path.exists(path):
            return from_state(load_tensors(path), model)
        logger.info("storing the original's curvature statistics in %s", path)
        items = self.sets.training_items(rows)
        crop, batch_size = hp["curvature_crop_frames"], hp["eval_batch_size"]
        stats = curvature_statistics(model, items, hp["loss"], hp["seed"], crop, batch_size)
        meta["curvature_time_s"] = round(stats["time_s"], 3)
        if if_main_process():
            save_tensors(path, to_state(stats))
            write_json(
                os.path.join(meta["folder"], "meta.json"),
                {k: v for k, v in meta.items() if k not in ("cached", "folder")},
            )
        return stats
