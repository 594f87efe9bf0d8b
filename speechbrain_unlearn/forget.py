r"""``python -m speechbrain_unlearn.forget``: serve a deletion request against a deployed model folder.

::

    python -m speechbrain_unlearn.forget --model <model folder> --forget_list ids.txt \
        --output <new model folder> [--data_folder <dataset>] [--method influence|retrain]

The model folder is one this package wrote (a run's ``unlearned_model/`` or
``original_model/``, or the output of an earlier request). A
**deletion-ready** folder carries its stored statistics (``deletable.pt``):
the request is served from them alone, with no training and no audio read,

1. read and check the forget IDs (every one must be in the stored set);
2. remove them from the deletable head by Newton steps on the convex
   retain objective, warm-started at the current head, to its tolerance
   (``influence``; ``retrain``: solve from zeros), with the certificate
   ``||theta - theta_retrain|| <= gradient_norm / l2``;
3. write ``--output`` as a model folder again (same core, new head, the
   statistics without the request), with ``unlearning_receipt.json``
   chained to the input's receipt and ``request_log.json`` listing every
   request the model has served,

so a second request runs against the output of the first. The input folder
is never modified. ``--data_folder`` (the dataset the model was trained on)
lets the receipt hash the forget audio; without it the receipt says so.

A folder without stored statistics (a model trained end to end, e.g. one
exported by a standard-regime run) is served by the recipe on its data:
``--data_folder`` is then required, and the request is the recipe run with
``pretrained_source=<model>``, ``scenario=list`` and the chosen method's
hparams (``hparams/<method>.yaml``, or a path), with no reference, no shadow
models and no attacks, its model folder written to ``--output`` with the same
receipt chain and request log. ``--cache_folder`` holds its features. Such a
folder also lists every ID removed so far (``removed_ids.txt``): the next
request leaves them out of the training data (``exclude_list``).
"""

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time

from speechbrain_unlearn import pipeline, progress
from speechbrain_unlearn.data.speech_commands import prepare_speech_commands
from speechbrain_unlearn.data.splits import read_id_list
from speechbrain_unlearn.data.voxceleb import prepare_voxceleb
from speechbrain_unlearn.deletable.state import DeletableState
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.export import DELETABLE_FILES, MODEL_FILES, folded_head, staged_folder
from speechbrain_unlearn.io import load_tensors, read_json, save_tensors, write_json, write_text
from speechbrain_unlearn.pretrained import ModelFolder, read_labels
from speechbrain_unlearn.receipt import (
    RECEIPT,
    chain_previous,
    file_hashes,
    forget_section,
    ids_sha256,
    write_receipt,
)
from speechbrain_unlearn.tasks import TASKS

#: The repository root (its ``hparams/`` and ``recipes/``).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The request log every served folder carries.
REQUEST_LOG = "request_log.json"
#: The IDs every request so far removed from a model without stored statistics (its next run leaves them out).
REMOVED = "removed_ids.txt"
#: Files a request copies unchanged from its input folder.
UNCHANGED = ("hyperparams.yaml", "embedding_model.ckpt", "label_encoder.txt", "label_encoder.ckpt", DELETABLE_FILES[1])


@dataclasses.dataclass
class Request:
    """One deletion request: the input folder, the forget IDs and where the result goes."""

    model: str
    forget_ids: list
    output: str
    method: str = "influence"
    data_folder: str = None
    duplicates: int = 0
    cache_folder: str = "results/cache"

    @property
    def removed_before(self):
        """Whether earlier requests against a model without stored statistics left their IDs."""
        return os.path.exists(os.path.join(self.model, REMOVED))

    @property
    def deletion_ready(self):
        """Whether the model carries the stored statistics of an exact removal."""
        return os.path.exists(os.path.join(self.model, DELETABLE_FILES[0]))

    @classmethod
    def from_args(cls, args):
        """The request of the command line, every input checked before anything is written."""
        check_model_folder(args.model)
        check_output(args.output, args.model)
        ids = read_id_list(args.forget_list, unique=False)  # repeats are counted in the request log
        if not ids:
            raise UnlearnError(f"forget_list {args.forget_list} names no utterance ID; put one ID per line")
        unique = list(dict.fromkeys(ids))
        if args.data_folder and not os.path.isdir(args.data_folder):
            raise UnlearnError(f"data_folder {args.data_folder} does not exist; point it at the model's dataset")
        request = cls(args.model, unique, args.output, args.method, args.data_folder, len(ids) - len(unique))
        request.cache_folder = args.cache_folder
        if request.deletion_ready and args.method not in ("influence", "retrain"):
            raise UnlearnError(
                f"{args.model} is deletion-ready: --method influence (exact) or retrain, not {args.method}"
            )
        if not request.deletion_ready:
            if not args.data_folder:
                raise UnlearnError(
                    f"{args.model} has no {DELETABLE_FILES[0]} (not a deletion-ready model): serving it runs "
                    "the method on the model's training data; pass --data_folder"
                )
            method_file(args.method)
        return request


