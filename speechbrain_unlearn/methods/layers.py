"""The last layers of a model, and training only them, for the methods that change only them (CF-k, EU-k).

A *layer* is a leaf module with weights of its own that maps its input to a
new representation: a linear, convolutional or recurrent layer (not a
normalisation). SpeechBrain's models (CRDNN, ECAPA-TDNN) register their
modules in the order the forward pass runs them, so the last ``k`` layers
before the head are the last ``k`` such modules outside it, and the *tail*
is everything registered from the first of them on: those layers, the
normalisations and pooling between them, and the head.

Example
-------
>>> model = torch.nn.Module()
>>> model.body = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 4))
>>> model.head = torch.nn.Linear(4, 2)
>>> layer_names(model)
['body.0', 'body.2']
>>> tail_parameters(model, 1)
['body.2.weight', 'body.2.bias', 'head.weight', 'head.bias']
>>> tail_parameters(model, 0)
['head.weight', 'head.bias']
"""

import torch

from speechbrain_unlearn.errors import UnlearnError

#: The module types that count as layers.
LAYER_TYPES = (torch.nn.Linear, torch.nn.modules.conv._ConvNd, torch.nn.RNNBase)


def _head_name(model):
    return getattr(model, "head_name", "head")


def layer_names(model):
    """The names of ``model``'s layers outside its head (``model.head_name``), in registration (forward) order."""
    head_name = _head_name(model)
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, LAYER_TYPES) and name.split(".")[0] != head_name
    ]


def tail_modules(model, k):
    """The modules of the tail: registered from the ``k``-th last layer on, and the head."""
    head_name, layers = _head_name(model), layer_names(model)
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= len(layers):
        raise UnlearnError(f"the number of last layers must be a whole number from 0 to {len(layers)}, not {k!r}")
    names = [name for name, _ in model.named_modules()]
    start = names.index(layers[-k]) if k else len(names)
    return {
        name: module
        for i, (name, module) in enumerate(model.named_modules())
        if (i >= start or name.split(".")[0] == head_name) and name
    }


def tail_parameters(model, k):
    """The names of the tail's parameters, in ``model.named_parameters()`` order."""
    tail = tail_modules(model, k)
    owners = {f"{name}.{p}" for name, module in tail.items() for p, _ in module.named_parameters(recurse=False)}
    return [name for name, _ in model.named_parameters() if name in owners]


def train_only(model, names):
    """Let only the parameters ``names`` be trained; return the previous ``requires_grad`` flags."""
    before = {name: p.requires_grad for name, p in model.named_parameters()}
    for name, p in model.named_parameters():
        p.requires_grad_(name in names and before[name])
    return before


def restore_requires_grad(model, before):
    """Undo :func:`train_only`."""
    for name, p in model.named_parameters():
        p.requires_grad_(before[name])


def train_tail(unlearner, request, keep_batchnorm_statistics, prepare=None):
    """Train only the tail of ``unlearner``'s model (``unlearn_layers`` layers and the head) on the retain set.

    Arguments
    ---------
    unlearner : Unlearner
        The method (``unlearn_layers``, ``unlearn_epochs``,
        ``unlearn_batch_size``, ``unlearn_opt_class``, ``loss``).
    request : DeletionRequest
        Its ``retain`` set is trained on.
    keep_batchnorm_statistics : bool
        BatchNorm layers in eval mode (statistics kept) while training.
    prepare : callable, optional
        ``prepare(model)`` after the body is frozen, before the optimiser is made.

    Returns
    -------
    dict
        ``layers``, ``trained_parameters`` and ``retain_loss_per_epoch``.
    """
    hp, model = unlearner.hparams, unlearner.modules.model
    tail = tail_parameters(model, hp.unlearn_layers)
    before = train_only(model, tail)
    if prepare is not None:
        prepare(model)
    named = dict(model.named_parameters())
    optimizer = hp.unlearn_opt_class([named[n] for n in tail])
    loader = unlearner.training_loader(request.retain, hp.unlearn_batch_size)

    def retain_loss(batch):
        loss = hp.loss(model(*batch.feats), batch.label).mean()
        return loss, loss

    try:
        losses = [
            round(unlearner.guarded_epoch(loader, epoch, optimizer, retain_loss, keep_batchnorm_statistics), 6)
            for epoch in range(int(hp.unlearn_epochs))
        ]
    finally:
        restore_requires_grad(model, before)
    model.eval()
    return {"layers": int(hp.unlearn_layers), "trained_parameters": len(tail), "retain_loss_per_epoch": losses}
