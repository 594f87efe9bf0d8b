"""The stage driver both recipes call.

::

    prepare -> split -> original -> reference -> unlearn -> evaluate -> report

* **prepare**: manifests from ``data_folder`` (real dataset), or from the
  embedded corpus synthesised into ``cache_folder`` when it is unset;
* **split**: forget/retain (and, for ``class``, retained/forgotten test) sets,
  validated before anything is written to ``output_folder``;
* **original** and **reference**: the model trained on the full training set
  and the one retrained from scratch on the retain set (same seed, same label
  encoder), each cached under a key of exactly what it depends on (task
  hparams, training manifest, seed), resumable from per-epoch checkpoints;
* **unlearn**: the method's ``Unlearner`` applied to a copy of the original;
* **evaluate**: every hook of :mod:`speechbrain_unlearn.evaluation.suite`
  (accuracies, membership attacks with shadow models, distances and gaps to
  the reference and their noise floor, speaker verification) and the
  relearning attacks of :mod:`speechbrain_unlearn.evaluation.relearn`, with
  the cost of each stage (:mod:`speechbrain_unlearn.evaluation.cost`);
* **report**: ``unlearn_results.json``/``.md``, the manifests used, a record
  of what was removed, and the unlearned model.

Any :class:`~speechbrain_unlearn.errors.UnlearnError` is printed by
:func:`main` as one ``error:`` line with exit status 2.
"""

import hashlib
import logging
import os
import shutil
import sys
import time

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process, run_on_main

from speechbrain_unlearn.aware import curvature_statistics, from_state, to_state
from speechbrain_unlearn.brain import UtteranceBrain
from speechbrain_unlearn.config import load_hparams, top_level_keys, without_keys
from speechbrain_unlearn.data.dataio import FeatureStore, label_encoder, make_dataset
from speechbrain_unlearn.data.manifest import COLUMNS, summarise
from speechbrain_unlearn.data.speech_commands import is_speech_commands
from speechbrain_unlearn.data.splits import make_split
from speechbrain_unlearn.data.voxceleb import is_voxceleb
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.evaluation.cost import CostMeter
from speechbrain_unlearn.evaluation.membership import shadow_halves
from speechbrain_unlearn.evaluation.memo import Memo, state_hash
from speechbrain_unlearn.evaluation.metrics import gaps
from speechbrain_unlearn.evaluation.relearn import attack_report, kshot_halves
from speechbrain_unlearn.evaluation.report import write_report
from speechbrain_unlearn.evaluation.suite import evaluate_models
from speechbrain_unlearn.io import digest, load_tensors, read_json, save_tensors, write_csv, write_json, write_text

logger = logging.getLogger(__name__)

#: The layout each task reads, and how to recognise it.
LAYOUTS = {
    "SpeechCommands": ("Speech Commands v0.02 (validation_list.txt, testing_list.txt)", is_speech_commands),
    "VoxCeleb": ("VoxCeleb1 (iden_split.txt, wav/)", is_voxceleb),
}
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
    "num_forget_classes",
    "num_forget_speakers",
    "retrain_reference",
    "data_folder",
    "relearn_steps",
    "relearn_lr",
    "lira_shadows",
    "noise_floor_reference",
    "noise_floor_seed_offset",
    "bootstrap_samples",
}


