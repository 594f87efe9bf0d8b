"""``python -m speechbrain_unlearn.benchmark.sequential``: many deletion requests, one after another.

Algorithm
---------
Input: a deletion-ready original's stored state ``S_0`` (``deletable.pt``:
its user features, labels, IDs and head), the speaker of every training
utterance, ``u`` utterance requests and ``s`` speaker requests.

1. a seeded order of the speakers: the last ``s`` are removed whole, the
   others give the utterances removed one by one;
2. for ``k = 1 .. u``: ``S_k = remove(S_{k-1}, {one utterance})``;
3. for each removed speaker: ``S_{k+1} = remove(S_k, {its utterances left})``;
4. retrain the head from zeros without every removed utterance,
   ``S_R = retrained(S_0, F_1 u ... u F_{u+s})``, and compare: the distance
   between the heads against the certified bound ``(g_final + g_R)/lambda``
   (both heads are solves to ``gtol``), and the predicted class of every
   retained training utterance.

Each request is served by :meth:`~speechbrain_unlearn.deletable.state.DeletableState.remove`
from the previous state only, so the audio of retained users is never read.
The report (printed as JSON, also written to ``--output``) holds every
request's time, Newton iterations and certificate, their totals, and the
comparison with the retrain.

The state of a recipe run with ``training_regime: deletion_ready`` is the
original's ``deletable.pt`` in the model cache (the folder the run's log
names: ``original model ... <cache_folder>/models/<task>/original-<key>``),
and the speakers are the ``spk_id`` column of the run's ``train.csv``.

Example
-------
>>> import torch
>>> from speechbrain_unlearn.deletable.state import DeletableState
>>> _ = torch.manual_seed(0)
>>> ids = [f"s{i % 6}-u{i}" for i in range(120)]
>>> state = DeletableState.fit(ids, torch.randn(120, 4), torch.arange(120) % 3, n_classes=3, l2=0.01)
>>> report = sequential_report(state, {u: u.split("-")[0] for u in ids}, 10, 2, seed=0)
>>> report["requests"], report["removed"], report["retrain"]["holds"]
(12, 50, True)
"""

import argparse
import json
import random
import sys

from speechbrain_unlearn.benchmark.scale import served
from speechbrain_unlearn.cost import CostMeter
from speechbrain_unlearn.deletable.state import DeletableState
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.io import read_csv, write_json


def read_speakers(path):
    """``{ID: spk_id}`` of a manifest."""
    rows = read_csv(path)
    if not rows or not {"ID", "spk_id"} <= set(rows[0]):
        raise UnlearnError(f"{path}: expected a manifest with ID and spk_id columns (a run's train.csv)")
    return {row["ID"]: row["spk_id"] for row in rows}


def request_plan(state, speakers, utterance_requests, speaker_requests, seed):
    """The requests (lists of IDs): single utterances of kept speakers, then whole speakers."""
    missing = [utt for utt in state.ids if utt not in speakers]
    if missing:
        raise UnlearnError(
            f"{len(missing)} training utterances have no speaker (first: {missing[0]}); check --train_csv"
        )
    order = sorted({speakers[utt] for utt in state.ids})
    random.Random(seed).shuffle(order)
    if speaker_requests >= len(order):
        raise UnlearnError(f"--speaker_requests {speaker_requests}: the set has only {len(order)} speakers")
    removed = set(order[len(order) - speaker_requests :])
    pool = [utt for utt in state.ids if speakers[utt] not in removed]
    if utterance_requests > len(pool):
        raise UnlearnError(f"--utterance_requests {utterance_requests}: only {len(pool)} utterances of kept speakers")
    utterances = random.Random(seed + 1).sample(pool, utterance_requests)
    whole = [[utt for utt in state.ids if speakers[utt] == spk] for spk in order[len(order) - speaker_requests :]]
    return [[utt] for utt in utterances] + whole


def compare_with_retrain(first, last, removed_ids):
    """The head retrained from zeros without ``removed_ids`` against ``last``: distances, bound, predictions."""
    with CostMeter() as cost:
        retrained = first.retrained(removed_ids)
    distance = float((last.theta - retrained.theta).norm())
    gradients = [s.gradient_norm() for s in (last, retrained)]
    bound = sum(gradients) / last.l2
    objective = last.objective()
    same = objective.logits(last.theta).argmax(1) == objective.logits(retrained.theta).argmax(1)
    return {
        "distance": distance,
        "relative_distance": distance / float(retrained.theta.norm()),
        "gradient_norm": gradients[0],
        "retrain_gradient_norm": gradients[1],
        "distance_bound": bound,
        "holds": distance <= bound,
        "same_predictions": float(same.double().mean()),
        **cost.result(),
    }


def sequential_report(state, speakers, utterance_requests=80, speaker_requests=20, seed=0):
    """Serve the requests of :func:`request_plan` one after another and compare the end with a retrain."""
    requests = request_plan(state, speakers, utterance_requests, speaker_requests, seed)
    first, rows = state, []
    for index, forget in enumerate(requests):
        state, row = served(state, "utterances" if len(forget) == 1 else "speaker", forget, check_retrain=False)
        rows.append({"index": index + 1, **row})
    removed_ids = [utt for forget in requests for utt in forget]
    times = [r["time_s"] for r in rows]
    return {
        "utterances": len(first.ids),
        "classes": first.n_classes,
        "dim": first.features.shape[1],
        "l2": first.l2,
        "gtol": first.gtol,
        "requests": len(rows),
        "removed": len(removed_ids),
        "time_s": {"total": round(sum(times), 3), "max": max(times), "mean": round(sum(times) / len(times), 4)},
        "max_iterations": max(r["iterations"] for r in rows),
        "max_gradient_norm": max(r["certificate"]["gradient_norm"] for r in rows),
        "retrain": compare_with_retrain(first, state, removed_ids),
        "per_request": rows,
    }


def main(argv=None):
    """Parse the options, run :func:`sequential_report`, print (and write) the JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_unlearn.benchmark.sequential", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--state", required=True, help="a deletion-ready original's deletable.pt")
    parser.add_argument("--train_csv", required=True, help="a manifest with ID and spk_id of every training utterance")
    parser.add_argument("--utterance_requests", type=int, default=80)
    parser.add_argument("--speaker_requests", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="also write the JSON here")
    opts = parser.parse_args(argv)
    try:
        state = DeletableState.load(opts.state)
        speakers = read_speakers(opts.train_csv)
        report = sequential_report(state, speakers, opts.utterance_requests, opts.speaker_requests, opts.seed)
    except (OSError, UnlearnError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in report.items() if k != "per_request"}, indent=1))
    if opts.output:
        write_json(opts.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
