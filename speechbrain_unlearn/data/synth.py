"""Embedded speech corpora, synthesised locally with eSpeak NG.

Two small corpora stand in for the real datasets so that every recipe runs
with nothing downloaded:

* *MiniSpeechCommands*: one-second keyword clips in the Speech Commands v0.02
  layout (``<word>/<speaker>_nohash_<n>.wav``, ``validation_list.txt``,
  ``testing_list.txt``, ``_background_noise_/``), speakers assigned to
  train/valid/test by the official hash rule;
* *MiniVoxCeleb*: 1.5 to 4 s sentences in the VoxCeleb1 layout
  (``wav/idXXXXX/<video>/<nnnnn>.wav``, ``iden_split.txt`` and a
  verification trial list ``veri_test2.txt``).

A speaker is a seeded eSpeak voice file (accent, pitch, pitch range, formant
scaling, voicing, speaking rate). Each clip varies rate, pitch, level,
spectral tilt and additive noise (5 to 30 dB SNR); for VoxCeleb the channel
(tilt, noise colour, level) is a property of the "video". Generation is
deterministic: the same parameters give byte-identical files. A corpus is
cached under a key of its parameters and written to a temporary folder that
is renamed into place when complete.

The eSpeak NG engine comes from the optional ``espeakng-loader`` wheel
(``pip install speechbrain-unlearn[synth]``) and is loaded lazily through
ctypes; it is GPL software used as a separate program library, not part of
this Apache-2.0 package.

Example
-------
>>> import tempfile
>>> params = dict(words=["yes", "no"], n_speakers=5, repetitions=1)
>>> root = synthesise_speech_commands(tempfile.mkdtemp(), **params)
>>> sorted(p for p in os.listdir(root) if not p.startswith("."))[:3]
['README.md', '_background_noise_', 'no']
"""

import ctypes
import hashlib
import os
import re
import shutil
import wave

import numpy as np
from scipy.fft import next_fast_len
from scipy.signal import fftconvolve, resample_poly

from speechbrain_unlearn import progress
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.io import digest, write_text

#: Bump when the synthesis changes, so cached corpora are rebuilt.
SYNTH_VERSION = 3
SAMPLE_RATE = 16000
_ESPEAK_RATE = 22050
_MAX_NUM_WAVS_PER_CLASS = 2**27 - 1
_ACCENTS = ["en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan"]
# Short and lowercase (eSpeak lowercases voice paths and cuts them at 59
# characters), private to the user.
_VOICE_DIR = f"/tmp/sbu-voices-{os.getuid() if hasattr(os, 'getuid') else 0}"
_SENTENCE_WORDS = (
    "the a one two three four five six seven eight nine ten house garden river "
    "morning evening window table music paper water light green yellow quickly "
    "slowly today never always because people little number between country "
    "answer thought picture mountain station kitchen doctor market weather "
    "holiday moment village letter summer winter animal family story second "
    "minute travel follow remember question problem science history energy "
    "simple really maybe almost inside outside under over after before"
).split()


