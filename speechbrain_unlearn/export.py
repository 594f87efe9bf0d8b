"""Model folders: a model written in the layout SpeechBrain's inference classes read.

A model folder holds ``hyperparams.yaml``, ``embedding_model.ckpt``,
``classifier.ckpt`` and the label encoder, as ``spkrec-ecapa-voxceleb``
ships, so that deployed inference code loads it unchanged::

    from speechbrain.inference.classifiers import EncoderClassifier
    model = EncoderClassifier.from_hparams(source="<folder>", savedir="<any folder>")
    out_prob, score, index, label = model.classify_file("utterance.wav")

Its pipeline is ``compute_features -> mean_var_norm -> embedding_model ->
classifier``, and its scores are the project's own scores of the model:

* ECAPA-TDNN (VoxCeleb), standard: SpeechBrain's ``Fbank``,
  ``InputNormalization`` (sentence mean), ``ECAPA_TDNN`` and the cosine
  ``Classifier``; the folder needs SpeechBrain only;
* CRDNN (Speech Commands): :class:`~speechbrain_unlearn.models.SentenceNorm`
  and :class:`~speechbrain_unlearn.models.PooledCRDNN` (this package), a
  ``torch.nn.Linear`` head;
* deletion-ready: the core's pipeline and its deletable head as a
  ``torch.nn.Linear`` with the standardisation folded in
  (``W / sigma``, ``b - W mu / sigma``).

The weight files are tensors only (``weights_only`` loads them); the label
encoder is SpeechBrain's text format, written as ``label_encoder.txt`` and,
under the name SpeechBrain's ``Pretrainer`` looks for in a local folder, as
``label_encoder.ckpt``. Weights are found beside ``hyperparams.yaml``, so a
copied or moved folder loads its own weights, never another's. A folder is
written under a temporary name and renamed into place.

Example
-------
>>> import tempfile, torch
>>> from speechbrain_unlearn.data.utterances import label_encoder
>>> from speechbrain_unlearn.models import CRDNNClassifier
>>> model = CRDNNClassifier(n_mels=20, n_classes=2, cnn_blocks=1, cnn_channels=[4],
...     rnn_layers=1, rnn_neurons=8, dnn_blocks=1, dnn_neurons=8)
>>> folder = tempfile.mkdtemp() + "/model"
>>> export_model(model, label_encoder(["no", "yes"]), folder, n_mels=20)
>>> sorted(os.listdir(folder))
['classifier.ckpt', 'embedding_model.ckpt', 'hyperparams.yaml', 'label_encoder.ckpt', 'label_encoder.txt']
"""

import contextlib
import os
import shutil
import tempfile

import torch

from speechbrain_unlearn.deletable.model import DeletionReadyModel
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.models import CRDNNClassifier, ECAPAClassifier

#: The files of a model folder.
MODEL_FILES = ("hyperparams.yaml", "embedding_model.ckpt", "classifier.ckpt", "label_encoder.txt")
#: The files a deletion-ready model folder adds: its stored statistics and the head's standardisation.
DELETABLE_FILES = ("deletable.pt", "standardisation.ckpt")

_HEADER = """\
# ############################################################################
# A SpeechBrain model folder written by speechbrain-unlearn: load it with
#   EncoderClassifier.from_hparams(source=<this folder>, savedir=<any folder>)
# {description}
# ############################################################################

sample_rate: 16000
n_mels: {n_mels}
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
"""

_FOOTER = """
label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>

# Weights and labels are read from the folder this file is in.
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
        label_encoder: !ref <label_encoder>
"""


