"""The stage driver both recipes call.

::

    configure -> prepare -> split -> sets -> shared models -> unlearn -> evaluate -> relearn -> report

* **configure**: the task and method hparams, SpeechBrain's run options, and
  every check that can refuse them;
* **prepare**: manifests from ``data_folder`` (real dataset), or from the
  embedded corpus synthesised into ``cache_folder`` when it is unset;
* **split**: forget/retain (and, when whole classes go, retained/forgotten
  test) sets, validated before anything is written to ``output_folder``;
* **sets**: the run's :class:`RunSets` (utterance sets, features, label encoder);
* **shared models**: original, reference, noise-floor reference, shadows and
  the original's stored statistics, from the :mod:`~speechbrain_unlearn.model_cache`;
* **unlearn**: the method's ``Unlearner`` applied to a copy of the original
  for a :class:`~speechbrain_unlearn.request.DeletionRequest`;
* **evaluate** and **relearn**: every hook of
  :mod:`speechbrain_unlearn.evaluation.suite` and the relearning attacks of
  :mod:`speechbrain_unlearn.evaluation.relearn`, with the cost of each stage;
* **report**: ``unlearn_results.json``/``.md``, the manifests used, a record
  of what was removed, and the unlearned model.

Each stage returns the results keys it computes; the driver only merges
them. Any :class:`~speechbrain_unlearn.errors.UnlearnError` is printed by
:func:`main` as one ``error:`` line with exit status 2.
"""

import dataclasses
import errno
import glob
import logging
import os
import shutil
import sys
import time
from typing import Callable

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process, run_on_main

from speechbrain_unlearn import progress
from speechbrain_unlearn.aware import check_regime
from speechbrain_unlearn.checkpoints import AtomicCheckpointer
from speechbrain_unlearn.checks import check_device, check_forget_ratio, check_seed, check_writable
from speechbrain_unlearn.config import load_hparams
from speechbrain_unlearn.cost import CostMeter, sum_costs
from speechbrain_unlearn.data import fingerprints
from speechbrain_unlearn.data.dataio import Fbank, FeatureStore, module_settings
from speechbrain_unlearn.data.manifest import COLUMNS, report_conversions, summarise
from speechbrain_unlearn.data.splits import make_split, read_id_list
from speechbrain_unlearn.data.utterances import UtteranceSet, label_encoder
from speechbrain_unlearn.deletable.perturbation import noise_scale
from speechbrain_unlearn.deletable.state import DeletableState
from speechbrain_unlearn.deletion_ready import Core, DeletionReadyCache
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.evaluation.membership import shadow_halves
from speechbrain_unlearn.evaluation.memo import Memo
from speechbrain_unlearn.evaluation.metrics import gaps
from speechbrain_unlearn.evaluation.relearn import attack_report, kshot_halves
from speechbrain_unlearn.evaluation.report import write_report
from speechbrain_unlearn.evaluation.suite import evaluate_models
from speechbrain_unlearn.export import export_model, replace_folder
from speechbrain_unlearn.io import (
    copy_file,
    digest,
    load_tensors,
    read_json,
    save_tensors,
    write_csv,
    write_json,
    write_text,
)
from speechbrain_unlearn.model_cache import ModelCache, stage_cost, training_config
from speechbrain_unlearn.pretrained import ModelFolder
from speechbrain_unlearn.receipt import RECEIPT, file_hashes, forget_section, write_receipt
from speechbrain_unlearn.request import DeletionRequest
from speechbrain_unlearn.tasks import task_named

logger = logging.getLogger(__name__)


def main(task, task_hparams_file, argv=None):
    """Run a recipe; print a user error as one line and exit with status 2.

    ``--task_hparams=<file>`` in ``argv`` replaces the recipe's task hparams
    (e.g. ``hparams/train_full.yaml``, the published model size);
    ``--no-progress`` turns the progress bars off.
    """
    argv, quiet = progress.without_progress_flags(sys.argv[1:] if argv is None else argv)
    progress.configure(False if quiet or "--noprogressbar" in argv else None)
    try:
        task_hparams_file, argv = task_hparams_option(argv, task_hparams_file)
        return run(task, task_hparams_file, argv)
    except UnlearnError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        if err.errno not in WRITE_FAILURES:
            raise
        print(f"error: {write_failure(err)}", file=sys.stderr)
        sys.exit(1)


