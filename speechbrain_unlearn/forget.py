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

A folder without stored statistics (the standard regime) cannot be served
here yet: run the recipe on its data instead.
"""

import argparse
import dataclasses
import os
import shutil
import sys
import time

from speechbrain_unlearn.data.speech_commands import prepare_speech_commands
from speechbrain_unlearn.data.splits import read_id_list
from speechbrain_unlearn.data.voxceleb import prepare_voxceleb
from speechbrain_unlearn.deletable.state import DeletableState
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.export import DELETABLE_FILES, MODEL_FILES, folded_head, staged_folder
from speechbrain_unlearn.io import load_tensors, read_json, save_tensors, write_json
from speechbrain_unlearn.pretrained import read_labels
from speechbrain_unlearn.receipt import (
    RECEIPT,
    chain_previous,
    file_hashes,
    forget_section,
    ids_sha256,
    write_receipt,
)
from speechbrain_unlearn.tasks import TASKS

#: The request log every served folder carries.
REQUEST_LOG = "request_log.json"
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

    @classmethod
    def from_args(cls, args):
        """The request of the command line, every input checked before anything is written."""
        check_model_folder(args.model)
        check_output(args.output, args.model)
        ids = read_id_list(args.forget_list)
        if not ids:
            raise UnlearnError(f"forget_list {args.forget_list} names no utterance ID; put one ID per line")
        unique = list(dict.fromkeys(ids))
        if args.data_folder and not os.path.isdir(args.data_folder):
            raise UnlearnError(f"data_folder {args.data_folder} does not exist; point it at the model's dataset")
        return cls(args.model, unique, args.output, args.method, args.data_folder, len(ids) - len(unique))


def check_model_folder(folder):
    """Refuse a folder that is not a model folder, naming the first missing file."""
    if not os.path.isdir(folder):
        raise UnlearnError(f"--model {folder} is not a folder; pass a model folder (e.g. <run>/unlearned_model)")
    for name in MODEL_FILES:
        if not os.path.exists(os.path.join(folder, name)):
            raise UnlearnError(f"{os.path.join(folder, name)} is missing: --model must be a complete model folder")
    if not os.path.exists(os.path.join(folder, DELETABLE_FILES[0])):
        raise UnlearnError(
            f"{folder} has no {DELETABLE_FILES[0]}: it is not a deletion-ready model, and only those are served "
            "here; run the recipe with --training_regime=deletion_ready, or the recipe with your method on its data"
        )


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


def serve(request, log=print):
    """Serve ``request``: write the output model folder, its receipt and log; the request's report."""
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


def write_output(request, state, report, rows, started, elapsed):
    """The output model folder, written under a temporary name and renamed into place."""
    with staged_folder(request.output) as tmp:
        for name in UNCHANGED:
            shutil.copyfile(os.path.join(request.model, name), os.path.join(tmp, name))
        standardisation = load_tensors(os.path.join(request.model, DELETABLE_FILES[1]))
        head = folded_head(state.theta, state.n_classes, standardisation["mean"], standardisation["std"])
        save_tensors(os.path.join(tmp, "classifier.ckpt"), head)
        state.save(os.path.join(tmp, DELETABLE_FILES[0]))
        link = chain_previous(tmp, previous_receipt_folder(request.model))
        log_entries = read_log(request.model) + [log_entry(request, report, started)]
        write_json(os.path.join(tmp, REQUEST_LOG), log_entries)
        write_receipt(tmp, request_receipt(request, report, rows, tmp, link, started, elapsed))


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
    inputs = [os.path.join(os.path.abspath(request.model), n) for n in ("classifier.ckpt", *DELETABLE_FILES)]
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
        "method_status": "ok",
        "hparams": {"l2": report["certificate"].get("l2"), "model": os.path.abspath(request.model)},
        "certificate": report["certificate"],
        "metrics": None,
        "seed": None,
        "training_regime": "deletion_ready",
        "started": started,
        "ended": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "time_s": round(elapsed, 3),
        "previous_receipt": link,
    }


def parser():
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m speechbrain_unlearn.forget", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="the deployed model folder (deletion-ready)")
    p.add_argument("--forget_list", required=True, help="a text file with one utterance ID per line")
    p.add_argument("--output", required=True, help="the new model folder (must not exist, or be a model folder)")
    p.add_argument("--data_folder", default=None, help="the model's dataset, to hash the forget audio")
    p.add_argument("--method", default="influence", choices=["influence", "retrain"])
    return p


def main(argv=None):
    """Serve one request; a user error is one ``error:`` line and exit status 2."""
    args = parser().parse_args(argv)
    try:
        serve(Request.from_args(args))
    except UnlearnError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
