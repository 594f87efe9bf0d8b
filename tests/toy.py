"""A toy task for per-method unit tests: seconds, no audio, no pipeline.

``toy_setup(method)`` loads ``hparams/<method>.yaml`` merged with a small task
file (the keys method files refer to), trains a small utterance classifier
(the interface of :mod:`speechbrain_unlearn.models`: ``embed``, ``classify``,
``forward(feats, lengths)``, with a BatchNorm) until it fits its training set,
some of whose labels are noisy so that they are only learnt by memorising, and
returns an unlearner holding a copy of it, with the deletion request it serves.
"""

import copy
import os
import tempfile

import numpy as np
import torch

from speechbrain_unlearn.config import load_hparams
from speechbrain_unlearn.data.utterances import UtteranceSet, label_encoder
from speechbrain_unlearn.request import DeletionRequest
from tests.support import ROOT

TOY_TASK = """\
seed: 3
cache_folder: results/cache
n_classes: 4
scenario: sample
lr: 0.01
weight_decay: 0.0
batch_size: 16
eval_batch_size: 64
number_of_epochs: 30
train_crop_frames: null
curvature_crop_frames: null
label_smoothing: 0.0
loss: !new:speechbrain_unlearn.losses.CrossEntropy
opt_class: !name:torch.optim.Adam
    lr: !ref <lr>
lr_annealing: null
"""
FEAT_DIM, FRAMES, PER_CLASS = 6, 5, 30


class ToyModel(torch.nn.Module):
    """Mean over time, two layers with a BatchNorm, a linear head."""

    def __init__(self, n_classes=4, hidden=32):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(FEAT_DIM, hidden),
            torch.nn.BatchNorm1d(hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden),
        )
        self.head = torch.nn.Linear(hidden, n_classes)

    def embed(self, feats, lengths):
        return torch.relu(self.body(feats.mean(1)))

    def classify(self, embeddings):
        return self.head(embeddings)

    def forward(self, feats, lengths):
        return self.classify(self.embed(feats, lengths))


def toy_items(n_classes, seed, prefix, noisy=0.15):
    """``PER_CLASS`` utterances per class around class means; a share of labels flipped."""
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(n_classes, FEAT_DIM, generator=torch.Generator().manual_seed(0)) * 1.5
    items = []
    for c in range(n_classes):
        for i in range(PER_CLASS):
            feats = means[c] + torch.randn(FRAMES, FEAT_DIM, generator=gen)
            label = c
            if torch.rand(1, generator=gen).item() < noisy:
                label = int(torch.randint(0, n_classes, (1,), generator=gen))
            items.append({"id": f"{prefix}{c}_{i}", "feats": feats, "label": label})
    return items


def toy_sets(train, forget):
    """Utterance sets of toy items: the forget set and the rest of ``train`` (features in a dict store)."""
    store = {x["id"]: x["feats"] for x in train}
    rows = [{"ID": x["id"], "label": x["label"]} for x in train]
    everything = UtteranceSet(rows, label_encoder(range(max(x["label"] for x in train) + 1)), store)
    forget_ids = {x["id"] for x in forget}
    forget_set = everything.subset([i for i, x in enumerate(train) if x["id"] in forget_ids])
    return forget_set, everything.without(forget_ids)


def toy_setup(method, scenario="sample", overrides=None, n_classes=4, run_opts=None):
    """An unlearner of ``hparams/<method>.yaml`` on a trained toy model, and the request it serves.

    ``run_opts`` are SpeechBrain run options of the unlearner (default: CPU).

    Returns
    -------
    dict
        ``unlearner``, ``request`` (a :class:`DeletionRequest`), ``original``
        (a frozen copy), ``forget``, ``retain`` (utterance sets), ``test``
        (a list of items), ``hparams``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        task = os.path.join(tmp, "task.yaml")
        with open(task, "w") as fh:
            fh.write(TOY_TASK)
        hp = load_hparams(
            task, os.path.join(ROOT, "hparams", f"{method}.yaml"), {"scenario": scenario, **(overrides or {})}
        )
    hp["n_classes"] = n_classes
    train = toy_items(n_classes, 1, "tr")
    test = toy_items(n_classes, 2, "te", noisy=0.0)
    if scenario == "class":
        forget = [x for x in train if x["label"] == 0]
        test = [x for x in test if x["label"] != 0]
    else:
        order = np.random.RandomState(0).permutation(len(train))[: len(train) // 10]
        forget = [train[i] for i in sorted(order)]
    original = trained_toy(train, n_classes, hp)

    def new_model(seed=None):
        torch.manual_seed(hp["seed"] if seed is None else seed)
        return ToyModel(n_classes)

    forget_set, retain_set = toy_sets(train, forget)
    request = DeletionRequest(
        forget=forget_set,
        retain=retain_set,
        forgotten_classes=(0,) if scenario == "class" else (),
        n_classes=n_classes,
        new_model=new_model,
    )
    unlearner_class = hp["unlearner"]
    unlearner = unlearner_class(
        modules={"model": copy.deepcopy(original)},
        opt_class=hp.get(unlearner_class.opt_key),
        hparams=hp,
        run_opts={"device": "cpu", **(run_opts or {})},
    )
    return {
        "unlearner": unlearner,
        "request": request,
        "original": original,
        "forget": forget_set,
        "retain": retain_set,
        "test": test,
        "hparams": hp,
    }


_TRAINED = {}


def trained_toy(train, n_classes, hp):
    """The toy original, trained once per label set (full batch Adam, memorises the noisy labels)."""
    key = (n_classes, tuple(x["label"] for x in train))
    if key not in _TRAINED:
        torch.manual_seed(0)
        model = ToyModel(n_classes)
        feats = torch.stack([x["feats"] for x in train])
        labels = torch.tensor([x["label"] for x in train])
        lengths = torch.ones(len(train))
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        model.train()
        for _ in range(600):
            loss = torch.nn.functional.cross_entropy(model(feats, lengths), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        _TRAINED[key] = model
    return copy.deepcopy(_TRAINED[key])


@torch.no_grad()
def evaluate(model, items):
    """Mean cross-entropy and accuracy of ``model`` on ``items`` (eval mode)."""
    model.eval()
    feats = torch.stack([x["feats"] for x in items])
    labels = torch.tensor([x["label"] for x in items])
    logits = model(feats, torch.ones(len(items)))
    loss = float(torch.nn.functional.cross_entropy(logits, labels))
    return loss, float((logits.argmax(1) == labels).float().mean())