#: The errors of a write the machine refused: a full disk or quota, a read-only or forbidden folder.
WRITE_FAILURES = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def write_failure(err):
    """The one line of a refused write: what and why, and that a rerun resumes.

    Example
    -------
    >>> write_failure(OSError(errno.ENOSPC, "No space left on device", "/out/model.pt")).split(";")[0]
    'cannot write /out/model.pt: No space left on device'
    """
    what = f"cannot write {err.filename}" if err.filename else "a write failed"
    return (
        f"{what}: {err.strerror}; free space or fix the folder, then rerun the same command: "
        "every file written is whole and the finished stages are kept"
    )


def task_hparams_option(argv, default):
    """``--task_hparams`` taken out of ``argv``: the task hparams file and the other arguments.

    Example
    -------
    >>> task_hparams_option(["m.yaml", "--task_hparams=full.yaml", "--seed=2"], "train.yaml")
    ('full.yaml', ['m.yaml', '--seed=2'])
    >>> task_hparams_option(["m.yaml", "--task_hparams", "full.yaml"], "train.yaml")
    ('full.yaml', ['m.yaml'])
    """
    rest, chosen, argv = [], default, list(argv)
    while argv:
        arg = argv.pop(0)
        if arg == "--task_hparams":
            if not argv:
                raise UnlearnError(
                    "--task_hparams needs a file, e.g. --task_hparams=recipes/VoxCeleb/hparams/train_full.yaml"
                )
            chosen = argv.pop(0)
        elif arg.startswith("--task_hparams="):
            chosen = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return chosen, rest


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
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    progress.console()
    hp, run_opts, unlearner_class, pretrained = configure(argv, task_hparams_file)
    if hp.get("cache_folder"):
        fingerprints.remember_in(hp["cache_folder"])
    # Everything that can reject the input runs before anything is written.
    data = prepare_data(task, hp)
    report_conversions(logger)  # wavs that are not 16 kHz mono, said before they are used
    split = split_data(data, hp, unlearner_class)
    sets = RunSets.build(data, split, hp)
    if pretrained is not None and hp["training_regime"] == "standard":
        pretrained.check_labels(sets.encoder)
    config = training_config(task_hparams_file, hp["overrides"], run_opts)
    if pretrained is not None:  # keyed by the folder's content, not its path
        config["pretrained_source"] = pretrained.content_key()
    cache = shared_cache(task, config, hp, run_opts, sets, data, pretrained)
    run_on_main(write_run_files, args=[hp["output_folder"], hp, data, split, sets])
    sb.create_experiment_directory(hp["output_folder"], log_config=progress.LOG_CONFIG, save_env_desc=False)

    shared = SharedModels.train_or_load(cache, data["train"], split, hp)
    fingerprints.save()  # the audio hashes the cache keys took, for the next run
    model, state, results, costs = unlearn(
        unlearner_class, sets.request(shared, cache.training_key), shared, hp, run_opts
    )
    # the shared models' scores and attacks, reused by every run of the same cache
    folder = os.path.join(hp["cache_folder"], "evaluations", task) if hp.get("cache_folder") else None
    memo = Memo(folder, cache.training_key)
    models = shared.compared_with(model)
    evaluation, costs["evaluate"] = evaluate(models, shared, sets, data, hp, run_opts, memo)
    attacks, relearn_cost = relearn(models, sets, hp, run_opts, memo)
    results = {
        **describe(task, data, split, sets, hp),
        **evaluation,
        **results,
        **attacks,
        "cost": {**shared.costs(), **costs, **relearn_cost},
        "cached": {**shared.cached(), "evaluations": {"reused": memo.hits, "computed": memo.misses}},
    }
    if if_main_process():
        out = hp["output_folder"]
        stage = os.path.join(out, "save", "outputs")  # everything is written here first, then renamed into place
        shutil.rmtree(stage, ignore_errors=True)
        table = write_report(stage, results)
        models = {"unlearned": (model, state), "original": (shared.original, shared.statistics)}
        exported = export_models(models, sets.encoder, task, hp, stage)
        link_or_copy(os.path.join(unlearn_folder(hp, sets.forget.ids), WEIGHTS), os.path.join(stage, WEIGHTS))
        for name, path in shared.train_logs().items():  # as a SpeechBrain recipe's train_log.txt
            copy_file(path, os.path.join(stage, "train_logs", f"{name}.txt"))
        write_run_receipt(split, results, shared.original_meta, exported, hp, started, stage)
        publish(stage, out)
        shutil.rmtree(os.path.join(out, "save"), ignore_errors=True)  # the run is done
        print(table)
        print(f"results, model folder and receipt written to {hp['output_folder']}")
    return results


