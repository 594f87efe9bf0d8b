"""From manifest rows to SpeechBrain datasets of features and labels.

Audio is read with the standard library (16-bit PCM wav, as in Speech
Commands and VoxCeleb1), honouring the manifest's ``start``/``stop``. Features
come from a :class:`FeatureStore`: with ``cache=True`` every utterance is
featurised once and the table is stored in the cache folder under a key of
the rows and the feature settings; with ``cache=False`` (large real datasets)
features are computed when an item is loaded. Training items are randomly
cropped to ``crop_frames`` frames (drawn from torch's generator, so a seeded
run is reproducible); evaluation items are whole utterances.

Example
-------
>>> import tempfile, os, numpy as np
>>> from speechbrain_unlearn.data.synth import write_wav
>>> tmp = tempfile.mkdtemp()
>>> write_wav(os.path.join(tmp, "a.wav"), np.zeros(16000, dtype=np.float32))
>>> rows = [{"ID": "a", "duration": 1.0, "wav": os.path.join(tmp, "a.wav"), "start": -1,
...          "stop": -1, "spk_id": "s", "label": "yes"}]
>>> store = FeatureStore(rows, Fbank(n_mels=20), cache_folder=tmp)
>>> store["a"].shape
torch.Size([101, 20])
>>> encoder = label_encoder(["yes", "no"])
>>> batch = next(iter(torch.utils.data.DataLoader(make_dataset(rows, encoder, store),
...     batch_size=1, collate_fn=PaddedBatch)))
>>> batch.feats.data.shape, batch.label.tolist()
(torch.Size([1, 101, 20]), [1])
"""

import os
import wave

import numpy as np
import torch
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.lobes.features import Fbank

from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.io import digest, load_tensors, save_tensors

__all__ = [
    "Fbank",
    "FeatureStore",
    "PaddedBatch",
    "fixed_length_batches",
    "label_encoder",
    "make_dataset",
    "read_audio",
]


def read_audio(path, start=-1, stop=-1):
    """Read a 16-bit PCM mono wav (or the ``[start, stop)`` samples of it) as floats."""
    try:
        with wave.open(path, "rb") as fh:
            if fh.getsampwidth() != 2:
                raise UnlearnError(f"{path} is not 16-bit PCM; convert it (e.g. sox in.wav -b 16 out.wav)")
            start = max(int(start), 0)
            fh.setpos(start)
            count = fh.getnframes() - start if int(stop) < 0 else int(stop) - start
            pcm = np.frombuffer(fh.readframes(count), dtype="<i2").reshape(-1, fh.getnchannels())
    except (OSError, EOFError, wave.Error) as err:
        raise UnlearnError(f"cannot read audio {path}: {err}") from None
    return torch.from_numpy(pcm[:, 0].astype(np.float32) / 32768.0)


def label_encoder(labels):
    """A ``CategoricalEncoder`` over the sorted set of ``labels``.

    Built once from the full training manifest so that every model of a run
    (original, reference, unlearned) shares the class indices.
    """
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(sorted(set(labels)))
    return encoder


class FeatureStore:
    """Features of a set of utterances, by utterance ID.

    Arguments
    ---------
    rows : list of dict
        Manifest rows of every utterance that will be asked for.
    compute_features : torch.nn.Module
        Maps ``(1, samples)`` audio to ``(1, frames, n_mels)`` features.
    cache_folder : str, optional
        Where the feature table is stored; ``None`` computes on demand.
    """

    def __init__(self, rows, compute_features, cache_folder=None):
        self.rows = {r["ID"]: r for r in rows}
        self.compute_features = compute_features
        self.table = None
        if cache_folder is not None:
            rows_key = [[r["ID"], r["wav"], r["start"], r["stop"]] for r in rows]
            key = digest([rows_key, module_settings(compute_features)])
            path = os.path.join(cache_folder, f"features-{key}.pt")
            if os.path.exists(path):
                self.table = load_tensors(path)
            else:
                self.table = {utt: self._compute(utt) for utt in self.rows}
                save_tensors(path, self.table)

    @torch.no_grad()
    def _compute(self, utt_id):
        row = self.rows[utt_id]
        audio = read_audio(row["wav"], row["start"], row["stop"])
        return self.compute_features(audio.unsqueeze(0)).squeeze(0).contiguous()

    def __getitem__(self, utt_id):
        if self.table is not None:
            return self.table[utt_id]
        return self._compute(utt_id)


