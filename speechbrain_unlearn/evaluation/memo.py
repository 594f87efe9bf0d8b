"""Reusing the evaluation of models that many runs share.

Every method's run of a task, seed and split evaluates the same original,
reference, noise-floor reference and shadow models, and attacks the same
original and reference: their scores, embeddings and relearning curves are
the same numbers each time (the runs are seeded). A :class:`Memo` keeps such
a result in ``<cache_folder>/evaluations/<task>/`` under a digest of
everything it depends on:

* the model's weights (:func:`state_hash`);
* the task's training configuration (``training_key``: the task hparams
  and their overrides, which fix the features and the model);
* every utterance involved (:meth:`~speechbrain_unlearn.data.utterances.UtteranceSet.identity`:
  IDs, labels, files and segments);
* the settings of the computation (batch sizes, steps, learning rate, seed).

A later run with the same inputs loads the result instead of computing it;
a change to any input is a new entry. The unlearned model's results are
never stored (it is new in every run), only looked up (:meth:`Memo.reader`:
a retrained model equals the reference, an influence step keeps the
deletion-ready core). Only tensors and plain values are stored, and
loading never unpickles code.

Example
-------
>>> import tempfile
>>> memo = Memo(tempfile.mkdtemp())
>>> calls = []
>>> compute = lambda: calls.append(1) or {"acc": np.array([1.0, 0.5]), "ids": ["a", "b"]}
>>> first = memo(["score", "model-sha", 16], compute)
>>> again = memo(["score", "model-sha", 16], compute)
>>> len(calls), again["ids"], again["acc"].tolist(), (memo.hits, memo.misses)
(1, ['a', 'b'], [1.0, 0.5], (1, 1))
>>> Memo(None)(["score"], compute)["ids"] and len(calls)  # no folder: always computed
2
>>> reader = memo.reader()
>>> _ = reader(["score", "model-sha", 16], compute), reader(["other"], compute), reader(["other"], compute)
>>> len(calls), (reader.hits, reader.misses)  # a reader loads, and computes without storing
(4, (1, 2))
"""

import hashlib
import os

import numpy as np
import torch

from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.io import digest, load_tensors, save_tensors

#: Marks a numpy array stored as a tensor.
_NUMPY = "__numpy__"


def state_hash(model):
    """SHA-256 of a model's parameters and buffers (or of a state dict).

    Example
    -------
    >>> a, b = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    >>> _ = b.load_state_dict(a.state_dict())
    >>> state_hash(a) == state_hash(b), state_hash(a) == state_hash(torch.nn.Linear(2, 2))
    (True, False)
    """
    sha = hashlib.sha256()
    state = model if isinstance(model, dict) else model.state_dict()
    for name, tensor in sorted(state.items()):
        sha.update(name.encode())
        sha.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()


def _encode(obj):
    if isinstance(obj, np.ndarray):
        return {_NUMPY: torch.from_numpy(np.ascontiguousarray(obj))}
    if isinstance(obj, np.generic):  # a numpy scalar: the plain value
        return obj.item()
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_encode(v) for v in obj)
    return obj


def _decode(obj):
    if isinstance(obj, dict):
        if set(obj) == {_NUMPY}:
            return obj[_NUMPY].numpy()
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_decode(v) for v in obj)
    return obj


class Memo:
    """Results stored under a digest of their inputs (see the module docstring).

    Arguments
    ---------
    folder : str or None
        Where the entries live; ``None`` computes everything every time.
    training_key : str
        A digest of the task's training configuration (the task hparams and
        their overrides, which fix the features and the model), part of
        every key of :meth:`on_model`.
    store : bool
        Whether a computed result is stored (``False``: :meth:`reader`).
    """

    def __init__(self, folder, training_key="", store=True):
        self.folder, self.training_key, self.store = folder, training_key, store
        self.hits = self.misses = 0

    def reader(self):
        """The same entries, loaded but never written: for a model no later run will meet again."""
        return Memo(self.folder, self.training_key, store=False)

    def __call__(self, key, compute):
        """The result stored for ``key`` (a JSON-serialisable list), or ``compute()`` stored under it."""
        if self.folder is None:
            return compute()
        path = os.path.join(self.folder, f"{digest(key, 24)}.pt")
        if os.path.exists(path):
            try:
                value = _decode(load_tensors(path))
            except (OSError, UnlearnError):
                value = None  # unreadable (never written half-way, but a disk can fail): compute it again
            if value is not None:
                self.hits += 1
                return value
        value = compute()
        if self.store:
            save_tensors(path, _encode(value))
        self.misses += 1
        return value

    def fingerprint(self, model):
        """The model's :func:`state_hash` (``None`` without a folder: nothing is keyed)."""
        return state_hash(model) if self.folder is not None else None

    def on_model(self, kind, model, hparams, parts, compute):
        """``compute()``, a computation ``kind`` on ``model``, keyed by its weights and inputs.

        ``model`` may be given as its :meth:`fingerprint`, computed once for
        several calls. The key is ``kind``, the model's :func:`state_hash`, the
        memo's ``training_key``, the run's ``eval_batch_size``, and ``parts()`` (a callable
        giving the utterances and settings involved; not called without a
        folder).
        """
        if self.folder is None:
            return compute()
        state = model if isinstance(model, str) else state_hash(model)
        model_part = [self.training_key, state, int(hparams["eval_batch_size"])]
        return self([kind, *model_part, *parts()], compute)
