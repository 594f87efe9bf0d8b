"""Model folders in: a SpeechBrain model folder as a run's original, or as its deletion-ready core.

``pretrained_source: <local folder>`` in the task hparams names a folder in
the layout SpeechBrain's inference classes read (``hyperparams.yaml``,
``embedding_model.ckpt``, ``classifier.ckpt``, ``label_encoder.txt``), as
``spkrec-ecapa-voxceleb`` ships and as every run exports
(:mod:`~speechbrain_unlearn.export`). Nothing is fetched.

The folder's ``hyperparams.yaml`` is read without running it: its
references are resolved (HyperPyYAML's ``resolve_references``) and its
``!new:`` nodes read as plain arguments, so only the architecture is taken
from it (``ECAPA_TDNN``, or this package's ``PooledCRDNN``), with the
``Fbank`` size and the labels. The weights are loaded with
``weights_only=True``. Then

* ``training_regime: standard``: the original *is* the folder's model (its
  embedding and its head, rows ordered as the run's label encoder), so
  nothing is trained for it;
* ``training_regime: deletion_ready``: the folder's embedding model is the
  core (no core set is needed), standardised with the folder's
  ``standardisation.ckpt`` where it has one (a deletion-ready export),
  else not at all (mean 0, deviation 1), and the head is solved on the
  user data as usual.

Every mismatch is one line naming the file: a missing file, weights that
do not fit the architecture, a head whose classes are not the data's, a
label encoder that does not cover the training labels, an ``Fbank`` of
another size than the task's.
"""

import dataclasses
import hashlib
import importlib
import os

import torch
import yaml
from hyperpyyaml import resolve_references
from speechbrain.dataio.encoder import CategoricalEncoder

from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.io import load_tensors, sha256_file
from speechbrain_unlearn.models import CRDNNClassifier, ECAPAClassifier

#: The embedding models a folder may hold, and the classifier each becomes.
EMBEDDINGS = {
    "speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN": ECAPAClassifier,
    "speechbrain_unlearn.models.PooledCRDNN": CRDNNClassifier,
}
#: Packages a ``!name:`` argument (e.g. ``rnn_class``) may come from.
TRUSTED_NAMES = ("torch.", "speechbrain.", "speechbrain_unlearn.")


class _PlainLoader(yaml.SafeLoader):
    """A YAML loader that reads ``!new:``/``!name:`` nodes as ``{"__target__": ..., **arguments}``."""


