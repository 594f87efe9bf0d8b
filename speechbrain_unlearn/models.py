"""Utterance classifiers built from SpeechBrain's own lobes.

Both tasks use one interface: a module mapping features ``(batch, time,
n_mels)`` and relative lengths ``(batch,)`` to class scores ``(batch,
n_classes)``. Mean/variance normalisation per utterance is the module's first
step, so the whole path from features to scores is one ``nn.Module`` that
curvature and per-sample-gradient code can treat as a function.

* :class:`CRDNNClassifier`: SpeechBrain's CRDNN, mean-pooled over time, and a
  linear head giving logits (Speech Commands);
* :class:`ECAPAClassifier`: SpeechBrain's ECAPA-TDNN embedding and its cosine
  ``Classifier`` giving cosine scores for the AAM softmax (VoxCeleb).

Example
-------
>>> model = ECAPAClassifier(n_mels=24, n_classes=5, channels=[16, 16, 16, 16, 48], lin_neurons=8)
>>> model(torch.randn(2, 50, 24), torch.ones(2)).shape
torch.Size([2, 5])
>>> model.embed(torch.randn(2, 50, 24), torch.ones(2)).shape
torch.Size([2, 8])
"""

import warnings

import torch
from speechbrain.lobes.models.CRDNN import CRDNN
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier


def masked_mean(hidden, lengths):
    """The mean of ``hidden`` ``(batch, time, dim)`` over each utterance's valid frames."""
    mask = length_mask(hidden, lengths)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1)


def length_mask(x, lengths):
    """A ``(batch, time, 1)`` mask of the valid frames given relative lengths."""
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    valid = torch.round(lengths * x.shape[1]).clamp(min=1).unsqueeze(1)
    return (steps < valid).unsqueeze(-1).to(x.dtype)


def sentence_norm(x, lengths, std=True, eps=1e-5):
    """Normalise each utterance to zero mean (and unit variance) over its valid frames.

    Example
    -------
    >>> x = sentence_norm(torch.randn(2, 30, 4) * 3 + 1, torch.tensor([1.0, 0.5]))
    >>> bool(x[0].mean(0).abs().max() < 1e-5)
    True
    """
    mask = length_mask(x, lengths)
    count = mask.sum(dim=1, keepdim=True)
    mean = (x * mask).sum(dim=1, keepdim=True) / count
    out = x - mean
    if std:
        var = ((out * mask) ** 2).sum(dim=1, keepdim=True) / count
        out = out / torch.sqrt(var + eps)
    return out * mask


class SentenceNorm(torch.nn.Module):
    """:func:`sentence_norm` as a module, the ``mean_var_norm`` of an exported keyword model.

    Example
    -------
    >>> SentenceNorm()(torch.randn(2, 30, 4), torch.ones(2)).shape
    torch.Size([2, 30, 4])
    """

    def __init__(self, std=True):
        super().__init__()
        self.std = std

    def forward(self, x, lengths):
        """Normalised features of the same shape."""
        return sentence_norm(x, lengths, std=self.std)


