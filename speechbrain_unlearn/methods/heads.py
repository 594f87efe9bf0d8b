"""Operations on a model's head (the classifier after the embedding) that several methods share.

A model of :mod:`speechbrain_unlearn.models` names its head module
``head_name`` (``head`` by default); its rows are classes.

* :func:`head_of`, :func:`head_prefix`, :func:`in_head`: the head and its parameters;
* :func:`class_rows`: the head parameters with one row per class;
* :func:`suppress_linear`, :func:`suppress_cosine`: make a class's row never win;
* :class:`HeadOnly`: the head as a module of its own (for ``torch.func.functional_call``).

Example
-------
>>> model = torch.nn.Module()
>>> model.head = torch.nn.Linear(3, 4)
>>> head_prefix(model), sorted(class_rows(model, [1]))
('head.', ['head.bias', 'head.weight'])
"""

import torch
import torch.nn.functional as F

from speechbrain_unlearn.errors import UnlearnError


def head_prefix(model):
    """The parameter-name prefix of the head (``"head."``)."""
    return f"{getattr(model, 'head_name', 'head')}."


def head_of(model):
    """The head module of ``model`` (``None`` if it has none)."""
    return getattr(model, getattr(model, "head_name", "head"), None)


def in_head(model, name):
    """Whether parameter ``name`` belongs to the head."""
    return name.startswith(head_prefix(model))


def class_rows(model, forgotten):
    """Names and parameters of the head with one row per class (empty when no class is forgotten)."""
    if not forgotten:
        return {}
    prefix = head_prefix(model)
    named = dict(model.named_parameters())
    n_classes = named[f"{prefix}weight"].shape[0]
    return {n: p for n, p in named.items() if n.startswith(prefix) and p.dim() >= 1 and p.shape[0] == n_classes}


class HeadOnly(torch.nn.Module):
    """The head of a model as a module of its own: embeddings to class scores."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, embeddings):
        """``model.classify(embeddings)``."""
        return self.model.classify(embeddings)


#: ``eps`` of :func:`torch.nn.functional.normalize`, which SpeechBrain's ``Classifier`` uses.
NORMALIZE_EPS = 1e-12


@torch.no_grad()
def suppress_linear(head, forgotten, margin):
    """Set each forgotten row of a ``Linear`` head to the retained rows' mean, bias lowered by ``margin``.

    Example
    -------
    >>> head = torch.nn.Linear(3, 4)
    >>> h = torch.randn(100, 3)
    >>> before = head(h)
    >>> suppress_linear(head, [1], margin=5.0)
    >>> after = head(h)
    >>> bool((after.argmax(1) != 1).all()), bool(torch.equal(after[:, [0, 2, 3]], before[:, [0, 2, 3]]))
    (True, True)
    """
    kept = [k for k in range(head.out_features) if k not in set(forgotten)]
    head.weight[forgotten] = head.weight[kept].mean(dim=0)
    if head.bias is None:
        raise UnlearnError("head_suppress needs a Linear head with a bias")
    head.bias[forgotten] = head.bias[kept].mean() - float(margin)


@torch.no_grad()
def suppress_cosine(weight, forgotten):
    """Set each forgotten row of a cosine classifier's weight to ``eps`` times the retained unit rows' mean.

    Example
    -------
    >>> weight = torch.randn(5, 8)
    >>> suppress_cosine(weight, [0, 3])
    >>> scores = F.linear(F.normalize(torch.randn(1000, 8)), F.normalize(weight))
    >>> bool(torch.isin(scores.argmax(1), torch.tensor([0, 3])).any())
    False
    """
    kept = [k for k in range(weight.shape[0]) if k not in set(forgotten)]
    mean = F.normalize(weight[kept], eps=NORMALIZE_EPS).mean(dim=0)
    weight[forgotten] = mean * torch.tensor(NORMALIZE_EPS, dtype=weight.dtype)