def check_model_folder(folder):
    """Refuse a folder that is not a model folder, naming the first missing file."""
    if not os.path.isdir(folder):
        raise UnlearnError(f"--model {folder} is not a folder; pass a model folder (e.g. <run>/unlearned_model)")
    for name in MODEL_FILES:
        if not os.path.exists(os.path.join(folder, name)):
            raise UnlearnError(f"{os.path.join(folder, name)} is missing: --model must be a complete model folder")


def check_output(output, model):
    """Refuse writing onto the input or onto a folder that is not a model folder."""
    if os.path.realpath(output) == os.path.realpath(model):
        raise UnlearnError(f"--output {output} is the input model; the input is never modified, pick a new folder")
    if os.path.exists(output) and not os.path.exists(os.path.join(output, "hyperparams.yaml")):
        raise UnlearnError(f"--output {output} exists and is not a model folder; pick a new folder")
    parent = os.path.dirname(os.path.abspath(output))
    if os.path.exists(parent) and not os.access(parent, os.W_OK):
        raise UnlearnError(f"--output {output}: cannot write in {parent}; pick a writable folder")


def check_consistent(folder, state):
    """Refuse a folder whose head or labels do not fit its stored statistics, naming the file."""
    classifier = os.path.join(folder, "classifier.ckpt")
    head = load_tensors(classifier)
    if tuple(head["weight"].shape) != (state.n_classes, state.features.shape[1]):
        raise UnlearnError(
            f"{classifier} has shape {tuple(head['weight'].shape)}, but the stored statistics have "
            f"{state.n_classes} classes of {state.features.shape[1]} features; restore the folder's own classifier"
        )
    count = len(read_labels(folder))
    if count != state.n_classes:
        labels = os.path.join(folder, "label_encoder.txt")
        raise UnlearnError(f"{labels} has {count} labels, the model {state.n_classes} classes; restore its own")


def forget_rows(ids, data_folder):
    """Manifest rows (ID, wav) of ``ids`` in ``data_folder``, for the receipt's audio hash (``None``: not found)."""
    if not data_folder:
        return None
    task = next((t.name for t in TASKS.values() if t.recognise(data_folder)), None)
    if task is None:
        raise UnlearnError(f"data_folder {data_folder} is in no known layout (Speech Commands or VoxCeleb1)")
    if task == "SpeechCommands":
        data = prepare_speech_commands(data_folder, label_set="all")
    else:
        data = prepare_voxceleb(data_folder)
    by_id = {r["ID"]: r for split in ("train", "valid", "test") for r in data[split]}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise UnlearnError(f"{len(missing)} forget IDs are not in data_folder {data_folder} (first: {missing[0]})")
    return [by_id[i] for i in ids]


def method_file(method):
    """The hparams file of ``method``: a path, or a name in the repository's ``hparams/``."""
    path = method if method.endswith(".yaml") else os.path.join(ROOT, "hparams", f"{method}.yaml")
    if not os.path.isfile(path):
        known = sorted(n[:-5] for n in os.listdir(os.path.join(ROOT, "hparams")) if n.endswith(".yaml"))
        raise UnlearnError(f"--method {method}: no {path}; use a method of hparams/ ({', '.join(known)}) or a path")
    return path