def main(task, task_hparams_file, argv=None):
    """Run a recipe; print a user error as one line and exit with status 2."""
    try:
        return run(task, task_hparams_file, sys.argv[1:] if argv is None else argv)
    except UnlearnError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def run(task, task_hparams_file, argv):
    """Run every stage for ``task`` with the method hparams named in ``argv``.

    Arguments
    ---------
    task : str
        ``SpeechCommands`` or ``VoxCeleb``.
    task_hparams_file : str
        The task's hparams (data, model, training, scenario).
    argv : list of str
        ``[method.yaml, --key=value, ...]`` plus SpeechBrain run options.

    Returns
    -------
    dict
        The results written to ``unlearn_results.json``.
    """
    method_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    hp = load_hparams(task_hparams_file, method_file, overrides)
    unlearner_class = hp.get("unlearner")
    if unlearner_class is None:
        raise UnlearnError(f"{method_file} names no `unlearner` class; see hparams/finetune.yaml")
    unlearner_class.check_scenario(hp["scenario"])
    unlearner_class.check_hparams(hp)
    shadows = hp["lira_shadows"]
    if not isinstance(shadows, int) or shadows < 0 or shadows % 2:
        raise UnlearnError(f"lira_shadows must be an even number >= 0 (pairs of halves), got {shadows!r}")

    # Everything that can reject the input runs before anything is written.
    data = prepare_data(task, hp)
    split = make_split(
        data["train"],
        hp["scenario"],
        hp["seed"],
        forget_ratio=hp["forget_ratio"],
        forget_classes=hp["forget_classes"],
        forget_speakers=hp["forget_speakers"],
        forget_list=hp["forget_list"],
        num_forget_classes=hp["num_forget_classes"],
        num_forget_speakers=hp["num_forget_speakers"],
    )
    unlearner_class.check_split(split.forget_classes)
    sets = evaluation_sets(data, split)
    encoder = label_encoder(r["label"] for r in data["train"])
    store = run_on_main_and_get(
        lambda: FeatureStore(
            data["train"] + data["valid"] + data["test"],
            hp["compute_features"],
            os.path.join(hp["cache_folder"], "features") if hp["cache_features"] else None,
        )
    )
    train_items = lambda rows: make_dataset(rows, encoder, store, hp["train_crop_frames"])  # noqa: E731
    forget_items, retain_items = train_items(split.forget), train_items(split.retain)
    eval_sets = {name: make_dataset(rows, encoder, store) for name, rows in sets.items()}
    valid_items = make_dataset(data["valid"], encoder, store)

    out = hp["output_folder"]
    run_on_main(write_run_files, args=[out, hp, data, split, sets])
    sb.create_experiment_directory(experiment_directory=out, save_env_desc=False)

    def initial_model(seed=None):
        torch.manual_seed(hp["seed"] if seed is None else seed)
        return hp["model"](n_classes=len(encoder))

    hp["initial_model"] = initial_model
    hp["forget_removes_classes"] = bool(split.forget_classes)
    stage = Stages(task, task_hparams_file, hp, run_opts, train_items, valid_items)
    hp["training_key"] = digest(stage.config)
    original, original_meta = stage.trained("original", data["train"])
    # Unlearning-aware training stores curvature statistics beside the original.
    hp["original_curvature"] = stage.curvature(original, original_meta)
    reference = reference_meta = noise_reference = noise_meta = None
    if hp["retrain_reference"]:
        reference, reference_meta = stage.trained("reference", split.retain)
        if hp["noise_floor_reference"]:
            # the noise floor: the same retain set, another training seed
            noise_seed = int(hp["seed"]) + int(hp["noise_floor_seed_offset"])
            noise_reference, noise_meta = stage.trained("reference", split.retain, seed=noise_seed)
    shadows, shadow_metas = [], []
    for j, mask in enumerate(shadow_halves(len(data["train"]), int(hp["lira_shadows"]), hp["seed"])):
        rows = [r for r, keep in zip(data["train"], mask) if keep]
        shadow, meta = stage.trained(f"shadow{j}", rows)
        shadows.append((shadow, {r["ID"] for r in rows}))
        shadow_metas.append(meta)

    model = initial_model()
    model.load_state_dict(original.state_dict())
    # The checkpoint folder is tied to everything the unlearning depends on,
    # so a rerun with other settings never resumes a stale state.
    ids_key = digest(sorted(r["ID"] for r in split.forget))
    ckpt_dir = os.path.join(out, "save", f"unlearn-{digest([hp['hparams_text'], hp['overrides'], ids_key])}")
    unlearner = unlearner_class(
        modules={"model": model},
        opt_class=hp.get(unlearner_class.opt_key),
        hparams=hp,
        run_opts=run_opts,
        checkpointer=sb.utils.checkpoints.Checkpointer(ckpt_dir, {"model": model}),
    )
    logger.info(
        "unlearning with %s on %d forget / %d retain utterances", hp["method"], len(split.forget), len(split.retain)
    )
    with CostMeter() as unlearn_cost:
        diagnostics, method_status = unlearner.run(forget_items, retain_items)
    unlearn_time = unlearn_cost.end - unlearn_cost.start - unlearner.training_time_s
    model = unlearner.modules.model  # a method may replace it (SISA: the shard ensemble)
    diagnostics.setdefault("resumed", bool(getattr(unlearner, "resumed", False)))
    if if_main_process():
        save_tensors(os.path.join(out, "unlearned_model.pt"), model.state_dict())
        shutil.rmtree(ckpt_dir, ignore_errors=True)

    has_forgotten_classes = bool(split.forget_classes)
    # The shared models' scores and attacks, reused by every run of the same cache.
    memo = Memo(os.path.join(hp["cache_folder"], "evaluations", task) if hp.get("cache_folder") else None)
    models = {
        name: m for name, m in (("original", original), ("unlearned", model), ("retrained", reference)) if m is not None
    }
    context = {
        "forgotten": has_forgotten_classes,
        "class_names": {i: encoder.ind2lab[i] for i in range(len(encoder))},
        "forgotten_labels": [encoder.lab2ind[c] for c in split.forget_classes or []],
        "trials": data.get("trials") or [],
        "shadows": shadows,
        "noise_reference": noise_reference,
        "memo": memo,
    }
    with CostMeter() as evaluate_cost:
        evaluation = evaluate_models(models, eval_sets, sets, hp, run_opts, context)
    metrics = evaluation.pop("metrics")
    results = {
        "task": task,
        "method": hp["method"],
        "scenario": split.scenario,
        "seed": int(hp["seed"]),
        "sizes": {
            "train": len(data["train"]),
            "forget": len(split.forget),
            "retain": len(split.retain),
            "test": len(sets["test"]),
        },
        "metrics": metrics,
        "gap_to_retrain": gaps(metrics["unlearned"], metrics["retrained"]) if reference is not None else None,
        **evaluation,
        "gap_original_to_retrain": gaps(metrics["original"], metrics["retrained"]) if reference is not None else None,
        "time_s": {
            "train": original_meta["time_s"],
            "curvature_statistics": original_meta.get("curvature_time_s"),
            "retrain": reference_meta["time_s"] if reference_meta else None,
            "unlearn": round(unlearn_time, 3),
        },
        "speedup_vs_retrain": round(reference_meta["time_s"] / max(unlearn_time, 1e-9), 3) if reference_meta else None,
        "forget_classes": split.forget_classes,
        "forget_speakers": split.forget_speakers,
        "cached": {"original": original_meta["cached"], "reference": bool(reference_meta and reference_meta["cached"])},
        "method_status": method_status,
        "method_diagnostics": diagnostics,
        "data": data["source"],
    }
    if unlearner.training_time_s:
        results["time_s"]["method_training"] = round(unlearner.training_time_s, 3)
    results["cost"] = {
        "train": stage_cost(original_meta),
        "retrain": stage_cost(reference_meta),
        "noise_floor_reference": stage_cost(noise_meta),
        "shadows": sum_costs([stage_cost(m) for m in shadow_metas]),
        "unlearn": unlearn_cost.result(time_s=unlearn_time),
        "evaluate": evaluate_cost.result(),
    }
    if unlearner_class.results_key:
        overhead = results["time_s"]["curvature_statistics"]
        diagnostics["training_overhead"] = round(overhead / original_meta["time_s"], 4) if overhead else None
        results[unlearner_class.results_key] = diagnostics
    if int(hp.get("relearn_steps") or 0) > 0 and reference is not None:
        with CostMeter() as relearn_cost:
            results["relearn"] = relearn_attacks(
                models, split, train_items, retain_items, eval_sets, encoder, store, hp, run_opts, memo
            )
        results["cost"]["relearn"] = relearn_cost.result()
    # scores, embeddings and attacks of the shared models: loaded from the cache or computed (and stored)
    results["cached"]["evaluations"] = {"reused": memo.hits, "computed": memo.misses}
    if if_main_process():
        table = write_report(out, results)
        write_json(os.path.join(out, "forget_record.json"), forget_record(split, results, original, model))
        print(table)
    return results


