"""``python -m speechbrain_unlearn.benchmark.scale``: deletion requests on a deletion-ready head at a chosen size.

Builds synthetic core features (class means plus noise: VoxCeleb1's size by
default, 145,000 utterances of 1,251 speakers in 192 dimensions), solves the
deletable head on them (:class:`~speechbrain_unlearn.deletable.state.DeletableState`),
then serves a request of ``--request_utterances`` utterances and a request
for one whole speaker, one after the other, and prints, for the fit and each
request, the wall time, Newton iterations, certificate and peak memory
(:class:`~speechbrain_unlearn.cost.CostMeter`), as JSON (also written to
``--output`` if given). ``--check_retrain`` also retrains the head from
zeros without the removed utterances and reports the distance to it, which
costs about a fit.

Example
-------
>>> report = scale_report(utterances=120, classes=6, dim=4, request_utterances=3, seed=0)
>>> [r["request"] for r in report["requests"]], 0 < report["requests"][1]["removed"] <= 120 // 6
(['utterances', 'speaker'], True)
>>> all(r["certificate"]["gradient_norm"] <= report["gtol"] for r in report["requests"])
True
"""

import argparse
import json
import sys

import torch

from speechbrain_unlearn.cost import CostMeter
from speechbrain_unlearn.deletable.solve import newton
from speechbrain_unlearn.deletable.state import DeletableState
from speechbrain_unlearn.io import write_json


def synthetic_features(utterances, classes, dim, seed):
    """Features ``(n, dim)`` around seeded class means, labels spread evenly over the classes."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(utterances) % classes
    means = torch.randn(classes, dim, generator=gen, dtype=torch.float64)
    return means[labels] + 1.5 * torch.randn(utterances, dim, generator=gen, dtype=torch.float64), labels


def served(state, name, forget, check_retrain):
    """Serve one request on ``state``: the next state and the request's row of the report."""
    with CostMeter() as cost:
        after, report = state.remove(forget)
    row = {"request": name, "removed": report["removed"], "iterations": report["iterations"]}
    row.update({"certificate": report["certificate"], **cost.result()})
    if check_retrain:
        retrained, again = newton(after.objective(), gtol=after.gtol)
        row["distance_to_retrain"] = float((after.theta - retrained).norm())
        row["relative_distance_to_retrain"] = row["distance_to_retrain"] / float(retrained.norm())
        row["retrain_certificate_gradient_norm"] = again["gradient_norm"]
    return after, row


def scale_report(
    utterances=145_000, classes=1251, dim=192, request_utterances=10, l2=1e-3, gtol=1e-8, seed=0, check_retrain=False
):
    """Fit the head on synthetic features, then serve an utterance request and a speaker request."""
    features, labels = synthetic_features(utterances, classes, dim, seed)
    ids = [f"u{i:07d}" for i in range(utterances)]
    with CostMeter() as cost:
        state = DeletableState.fit(ids, features, labels, classes, l2, gtol)
    fit = {**cost.result(), "gradient_norm": float(state.objective().gradient(state.theta).norm())}
    order = torch.randperm(utterances, generator=torch.Generator().manual_seed(seed + 1)).tolist()
    state, first = served(state, "utterances", [ids[i] for i in order[:request_utterances]], check_retrain)
    speaker = int(labels[order[request_utterances]])
    left = [utt for utt, label in zip(state.ids, state.labels.tolist()) if label == speaker]
    state, second = served(state, "speaker", left, check_retrain)
    return {
        "utterances": utterances,
        "classes": classes,
        "dim": dim,
        "parameters": classes * (dim + 1),
        "l2": l2,
        "gtol": gtol,
        "threads": torch.get_num_threads(),
        "fit": fit,
        "requests": [first, second],
    }


def main(argv=None):
    """Parse the options, run :func:`scale_report`, print (and write) the JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_unlearn.benchmark.scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--utterances", type=int, default=145_000)
    parser.add_argument("--classes", type=int, default=1251)
    parser.add_argument("--dim", type=int, default=192)
    parser.add_argument("--request_utterances", type=int, default=10)
    parser.add_argument("--l2", type=float, default=1e-3)
    parser.add_argument("--gtol", type=float, default=1e-8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check_retrain", action="store_true")
    parser.add_argument("--output", default=None, help="also write the JSON here")
    opts = parser.parse_args(argv)
    if min(opts.utterances, opts.classes, opts.dim) < 1 or opts.request_utterances >= opts.utterances:
        parser.error("sizes must be positive and the request smaller than the set")
    report = scale_report(**{k: v for k, v in vars(opts).items() if k != "output"})
    print(json.dumps(report, indent=1))
    if opts.output:
        write_json(opts.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