def serve(request, log=print):
    """Serve ``request``: write the output model folder, its receipt and log; the request's report."""
    if not request.deletion_ready:
        return serve_with_recipe(request, log)
    started, start = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.time()
    state = DeletableState.load(os.path.join(request.model, DELETABLE_FILES[0]))
    check_consistent(request.model, state)
    log(f"loaded {request.model}: deletion-ready head on {len(state.ids)} utterances, {state.n_classes} classes")
    if set(request.forget_ids) >= set(state.ids):
        raise UnlearnError(
            f"the forget list names all {len(state.ids)} utterances the model was trained on; "
            "nothing would be left to learn from"
        )
    if request.duplicates:
        log(f"forget list: {request.duplicates} duplicate IDs counted once")
    rows = forget_rows(request.forget_ids, request.data_folder)
    solve_start = time.time()
    if request.method == "retrain":
        after = state.retrained(request.forget_ids)
        report = {"certificate": {"gradient_norm": after.gradient_norm(), "l2": after.l2}}
        report["certificate"]["distance_bound"] = report["certificate"]["gradient_norm"] / after.l2
    else:
        after, report = state.remove(request.forget_ids)
    solve_time = time.time() - solve_start
    certificate = report["certificate"]
    log(
        f"removed {len(request.forget_ids)} utterances in {solve_time:.2f} s ({request.method}): gradient norm "
        f"{certificate['gradient_norm']:.3g}, distance to the retrained head <= {certificate['distance_bound']:.3g}"
    )
    write_output(request, after, report, rows, started, time.time() - start)
    log(f"model folder, receipt and request log written to {request.output}")
    return report


def recipe_arguments(request, folder, ids_file, run_folder):
    """The recipe's task and command line that serve ``request`` against the model ``folder``."""
    task = "VoxCeleb" if "ECAPA" in folder.model_class.__name__ else "SpeechCommands"
    argv = [
        method_file(request.method),
        f"--data_folder={request.data_folder}",
        f"--pretrained_source={request.model}",
        "--training_regime=standard",
        "--scenario=list",
        f"--forget_list={ids_file}",
        f"--n_mels={folder.n_mels}",
        f"--output_folder={run_folder}",
        f"--cache_folder={request.cache_folder}",
        *("--retrain_reference=false", "--lira_shadows=0", "--noise_floor_reference=false", "--relearn_steps=0"),
    ]
    if task == "SpeechCommands":  # the model's own classes, not the recipe's keywords
        words = [label for label in folder.labels if not label.startswith("_")]
        label_set = "12class" if any(label.startswith("_") for label in folder.labels) else "keywords"
        argv += [f"--label_set={label_set}", f"--keywords=[{', '.join(words)}]"]
    return task, os.path.join(ROOT, "recipes", task, "hparams", "train.yaml"), argv


def serve_with_recipe(request, log=print):
    """A model without stored statistics: the recipe's method on its data (see the module docstring)."""
    started, start = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.time()
    folder = ModelFolder.read(request.model)
    parent = os.path.dirname(os.path.abspath(request.output))
    os.makedirs(parent, exist_ok=True)
    run_folder = tempfile.mkdtemp(dir=parent, prefix=".request-run-")
    try:
        ids_file = os.path.join(run_folder, "forget_ids.txt")
        write_text(ids_file, "".join(f"{i}\n" for i in request.forget_ids))
        task, task_file, argv = recipe_arguments(request, folder, ids_file, os.path.join(run_folder, "run"))
        if request.removed_before:  # earlier requests' utterances stay out of the training data
            argv.append(f"--exclude_list={os.path.join(request.model, REMOVED)}")
        log(f"{request.model} has no stored statistics: running {request.method} on {request.data_folder}")
        results = pipeline.run(task, task_file, argv)
        served = os.path.join(run_folder, "run", "unlearned_model")
        if sorted(read_labels(served)) != sorted(folder.labels):
            raise UnlearnError(f"{request.data_folder} does not hold every class of {request.model}; pass its dataset")
        report = {
            "certificate": None,
            "method_status": results["method_status"]["status"],
            "metrics": {"unlearned": results.get("metrics", {}).get("unlearned")},
            "seed": results["seed"],
            "training_regime": "standard",
            "results": os.path.join(run_folder, "run", "unlearn_results.json"),
        }
        rows = forget_rows(request.forget_ids, request.data_folder)
        write_output(request, None, report, rows, started, time.time() - start, served)
    finally:
        shutil.rmtree(run_folder, ignore_errors=True)
    status = report["method_status"]
    log(f"{request.method} ({status}): model folder, receipt and request log written to {request.output}")
    return report


def write_output(request, state, report, rows, started, elapsed, served=None):
    """The output model folder, written under a temporary name and renamed into place."""
    with staged_folder(request.output) as tmp:
        if served is not None:  # a model folder the recipe wrote, and its results
            for name in MODEL_FILES + ("label_encoder.ckpt",):
                shutil.copyfile(os.path.join(served, name), os.path.join(tmp, name))
            shutil.copyfile(report.pop("results"), os.path.join(tmp, "request_results.json"))
            removed = read_id_list(os.path.join(request.model, REMOVED)) if request.removed_before else []
            write_text(os.path.join(tmp, REMOVED), "".join(f"{i}\n" for i in sorted({*removed, *request.forget_ids})))
        else:
            write_deletion_ready(request.model, state, tmp)
        link = chain_previous(tmp, previous_receipt_folder(request.model))
        log_entries = read_log(request.model) + [log_entry(request, report, started)]
        write_json(os.path.join(tmp, REQUEST_LOG), log_entries)
        write_receipt(tmp, request_receipt(request, report, rows, tmp, link, started, elapsed))