def yaml_value(value):
    """A constructor argument as HyperPyYAML: plain values as YAML, classes and functions as ``!name:``.

    Example
    -------
    >>> yaml_value([96, 96]), yaml_value(True), yaml_value(torch.nn.GRU)
    ('[96, 96]', 'true', '!name:torch.nn.modules.rnn.GRU')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if value is None:
        return "null"
    if callable(value):
        return f"!name:{value.__module__}.{value.__qualname__}"
    raise UnlearnError(f"cannot write the model argument {value!r} to hyperparams.yaml")


def yaml_node(key, target, kwargs):
    """``key: !new:target`` with its keyword arguments, one per line."""
    lines = [f"{key}: !new:{target}"] + [f"    {k}: {yaml_value(v)}" for k, v in kwargs.items()]
    return "\n".join(lines) + "\n"


def inference_parts(model):
    """The folder's modules of ``model``: YAML text and, for the loadables, state dicts.

    Returns
    -------
    str
        The ``mean_var_norm``, ``embedding_model`` and ``classifier`` nodes.
    dict
        ``{"embedding_model": state_dict, "classifier": state_dict}``.
    """
    if isinstance(model, DeletionReadyModel):
        text, states = inference_parts(model.core)
        head = folded_head(model.head_vector(), model.head.out_features, model.mean, model.std)
        text = text[: text.index("\nclassifier:") + 1] + yaml_node(
            "classifier", "torch.nn.Linear", linear_shape(head["weight"])
        )
        return text, {**states, "classifier": head}
    if isinstance(model, ECAPAClassifier):
        kwargs = {k: v for k, v in model.kwargs.items() if k != "n_mels"}
        n_classes = model.classifier.weight.shape[0]
        text = (
            yaml_node(
                "mean_var_norm",
                "speechbrain.processing.features.InputNormalization",
                {"norm_type": "sentence", "std_norm": False},
            )
            + yaml_node(
                "embedding_model",
                "speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN",
                {"input_size": model.kwargs["n_mels"], **kwargs},
            )
            + yaml_node(
                "classifier",
                "speechbrain.lobes.models.ECAPA_TDNN.Classifier",
                {"input_size": model.kwargs["lin_neurons"], "out_neurons": n_classes},
            )
        )
        return text, {"embedding_model": model.embedding.state_dict(), "classifier": model.classifier.state_dict()}
    if isinstance(model, CRDNNClassifier):
        text = (
            yaml_node("mean_var_norm", "speechbrain_unlearn.models.SentenceNorm", {})
            + yaml_node("embedding_model", "speechbrain_unlearn.models.PooledCRDNN", model.kwargs)
            + yaml_node("classifier", "torch.nn.Linear", linear_shape(model.head.weight))
        )
        encoder = {f"encoder.{k}": v for k, v in model.encoder.state_dict().items()}
        return text, {"embedding_model": encoder, "classifier": model.head.state_dict()}
    raise UnlearnError(f"a {type(model).__name__} has no model-folder layout; export a single model instead")


def folded_head(theta, n_classes, mean, std):
    """The ``torch.nn.Linear`` state of a deletion-ready head ``theta`` on raw core embeddings.

    ``W z + b`` with ``z = (e - mean) / std`` is ``(W / std) e + (b - W (mean / std))``;
    folded in float64, stored in float32.

    Example
    -------
    >>> head = folded_head(torch.arange(6.0), 2, torch.zeros(2), torch.full((2,), 2.0))
    >>> head["weight"].tolist(), head["bias"].tolist()
    ([[0.0, 0.5], [1.0, 1.5]], [4.0, 5.0])
    """
    theta = theta.to(torch.float64)
    dim = (theta.numel() - n_classes) // n_classes
    weight = theta[: n_classes * dim].reshape(n_classes, dim) / std.to(torch.float64)
    bias = theta[n_classes * dim :] - weight @ mean.to(torch.float64)
    return {"weight": weight.to(torch.float32), "bias": bias.to(torch.float32)}


def linear_shape(weight):
    """``torch.nn.Linear``'s arguments for a ``(out, in)`` weight."""
    return {"in_features": weight.shape[1], "out_features": weight.shape[0]}


def export_model(model, encoder, folder, n_mels, description="", state=None):
    """Write ``model`` and its label ``encoder`` as a model folder at ``folder`` (replacing one there).

    Arguments
    ---------
    model : torch.nn.Module
        An ECAPA-TDNN, CRDNN or deletion-ready model of this package.
    encoder : speechbrain.dataio.encoder.CategoricalEncoder
        The labels of its classes.
    folder : str
        Where the folder goes; written under a temporary name, then renamed.
    n_mels : int
        The ``Fbank`` features the model reads.
    description : str
        A comment line for ``hyperparams.yaml`` (what the model is).
    state : DeletableState, optional
        A deletion-ready model's stored statistics, whose head is the
        model's: written as ``deletable.pt`` with the standardisation
        (``standardisation.ckpt``), so that a deletion request against the
        folder (:mod:`speechbrain_unlearn.forget`) needs nothing else.
    """
    text, states = inference_parts(model)
    with staged_folder(folder) as tmp:
        hyperparams = _HEADER.format(description=description or "model", n_mels=n_mels) + text + _FOOTER
        with open(os.path.join(tmp, "hyperparams.yaml"), "w") as fh:
            fh.write(hyperparams)
        for name, weights in states.items():
            plain = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}
            torch.save(plain, os.path.join(tmp, f"{name}.ckpt"))
        if state is not None:
            state.save(os.path.join(tmp, DELETABLE_FILES[0]))
            torch.save({"mean": model.mean.clone(), "std": model.std.clone()}, os.path.join(tmp, DELETABLE_FILES[1]))
        encoder.save(os.path.join(tmp, "label_encoder.txt"))
        shutil.copyfile(os.path.join(tmp, "label_encoder.txt"), os.path.join(tmp, "label_encoder.ckpt"))


@contextlib.contextmanager
def staged_folder(folder):
    """Yield a temporary folder beside ``folder``; on success it replaces ``folder``, on failure it is removed."""
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-model-")
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        replace_folder(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_folder(new, folder):
    """Rename the folder ``new`` onto ``folder``; a folder already there is removed only once ``new`` is in place."""
    old = None
    if os.path.exists(folder):
        old = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(folder)), prefix=".old-model-")
        os.replace(folder, os.path.join(old, "model"))
    os.replace(new, folder)
    if old:
        shutil.rmtree(old, ignore_errors=True)