class ESpeak:
    """The eSpeak NG engine of this process, loaded lazily through ctypes.

    The engine is one global per process and not thread-safe: use
    :func:`ESpeak.get` and synthesise from one thread.
    """

    _instance = None

    @classmethod
    def get(cls):
        """Return the process-wide engine, initialising it on first use."""
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError:
            raise UnlearnError(
                "the embedded corpora need eSpeak NG: install it with "
                "`pip install -e .[synth]`, or set data_folder to a real dataset"
            ) from None
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.lib.espeak_SetVoiceByFile.argtypes = [ctypes.c_char_p]
        data = espeakng_loader.get_data_path().encode()
        # 2 = AUDIO_OUTPUT_SYNCHRONOUS; 0x8000 = do not exit() on a bad data path.
        rate = self.lib.espeak_Initialize(2, 0, data, 0x8000)
        if rate <= 0:
            raise UnlearnError(f"eSpeak NG failed to initialise from {data.decode()}")
        self.sample_rate = rate
        self._chunks = []
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self._callback = callback_type(self._collect)  # keep a reference alive
        self.lib.espeak_SetSynthCallback(self._callback)
        os.makedirs(_VOICE_DIR, mode=0o700, exist_ok=True)

    def _collect(self, wav, n_samples, _events):
        if n_samples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        return 0

    def synth(self, text, voice, rate, pitch=50, pitch_range=50, seed=0):
        """Synthesise ``text`` and return float samples at 16 kHz.

        Arguments
        ---------
        text : str
            What to say.
        voice : str
            The text of an eSpeak voice file (see :func:`voice_file`).
        rate : int
            Words per minute.
        pitch, pitch_range : int
            eSpeak's relative pitch and pitch range, 0 to 100.
        seed : int
            Seed of eSpeak's random generator (set before every clip).

        Returns
        -------
        numpy.ndarray
            Mono float32 samples in [-1, 1] at 16 kHz, silence trimmed.
        """
        name = "v" + hashlib.sha1(voice.encode()).hexdigest()[:12]
        path = os.path.join(_VOICE_DIR, name)
        if not _has_content(path, voice):
            tmp = f"{path}.{os.getpid()}"
            with open(tmp, "w") as fh:
                fh.write(voice)
            os.replace(tmp, path)
        if self.lib.espeak_SetVoiceByFile(path.encode()) != 0:
            raise UnlearnError(f"eSpeak NG rejected the voice file {path}")
        for param, value in ((1, rate), (3, pitch), (4, pitch_range)):
            self.lib.espeak_SetParameter(param, int(value), 0)
        self.lib.espeak_ng_SetRandSeed(int(seed))
        self._chunks = []
        data = text.encode() + b"\0"
        self.lib.espeak_Synth(data, len(data), 0, 1, 0, 1, None, None)
        self.lib.espeak_Synchronize()
        if not self._chunks:
            return np.zeros(0, dtype=np.float32)
        audio = np.concatenate(self._chunks).astype(np.float32) / 32768.0
        audio = _trim(audio)
        return resample_poly(audio, 320, 441).astype(np.float32)  # 22050 -> 16000