def configure(argv, task_hparams_file):
    """The merged hparams, the run options and the method's class, refused in one line where they cannot work."""
    method_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    hp = load_hparams(task_hparams_file, method_file, overrides)
    check_seed(hp["seed"])
    check_device(run_opts["device"])
    if hp["scenario"] == "sample":
        check_forget_ratio(hp["forget_ratio"])
    for key in ("output_folder", "cache_folder"):
        if hp.get(key):
            check_writable(hp[key], key)
    unlearner_class = hp.get("unlearner")
    if unlearner_class is None:
        raise UnlearnError(f"{method_file} names no `unlearner` class; see hparams/finetune.yaml")
    pretrained, regime = None, check_regime(hp["training_regime"])
    if hp["pretrained_source"]:
        pretrained = ModelFolder.read(hp["pretrained_source"])
        pretrained.check_task(hp["n_mels"], regime)
        pretrained.check_weights()
    if regime == "deletion_ready" and hp["data_folder"] and not hp["core_data_folder"] and pretrained is None:
        raise UnlearnError(
            "training_regime deletion_ready on a dataset needs core_data_folder, a folder in the same layout of "
            "speakers no request may name (e.g. VoxCeleb2 for VoxCeleb1), or pretrained_source, a model folder; "
            "or pass --training_regime=standard"
        )
    if hp["deletable_epsilon"] != 0:  # refused now, not when the first head is solved
        noise_scale(1, 1.0, hp["deletable_epsilon"], hp["deletable_delta"])
    unlearner_class.check_scenario(hp["scenario"])
    unlearner_class.check_hparams(hp)
    shadows = hp["lira_shadows"]
    if not isinstance(shadows, int) or shadows < 0 or shadows % 2:
        raise UnlearnError(f"lira_shadows must be an even number >= 0 (pairs of halves), got {shadows!r}")
    return hp, run_opts, unlearner_class, pretrained


def shared_cache(task, config, hp, run_opts, sets, data, pretrained=None):
    """The cache of the run's shared models in its ``training_regime``.

    ``deletion_ready``: the core is trained (or loaded) first, on
    ``core_data_folder`` or the embedded ``core_corpus``, or taken from
    ``pretrained_source``, and every model of the run becomes a
    deletion-ready model on it. ``standard`` with ``pretrained_source``: the
    original is the folder's model (:mod:`~speechbrain_unlearn.pretrained`).
    """
    if hp["training_regime"] != "deletion_ready":
        if pretrained is not None:  # the folder's architecture for every model of the run
            sets.new_model = lambda seed=None: pretrained.new_model(
                len(sets.encoder), int(hp["seed"] if seed is None else seed)
            )
        return ModelCache(task, config, hp, run_opts, sets, pretrained)
    if pretrained is not None:
        core = Core.from_pretrained(pretrained, hp, task)
    else:
        core_data = prepare_data(task, hp, folder_key="core_data_folder", corpus_key="core_corpus")
        core = Core.train_or_load(core_data, data["train"], hp, run_opts, config, task)
    sets.new_model = lambda seed=None: core.new_model(len(sets.encoder), int(hp["seed"] if seed is None else seed))
    return DeletionReadyCache(task, config, hp, run_opts, sets, core)


def split_data(data, hp, unlearner_class):
    """The forget/retain split the hparams choose, refused in one line if the method cannot serve it."""
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
    return split