def relearn_attacks(models, split, train_items, retain_items, eval_sets, encoder, store, hp, run_opts, memo=None):
    """The benign and k-shot relearning attacks on every model (:mod:`speechbrain_unlearn.evaluation.relearn`)."""
    steps, lr = int(hp["relearn_steps"]), float(hp["relearn_lr"])
    benign_sets = {k: eval_sets[k] for k in ("forget", "forget_test") if k in eval_sets}
    report = {"benign": attack_report(models, retain_items, benign_sets, hp, run_opts, steps, lr, memo=memo)}
    shown, held_out = kshot_halves([r["ID"] for r in split.forget], hp["seed"])
    if len(shown) < 2 or not held_out:
        report["kshot"] = {"skipped": f"{len(split.forget)} forget utterances: too few to show two and hold one out"}
    else:
        kshot_sets = {"forget_held_out": make_dataset([split.forget[i] for i in held_out], encoder, store)}
        shown_items = train_items([split.forget[i] for i in shown])
        report["kshot"] = attack_report(models, shown_items, kshot_sets, hp, run_opts, steps, lr, True, memo)
        report["kshot"]["shown"], report["kshot"]["held_out"] = len(shown), len(held_out)
    return report


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


def sum_costs(costs):
    """The total time and gradient evaluations and the largest peak memory of several stages."""
    if not costs:
        return None
    peaks = [c["peak_mem_mb"] for c in costs if c["peak_mem_mb"] is not None]
    return {
        "time_s": round(sum(c["time_s"] for c in costs), 3),
        "peak_mem_mb": max(peaks) if peaks else None,
        "grad_evals": sum(c["grad_evals"] for c in costs),
        "models": len(costs),
    }