def write_deletion_ready(model, state, folder):
    """The files of a deletion-ready model folder: ``model``'s body and core statistics, ``state``'s head."""
    for name in UNCHANGED:
        shutil.copyfile(os.path.join(model, name), os.path.join(folder, name))
    standardisation = load_tensors(os.path.join(model, DELETABLE_FILES[1]))
    head = folded_head(state.theta, state.n_classes, standardisation["mean"], standardisation["std"])
    save_tensors(os.path.join(folder, "classifier.ckpt"), head)
    state.save(os.path.join(folder, DELETABLE_FILES[0]))


def previous_receipt_folder(model):
    """The folder whose receipt vouches for ``model``: the model folder itself, or the run folder holding it."""
    if os.path.exists(os.path.join(model, RECEIPT)):
        return model
    run = os.path.dirname(os.path.abspath(model))
    return run if os.path.exists(os.path.join(run, RECEIPT)) else None


def read_log(model):
    """The request log of ``model`` (empty for a folder that served none)."""
    path = os.path.join(model, REQUEST_LOG)
    return read_json(path) if os.path.exists(path) else []


def log_entry(request, report, started):
    """One line of the request log: when, how many, which IDs (hash), how, and the certificate."""
    return {
        "time": started,
        "n_utterances": len(request.forget_ids),
        "ids_sha256": ids_sha256(request.forget_ids),
        "method": request.method,
        "certificate": report["certificate"],
    }


def request_receipt(request, report, rows, folder, link, started, elapsed):
    """The receipt of a request (see :mod:`speechbrain_unlearn.receipt`)."""
    weights = (
        ("classifier.ckpt", *DELETABLE_FILES) if request.deletion_ready else ("embedding_model.ckpt", "classifier.ckpt")
    )
    inputs = [os.path.join(os.path.abspath(request.model), n) for n in weights]
    files = sorted(n for n in os.listdir(folder) if n not in (RECEIPT, "receipts"))
    given = rows if rows is not None else [{"ID": i, "wav": None} for i in request.forget_ids]
    forget = forget_section(given, hash_audio=rows is not None)
    if rows is None:
        forget["audio_sha256_missing"] = "no --data_folder given: the forget audio was not hashed"
    return {
        "kind": "request",
        "forget": forget,
        "input_model": {"model": file_hashes(folder, inputs)},
        "files": file_hashes(folder, files),
        "method": request.method,
        "method_status": report.get("method_status", "ok"),
        "hparams": request_hparams(request, report),
        "certificate": report["certificate"],
        "metrics": report.get("metrics"),
        "seed": report.get("seed"),
        "training_regime": report.get("training_regime", "deletion_ready"),
        "started": started,
        "ended": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "time_s": round(elapsed, 3),
        "previous_receipt": link,
    }


def request_hparams(request, report):
    """What the receipt records of how the request was served."""
    if request.deletion_ready:
        return {"l2": report["certificate"].get("l2"), "model": os.path.abspath(request.model)}
    with open(method_file(request.method), encoding="utf-8") as fh:
        return {"method_file": fh.read(), "model": os.path.abspath(request.model)}


def parser():
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m speechbrain_unlearn.forget", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="the deployed model folder (deletion-ready)")
    p.add_argument("--forget_list", required=True, help="a text file with one utterance ID per line")
    p.add_argument("--output", required=True, help="the new model folder (must not exist, or be a model folder)")
    p.add_argument("--data_folder", default=None, help="the model's dataset, to hash the forget audio")
    p.add_argument(
        "--method",
        default="influence",
        help="influence (default) or retrain; for a model without stored statistics, any hparams/<name>.yaml or a path",
    )
    p.add_argument("--cache_folder", default="results/cache", help="features of a model served by the recipe")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv=None):
    """Serve one request; a user error is one ``error:`` line and exit status 2."""
    args = parser().parse_args(argv)
    progress.configure(False if args.no_progress else None)
    try:
        serve(Request.from_args(args))
    except UnlearnError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