@dataclasses.dataclass
class RunSets:
    """The run's utterances as :class:`~speechbrain_unlearn.data.utterances.UtteranceSet`'s.

    ``forget`` and ``retain`` are training items (randomly cropped to
    ``train_crop_frames``); ``evaluation`` holds whole utterances of
    ``test``, ``retain``, ``forget`` and, when whole classes go,
    ``forget_test``; ``valid`` the validation set; ``trial_utterances`` the
    utterances a verification trial list names in the training and
    validation sets (``None`` without such).
    """

    forget: UtteranceSet
    retain: UtteranceSet
    evaluation: dict
    valid: UtteranceSet
    forgotten_classes: tuple
    new_model: Callable
    trial_utterances: UtteranceSet = None

    @classmethod
    def build(cls, data, split, hp):
        """The sets of ``split``, with one label encoder over the training set and one feature store."""
        encoder = label_encoder(r["label"] for r in data["train"])
        store = run_on_main_and_get(
            lambda: FeatureStore(
                data["train"] + data["valid"] + data["test"],
                hp["compute_features"],
                os.path.join(hp["cache_folder"], "features") if hp["cache_features"] else None,
            )
        )
        every = UtteranceSet([], encoder, store, hp["train_crop_frames"])
        evaluation = {name: every.view(rows, crop_frames=None) for name, rows in evaluation_rows(data, split).items()}

        def new_model(seed=None):
            torch.manual_seed(hp["seed"] if seed is None else seed)
            return hp["model"](n_classes=len(encoder))

        return cls(
            forget=every.view(split.forget),
            retain=every.view(split.retain),
            evaluation=evaluation,
            valid=every.view(data["valid"], crop_frames=None),
            forgotten_classes=tuple(sorted(encoder.lab2ind[c] for c in split.forget_classes or [])),
            new_model=new_model,
            trial_utterances=every.view(rows, crop_frames=None) if (rows := trial_rows(data, encoder)) else None,
        )

    def training_items(self, rows):
        """Training items of ``rows`` (cropped as in training)."""
        return self.forget.view(rows)

    @property
    def encoder(self):
        """The label encoder every model of the run shares."""
        return self.forget.encoder

    def request(self, shared, training_key):
        """The deletion request of this run's forget set."""
        return DeletionRequest(
            forget=self.forget,
            retain=self.retain,
            forgotten_classes=self.forgotten_classes,
            n_classes=len(self.encoder),
            new_model=self.new_model,
            original_statistics=shared.statistics,
            training_key=training_key,
            held_out=self.valid,
        )


@dataclasses.dataclass
class SharedModels:
    """The models every run of the split shares (see :mod:`speechbrain_unlearn.model_cache`), and their metadata."""

    original: torch.nn.Module
    original_meta: dict
    statistics: object = None
    reference: torch.nn.Module = None
    reference_meta: dict = None
    reference_statistics: object = None
    noise_reference: torch.nn.Module = None
    noise_meta: dict = None
    shadows: list = dataclasses.field(default_factory=list)
    shadow_metas: list = dataclasses.field(default_factory=list)
    #: The deletion-ready regime's core (trained once per task and core set, or a model folder's body).
    core_meta: dict = None

    @classmethod
    def train_or_load(cls, cache, train_rows, split, hp):
        """The original and its statistics, the references (with ``retrain_reference``) and the shadows."""
        original, meta = cache.trained("original", train_rows)
        shared = cls(original, meta, statistics=cache.statistics(original, meta, train_rows))
        shared.core_meta = cache.core.meta if hasattr(cache, "core") else None
        if hp["retrain_reference"]:
            shared.reference, shared.reference_meta = cache.trained("reference", split.retain)
            if isinstance(cache, DeletionReadyCache):
                shared.reference_statistics = cache.statistics(shared.reference, shared.reference_meta, split.retain)
            if hp["noise_floor_reference"]:
                # the noise floor: the same retain set, another training seed
                seed = int(hp["seed"]) + int(hp["noise_floor_seed_offset"])
                shared.noise_reference, shared.noise_meta = cache.trained("reference", split.retain, seed=seed)
        for j, mask in enumerate(shadow_halves(len(train_rows), int(hp["lira_shadows"]), hp["seed"])):
            rows = [r for r, keep in zip(train_rows, mask) if keep]
            shadow, shadow_meta = cache.trained(f"shadow{j}", rows)
            shared.shadows.append((shadow, {r["ID"] for r in rows}))
            shared.shadow_metas.append(shadow_meta)
        if isinstance(shared.statistics, dict) and meta.get("curvature_time_s") and meta["time_s"]:
            shared.statistics["training_overhead"] = round(meta["curvature_time_s"] / meta["time_s"], 4)
        return shared

    def train_logs(self):
        """``{name: train_log.txt}`` of the shared models trained by epochs (a solved head has none)."""
        metas = {"original": self.original_meta, "reference": self.reference_meta, "noise_floor": self.noise_meta}
        metas.update({f"shadow{j}": meta for j, meta in enumerate(self.shadow_metas)})
        paths = {n: os.path.join(m["folder"], "train_log.txt") for n, m in metas.items() if m and m.get("folder")}
        return {name: path for name, path in paths.items() if os.path.exists(path)}

    def compared_with(self, unlearned):
        """The models every hook scores: original, unlearned and (with a reference) retrained."""
        models = {"original": self.original, "unlearned": unlearned, "retrained": self.reference}
        return {name: m for name, m in models.items() if m is not None}

    def costs(self):
        """``cost.{core, train, retrain, noise_floor_reference, shadows}`` (``core``: deletion-ready runs only)."""
        return {
            **({"core": stage_cost(self.core_meta)} if self.core_meta else {}),
            "train": stage_cost(self.original_meta),
            "retrain": stage_cost(self.reference_meta),
            "noise_floor_reference": stage_cost(self.noise_meta),
            "shadows": sum_costs([stage_cost(m) for m in self.shadow_metas]),
        }

    def cached(self):
        """``cached.{original, reference}``: whether they were loaded from the cache."""
        return {
            "original": self.original_meta["cached"],
            "reference": bool(self.reference_meta and self.reference_meta["cached"]),
        }

    def times(self, unlearn_time):
        """``time_s.{train, curvature_statistics, retrain}`` and ``speedup_vs_retrain``, merged with the method's."""
        retrain = self.reference_meta["time_s"] if self.reference_meta else None
        return {
            "time_s": {
                "train": self.original_meta["time_s"],
                "curvature_statistics": self.original_meta.get("curvature_time_s"),
                "retrain": retrain,
                **unlearn_time,
            },
            "speedup_vs_retrain": round(retrain / max(unlearn_time["unlearn"], 1e-9), 3) if retrain else None,
        }