def run_on_main_and_get(build):
    """Build on the main process first (filling caches), then on the others."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        run_on_main(build)
    return build()


def prepare_data(task, hp):
    """Manifests of the real dataset at ``data_folder`` or of the embedded corpus."""
    layout, recognise = LAYOUTS[task]
    folder = hp["data_folder"]
    if not folder:
        start = time.time()
        corpora = os.path.abspath(os.path.join(hp["cache_folder"], "corpora"))
        root = run_on_main_and_get(lambda: hp["embedded_corpus"](corpora))
        print(f"data_folder is unset: using the embedded corpus {root} ({time.time() - start:.1f} s)")
        source = {"folder": root, "embedded": True}
    else:
        if not os.path.isdir(folder):
            raise UnlearnError(f"data_folder {folder} does not exist; point it at a {layout} folder or leave it empty")
        if not recognise(folder):
            other = [t for t, (_, rec) in LAYOUTS.items() if t != task and rec(folder)]
            hint = (
                f"it is a {other[0]} folder: use recipes/{other[0]}/unlearn.py" if other else "it is in no known layout"
            )
            raise UnlearnError(f"data_folder {folder} is not in the {layout} layout; {hint}")
        root = os.path.abspath(folder)
        source = {"folder": root, "embedded": False}
    data = hp["prepare"](root)
    data["source"] = {**source, **{s: summarise(data[s]) for s in ("train", "valid", "test")}}
    return data


def evaluation_sets(data, split):
    """The sets every model is scored on (test = test utterances of retained classes).

    When the forget set removes whole classes (``class``, or ``speaker`` on
    VoxCeleb), their test utterances form ``forget_test``.
    """
    sets = {"retain": split.retain, "forget": split.forget}
    if split.forget_classes:
        sets["test"] = [r for r in data["test"] if r["label"] not in split.forget_classes]
        sets["forget_test"] = [r for r in data["test"] if r["label"] in split.forget_classes]
    else:
        sets["test"] = data["test"]
    return sets


def write_run_files(out, hp, data, split, sets):
    """The manifests and merged hparams of this run, in ``out``."""
    os.makedirs(out, exist_ok=True)
    for name, rows in (
        ("train", data["train"]),
        ("valid", data["valid"]),
        ("forget", split.forget),
        ("retain", split.retain),
    ):
        write_csv(os.path.join(out, f"{name}.csv"), rows, COLUMNS)
    if split.forget_classes:
        write_csv(os.path.join(out, "test_retained.csv"), sets["test"], COLUMNS)
        write_csv(os.path.join(out, "test_forgotten.csv"), sets["forget_test"], COLUMNS)
    write_csv(os.path.join(out, "test.csv"), data["test"], COLUMNS)
    overrides = f"\n# command-line overrides: {hp['overrides']}\n"
    write_text(os.path.join(out, "hyperparams.yaml"), hp["hparams_text"] + overrides)


def forget_record(split, results, original, unlearned):
    """What was removed, how, and from which model: IDs, hashes, method."""
    ids = sorted(r["ID"] for r in split.forget)
    return {
        "scenario": split.scenario,
        "method": results["method"],
        "seed": results["seed"],
        "forget_ids": ids,
        "forget_ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        "forget_classes": split.forget_classes,
        "forget_speakers": split.forget_speakers,
        "original_model_sha256": state_hash(original),
        "unlearned_model_sha256": state_hash(unlearned),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


class Stages:
    """Training of the cached original and reference models."""

    def __init__(self, task, task_hparams_file, hp, run_opts, train_items, valid_set):
        self.task, self.hp, self.run_opts = task, hp, run_opts
        self.train_items, self.valid_set = train_items, valid_set
        self.rows = {}
        with open(task_hparams_file, encoding="utf-8") as fh:
            task_text = fh.read()
        task_keys = set(top_level_keys(task_text)) - RUN_KEYS
        self.config = {
            "task_text": without_keys(task_text, RUN_KEYS),
            "overrides": {k: v for k, v in hp["overrides"].items() if k in task_keys},
            # SpeechBrain run options that change training (debug runs get their own entries)
            "run_opts": {k: run_opts[k] for k in TRAINING_RUN_OPTS if k in run_opts.overridden_args},
        }

    def curvature(self, model, meta):
        """The original's stored curvature statistics (computed once if missing), or ``None``.

        Only with ``unlearning_aware: true``; see :mod:`speechbrain_unlearn.aware`.
        """
        hp = self.hp
        if not hp.get("unlearning_aware"):
            return None
        path = os.path.join(meta["folder"], "curvature.pt")
        if os.path.exists(path):
            return from_state(load_tensors(path), model)
        logger.info("storing the original's curvature statistics in %s", path)
        stats = curvature_statistics(
            model,
            self.train_items(self.rows["original"]),
            hp["loss"],
            hp["seed"],
            hp["curvature_crop_frames"],
            hp["eval_batch_size"],
        )
        meta["curvature_time_s"] = round(stats["time_s"], 3)
        if if_main_process():
            save_tensors(path, to_state(stats))
            write_json(
                os.path.join(meta["folder"], "meta.json"),
                {k: v for k, v in meta.items() if k not in ("cached", "folder")},
            )
        return stats

    def trained(self, name, rows, seed=None):
        """The model trained from scratch on ``rows``, from the cache if it is there.

        ``seed`` (default: the run's) seeds the initialisation and the
        shuffles; a seed other than the run's is part of the cache key and of
        the folder name (the noise-floor reference).

        The cache key covers the task hparams (text and overrides other than
        :data:`RUN_KEYS`), the run options in :data:`TRAINING_RUN_OPTS` and the
        training rows, so a changed setting never reuses a stale model; the
        cached files are never written again. The time in the metadata is the
        training time, summed over interrupted and resumed attempts.
        """
        hp = self.hp
        if seed is not None and int(seed) != int(hp["seed"]):
            hp = {**hp, "seed": int(seed)}
            name = f"{name}-seed{int(seed)}"
        self.rows[name] = rows
        key_of = {**self.config, "rows": [[r["ID"], r["label"], r["wav"], r["start"], r["stop"]] for r in rows]}
        if hp is not self.hp:
            key_of["training_seed"] = hp["seed"]
        key = digest(key_of)
        folder = os.path.join(hp["cache_folder"], "models", self.task, f"{name}-{key}")
        model = hp["initial_model"](hp["seed"])
        model_path, meta_path = os.path.join(folder, "model.pt"), os.path.join(folder, "meta.json")
        if os.path.exists(model_path) and os.path.exists(meta_path):
            model.load_state_dict(load_tensors(model_path))
            logger.info("%s model loaded from the cache %s", name, folder)
            return model, {**read_json(meta_path), "cached": True, "folder": folder}
        ckpt_dir = os.path.join(folder, "ckpt")
        brain = UtteranceBrain(
            modules={"model": model},
            opt_class=hp["opt_class"],
            hparams=hp,
            run_opts=self.run_opts,
            checkpointer=sb.utils.checkpoints.Checkpointer(ckpt_dir, {"model": model}),
        )
        logger.info("training the %s model on %d utterances (%s)", name, len(rows), folder)
        torch.manual_seed(hp["seed"])
        with CostMeter() as cost:
            elapsed = brain.train_epochs(self.train_items(rows), hp["number_of_epochs"], hp["batch_size"])
        valid_acc = float(brain.score(self.valid_set, hp["eval_batch_size"])["correct"].mean())
        meta = {
            "time_s": round(elapsed, 3),
            "epochs": int(hp["number_of_epochs"]),
            "utterances": len(rows),
            "valid_acc": round(valid_acc, 4),
            "resumed": brain.resumed,
            "peak_mem_mb": cost.result()["peak_mem_mb"],
            "grad_evals": cost.result()["grad_evals"],
        }
        logger.info("%s model: %.1f s, valid accuracy %.4f", name, elapsed, valid_acc)
        if if_main_process():
            save_tensors(model_path, model.state_dict())
            write_json(meta_path, meta)
            shutil.rmtree(ckpt_dir, ignore_errors=True)
        return model, {**meta, "cached": False, "folder": folder}
