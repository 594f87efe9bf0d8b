"""SpeechBrain CSV manifests: one row per utterance, the same columns for both tasks.

Columns: ``ID, duration, wav, start, stop, spk_id, label``. ``duration`` is in
seconds; ``start``/``stop`` are sample indices into ``wav`` (``-1`` for the
whole file), which lets one noise file yield many ``_silence_`` clips.

Example
-------
>>> row = manifest_row("u1", 1.0, "/data/u1.wav", "spk1", "yes")
>>> row["start"], row["stop"], row["duration"]
(-1, -1, 1.0)
>>> summarise([row, manifest_row("u2", 2.0, "/data/u2.wav", "spk1", "no")])
{'utterances': 2, 'speakers': 1, 'labels': 2, 'hours': 0.0008}
"""

import os
import wave

from speechbrain_unlearn.errors import UnlearnError

COLUMNS = ["ID", "duration", "wav", "start", "stop", "spk_id", "label"]


def manifest_row(utt_id, duration, wav, spk_id, label, start=-1, stop=-1):
    """One manifest row as a dict in :data:`COLUMNS` order."""
    return {
        "ID": utt_id,
        "duration": round(float(duration), 4),
        "wav": wav,
        "start": int(start),
        "stop": int(stop),
        "spk_id": spk_id,
        "label": label,
    }


#: The sample rate every feature is computed at (Speech Commands' and VoxCeleb1's).
SAMPLE_RATE = 16000
#: The size of the smallest PCM wav header.
WAV_HEADER_BYTES = 44
#: Wavs at another rate or with several channels, converted when read: ``{path: (rate, channels)}``.
CONVERTED = {}
_REPORTED = set()


def wav_info(path):
    """``(samples, sample_rate)`` read from a 16-bit PCM wav header (no samples loaded).

    Refuses, in one line, a file that is not a wav, not 16-bit, empty, or
    shorter than its header promises (truncated). A file at another rate or
    with several channels is accepted and recorded in :data:`CONVERTED`
    (it is resampled or averaged to 16 kHz mono when read, and
    :func:`report_conversions` says so).
    """
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise UnlearnError(f"{path} is an empty file (0 bytes); remove it from the data or replace it")
    try:
        with wave.open(path, "rb") as fh:
            samples, rate, channels, width = fh.getnframes(), fh.getframerate(), fh.getnchannels(), fh.getsampwidth()
    except (OSError, EOFError, wave.Error) as err:
        raise UnlearnError(f"cannot read {path} as a PCM wav file ({err}); check data_folder") from None
    if width != 2:
        raise UnlearnError(f"{path} is {8 * width}-bit, not 16-bit PCM; convert it (e.g. sox in.wav -b 16 out.wav)")
    if samples == 0:
        raise UnlearnError(f"{path} holds no audio samples; remove it from the data or replace it")
    if os.path.getsize(path) < WAV_HEADER_BYTES + samples * channels * width:
        raise UnlearnError(f"{path} is truncated: shorter than the {samples} samples its header promises; re-export it")
    if rate != SAMPLE_RATE or channels != 1:
        CONVERTED[path] = (rate, channels)
    return samples, rate


def report_conversions(log):
    """Log one warning for the wavs recorded in :data:`CONVERTED` since the last report."""
    new = sorted(set(CONVERTED) - _REPORTED)
    if new:
        rate, channels = CONVERTED[new[0]]
        log.warning(
            "%d wavs are not 16 kHz mono and are converted to it for their features (e.g. %s: %d Hz, %d channels)",
            len(new),
            new[0],
            rate,
            channels,
        )
        _REPORTED.update(new)


def wav_duration(path):
    """Duration in seconds read from a PCM wav header."""
    samples, rate = wav_info(path)
    return samples / rate


def summarise(rows):
    """Counts of a manifest: utterances, speakers, labels, hours."""
    return {
        "utterances": len(rows),
        "speakers": len({r["spk_id"] for r in rows}),
        "labels": len({r["label"] for r in rows}),
        "hours": round(sum(float(r["duration"]) for r in rows) / 3600, 4),
    }