def unlearn(unlearner_class, request, shared, hp, run_opts):
    """Apply the method to a copy of the original: the unlearned model, its deletable state, results keys and cost.

    The deletable state is that of a deletion-ready model whose head the
    method solved exactly (influence), else ``None``. The stage's folder
    (:func:`unlearn_folder`) holds its checkpoints while it runs and, once it
    is done, its outcome until the run ends: a run killed later (during
    evaluation) and started again loads it instead of unlearning again.
    """
    folder = unlearn_folder(hp, request.forget.ids)
    weights = os.path.join(folder, WEIGHTS)
    if os.path.exists(os.path.join(folder, FINISHED)):
        return finished_unlearning(folder, weights, request)
    model, state, results, costs = apply_method(unlearner_class, request, shared, hp, run_opts, folder)
    if if_main_process():
        save_tensors(weights, model.state_dict())
        if type(model) is type(shared.original):  # not SISA's shard ensemble: that stage is repeated
            if state is not None:
                state.save(os.path.join(folder, "deletable.pt"))
            write_json(os.path.join(folder, FINISHED), {"results": results, "costs": costs})
        for checkpoint in glob.glob(os.path.join(folder, "CKPT+*")):  # only once the outcome is stored
            shutil.rmtree(checkpoint, ignore_errors=True)
    return model, state, results, costs


#: The record of a finished unlearning stage, written last.
FINISHED = "finished.json"
#: The unlearned model's state dict: in the stage's folder, then in the output folder.
WEIGHTS = "unlearned_model.pt"


def unlearn_folder(hp, forget_ids):
    """The unlearning stage's folder, tied to everything it depends on (a rerun with other settings starts anew)."""
    key = digest([hp["hparams_text"], hp["overrides"], digest(sorted(forget_ids))])
    return os.path.join(hp["output_folder"], "save", f"unlearn-{key}")


def finished_unlearning(folder, weights, request):
    """The outcome of an unlearning stage an earlier attempt finished: its ``weights`` and ``folder``'s record."""
    model = request.new_model()
    model.load_state_dict(load_tensors(weights))
    state_path = os.path.join(folder, "deletable.pt")
    state = DeletableState.load(state_path) if os.path.exists(state_path) else None
    saved = read_json(os.path.join(folder, FINISHED))
    logger.info("unlearning finished in an earlier attempt: its outcome loaded from %s", folder)
    return model, state, saved["results"], saved["costs"]