def _has_content(path, text):
    """True if ``path`` exists and holds exactly ``text``."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read() == text
    except OSError:
        return False


def _trim(audio, threshold=0.02):
    """Cut leading and trailing silence below ``threshold`` of the peak."""
    active = np.flatnonzero(np.abs(audio) > threshold * max(np.abs(audio).max(), 1e-9))
    if active.size == 0:
        return audio
    return audio[active[0] : active[-1] + 1]


def speaker_voice(rng):
    """Draw one speaker: an eSpeak voice file text and a base speaking rate.

    Arguments
    ---------
    rng : numpy.random.Generator
        The speaker's own generator.

    Returns
    -------
    tuple of (str, int)
        The voice file text and the speaker's words per minute.

    Example
    -------
    >>> voice, rate = speaker_voice(np.random.default_rng(0))
    >>> "flutter 0" in voice and 120 <= rate <= 210
    True
    """
    female = rng.random() < 0.5
    base = rng.uniform(150, 240) if female else rng.uniform(70, 140)
    span = rng.uniform(20, 90)
    lines = [
        f"language {_ACCENTS[rng.integers(len(_ACCENTS))]}",
        f"gender {'female' if female else 'male'}",
        f"pitch {base:.0f} {base + span:.0f}",
    ]
    for formant in range(1, 6):
        scale = rng.uniform(0.82, 1.18) if formant <= 3 else rng.uniform(0.9, 1.1)
        lines.append(f"formant {formant} {100 * scale:.0f} {rng.uniform(70, 130):.0f} 100")
    lines += [f"voicing {rng.uniform(60, 120):.0f}", "flutter 0", "roughness 0"]
    return "\n".join(lines) + "\n", int(rng.uniform(120, 210))


def coloured_noise(rng, n_samples, colour):
    """White (0), pink (1) or brown (2) noise with unit RMS.

    Example
    -------
    >>> noise = coloured_noise(np.random.default_rng(0), 16000, 1)
    >>> round(float(np.sqrt(np.mean(noise ** 2))), 3)
    1.0
    """
    n_fft = next_fast_len(n_samples, real=True)  # prime lengths make the FFT slow
    spectrum = np.fft.rfft(rng.standard_normal(n_fft))
    freqs = np.arange(spectrum.size, dtype=np.float64)
    freqs[0] = 1.0
    noise = np.fft.irfft(spectrum / freqs ** (colour / 2.0), n=n_fft)[:n_samples]
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def room_response(rng, rt60):
    """A synthetic room impulse response: direct path and an exponential tail.

    Example
    -------
    >>> ir = room_response(np.random.default_rng(0), 0.3)
    >>> float(ir[0]), ir.size
    (1.0, 4800)
    """
    n_samples = max(1, int(rt60 * SAMPLE_RATE))
    decay = np.exp(-6.9 * np.arange(n_samples) / max(n_samples, 1))  # -60 dB at rt60
    ir = 0.2 * rng.standard_normal(n_samples) * decay * np.sqrt(1.0 / max(n_samples, 1) * 200)
    ir[0] = 1.0
    return ir.astype(np.float32)


def degrade(speech, rng, snr_db, tilt, gain_db, colour, rt60=0.0):
    """Apply reverberation, spectral tilt, level and additive noise at a given SNR.

    Arguments
    ---------
    speech : numpy.ndarray
        Clean samples.
    rng : numpy.random.Generator
        Source of the noise.
    snr_db : float
        Speech-to-noise ratio in dB.
    tilt : float
        First-order filter coefficient: y[n] = x[n] - tilt * x[n - 1].
    gain_db : float
        Level relative to a 0.5 peak.
    colour : int
        Noise colour for :func:`coloured_noise`.
    rt60 : float
        Reverberation time in seconds (0: dry).

    Returns
    -------
    numpy.ndarray
        Degraded samples, clipped to [-1, 1].
    """
    if rt60 > 0:
        speech = fftconvolve(speech, room_response(rng, rt60))[: speech.size].astype(np.float32)
    tilted = speech.copy()
    tilted[1:] -= tilt * speech[:-1]
    tilted *= 0.5 / (np.abs(tilted).max() + 1e-9)
    power = np.mean(tilted**2) + 1e-12
    noise = coloured_noise(rng, tilted.size, colour) * np.sqrt(power / 10 ** (snr_db / 10))
    return np.clip((tilted + noise) * 10 ** (gain_db / 20), -1.0, 1.0)


def write_wav(path, samples):
    """Write float samples as 16-bit PCM mono at 16 kHz."""
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with wave.open(path, "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(SAMPLE_RATE)
        fh.writeframes(pcm.tobytes())


def which_set(filename, validation_percentage, testing_percentage):
    """The official Speech Commands split rule: hash the speaker part of a name.

    Example
    -------
    >>> which_set("yes/0a7c2a8d_nohash_0.wav", 10, 10) in {"training", "validation", "testing"}
    True
    """
    hash_name = re.sub(r"_nohash_.*$", "", os.path.basename(filename))
    hashed = int(hashlib.sha1(hash_name.encode()).hexdigest(), 16)
    percentage = (hashed % (_MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / _MAX_NUM_WAVS_PER_CLASS)
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "testing"
    return "training"


def _speaker_hashes(rng, n_speakers, validation_percentage, testing_percentage):
    """Draw speaker hashes until each split holds its share of speakers.

    The split of a speaker is the official hash rule applied to its hash, so
    any reader of ``validation_list.txt`` / ``testing_list.txt`` (or of the
    rule itself) agrees; drawing until the quotas fill makes the counts exact.
    """
    quota = {
        "validation": round(n_speakers * validation_percentage / 100),
        "testing": round(n_speakers * testing_percentage / 100),
    }
    quota["training"] = n_speakers - quota["validation"] - quota["testing"]
    chosen = {name: [] for name in quota}
    while any(len(chosen[k]) < quota[k] for k in quota):
        candidate = f"{rng.integers(2**32):08x}"
        split = which_set(candidate + "_nohash_0.wav", validation_percentage, testing_percentage)
        if len(chosen[split]) < quota[split] and candidate not in sum(chosen.values(), []):
            chosen[split].append(candidate)
    return chosen


def _cached_corpus(cache_folder, name, params, build):
    """Return the corpus folder for ``params``, building it atomically if needed."""
    key = digest({"version": SYNTH_VERSION, "name": name, **params})
    root = os.path.join(cache_folder, f"{name}-{key}")
    if os.path.exists(os.path.join(root, ".complete")):
        return root
    tmp = f"{root}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        build(tmp)
        write_text(os.path.join(tmp, ".complete"), f"{name} {params}\n")
        if os.path.exists(os.path.join(root, ".complete")):  # another process finished first, and may be reading it
            return root
        if os.path.exists(root):  # an incomplete earlier attempt
            shutil.rmtree(root)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def synthesise_speech_commands(
    cache_folder,
    words=("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"),
    n_speakers=40,
    repetitions=5,
    validation_percentage=10,
    testing_percentage=30,
    snr_db=(5.0, 30.0),
    rt60_s=(0.0, 0.5),
    truncate_prob=0.1,
    seed=1234,
):
    """Synthesise (or reuse) MiniSpeechCommands in the v0.02 layout.

    Arguments
    ---------
    cache_folder : str
        Folder holding cached corpora.
    words : sequence of str
        The keywords; each becomes a folder.
    n_speakers : int
        Number of voices; each says every word ``repetitions`` times.
    repetitions : int
        Clips per speaker and word (the ``_nohash_<n>`` index).
    validation_percentage, testing_percentage : float
        Shares of speakers in the validation and test lists (official rule).
    snr_db : tuple of float
        Range of the additive-noise SNR.
    rt60_s : tuple of float
        Range of the reverberation time.
    truncate_prob : float
        Share of clips whose word is cut by the window edge, as in the real
        dataset.
    seed : int
        Corpus seed.

    Returns
    -------
    str
        The corpus root.
    """
    params = dict(
        rt60_s=list(rt60_s),
        truncate_prob=truncate_prob,
        words=list(words),
        n_speakers=n_speakers,
        repetitions=repetitions,
        validation_percentage=validation_percentage,
        testing_percentage=testing_percentage,
        snr_db=list(snr_db),
        seed=seed,
    )

    def build(root):
        engine = ESpeak.get()
        rng = np.random.default_rng(seed)
        splits = _speaker_hashes(rng, n_speakers, validation_percentage, testing_percentage)
        speakers = sorted(sum(splits.values(), []))
        lists = {"validation": [], "testing": []}
        for s_idx, spk in enumerate(progress.bar(speakers, desc="synthesising MiniSpeechCommands", unit="speaker")):
            voice, base_rate = speaker_voice(np.random.default_rng([seed, 1, s_idx]))
            for w_idx, word in enumerate(words):
                for rep in range(repetitions):
                    clip_rng = np.random.default_rng([seed, 2, s_idx, w_idx, rep])
                    speech = engine.synth(
                        word,
                        voice,
                        rate=base_rate * clip_rng.uniform(0.85, 1.15),
                        pitch=clip_rng.uniform(35, 65),
                        pitch_range=clip_rng.uniform(30, 70),
                        seed=clip_rng.integers(2**31),
                    )[:SAMPLE_RATE]
                    clip = place_in_window(speech, clip_rng, truncate_prob)
                    clip = degrade(
                        clip,
                        clip_rng,
                        snr_db=clip_rng.uniform(*snr_db),
                        tilt=clip_rng.uniform(-0.6, 0.9),
                        gain_db=clip_rng.uniform(-12, 0),
                        colour=int(clip_rng.integers(3)),
                        rt60=clip_rng.uniform(*rt60_s),
                    )
                    rel = f"{word}/{spk}_nohash_{rep}.wav"
                    write_wav(os.path.join(root, rel), clip)
                    split = which_set(rel, validation_percentage, testing_percentage)
                    if split in lists:
                        lists[split].append(rel)
        write_text(os.path.join(root, "validation_list.txt"), "".join(f"{r}\n" for r in sorted(lists["validation"])))
        write_text(os.path.join(root, "testing_list.txt"), "".join(f"{r}\n" for r in sorted(lists["testing"])))
        noise_rng = np.random.default_rng([seed, 3])
        for colour, name in enumerate(["white_noise", "pink_noise", "brown_noise"]):
            noise = 0.1 * coloured_noise(noise_rng, 20 * SAMPLE_RATE, colour)
            write_wav(os.path.join(root, "_background_noise_", f"{name}.wav"), noise)
        write_text(
            os.path.join(root, "README.md"),
            "MiniSpeechCommands: synthesised with eSpeak NG by speechbrain-unlearn "
            f"in the Speech Commands v0.02 layout.\nParameters: {params}\n",
        )

    return _cached_corpus(cache_folder, "MiniSpeechCommands", params, build)


def place_in_window(speech, rng, truncate_prob, length=SAMPLE_RATE):
    """Put a word at a random offset in a one-second window.

    With probability ``truncate_prob`` 15 to 40% of the word falls outside
    the window (at its start or end), as happens in Speech Commands.

    Example
    -------
    >>> clip = place_in_window(np.ones(8000, dtype=np.float32), np.random.default_rng(0), 0.0)
    >>> clip.size, int(clip.sum())
    (16000, 8000)
    """
    speech = speech[:length]
    clip = np.zeros(length, dtype=np.float32)
    if rng.random() < truncate_prob:
        cut = int(speech.size * rng.uniform(0.15, 0.4))
        speech = speech[cut:] if rng.random() < 0.5 else speech[: speech.size - cut]
        start = 0 if rng.random() < 0.5 else length - speech.size
    else:
        start = int(rng.integers(0, length - speech.size + 1))
    clip[start : start + speech.size] = speech
    return clip


def _video_id(rng):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    return "".join(alphabet[i] for i in rng.integers(len(alphabet), size=11))


def _sentence(engine, rng, voice, rate, min_s, max_s):
    """Synthesise a random sentence of ``min_s`` to ``max_s`` seconds."""
    words = list(rng.choice(_SENTENCE_WORDS, size=int(rng.integers(4, 9))))
    pitch, span = rng.uniform(35, 65), rng.uniform(30, 70)
    seed = int(rng.integers(2**31))
    while True:
        speech = engine.synth(" ".join(words), voice, rate=rate, pitch=pitch, pitch_range=span, seed=seed)
        if speech.size >= min_s * SAMPLE_RATE:
            return speech[: int(max_s * SAMPLE_RATE)]
        words.append(str(rng.choice(_SENTENCE_WORDS)))


def _video_channel(video_rng, snr_db, rt60_s):
    """A video's ID and its recording channel (tilt, gain, colour, SNR, reverberation), drawn from ``video_rng``."""
    video = _video_id(video_rng)
    channel = dict(
        tilt=video_rng.uniform(-0.6, 0.9),
        gain=video_rng.uniform(-12, 0),
        colour=int(video_rng.integers(3)),
        snr=video_rng.uniform(*snr_db),
        rt60=video_rng.uniform(*rt60_s),
    )
    return video, channel


