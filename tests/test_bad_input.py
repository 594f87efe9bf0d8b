"""Bad input is answered in one ``error:`` line with exit status 2, before anything is written.

Each case runs the recipe's ``main`` in this process (a subprocess would
spend seconds importing torch per case) on a copy of a tiny corpus folder,
with an output folder and a cache folder that do not exist yet: after the
answer, neither may exist. ``test_recipes.py`` runs a few such cases as real
subprocesses, so the exit status and the absence of a traceback are also
checked end to end.
"""

import logging
import os
import shutil
import wave

import numpy as np
import pytest
import torch

from speechbrain_unlearn import progress
from speechbrain_unlearn.data import fingerprints, manifest
from speechbrain_unlearn.data.synth import write_wav
from tests.support import ROOT, TINY


def first_wav(folder, word="yes"):
    """The first wav of ``word`` in a Speech Commands folder (not in a split list: a training clip)."""
    listed = "".join(open(os.path.join(folder, f"{name}_list.txt")).read() for name in ("testing", "validation"))
    names = sorted(n for n in os.listdir(os.path.join(folder, word)) if f"{word}/{n}" not in listed)
    return os.path.join(folder, word, names[0])


def write_bytes(path, data):
    with open(path, "wb") as fh:
        fh.write(data)


def truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)


