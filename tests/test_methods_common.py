"""What every method shares: configs that load and document their keys, the divergence guard."""

import glob
import inspect
import os
import re

import pytest
import speechbrain as sb
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from speechbrain_unlearn.brain import train_keeping_batchnorm_statistics
from speechbrain_unlearn.config import load_hparams, top_level_keys
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.methods.base import Unlearner
from speechbrain_unlearn.methods.guard import Diverged, DivergenceGuard
from tests.support import ROOT
from tests.toy import evaluate, toy_setup

CONFIGS = sorted(glob.glob(os.path.join(ROOT, "hparams", "*.yaml")))
TASKS = [os.path.join(ROOT, "recipes", t, "hparams", "train.yaml") for t in ("SpeechCommands", "VoxCeleb")]
#: Keys every method file has; documented in hparams/README.md rather than per method.
COMMON = {"method", "unlearner"}


@pytest.mark.parametrize("config", CONFIGS, ids=os.path.basename)
def test_config_loads_on_both_tasks_and_documents_its_keys(config):
    text = open(config, encoding="utf-8").read()
    keys = top_level_keys(text)
    method = os.path.splitext(os.path.basename(config))[0]
    for task in TASKS:
        hp = load_hparams(task, config)
        assert hp["method"] == method
        assert issubclass(hp["unlearner"], Unlearner)
    # every key has a comment above it, shared at most by the keys of its group
    lines = text.splitlines()
    for key in set(keys) - COMMON:
        (index,) = [i for i, line in enumerate(lines) if line.startswith(f"{key}:")]
        above = index - 1
        while above > 0 and (lines[above].startswith(" ") or re.match(r"^[a-z_]+:", lines[above])):
            above -= 1
        assert lines[above].startswith("#") and index - above <= 8, f"{method}: {key} has no comment"
    # the method's docstring names every key it reads, and names no key the file lacks
    doc = inspect.getmodule(hp["unlearner"]).__doc__
    for key in set(keys) - COMMON:
        assert f"``{key}``" in doc, f"{method}: the docstring does not name {key}"
    named = set(re.findall(r"``([a-z][a-z0-9_]*)``", doc.split("Hparams")[-1])) if "Hparams" in doc else set()
    task_keys = set(top_level_keys(open(TASKS[0]).read())) | set(top_level_keys(open(TASKS[1]).read()))
    unknown = {k for k in named if k not in keys and k not in task_keys and "_" in k}
    assert not unknown, f"{method}: the docstring names keys in neither file: {unknown}"