def apply_method(unlearner_class, request, shared, hp, run_opts, folder):
    """Run the method, resuming from ``folder``'s checkpoints: as :func:`unlearn` returns."""
    model = request.new_model()
    model.load_state_dict(shared.original.state_dict())
    unlearner = unlearner_class(
        modules={"model": model},
        opt_class=hp.get(unlearner_class.opt_key),
        hparams=hp,
        run_opts=run_opts,
        checkpointer=AtomicCheckpointer(folder, {"model": model}),
    )
    logger.info(
        "unlearning with %s on %d forget / %d retain utterances", hp["method"], request.size, len(request.retain)
    )
    with CostMeter() as cost:
        diagnostics, status = unlearner.run(request)
    # an interrupted attempt's time up to its last checkpoint counts too (the resumed part is not redone)
    earlier = float(getattr(unlearner, "elapsed_before", 0.0))
    unlearn_time = cost.end - cost.start - unlearner.training_time_s + earlier
    model = unlearner.modules.model  # a method may replace it (SISA: the shard ensemble)
    logger.info("unlearning with %s: %.1f s (%s)", hp["method"], unlearn_time, status["status"])
    method_time = {"unlearn": round(unlearn_time, 3)}
    if unlearner.training_time_s:
        method_time["method_training"] = round(unlearner.training_time_s, 3)
    results = {"method_status": status, **unlearner.results_keys(diagnostics), **shared.times(method_time)}
    if getattr(unlearner, "deletable_state", None) is not None and shared.reference_statistics is not None:
        check_certificate(results[unlearner.results_key]["certificate"], unlearner.deletable_state, shared)
    if status["status"] == "fallback":
        results["speedup_vs_retrain"] = None  # a retrain against a retrain: no speed-up to claim
    state = getattr(unlearner, "deletable_state", None)
    return model, state, results, {"unlearn": {**cost.result(time_s=unlearn_time), "earlier_attempts_s": earlier}}


def check_certificate(certificate, state, shared):
    """Add to a deletion-ready certificate its check against the reference (the deletable part retrained).

    ``distance_to_retrain``: ``||theta - theta_R|| / ||theta_R||`` of the
    deployed (float32) heads; ``holds``: whether the solver's heads are within
    the bound, where the reference is a solve to tolerance too, so the bound
    is the sum of both gradient norms over ``lambda``.
    """
    reference = shared.reference_statistics
    unlearned, retrained = state.theta.to(torch.float32).to(torch.float64), shared.reference.head_vector()
    reference_norm = reference.gradient_norm()
    distance = float((state.theta - reference.theta).norm())
    bound = certificate["distance_bound"] + reference_norm / reference.l2
    certificate.update(
        distance_to_retrain=float((unlearned - retrained).norm() / retrained.norm().clamp(min=1e-30)),
        distance=distance,
        reference_gradient_norm=reference_norm,
        holds=distance <= bound,
    )


def evaluate(models, shared, sets, data, hp, run_opts, memo):
    """Every evaluation hook on every model and the gaps to the reference; and the cost of evaluating."""
    encoder = sets.encoder
    context = {
        "forgotten": bool(sets.forgotten_classes),
        "class_names": {i: encoder.ind2lab[i] for i in range(len(encoder))},
        "forgotten_labels": list(sets.forgotten_classes),
        "trials": data.get("trials") or [],
        "trial_utterances": sets.trial_utterances,
        "shadows": shared.shadows,
        "noise_reference": shared.noise_reference,
        "memo": memo,
    }
    with CostMeter() as cost:
        evaluation = evaluate_models(models, sets.evaluation, hp, run_opts, context)
    metrics = evaluation["metrics"]
    retrained = "retrained" in metrics
    evaluation["gap_to_retrain"] = gaps(metrics["unlearned"], metrics["retrained"]) if retrained else None
    evaluation["gap_original_to_retrain"] = gaps(metrics["original"], metrics["retrained"]) if retrained else None
    logger.info("evaluation of %d models: %.1f s", len(models), cost.result()["time_s"])
    return evaluation, cost.result()


