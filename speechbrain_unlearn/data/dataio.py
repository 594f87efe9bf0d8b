"""Audio and features of manifest rows.

Audio is read with the standard library (16-bit PCM wav, as in Speech
Commands and VoxCeleb1), honouring the manifest's ``start``/``stop``. Features
come from a :class:`FeatureStore`: with a cache folder every utterance is
featurised once and the table is stored there under a key of the rows and
the feature settings; without one (large real datasets) features are
computed when an item is loaded. Items, crops and batches of a set of
utterances are :class:`~speechbrain_unlearn.data.utterances.UtteranceSet`'s.

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
"""

import os
import wave

import numpy as np
import torch
import torchaudio
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.lobes.features import Fbank

from speechbrain_unlearn.data.fingerprints import rows_key
from speechbrain_unlearn.data.manifest import CONVERTED, SAMPLE_RATE
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.io import digest, load_tensors, save_tensors

__all__ = [
    "Fbank",
    "FeatureStore",
    "PaddedBatch",
    "read_audio",
]


def read_audio(path, start=-1, stop=-1):
    """Read a 16-bit PCM wav (or the ``[start, stop)`` samples of it) as 16 kHz mono floats.

    A wav at another rate is resampled and one with several channels is
    averaged to mono, never silently: each such file is recorded in
    :data:`~speechbrain_unlearn.data.manifest.CONVERTED` and
    :func:`~speechbrain_unlearn.data.manifest.report_conversions` says how many. A file
    that holds fewer samples than its header (or the segment) promises is
    refused as truncated.
    """
    try:
        with wave.open(path, "rb") as fh:
            if fh.getsampwidth() != 2:
                raise UnlearnError(f"{path} is not 16-bit PCM; convert it (e.g. sox in.wav -b 16 out.wav)")
            rate, channels, start = fh.getframerate(), fh.getnchannels(), max(int(start), 0)
            fh.setpos(start)
            count = fh.getnframes() - start if int(stop) < 0 else int(stop) - start
            pcm = np.frombuffer(fh.readframes(count), dtype="<i2")
    except (OSError, EOFError, wave.Error) as err:
        raise UnlearnError(f"cannot read audio {path}: {err}") from None
    if len(pcm) < count * channels:
        raise UnlearnError(f"{path} is truncated: it holds {len(pcm) // channels} of {count} samples; re-export it")
    audio = torch.from_numpy(pcm.reshape(-1, channels).astype(np.float32) / 32768.0).mean(dim=1)
    if rate != SAMPLE_RATE or channels != 1:
        CONVERTED[path] = (rate, channels)  # said by report_conversions
    if rate != SAMPLE_RATE:
        audio = torchaudio.functional.resample(audio, rate, SAMPLE_RATE)
    return audio


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
            key = digest([rows_key(rows, label=False), module_settings(compute_features)])
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