_RUNTIME_FLAGS = {"training", "first_call"}  # attributes that change when a module is used


def module_settings(module):
    """The public scalar settings of a module and its sub-modules, for cache keys.

    Example
    -------
    >>> module_settings(Fbank(n_mels=40)) == module_settings(Fbank(n_mels=80))
    False
    """
    plain = (int, float, str, bool, type(None))
    settings = {"class": type(module).__name__}
    for name, sub in module.named_modules():
        settings[name or "."] = {
            k: v
            for k, v in sorted(vars(sub).items())
            if not k.startswith("_") and k not in _RUNTIME_FLAGS and isinstance(v, plain)
        }
    return settings


def make_dataset(rows, encoder, store, crop_frames=None, centre=False):
    """A ``DynamicItemDataset`` yielding ``id``, ``feats`` and ``label``.

    Arguments
    ---------
    rows : list of dict
        Manifest rows.
    encoder : CategoricalEncoder
        Maps labels to indices.
    store : FeatureStore
        Source of the features.
    crop_frames : int, optional
        Random crop length for training; ``None`` keeps whole utterances.
    centre : bool
        Crop the centre ``crop_frames`` frames instead (deterministic).

    The arguments are kept as ``dataset.source`` so that
    :func:`fixed_length_batches` can rebuild a deterministic view.
    """
    missing = [r["label"] for r in rows if r["label"] not in encoder.lab2ind]
    if missing:
        raise UnlearnError(f"labels {sorted(set(missing))[:5]} are not in the training set's label set")
    data = {r["ID"]: {"label_name": r["label"]} for r in rows}
    dataset = DynamicItemDataset(data)

    @sb_takes_provides("id", "feats")
    def feats_pipeline(utt_id):
        feats = store[utt_id].float()
        if crop_frames and feats.shape[0] > crop_frames:
            spare = feats.shape[0] - crop_frames
            start = spare // 2 if centre else int(torch.randint(0, spare + 1, (1,)))
            feats = feats[start : start + crop_frames]
        return feats

    @sb_takes_provides("label_name", "label")
    def label_pipeline(name):
        return encoder.lab2ind[name]

    dataset.add_dynamic_item(feats_pipeline)
    dataset.add_dynamic_item(label_pipeline)
    dataset.set_output_keys(["id", "feats", "label"])
    dataset.source = {"rows": rows, "encoder": encoder, "store": store, "crop_frames": crop_frames}
    return dataset


def fixed_length_batches(dataset, crop_frames=None, batch_size=32):
    """Deterministic, padding-free batches of a dataset made by :func:`make_dataset`.

    Every utterance is centre-cropped to ``crop_frames`` (``None``: whole)
    and batches hold utterances of one length only, so no utterance is
    padded and, with a model in eval mode, what each utterance contributes
    to a batch sum does not depend on its batch-mates. Statistics summed
    over such batches can therefore be down-dated exactly by a subset.

    Yields
    ------
    PaddedBatch
        Batches with ``id``, ``feats`` and ``label``.
    """
    src = dataset.source
    view = make_dataset(src["rows"], src["encoder"], src["store"], crop_frames, centre=True)
    by_length = {}
    for index, row in enumerate(src["rows"]):
        frames = src["store"][row["ID"]].shape[0]
        by_length.setdefault(min(frames, crop_frames or frames), []).append(index)
    for length in sorted(by_length):
        indices = by_length[length]
        for start in range(0, len(indices), int(batch_size)):
            yield PaddedBatch([view[i] for i in indices[start : start + int(batch_size)]])


def sb_takes_provides(takes, provides):
    """``speechbrain.utils.data_pipeline.takes`` and ``provides`` in one decorator."""
    from speechbrain.utils.data_pipeline import provides as _provides
    from speechbrain.utils.data_pipeline import takes as _takes

    def wrap(func):
        return _takes(takes)(_provides(provides)(func))

    return wrap