def relearn(models, sets, hp, run_opts, memo):
    """``relearn``: the benign and k-shot relearning attacks on every model (with a reference and ``relearn_steps``)."""
    if int(hp.get("relearn_steps") or 0) <= 0 or "retrained" not in models:
        return {}, {}
    steps, lr = int(hp["relearn_steps"]), float(hp["relearn_lr"])
    with CostMeter() as cost:
        benign_sets = {k: sets.evaluation[k] for k in ("forget", "forget_test") if k in sets.evaluation}
        report = {"benign": attack_report(models, sets.retain, benign_sets, hp, run_opts, steps, lr, memo=memo)}
        shown, held_out = kshot_halves(sets.forget.ids, hp["seed"])
        if len(shown) < 2 or not held_out:
            report["kshot"] = {"skipped": f"{len(sets.forget)} forget utterances: too few to show two and hold one out"}
        else:
            kshot_sets = {"forget_held_out": sets.evaluation["forget"].subset(held_out)}
            report["kshot"] = attack_report(
                models, sets.forget.subset(shown), kshot_sets, hp, run_opts, steps, lr, True, memo
            )
            report["kshot"]["shown"], report["kshot"]["held_out"] = len(shown), len(held_out)
    logger.info("relearning attacks (%d steps on %d models): %.1f s", steps, len(models), cost.result()["time_s"])
    return {"relearn": report}, {"relearn": cost.result()}


def describe(task, data, split, sets, hp):
    """What the run was: task, method, scenario, seed, sizes, what was forgotten and which data."""
    return {
        "task": task,
        "method": hp["method"],
        "scenario": split.scenario,
        "training_regime": hp["training_regime"],
        "seed": int(hp["seed"]),
        # trained models depend on it (torch's summation order): part of the cache key too
        "threads": torch.get_num_threads(),
        "sizes": {
            "train": len(data["train"]),
            "forget": len(split.forget),
            "retain": len(split.retain),
            "test": len(sets.evaluation["test"]),
        },
        "forget_classes": split.forget_classes,
        "forget_speakers": split.forget_speakers,
        "data": data["source"],
    }


def run_on_main_and_get(build):
    """Build on the main process first (filling caches), then on the others."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        run_on_main(build)
    return build()


def prepare_data(task, hp, folder_key="data_folder", corpus_key="embedded_corpus"):
    """Manifests of the real dataset at ``hp[folder_key]`` or of the embedded corpus ``hp[corpus_key]``."""
    spec = task_named(task)
    folder = hp[folder_key]
    if not folder:
        start = time.time()
        corpora = os.path.abspath(os.path.join(hp["cache_folder"], "corpora"))
        root = run_on_main_and_get(lambda: hp[corpus_key](corpora))
        print(f"{folder_key} is unset: using the embedded corpus {root} ({time.time() - start:.1f} s)")
        source = {"folder": root, "embedded": True}
    else:
        if not os.path.isdir(folder):
            raise UnlearnError(
                f"{folder_key} {folder} does not exist; point it at a {spec.layout} folder or leave it empty"
            )
        if not spec.recognise(folder):
            raise UnlearnError(f"{folder_key} {folder} is not in the {spec.layout} layout; {spec.layout_hint(folder)}")
        root = os.path.abspath(folder)
        source = {"folder": root, "embedded": False}
    data = hp["prepare"](root)
    if folder_key == "data_folder" and hp.get("exclude_list"):  # removed by earlier requests: not training data
        removed = set(read_id_list(hp["exclude_list"], "exclude_list"))
        data["train"] = [r for r in data["train"] if r["ID"] not in removed]
        source["excluded"] = len(removed)
    data["source"] = {**source, **{s: summarise(data[s]) for s in ("train", "valid", "test")}}
    return data


def evaluation_rows(data, split):
    """The rows of the sets every model is scored on (test = test utterances of retained classes).

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


def trial_rows(data, encoder):
    """The rows of the utterances the trial list names that are in no test set, of speakers the model knows.

    The real ``veri_test2.txt`` pairs utterances of all three ``iden_split.txt``
    sets: each is embedded, so the protocol's trials are all scored.
    """
    named = {utterance for trial in data.get("trials") or [] for utterance in trial[1:]}
    tested = {r["ID"] for r in data["test"]}
    return [
        r
        for name in ("train", "valid")
        for r in data[name]
        if r["ID"] in named and r["ID"] not in tested and r["label"] in encoder.lab2ind
    ]


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
        write_csv(os.path.join(out, "test_retained.csv"), sets.evaluation["test"].rows, COLUMNS)
        write_csv(os.path.join(out, "test_forgotten.csv"), sets.evaluation["forget_test"].rows, COLUMNS)
    write_csv(os.path.join(out, "test.csv"), data["test"], COLUMNS)
    overrides = f"\n# command-line overrides: {hp['overrides']}\n"
    write_text(os.path.join(out, "hyperparams.yaml"), hp["hparams_text"] + overrides)