def test_guard_stops_a_collapsing_ascent_and_restores_the_last_good_weights():
    setup = toy_setup("finetune")
    brain, forget, retain = setup["unlearner"], setup["forget"], setup["retain"]
    guard = DivergenceGuard(brain, retain, floor=0.8, every=2, samples=64, seed=1)
    model = brain.modules.model
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    feats = torch.stack([x["feats"] for x in forget])
    labels = torch.tensor([x["label"] for x in forget])
    snapshots = {}
    with pytest.raises(Diverged, match="fell below guard_retain_floor 0.8"):
        for _ in range(200):
            loss = -torch.nn.functional.cross_entropy(model(feats, torch.ones(len(forget))), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            guard.step(loss)
            snapshots[guard.steps] = {k: v.clone() for k, v in model.state_dict().items()}
    status = guard.status()
    assert status["status"] == "diverged" and 0 < status["restored_step"] < status["steps"]
    good = snapshots[status["restored_step"]] if status["restored_step"] else setup["original"].state_dict()
    assert all(torch.equal(good[k], v) for k, v in model.state_dict().items())
    assert evaluate(model, retain)[1] >= 0.8


def test_guard_without_a_floor_only_checks_finiteness():
    setup = toy_setup("finetune")
    guard = DivergenceGuard(setup["unlearner"], setup["retain"], floor=None, every=1, samples=8, seed=1)
    for _ in range(3):
        guard.step(torch.tensor(1.0))
    assert guard.status() == {
        "status": "ok",
        "reason": None,
        "steps": 3,
        "restored_step": None,
        "retain_check_acc": None,
    }


def test_class_only_methods_refuse_a_split_without_whole_classes():
    class ClassOnly(Unlearner):
        needs_forgotten_classes = True

    ClassOnly.check_split(["yes"])
    with pytest.raises(UnlearnError, match="use scenario class"):
        ClassOnly.check_split([])


@pytest.mark.parametrize(
    "method,overrides",
    [("neggrad", {"unlearn_lr": 1.0, "unlearn_epochs": 50, "guard_every": 1}), ("finetune", {"unlearn_epochs": 1})],
)
def test_run_leaves_the_model_in_eval_mode(method, overrides):
    """Also when the guard stops a loop mid-epoch, or the method trained through SpeechBrain's fit."""
    setup = toy_setup(method, overrides=overrides)
    _, status = setup["unlearner"].run(setup["request"])
    assert status["status"] == ("diverged" if method == "neggrad" else "ok")
    assert not any(m.training for m in setup["unlearner"].modules.model.modules())


def test_guard_check_keeps_every_module_mode():
    setup = toy_setup("finetune")
    brain = setup["unlearner"]
    guard = DivergenceGuard(brain, setup["retain"], floor=0.0, every=1, samples=8, seed=1)
    model = train_keeping_batchnorm_statistics(brain.modules.model)
    modes = [m.training for m in model.modules()]
    guard.check()
    assert guard.accuracy is not None and False in modes and True in modes
    assert [m.training for m in model.modules()] == modes


def test_guard_catches_weights_that_went_non_finite_after_the_last_step():
    setup = toy_setup("finetune")
    guard = DivergenceGuard(setup["unlearner"], setup["retain"], floor=None, every=1, samples=8, seed=1)
    guard.step(0.5)  # the loss of the last step was finite, the update was not
    with torch.no_grad():
        setup["unlearner"].modules.model.head.weight.fill_(float("inf"))
    with pytest.raises(Diverged, match="weights were not finite"):
        guard.check()
    assert all(torch.isfinite(p).all() for p in setup["unlearner"].modules.model.parameters())


def step_loop_trace(run_opts):
    """NegGrad on the toy task under ``run_opts``: per training forward the dtype, per optimiser step the grad norm."""
    setup = toy_setup("neggrad", overrides={"unlearn_batch_size": 3}, run_opts=run_opts)  # 4 batches an epoch
    unlearner = setup["unlearner"]
    trace = {"dtypes": [], "norms": []}

    def forward_hook(module, inputs, output):
        if module.training:  # the guard's accuracy checks score in eval mode
            trace["dtypes"].append(output.dtype)

    def step_hook(optimizer, args, kwargs):
        grads = [p.grad for p in optimizer.param_groups[0]["params"] if p.grad is not None]
        trace["norms"].append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))

    forward = unlearner.modules.model.head.register_forward_hook(forward_hook)
    step = register_optimizer_step_pre_hook(step_hook)
    try:
        _, status = unlearner.run(setup["request"])
    finally:
        forward.remove()
        step.remove()
    return trace, status


def test_precision_clipping_and_accumulation_reach_a_guarded_methods_step_loop():
    # the options as the recipe's command line gives them to every Brain
    _, run_opts, _ = sb.parse_arguments(
        [os.path.join(ROOT, "hparams", "neggrad.yaml"), "--precision=bf16", "--max_grad_norm=0.001"]
        + ["--grad_accumulation_factor=2"]
    )
    default, default_status = step_loop_trace({})
    options = ("precision", "max_grad_norm", "grad_accumulation_factor")
    trace, status = step_loop_trace({k: run_opts[k] for k in options})
    assert set(default["dtypes"]) == {torch.float32}
    assert len(default["norms"]) == len(default["dtypes"]) == default_status["steps"]
    assert max(default["norms"]) > 0.01  # so the clip below is what bounds the norms
    assert set(trace["dtypes"]) == {torch.bfloat16}  # --precision: the objective runs under autocast
    assert len(trace["norms"]) * 2 == len(trace["dtypes"])  # --grad_accumulation_factor: a step every 2 batches
    assert len(trace["norms"]) == status["steps"] > 0  # and the guard checked each step
    assert max(trace["norms"]) <= 0.001 * 1.001  # --max_grad_norm: SpeechBrain's clip before each step
