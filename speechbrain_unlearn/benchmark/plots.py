"""The benchmark's figures (matplotlib, imported when a figure is drawn), saved as PNG atomically."""

import math
import textwrap

import numpy as np

from speechbrain_unlearn.benchmark.common import dig, mean_std, number
from speechbrain_unlearn.benchmark.tables import ATTACKS, by_seed, method_value, noise_floor, scaling_series
from speechbrain_unlearn.io import atomic_path

ATTACK_NAMES = {
    "kshot": "k-shot attack: trains on half of the forget set, scored on the other half",
    "benign": "benign attack: trains on retain utterances only",
}


def save_png(fig, path, dpi=120):
    """Save a matplotlib figure as PNG, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)


def _figure(ncols, title):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4 * ncols, 5.4))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    fig.suptitle(title)
    return fig, axes


def _colors(methods):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(methods) <= 10 else "tab20"]
    return {m: cmap(i % cmap.N) for i, m in enumerate(methods)}


def _legend(fig, axes):
    handles, labels = {}, []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in handles:
                handles[label] = handle
                labels.append(label)
    ncol = min(len(labels), 6) or 1
    rows = math.ceil(len(labels) / ncol)
    fig.legend([handles[k] for k in labels], labels, loc="lower center", ncol=ncol, fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.045 * rows, 1, 1))


def plot_tradeoff(path, task, scenario, runs, methods):
    """Average gap against test accuracy (left) and unlearning time (right), one point per method."""
    ok = [r for r in runs if r.status == "ok"]
    seeds = len({r.seed for r in ok})
    fig, (left, right) = _figure(
        2, f"{task}, {scenario}: forgetting against utility and cost (mean ± std over {_seeds(seeds)})"
    )
    floor, _, floor_n = mean_std(noise_floor(ok)["avg"])
    for ax in (left, right):
        if floor_n:
            ax.axhspan(0, floor, color="0.85", zorder=0, label=f"noise floor ({floor:.4f})")
        ax.axhline(0, color="0.6", lw=0.8, zorder=0)
    _method_points(left, right, ok, methods)
    if ok:
        _original_and_reference(left, right, ok)
    left.set_xlabel("test accuracy of the unlearned model (%)")
    right.set_xlabel("unlearning wall time (s, log scale)")
    if right.has_data():
        _log_axis(right.xaxis)
    for ax, title in ((left, "gap vs. utility"), (right, "gap vs. cost")):
        ax.set_ylabel("average gap to the retrained reference (fraction)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    if not ok:
        for ax in (left, right):
            ax.text(0.5, 0.5, "no results", transform=ax.transAxes, ha="center")
    _legend(fig, (left, right))
    save_png(fig, path)


def _method_points(left, right, ok, methods):
    """Each method's mean gap (± std) against its test accuracy (left) and its unlearning time (right)."""
    colors = _colors(methods)
    gap = method_value("avg_gap", "unlearned")
    test_acc = method_value("test_acc", "unlearned")
    unlearn_time = method_value("time", "unlearned")
    for method in methods:
        members = [r for r in ok if r.method == method]
        if not members:
            continue
        for ax, getter, scale in ((left, test_acc, 100.0), (right, unlearn_time, 1.0)):
            x, xs, nx = mean_std([number(getter(r.results)) * scale for r in members])
            y, ys, ny = mean_std([number(gap(r.results)) for r in members])
            if not (nx and ny) or (ax is right and x <= 0):
                continue
            ax.errorbar(
                x,
                y,
                xerr=0 if math.isnan(xs) else xs,
                yerr=0 if math.isnan(ys) else ys,
                fmt="o",
                color=colors[method],
                ecolor=(*colors[method][:3], 0.5),
                elinewidth=1,
                capsize=2,
                zorder=3,
                label=method,
            )
            ax.annotate(method, (x, y), textcoords="offset points", xytext=(5, 5), fontsize="small")


def _original_and_reference(left, right, ok):
    """The original (doing nothing) and the retrained reference, on both panels."""
    orig_acc = mean_std(by_seed(ok, method_value("test_acc", "original")))
    orig_gap = mean_std(by_seed(ok, method_value("avg_gap", "original")))
    ref_acc = mean_std(by_seed(ok, method_value("test_acc", "retrained")))
    ref_time = mean_std(by_seed(ok, method_value("time", "retrained")))
    if orig_acc[2] and orig_gap[2]:
        left.errorbar(
            orig_acc[0] * 100,
            orig_gap[0],
            xerr=_z(orig_acc[1]) * 100,
            yerr=_z(orig_gap[1]),
            fmt="X",
            ms=10,
            zorder=2,
            color="black",
            capsize=3,
            label="original (nothing)",
        )
        right.axhline(orig_gap[0], color="black", ls=":", label="original (nothing)")
        right.annotate(
            "original (nothing)",
            (0, orig_gap[0]),
            xycoords=("axes fraction", "data"),
            xytext=(4, 3),
            textcoords="offset points",
            fontsize="small",
        )
    if ref_acc[2]:
        left.plot(ref_acc[0] * 100, 0, "*", ms=16, color="gold", mec="black", label="reference (retrain)")
    if ref_time[2] and ref_time[0] > 0:
        right.axvline(ref_time[0], color="black", ls="--", lw=1)
        right.annotate(
            "retrain",
            (ref_time[0], 1),
            xycoords=("data", "axes fraction"),
            xytext=(-4, -4),
            textcoords="offset points",
            rotation=90,
            ha="right",
            va="top",
        )
        right.plot(ref_time[0], 0, "*", ms=16, color="gold", mec="black", label="reference (retrain)")