def crdnn(n_mels, **crdnn_kwargs):
    """SpeechBrain's CRDNN on ``n_mels`` features, without torch's warning that a one-layer GRU ignores dropout.

    The CRDNN hands its ``dropout`` (meant for the CNN and DNN blocks) to the
    recurrent layers too; with one recurrent layer torch drops it and warns
    on every model built, which says nothing the configuration does not.

    Example
    -------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = crdnn(20, cnn_blocks=1, cnn_channels=[4], rnn_layers=1, rnn_neurons=8, dnn_blocks=1,
    ...               dnn_neurons=8, dropout=0.15)
    >>> [str(w.message) for w in caught]
    []
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="dropout option adds dropout after all but last recurrent layer")
        return CRDNN(input_shape=[None, None, n_mels], **crdnn_kwargs)


class PooledCRDNN(torch.nn.Module):
    """SpeechBrain's CRDNN mean-pooled over time: the ``embedding_model`` of an exported keyword model.

    ``forward(feats, lengths)`` gives ``(batch, 1, dnn_neurons)``, the shape
    SpeechBrain's ``EncoderClassifier`` expects of an embedding model.

    Example
    -------
    >>> model = PooledCRDNN(n_mels=20, cnn_blocks=1, cnn_channels=[4], rnn_layers=1,
    ...     rnn_neurons=8, dnn_blocks=1, dnn_neurons=8)
    >>> model(torch.randn(2, 40, 20), torch.ones(2)).shape
    torch.Size([2, 1, 8])
    """

    def __init__(self, n_mels, **crdnn_kwargs):
        super().__init__()
        self.encoder = crdnn(n_mels, **crdnn_kwargs)

    def forward(self, feats, lengths):
        """Pooled representations ``(batch, 1, dim)`` of normalised features."""
        return masked_mean(self.encoder(feats), lengths).unsqueeze(1)


class CRDNNClassifier(torch.nn.Module):
    """CRDNN encoder, masked mean pooling over time and a linear head.

    Arguments
    ---------
    n_mels : int
        Feature dimension.
    n_classes : int
        Number of output classes.
    **crdnn_kwargs
        Passed to :class:`speechbrain.lobes.models.CRDNN.CRDNN`
        (``dnn_neurons`` sets the pooled dimension).

    Example
    -------
    >>> model = CRDNNClassifier(n_mels=20, n_classes=3, cnn_blocks=1, cnn_channels=[4],
    ...     rnn_layers=1, rnn_neurons=8, dnn_blocks=1, dnn_neurons=8)
    >>> model(torch.randn(2, 40, 20), torch.tensor([1.0, 0.6])).shape
    torch.Size([2, 3])
    """

    def __init__(self, n_mels, n_classes, **crdnn_kwargs):
        super().__init__()
        crdnn_kwargs.setdefault("dnn_neurons", 512)
        #: The constructor's arguments, from which a model folder is written.
        self.kwargs = {"n_mels": n_mels, **crdnn_kwargs}
        self.encoder = crdnn(n_mels, **crdnn_kwargs)
        self.head = torch.nn.Linear(crdnn_kwargs["dnn_neurons"], n_classes)

    #: Name of the head module: the parameters of the ``head`` scope.
    head_name = "head"

    def classify(self, embeddings):
        """Class logits from pooled representations (the head alone)."""
        return self.head(embeddings)

    def embed(self, feats, lengths):
        """The pooled utterance representation before the head."""
        return masked_mean(self.encoder(sentence_norm(feats, lengths)), lengths)

    def forward(self, feats, lengths):
        """Class logits ``(batch, n_classes)``."""
        return self.classify(self.embed(feats, lengths))


class ECAPAClassifier(torch.nn.Module):
    """ECAPA-TDNN speaker embedding followed by the cosine classifier.

    Arguments
    ---------
    n_mels : int
        Feature dimension.
    n_classes : int
        Number of speakers.
    lin_neurons : int
        Embedding dimension.
    **ecapa_kwargs
        Passed to :class:`speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN`.
    """

    def __init__(self, n_mels, n_classes, lin_neurons=192, **ecapa_kwargs):
        super().__init__()
        #: The constructor's arguments, from which a model folder is written.
        self.kwargs = {"n_mels": n_mels, "lin_neurons": lin_neurons, **ecapa_kwargs}
        self.embedding = ECAPA_TDNN(n_mels, lin_neurons=lin_neurons, **ecapa_kwargs)
        self.classifier = Classifier(lin_neurons, out_neurons=n_classes)

    #: Name of the head module: the parameters of the ``head`` scope.
    head_name = "classifier"

    def classify(self, embeddings):
        """Cosine scores from speaker embeddings (the head alone)."""
        return self.classifier(embeddings.unsqueeze(1)).squeeze(1)

    def embed(self, feats, lengths):
        """Speaker embeddings ``(batch, lin_neurons)``."""
        return self.embedding(sentence_norm(feats, lengths, std=False), lengths).squeeze(1)

    def forward(self, feats, lengths):
        """Cosine similarities to the class centres ``(batch, n_classes)``."""
        return self.classify(self.embed(feats, lengths))