def export_models(models, encoder, task, hp, folder):
    """Write the unlearned model (and, with ``export_original``, the original) as model folders in ``folder``.

    ``<folder>/unlearned_model/`` and ``original_model/``, in the
    layout SpeechBrain's ``EncoderClassifier`` loads (:mod:`~speechbrain_unlearn.export`);
    the names of the folders written. A model with no such layout (SISA's
    shard ensemble) or features other than the task's ``Fbank`` is logged
    and left as its state dict.
    """
    names = ["unlearned"] + (["original"] if hp["export_original"] else [])
    if module_settings(hp["compute_features"]) != module_settings(Fbank(n_mels=hp["n_mels"])):
        logger.warning("no model folder written: only Fbank(n_mels=<n_mels>) features are exported")
        return []
    written = []
    for name in names:
        description = (
            f"{task} {name} model: {hp['method']}, {hp['scenario']}, seed {hp['seed']}, {hp['training_regime']}"
        )
        model, state = models[name]
        state = state if isinstance(state, DeletableState) else None  # the standard regime's are curvature
        try:
            export_model(model, encoder, os.path.join(folder, f"{name}_model"), hp["n_mels"], description, state)
        except UnlearnError as err:
            logger.warning("no model folder written for the %s model: %s", name, err)
            continue
        written.append(f"{name}_model")
    return written


def write_run_receipt(split, results, original_meta, exported, hp, started, stage):
    """``unlearning_receipt.json`` of a run (:mod:`~speechbrain_unlearn.receipt`), written to ``stage``.

    It vouches for the run's manifests in the output folder and for the
    files in ``stage``, the folder that :func:`publish` moves into it.
    """
    out = hp["output_folder"]
    folders = [os.path.join(name, f) for name in exported for f in sorted(os.listdir(os.path.join(stage, name)))]
    staged = file_hashes(stage, [*folders, "unlearn_results.json", WEIGHTS])
    method_keys = [v for v in results.values() if isinstance(v, dict) and "certificate" in v]
    metrics = results.get("metrics", {})
    receipt = {
        "kind": "run",
        "task": results["task"],
        "scenario": split.scenario,
        "forget_classes": split.forget_classes,
        "forget_speakers": split.forget_speakers,
        "forget": forget_section(split.forget),
        "input_model": {
            "original": file_hashes(out, [os.path.abspath(os.path.join(original_meta["folder"], "model.pt"))])
        },
        "files": {**file_hashes(out, ["forget.csv", "retain.csv", "hyperparams.yaml"]), **staged},
        "method": results["method"],
        # ``fallback``: the method handed the request to retraining from scratch
        "method_status": results["method_status"]["status"],
        "hparams": hp["hparams_text"],
        "overrides": hp["overrides"],
        "certificate": method_keys[0]["certificate"] if method_keys else None,
        "metrics": {"unlearned": metrics.get("unlearned"), "gap_to_retrain": results.get("gap_to_retrain")},
        "seed": results["seed"],
        "training_regime": results["training_regime"],
        "started": started,
        "ended": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "previous_receipt": None,
    }
    write_receipt(stage, receipt)


def link_or_copy(source, path):
    """``path`` as a second name of ``source`` (a hard link: no second copy), or a copy where links fail."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.link(source, path)
    except OSError:
        copy_file(source, path)


def publish(stage, out):
    """Rename every file and folder of ``stage`` into ``out``, the receipt last.

    Everything was written whole in ``stage``; a write that failed there
    (a full disk) left ``out``'s previous results, models and receipt as
    they were. Renames within one file system need no space.
    """
    names = sorted(os.listdir(stage), key=lambda name: name == RECEIPT)
    for name in names:
        source, target = os.path.join(stage, name), os.path.join(out, name)
        if os.path.isdir(source):
            replace_folder(source, target)
        else:
            os.replace(source, target)