def eight_bit(path):
    with wave.open(path, "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(1)
        fh.setframerate(16000)
        fh.writeframes(bytes(16000))


def append_line(name, line):
    def mutate(folder):
        with open(os.path.join(folder, name), "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    return mutate


def remove(name):
    return lambda folder: os.remove(os.path.join(folder, name))


def bad_yaml(tmp):
    path = os.path.join(tmp, "broken.yaml")
    with open(os.path.join(ROOT, "hparams", "finetune.yaml"), encoding="utf-8") as fh:
        text = fh.read()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\nbroken: [1, 2\nother: 3\n")
    return path


def missing_method(tmp):
    return os.path.join(tmp, "nope.yaml")


def no_unlearner(tmp):
    path = os.path.join(tmp, "plain.yaml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("method: plain\n")
    return path


METHODS = {
    "influence": lambda tmp: os.path.join(ROOT, "hparams", "influence.yaml"),
    "missing": missing_method,
    "bad_yaml": bad_yaml,
    "no_unlearner": no_unlearner,
}
SC, VC = "SpeechCommands", "VoxCeleb"
CASES = {
    # the command line and the hparams: refused before any data is read
    "negative seed": (SC, ["--seed=-1"], None, "seed must be a whole number from 0 to 4294967295, got -1"),
    "seed not a number": (SC, ["--seed=abc"], None, "seed must be int, got 'abc'"),
    "forget_ratio above 1": (SC, ["--forget_ratio=1.5"], None, "forget_ratio must lie in (0, 1), got 1.5"),
    "zero epochs": (SC, ["--number_of_epochs=0"], None, "number_of_epochs must be at least 1, got 0"),
    "batch size of a word": (SC, ["--batch_size=many"], None, "batch_size must be int, got 'many'"),
    "unknown device": (SC, ["--device=tpu:0"], None, "--device=tpu:0 is not a device torch knows"),
    "unknown key": (VC, ["--forget_ration=0.2"], None, "unknown key 'forget_ration'"),
    "key given twice": (VC, ["--seed=1", "--seed=2"], None, "--seed is given twice on the command line"),
    "odd shadow count": (VC, ["--lira_shadows=3"], None, "lira_shadows must be an even number"),
    "negative epsilon": (SC, ["--deletable_epsilon=-1"], None, "deletable_epsilon must be > 0"),
    "method file missing": (SC, ["method:missing"], None, "nope.yaml' does not exist; pass e.g. hparams/finetune.yaml"),
    "yaml syntax error": (
        SC,
        ["method:bad_yaml"],
        None,
        "broken.yaml line 20: YAML syntax error, expected ',' or ']', but got ':' "
        "(while parsing a flow sequence at line 19)",
    ),
    "method names no unlearner": (SC, ["method:no_unlearner"], None, "names no `unlearner` class"),
    "output folder under a file": (SC, ["--output_folder={tmp}/afile/out"], None, "is a file, not a folder"),
    "cache folder is a file": (SC, ["--cache_folder={tmp}/afile"], None, "is a file, not a folder"),
    "output folder not writable": (SC, ["--output_folder=/proc/unlearn-out"], None, "cannot write in /proc"),
    "cache folder not writable": (SC, ["--cache_folder=/proc/unlearn-cache"], None, "cannot write in /proc"),
    "cuda on a machine without one": (SC, ["--device=cuda"], None, "no CUDA device visible to torch"),
    "influence scope": (
        VC,
        ["method:influence", "--influence_scope=last"],
        None,
        "influence_scope must be head, all or a number of layers",
    ),
    "influence requests": (VC, ["method:influence", "--influence_requests=0"], None, "must be at least 1"),
    "influence residual scale": (
        VC,
        ["method:influence", "--influence_residual_scale=step"],
        None,
        "influence_residual_scale must be standard_error or original, not 'step'",
    ),
    "deletion_ready without a core": (
        VC,
        ["--training_regime=deletion_ready"],
        None,
        "training_regime deletion_ready on a dataset needs core_data_folder",
    ),
    # the data folder and its lists
    "data folder missing": (VC, ["--data_folder={tmp}/nowhere"], None, "does not exist"),
    "folder of the other task": (SC, ["--data_folder={vc}"], None, "it is a VoxCeleb folder"),
    "testing_list.txt missing": (SC, [], remove("testing_list.txt"), "it lacks testing_list.txt"),
    "iden_split.txt missing": (VC, [], remove("iden_split.txt"), "it lacks iden_split.txt"),
    "test list names a missing file": (
        SC,
        [],
        append_line("testing_list.txt", "yes/ghost_nohash_0.wav"),
        "names yes/ghost_nohash_0.wav, which is not in",
    ),
    "malformed test list line": (
        SC,
        [],
        append_line("validation_list.txt", "ghost"),
        "validation_list.txt line 7 should read '<word>/<file>.wav'",
    ),
    "malformed iden_split line": (VC, [], append_line("iden_split.txt", "4 id1/a/1.wav"), "should read '<1|2|3>"),
    "iden_split names a missing file": (
        VC,
        [],
        append_line("iden_split.txt", "1 id10001/ghost/00001.wav"),
        "iden_split.txt lists id10001/ghost/00001.wav but",
    ),
    # the audio
    "random bytes as a wav": (SC, [], lambda f: write_bytes(first_wav(f), os.urandom(3000)), "as a PCM wav file"),
    "empty file": (SC, [], lambda f: write_bytes(first_wav(f), b""), "is an empty file (0 bytes)"),
    "no samples": (SC, [], lambda f: write_wav(first_wav(f), np.zeros(0)), "holds no audio samples"),
    "truncated wav": (SC, [], lambda f: truncate(first_wav(f)), "is truncated"),
    "8-bit wav": (SC, [], lambda f: eight_bit(first_wav(f)), "is 8-bit, not 16-bit PCM"),
    # what to forget
    "forget_ratio selects nothing": (SC, ["--forget_ratio=0.001"], None, "selected no utterance"),
    "every class": (SC, ["--scenario=class", "--forget_classes=[yes, no, up]"], None, "names all 3 classes"),
    "unknown IDs in a forget list": (
        SC,
        ["--scenario=list", "--forget_list={tmp}/ghosts.txt"],
        None,
        "2 IDs not in the training manifest: ghost-1, ghost-2",
    ),
    "forget list of every utterance": (
        SC,
        ["--scenario=list", "--forget_list={tmp}/everything.txt"],
        None,
        "would forget the whole training set",
    ),
    "forget list missing": (SC, ["--scenario=list", "--forget_list={tmp}/none.txt"], None, "cannot read forget_list"),
}


@pytest.fixture(autouse=True)
def isolated_logging():
    """Each in-process run configures the console log and module state; put them back afterwards."""
    root, handlers, level = logging.getLogger(), logging.getLogger().handlers[:], logging.getLogger().level
    memo = dict(fingerprints._MEMO)
    yield
    root.handlers[:], root.level = handlers, level
    progress.configure(None)
    fingerprints._MEMO.update(memo)
    manifest.CONVERTED.clear()


def answer(task, argv, capsys):
    """Run the recipe's ``main`` in this process: its exit status, stdout and stderr."""
    from speechbrain_unlearn.pipeline import main

    with pytest.raises(SystemExit) as stop:
        main(task, os.path.join(ROOT, "recipes", task, "hparams", "train.yaml"), argv)
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def data_copy(task, tmp_path, tiny_sc, tiny_vc):
    """A copy of the tiny corpus folder of ``task`` (the originals stay untouched for other tests)."""
    folder = tmp_path / "data"
    shutil.copytree(tiny_sc if task == SC else tiny_vc, folder)
    return str(folder)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_writes_nothing(case, tmp_path, tiny_sc, tiny_vc, capsys):
    task, args, mutate, message = CASES[case]
    if "cuda" in case and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    data = data_copy(task, tmp_path, tiny_sc, tiny_vc)
    if mutate is not None:
        mutate(data)
    (tmp_path / "afile").write_text("a file in the way\n")
    (tmp_path / "ghosts.txt").write_text("ghost-1\nghost-2\n")
    train_ids = [r["ID"] for r in _prepare(task, tiny_sc, tiny_vc)["train"]] if "everything" in str(args) else []
    (tmp_path / "everything.txt").write_text("\n".join(train_ids) + "\n")
    method = os.path.join(ROOT, "hparams", "finetune.yaml")
    fill = {"tmp": tmp_path, "vc": tiny_vc}
    rest = [arg.format(**fill) for arg in args if not arg.startswith("method:")]
    for arg in args:
        if arg.startswith("method:"):
            method = METHODS[arg.split(":", 1)[1]](str(tmp_path))
    out, cache = tmp_path / "out", tmp_path / "cache"
    given = {a.split("=")[0] for a in rest}
    defaults = [f"--data_folder={data}", f"--output_folder={out}", f"--cache_folder={cache}", *TINY[task]]
    argv = [method, *(a for a in defaults if a.split("=")[0] not in given), *rest]
    code, stdout, stderr = answer(task, argv, capsys)
    lines = stderr.strip().splitlines()
    assert code == 2, stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], stderr
    assert "Traceback" not in stdout + stderr
    assert not out.exists() and not cache.exists()


def _prepare(task, tiny_sc, tiny_vc):
    from speechbrain_unlearn.data.speech_commands import prepare_speech_commands
    from speechbrain_unlearn.data.voxceleb import prepare_voxceleb

    if task == SC:
        return prepare_speech_commands(tiny_sc, keywords=("yes", "no", "up"))
    return prepare_voxceleb(tiny_vc)


def hifi_stereo(path, seconds=1.0, rate=44100):
    """Replace ``path`` by a 44.1 kHz stereo wav: a tone on the left channel, silence on the right."""
    t = np.arange(int(seconds * rate)) / rate
    left = np.round(0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(path, "wb") as fh:
        fh.setnchannels(2)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(np.stack([left, np.zeros_like(left)], axis=1).tobytes())


def test_other_rates_and_channels_are_converted_and_said(tmp_path, caplog):
    """A 44.1 kHz stereo second becomes 16,000 mono samples (the channels' mean), 101 feature frames, and is counted."""
    from speechbrain_unlearn.data.dataio import Fbank, read_audio

    path = str(tmp_path / "hifi.wav")
    hifi_stereo(path)
    assert manifest.wav_info(path) == (44100, 44100)
    audio = read_audio(path)
    assert audio.shape == (16000,)
    assert 0.2 < float(audio.abs().max()) < 0.3  # half the left channel's 0.5: averaged with silence
    assert Fbank(n_mels=20)(audio.unsqueeze(0)).shape == (1, 101, 20)
    assert manifest.CONVERTED[path] == (44100, 2)
    with caplog.at_level(logging.WARNING):
        manifest.report_conversions(logging.getLogger("check"))
        manifest.report_conversions(logging.getLogger("check"))  # said once
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "1 wavs are not 16 kHz mono" in lines[0] and "44100 Hz, 2 channels" in lines[0]


def test_a_run_says_what_it_converted_and_which_ids_repeat(tmp_path, tiny_sc, tiny_vc, capsys):
    """Accepted with a word, never silently: a converted wav and a forget list's repeated IDs, said on the console."""
    data = data_copy(SC, tmp_path, tiny_sc, tiny_vc)
    hifi_stereo(first_wav(data))
    ids = [r["ID"] for r in _prepare(SC, data, tiny_vc)["train"]]
    (tmp_path / "ids.txt").write_text(f"{ids[0]}\r\n{ids[1]}\r\n{ids[0]}\r\nghost\r\n")
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = [os.path.join(ROOT, "hparams", "finetune.yaml"), f"--data_folder={data}", f"--output_folder={out}"]
    argv += [f"--cache_folder={cache}", "--scenario=list", f"--forget_list={tmp_path / 'ids.txt'}", *TINY[SC]]
    code, stdout, stderr = answer(SC, argv, capsys)  # the ghost stops it after the words are said
    assert code == 2 and "1 IDs not in the training manifest: ghost" in stderr
    assert "1 wavs are not 16 kHz mono" in stdout and "44100 Hz, 2 channels" in stdout
    assert "repeats 1 IDs (1 extra lines" in stdout
    assert not out.exists() and not cache.exists()