def _trial_lines(test_utts, trials_per_utterance, trial_rng):
    """``veri_test2.txt`` lines: per test utterance, alternately a target (another video) and a non-target trial."""
    trials = []
    for spk, video, rel in test_utts:
        same = [u for u in test_utts if u[0] == spk and u[2] != rel]
        other_video = [u for u in same if u[1] != video] or same
        different = [u for u in test_utts if u[0] != spk]
        for t in range(trials_per_utterance):
            pool, target = (other_video, 1) if t % 2 == 0 else (different, 0)
            partner = pool[trial_rng.integers(len(pool))]
            trials.append(f"{target} {rel} {partner[2]}\n")
    return trials


def synthesise_voxceleb(
    cache_folder,
    n_speakers=25,
    n_videos=8,
    utterances_per_video=8,
    valid_videos=1,
    test_videos=2,
    trials_per_utterance=8,
    duration_s=(1.5, 4.0),
    snr_db=(5.0, 30.0),
    rt60_s=(0.0, 0.6),
    seed=1234,
):
    """Synthesise (or reuse) MiniVoxCeleb in the VoxCeleb1 layout.

    The last ``test_videos`` videos of every speaker are its test utterances
    (``iden_split.txt`` label 3), the ``valid_videos`` before them validation
    (label 2), the rest training (label 1). ``veri_test2.txt`` pairs every
    test utterance with target trials (same speaker, another video where
    possible) and non-target trials, half each.

    Arguments
    ---------
    cache_folder : str
        Folder holding cached corpora.
    n_speakers, n_videos, utterances_per_video : int
        Corpus size.
    valid_videos, test_videos : int
        Videos per speaker held out for validation and test.
    trials_per_utterance : int
        Verification trials per test utterance.
    duration_s : tuple of float
        Range of utterance durations.
    snr_db : tuple of float
        Range of the channel SNR of a video.
    rt60_s : tuple of float
        Range of the reverberation time of a video.
    seed : int
        Corpus seed.

    Returns
    -------
    str
        The corpus root.
    """
    if valid_videos + test_videos >= n_videos:
        raise UnlearnError("n_videos must exceed valid_videos + test_videos")
    params = dict(
        n_speakers=n_speakers,
        n_videos=n_videos,
        utterances_per_video=utterances_per_video,
        valid_videos=valid_videos,
        test_videos=test_videos,
        trials_per_utterance=trials_per_utterance,
        duration_s=list(duration_s),
        snr_db=list(snr_db),
        rt60_s=list(rt60_s),
        seed=seed,
    )

    def build(root):
        engine = ESpeak.get()
        split_lines, test_utts = [], []
        for s_idx in progress.bar(range(n_speakers), desc="synthesising MiniVoxCeleb", unit="speaker"):
            spk = f"id{10001 + s_idx}"
            voice, base_rate = speaker_voice(np.random.default_rng([seed, 1, s_idx]))
            for v_idx in range(n_videos):
                video, channel = _video_channel(np.random.default_rng([seed, 2, s_idx, v_idx]), snr_db, rt60_s)
                label = 1
                if v_idx >= n_videos - test_videos:
                    label = 3
                elif v_idx >= n_videos - test_videos - valid_videos:
                    label = 2
                for u_idx in range(utterances_per_video):
                    utt_rng = np.random.default_rng([seed, 3, s_idx, v_idx, u_idx])
                    speech = _sentence(engine, utt_rng, voice, base_rate * utt_rng.uniform(0.9, 1.1), *duration_s)
                    clip = degrade(
                        speech,
                        utt_rng,
                        snr_db=float(np.clip(channel["snr"] + utt_rng.uniform(-3, 3), *snr_db)),
                        tilt=channel["tilt"],
                        gain_db=channel["gain"] + utt_rng.uniform(-2, 2),
                        colour=channel["colour"],
                        rt60=channel["rt60"],
                    )
                    rel = f"{spk}/{video}/{u_idx + 1:05d}.wav"
                    write_wav(os.path.join(root, "wav", rel), clip)
                    split_lines.append(f"{label} {rel}\n")
                    if label == 3:
                        test_utts.append((spk, video, rel))
        write_text(os.path.join(root, "iden_split.txt"), "".join(split_lines))
        trials = _trial_lines(test_utts, trials_per_utterance, np.random.default_rng([seed, 4]))
        write_text(os.path.join(root, "veri_test2.txt"), "".join(trials))
        write_text(
            os.path.join(root, "README.md"),
            "MiniVoxCeleb: synthesised with eSpeak NG by speechbrain-unlearn in the "
            f"VoxCeleb1 layout.\nParameters: {params}\n",
        )

    return _cached_corpus(cache_folder, "MiniVoxCeleb", params, build)