def _tagged(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        return {"__target__": suffix, **loader.construct_mapping(node, deep=True)}
    if isinstance(node, yaml.SequenceNode):
        return {"__target__": suffix, "__args__": loader.construct_sequence(node, deep=True)}
    return {"__target__": suffix, "__value__": loader.construct_scalar(node)}


_PlainLoader.add_multi_constructor("!", _tagged)


def read_plain(path):
    """The hparams file at ``path`` as plain data, references resolved, no code run.

    HyperPyYAML's reference pass calls the function an ``!applyref:`` tag
    names, so a file with one is refused before that pass.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        if "!applyref" in text:
            raise UnlearnError(f"{path} uses !applyref, which runs code when read; a model folder's file may not")
        return yaml.load(resolve_references(text).getvalue(), Loader=_PlainLoader)
    except (yaml.YAMLError, ValueError) as err:
        raise UnlearnError(f"{path} is not valid HyperPyYAML: {str(err).splitlines()[0]}") from None


def plain_argument(value, path):
    """A constructor argument: a ``!name:`` node becomes the named class (only from torch or SpeechBrain)."""
    if isinstance(value, dict) and str(value.get("__target__", "")).startswith("name:"):
        dotted = value["__target__"][len("name:") :]
        if not dotted.startswith(TRUSTED_NAMES):
            raise UnlearnError(f"{path}: the model argument !name:{dotted} is not from torch or SpeechBrain")
        module, _, name = dotted.rpartition(".")
        return getattr(importlib.import_module(module), name)
    return value


@dataclasses.dataclass
class ModelFolder:
    """What a run takes from a model folder (see the module docstring)."""

    folder: str
    n_mels: int
    model_class: type
    kwargs: dict
    labels: list
    head: str

    @classmethod
    def read(cls, folder):
        """The folder's architecture, labels and head kind, every file checked first."""
        if not os.path.isdir(folder):
            raise UnlearnError(f"pretrained_source {folder} is not a folder; point it at a local model folder")
        for name in ("hyperparams.yaml", "embedding_model.ckpt", "classifier.ckpt"):
            if not os.path.exists(os.path.join(folder, name)):
                raise UnlearnError(f"{os.path.join(folder, name)} is missing: pretrained_source needs a model folder")
        path = os.path.join(folder, "hyperparams.yaml")
        plain = read_plain(path)
        embedding = plain.get("embedding_model") or {}
        target = str(embedding.get("__target__", ""))[len("new:") :]
        if target not in EMBEDDINGS:
            known = ", ".join(EMBEDDINGS)
            raise UnlearnError(f"{path}: embedding_model is {target or 'missing'}; supported: {known}")
        kwargs = {k: plain_argument(v, path) for k, v in embedding.items() if not k.startswith("__")}
        n_mels = kwargs.pop("input_size", None) or kwargs.pop("n_mels")
        features = plain.get("compute_features") or {}
        if features.get("n_mels", n_mels) != n_mels:
            raise UnlearnError(f"{path}: compute_features has n_mels {features['n_mels']}, the model {n_mels}")
        head = str((plain.get("classifier") or {}).get("__target__", "")).endswith("torch.nn.Linear")
        return cls(folder, int(n_mels), EMBEDDINGS[target], kwargs, read_labels(folder), "linear" if head else "cosine")

    def content_key(self):
        """The SHA-256 of the folder's weights and hparams (caches are keyed by content, not by path)."""
        digest = hashlib.sha256()
        for name in ("hyperparams.yaml", "embedding_model.ckpt", "classifier.ckpt", "standardisation.ckpt"):
            path = os.path.join(self.folder, name)
            if os.path.exists(path):
                digest.update(f"{name} {sha256_file(path)}\n".encode())
        return digest.hexdigest()

    def check_task(self, n_mels, regime):
        """Refuse a folder whose features are not the task's, or whose head the regime cannot take."""
        if n_mels != self.n_mels:
            raise UnlearnError(
                f"{self.folder} reads {self.n_mels} Fbank features, the task {n_mels}; pass --n_mels={self.n_mels}"
            )
        if regime == "standard" and self.head == "linear" and self.model_class is ECAPAClassifier:
            raise UnlearnError(
                f"{os.path.join(self.folder, 'classifier.ckpt')} is a linear head (a deletion-ready model): "
                "use it with --training_regime=deletion_ready"
            )

    def check_weights(self):
        """Refuse weights that do not fit the architecture, or a head whose classes are not the labels'."""
        path = os.path.join(self.folder, "classifier.ckpt")
        rows = load_tensors(path).get("weight")
        if rows is None or rows.shape[0] != len(self.labels):
            shape = None if rows is None else tuple(rows.shape)
            raise UnlearnError(f"{path} has weight {shape}, but label_encoder.txt has {len(self.labels)} labels")
        self.load_body(self.new_model(len(self.labels), 0))

    def check_labels(self, encoder):
        """Refuse a label encoder that does not cover the run's training labels."""
        missing = [encoder.ind2lab[i] for i in range(len(encoder)) if encoder.ind2lab[i] not in self.labels]
        if missing:
            raise UnlearnError(
                f"{os.path.join(self.folder, 'label_encoder.txt')} lacks {len(missing)} training labels "
                f"(first: {missing[0]}); the folder's head cannot classify the run's data"
            )

    def new_model(self, n_classes, seed):
        """A fresh model of the folder's architecture over ``n_classes``, initialised with ``seed``."""
        torch.manual_seed(seed)
        return self.model_class(n_mels=self.n_mels, n_classes=n_classes, **self.kwargs)

    def load_body(self, model):
        """Load the folder's embedding model into ``model``'s body."""
        state = load_tensors(os.path.join(self.folder, "embedding_model.ckpt"))
        if isinstance(model, CRDNNClassifier):
            state = {k[len("encoder.") :]: v for k, v in state.items()}
        body = model.embedding if isinstance(model, ECAPAClassifier) else model.encoder
        load_into(body, state, os.path.join(self.folder, "embedding_model.ckpt"))
        return model

    def load_original(self, model, encoder):
        """Load body and head into ``model``, the head's rows ordered as the run's label ``encoder``."""
        path = os.path.join(self.folder, "classifier.ckpt")
        self.check_labels(encoder)
        wanted = [encoder.ind2lab[i] for i in range(len(encoder))]
        rows = torch.tensor([self.labels.index(label) for label in wanted])
        state = {k: v[rows] if v.dim() and v.shape[0] == len(self.labels) else v for k, v in load_tensors(path).items()}
        head = model.classifier if isinstance(model, ECAPAClassifier) else model.head
        load_into(head, state, path)
        return self.load_body(model)

    def standardisation(self):
        """The core embeddings' ``(mean, std)`` stored with a deletion-ready export, or ``None``."""
        path = os.path.join(self.folder, "standardisation.ckpt")
        if not os.path.exists(path):
            return None
        stored = load_tensors(path)
        return stored["mean"], stored["std"]


def read_labels(folder):
    """The labels of the folder's label encoder in index order (``label_encoder.txt``, else ``.ckpt``)."""
    for name in ("label_encoder.txt", "label_encoder.ckpt"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            encoder = CategoricalEncoder()
            try:
                encoder.load(path)
            except (ValueError, SyntaxError, KeyError) as err:
                raise UnlearnError(f"{path} is not a SpeechBrain label encoder: {err}") from None
            return [encoder.ind2lab[i] for i in range(len(encoder))]
    raise UnlearnError(f"{os.path.join(folder, 'label_encoder.txt')} is missing: pretrained_source needs the labels")


def load_into(module, state, path):
    """``module.load_state_dict(state)``, a mismatch answered in one line naming ``path``."""
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        detail = next((line.strip() for line in str(err).splitlines()[1:] if line.strip()), str(err))
        raise UnlearnError(f"{path} does not fit the model: {detail}") from None
