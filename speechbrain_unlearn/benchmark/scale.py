"""``python -m speechbrain_unlearn.benchmark.scale``: deletion requests on a deletion-ready head at a chosen size.

Builds synthetic core features (class means plus noise: VoxCeleb1's size by
default, 145,000 utterances of 1,251 speakers in 192 dimensions), solves the
deletable head on them (:class:`~speechbrain_unlearn.deletable.state.DeletableState`),
then serves a request of ``--request_utterances`` utterances and a request
for one whole speaker, one after the other, and prints, for the fit and each
request, the wall time, Newton iterations, Hessian products, certificate and
peak memory (:class:`~speechbrain_unlearn.cost.CostMeter`), as JSON (also
written to ``--output`` if given). The fit is solved to ``--fit_gtol``; each
request until its certificate bounds the distance to the retrained head by
``--relative_bound`` (default 1e-4, the exactness asked of influence on a
deletion-ready model) times the head's norm. ``--check_retrain`` also
retrains the head from zeros without the removed utterances and reports the
distance to it, which costs about a fit. Times on a shared machine vary
with its load, so the report holds the machine's float32 matrix-product
speed measured before the fit and after the requests.

Example
-------
>>> report = scale_report(utterances=120, classes=6, dim=4, request_utterances=3, seed=0)
>>> [r["request"] for r in report["requests"]], 0 < report["requests"][1]["removed"] <= 120 // 6
(['utterances', 'speaker'], True)
>>> all(r["certificate"]["gradient_norm"] <= report["gtol"] for r in report["requests"])
True
>>> all(r["certificate"]["relative_distance_bound"] <= 1.01e-4 for r in report["requests"])
True
"""

import argparse
import dataclasses
import sys
import time

import torch

from speechbrain_unlearn.benchmark.common import emit_report
from speechbrain_unlearn.cost import CostMeter
from speechbrain_unlearn.deletable.solve import newton
from speechbrain_unlearn.deletable.state import DeletableState


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
    row["hessian_products"], row["emptied_classes"] = report["products"], len(report["emptied_classes"])
    row["certificate"] = {
        **report["certificate"],
        "relative_distance_bound": report["certificate"]["distance_bound"] / float(after.theta.norm()),
    }
    row.update(cost.result())
    if check_retrain:
        retrained, again, _ = newton(after.objective(), gtol=after.gtol)
        row["distance_to_retrain"] = float((after.theta - retrained).norm())
        row["relative_distance_to_retrain"] = row["distance_to_retrain"] / float(retrained.norm())
        row["retrain_certificate_gradient_norm"] = again["gradient_norm"]
    return after, row


def machine_gflops(size=2048, repeats=5):
    """The float32 matrix-product speed of this machine now, in GFLOP/s (times on a shared machine vary)."""
    a, b = torch.randn(size, 192), torch.randn(192, 1251)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return round(2 * size * 192 * 1251 * repeats / (time.perf_counter() - start) / 1e9, 1)


def scale_report(
    utterances=145_000,
    classes=1251,
    dim=192,
    request_utterances=10,
    l2=1e-3,
    fit_gtol=1e-8,
    relative_bound=1e-4,
    seed=0,
    check_retrain=False,
):
    """Fit the head on synthetic features, then serve an utterance request and a speaker request.

    Requests stop at the gradient norm that certifies a distance to the
    retrained head of at most ``relative_bound`` times the head's norm:
    ``gtol = relative_bound * lambda * ||theta||``.
    """
    features, labels = synthetic_features(utterances, classes, dim, seed)
    ids = [f"u{i:07d}" for i in range(utterances)]
    gflops = machine_gflops()
    with CostMeter() as cost:
        state = DeletableState.fit(ids, features, labels, classes, l2, fit_gtol)
    fit = {**cost.result(), "gradient_norm": state.gradient_norm()}
    state = dataclasses.replace(state, gtol=relative_bound * l2 * float(state.theta.norm()))
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
        "fit_gtol": fit_gtol,
        "relative_bound": relative_bound,
        "gtol": state.gtol,
        "threads": torch.get_num_threads(),
        "float32_gflops": {"before": gflops, "after": machine_gflops()},
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
    parser.add_argument("--fit_gtol", type=float, default=1e-8, help="the fit's gradient tolerance")
    parser.add_argument(
        "--relative_bound",
        type=float,
        default=1e-4,
        help="certified distance to the retrained head, relative to its norm, each request is solved to",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check_retrain", action="store_true")
    parser.add_argument("--output", default=None, help="also write the JSON here")
    opts = parser.parse_args(argv)
    if min(opts.utterances, opts.classes, opts.dim) < 1 or opts.request_utterances >= opts.utterances:
        parser.error("sizes must be positive and the request smaller than the set")
    report = scale_report(**{k: v for k, v in vars(opts).items() if k != "output"})
    emit_report(report, opts.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