def _log_axis(axis):
    """A log-scale axis with plain tick labels at 1, 2, 5 x powers of ten (no overlapping minor labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if axis.axis_name == "x":
        axis.axes.set_xscale("log")
    else:
        axis.axes.set_yscale("log")
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _seeds(n):
    return f"{n} seed{'s' * (n != 1)}"


def _z(value):
    return 0.0 if math.isnan(value) else value


def relearn_curves(members, kind, model):
    """Steps and the mean forget accuracy (%) along a relearning attack, over ``members``' runs.

    Runs without a ``curve`` but with post-attack accuracies give two points:
    before (the model's forget accuracy) and after the attack.
    """
    by_steps = {}
    for run in members:
        res = run.results
        curve = dig(res, f"relearn.{kind}.curve")
        steps = values = None
        if isinstance(curve, dict) and curve.get("steps") and curve.get(model):
            steps, values = curve["steps"], curve[model]
        else:
            after = dig(res, f"relearn.{kind}.post_attack.{model}.forget_acc")
            before = dig(res, f"metrics.{model}.forget_acc")
            total = dig(res, f"relearn.{kind}.steps")
            if after is not None and before is not None and total:
                steps, values = [0, total], [before, after]
        if steps is not None and len(steps) == len(values):
            by_steps.setdefault(tuple(steps), {}).setdefault(run.seed, []).append(values)
    if not by_steps:
        return None, None
    steps, per_seed = max(by_steps.items(), key=lambda item: len(item[1]))
    seeds = [np.nanmean(np.array(v, dtype=float), axis=0) for v in per_seed.values()]
    return list(steps), 100 * np.nanmean(np.array(seeds), axis=0)


def plot_relearn(path, task, scenario, runs, methods):
    """Forget accuracy along the k-shot (left) and benign (right) relearning attacks."""
    ok = [r for r in runs if r.status == "ok"]
    seeds = len({r.seed for r in ok})
    fig, axes = _figure(2, f"{task}, {scenario}: relearning attacks (mean over {_seeds(seeds)})")
    colors = _colors(methods)
    for ax, kind in zip(axes, ATTACKS):
        drawn, ticks = False, set()
        for method in methods:
            steps, acc = relearn_curves([r for r in ok if r.method == method], kind, "unlearned")
            if steps is not None:
                ax.plot(steps, acc, "o-", color=colors[method], label=method)
                drawn = True
                ticks.update(steps)
        for model, label, style in (
            ("original", "original (nothing)", dict(color="black", ls="--", marker="X")),
            ("retrained", "reference (retrain)", dict(color="goldenrod", ls="--", marker="*", ms=10)),
        ):
            steps, acc = relearn_curves(ok, kind, model)
            if steps is not None:
                ax.plot(steps, acc, label=label, **style)
                drawn = True
                ticks.update(steps)
        if not drawn:
            why = next(
                (dig(r.results, f"relearn.{kind}.skipped") for r in ok if dig(r.results, f"relearn.{kind}.skipped")),
                None,
            )
            text = f"no data: skipped ({why})" if why else f"no data (no relearn.{kind} in the runs)"
            ax.text(0.5, 0.5, textwrap.fill(text, 50), transform=ax.transAxes, ha="center", va="center")
        ax.set_title(ATTACK_NAMES[kind])
        ax.set_xlabel("attack steps (minibatch updates)")
        ax.set_ylabel("forget accuracy after the attack steps (%)")
        if ticks:
            ax.set_xticks(sorted(ticks))
        ax.grid(alpha=0.3)
    _legend(fig, axes)
    save_png(fig, path)


# --------------------------------------------------------------------------- scaling


def plot_scaling(path, task, runs, methods):
    """Time against training utterances (left) and forget utterances (right), log-log."""
    fig, axes = _figure(2, f"{task}: wall time as the data grows")
    colors = _colors(methods)
    for ax, axis, what in zip(axes, ("train", "forget"), ("training utterances", "forget utterances")):
        series = scaling_series(runs, task, axis, methods)
        for line, (xs, ys) in series.items():
            style = dict(color="black", ls="--", marker="*", ms=10) if line == "retrain" else dict(color=colors[line])
            ax.plot(xs, ys, marker=style.pop("marker", "o"), label=line, **style)
        if series:
            _log_axis(ax.xaxis)
            _log_axis(ax.yaxis)
            points = sorted({x for xs, _ in series.values() for x in xs})
            ax.set_xticks(points, [f"{x:.0f}" for x in points])
        else:
            ax.text(0.5, 0.5, "no results", transform=ax.transAxes, ha="center")
        ax.set_xlabel(f"{what} (log scale)")
        ax.set_ylabel("wall time (s, log scale)")
        ax.set_title(f"time vs. {what}")
        ax.grid(alpha=0.3, which="both")
    _legend(fig, axes)
    save_png(fig, path)
