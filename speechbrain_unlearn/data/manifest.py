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


def wav_info(path):
    """``(samples, sample_rate)`` read from a PCM wav header (no samples loaded)."""
    try:
        with wave.open(path, "rb") as fh:
            return fh.getnframes(), fh.getframerate()
    except (OSError, EOFError, wave.Error) as err:
        raise UnlearnError(f"cannot read {path} as a PCM wav file ({err}); check data_folder") from None


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
