"""Model folders SpeechBrain's inference classes load, and receipts anyone can check."""

import json
import os
import pathlib
import shutil

import numpy as np
import pytest
import torch
from speechbrain.inference.classifiers import EncoderClassifier
from speechbrain.lobes.features import Fbank

from speechbrain_unlearn import receipt
from speechbrain_unlearn.data.dataio import read_audio
from speechbrain_unlearn.data.synth import write_wav
from speechbrain_unlearn.data.utterances import label_encoder
from speechbrain_unlearn.deletable.model import DeletionReadyModel
from speechbrain_unlearn.export import export_model
from speechbrain_unlearn.models import CRDNNClassifier, ECAPAClassifier
from tests.support import assert_model_folder_and_receipt, tiny_run
from tests.test_deletion_ready import TINY_CORE

N_MELS = 20
LABELS = ["down", "go", "up"]


def crdnn():
    return CRDNNClassifier(
        n_mels=N_MELS,
        n_classes=3,
        cnn_blocks=1,
        cnn_channels=[4],
        rnn_layers=1,
        rnn_neurons=8,
        dnn_blocks=1,
        dnn_neurons=8,
    )


def ecapa():
    return ECAPAClassifier(
        n_mels=N_MELS,
        n_classes=3,
        channels=[16, 16, 16, 16, 48],
        lin_neurons=8,
        attention_channels=8,
        se_channels=8,
    )


def deletion_ready(core):
    torch.manual_seed(1)
    dim = core.eval().embed(torch.randn(1, 30, N_MELS), torch.ones(1)).shape[1]
    return DeletionReadyModel(core, 3, torch.randn(dim), torch.rand(dim) + 0.5)


MODELS = {
    "CRDNN": crdnn,
    "ECAPA": ecapa,
    "deletion-ready ECAPA": lambda: deletion_ready(ecapa()),
    "deletion-ready CRDNN": lambda: deletion_ready(crdnn()),
}


@pytest.fixture
def wav(tmp_path):
    path = str(tmp_path / "utt.wav")
    write_wav(path, (np.random.RandomState(0).randn(20000) * 0.1).astype(np.float32))
    return path


def own_scores(model, wav):
    """The project's scoring of a wav: its Fbank features through the model."""
    with torch.no_grad():
        return model.eval()(Fbank(n_mels=N_MELS)(read_audio(wav).unsqueeze(0)), torch.ones(1))


@pytest.mark.parametrize("kind", list(MODELS))
def test_an_exported_folder_classifies_a_wav_as_the_model_does(kind, wav, tmp_path):
    torch.manual_seed(0)
    model = MODELS[kind]()
    folder = tmp_path / "model"
    export_model(model, label_encoder(LABELS), str(folder), N_MELS, kind)
    loaded = EncoderClassifier.from_hparams(source=str(folder), savedir=str(tmp_path / "savedir"))
    out_prob, score, index, label = loaded.classify_file(wav)
    ours = own_scores(model, wav)
    assert torch.allclose(out_prob, ours, atol=1e-5, rtol=1e-4), (out_prob, ours)
    assert label == [LABELS[int(ours.argmax())]] and int(index) == int(ours.argmax())


def test_a_copied_folder_loads_its_own_weights_not_the_originals(wav, tmp_path):
    torch.manual_seed(0)
    first, second = ecapa(), ecapa()
    export_model(first, label_encoder(LABELS), str(tmp_path / "a"), N_MELS)
    export_model(second, label_encoder(LABELS), str(tmp_path / "b"), N_MELS)
    shutil.copytree(tmp_path / "b", tmp_path / "moved")
    shutil.rmtree(tmp_path / "b")
    loaded = EncoderClassifier.from_hparams(source=str(tmp_path / "moved"), savedir=str(tmp_path / "savedir"))
    assert torch.allclose(loaded.classify_file(wav)[0], own_scores(second, wav), atol=1e-5)
    # exporting onto an existing folder replaces it whole
    export_model(first, label_encoder(LABELS), str(tmp_path / "moved"), N_MELS)
    loaded = EncoderClassifier.from_hparams(source=str(tmp_path / "moved"), savedir=str(tmp_path / "savedir2"))
    assert torch.allclose(loaded.classify_file(wav)[0], own_scores(first, wav), atol=1e-5)


def request_folder(tmp_path, name, weights, previous=None):
    """A folder with a weights file and a receipt that chains to ``previous``'s."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "classifier.ckpt").write_bytes(weights)
    link = receipt.chain_previous(str(folder), str(previous) if previous else None)
    receipt.write_receipt(
        str(folder), {"files": receipt.file_hashes(str(folder), ["classifier.ckpt"]), "previous_receipt": link}
    )
    return folder


def test_receipt_verify_names_the_changed_file_and_the_edited_link(tmp_path, capsys):
    first = request_folder(tmp_path, "first", b"weights-1")
    second = request_folder(tmp_path, "second", b"weights-2", previous=first)
    third = request_folder(tmp_path, "third", b"weights-3", previous=second)
    assert receipt.main(["verify", str(third)]) == 0
    assert "2 chain links match" in capsys.readouterr().out
    # the hashes are plain SHA-256 of the bytes on disk
    import hashlib

    stored = json.loads((third / receipt.RECEIPT).read_text())
    assert stored["files"]["classifier.ckpt"] == hashlib.sha256(b"weights-3").hexdigest()
    with open(third / "classifier.ckpt", "r+b") as fh:  # one byte of the model changes
        fh.write(b"W")
    assert receipt.main(["verify", str(third)]) == 1
    assert capsys.readouterr().out.strip() == "mismatch: classifier.ckpt: SHA-256 differs from the receipt"
    # a receipt in the chain is edited: the link to it no longer matches
    (link,) = [p for p in os.listdir(second / "receipts")]
    edited = second / "receipts" / link
    edited.write_text(edited.read_text().replace("classifier.ckpt", "classifier.bak"))
    assert receipt.main(["verify", str(second)]) == 1
    out = capsys.readouterr().out
    assert (
        out.strip() == f"mismatch: {receipt.RECEIPT} -> receipts/{link}: the link's SHA-256 does not match that receipt"
    )
    assert receipt.main(["verify", str(tmp_path / "nowhere")]) == 2


@pytest.mark.parametrize(
    "task,regime",
    [("SpeechCommands", "standard"), ("VoxCeleb", "deletion_ready")],
)
def test_a_run_starts_from_an_exported_original(task, regime, cache, tmp_path):
    """Export an original, start a run from it with ``pretrained_source``, load what that run exports."""
    extra = TINY_CORE[task] if regime == "deletion_ready" else [f"--training_regime={regime}"]
    first = tmp_path / "first"
    proc = tiny_run(task, "finetune", cache, first, *extra, "--export_original=true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    second = tmp_path / "second"
    source = f"--pretrained_source={first / 'original_model'}"
    proc = tiny_run(task, "influence", cache, second, *extra, source)
    assert proc.returncode == 0, proc.stderr[-3000:]
    before, after = (json.loads((f / "unlearn_results.json").read_text()) for f in (first, second))
    # the folder's model is the original: the same scores, and nothing trained for it
    assert after["metrics"]["original"]["test_acc"] == before["metrics"]["original"]["test_acc"]
    assert after["metrics"]["original"]["retain_acc"] == before["metrics"]["original"]["retain_acc"]
    if regime == "standard":
        assert after["time_s"]["train"] == 0.0
    else:  # the folder's embedding model is the core: only the convex head is solved
        cores = list((pathlib.Path(cache) / "models" / task).glob("core-pretrained-*"))
        assert len(cores) == 1 and list(cores[0].glob("user-features-*.pt"))
    assert_model_folder_and_receipt(second, after)


class Exploit:
    """Unpickled, it would call ``os.getcwd``: what a malicious checkpoint does with a worse function."""

    def __reduce__(self):
        return (os.getcwd, ())


def exported(tmp_path, model=None, labels=LABELS):
    folder = tmp_path / "model"
    export_model(model or ecapa(), label_encoder(labels), str(folder), N_MELS)
    return folder


@pytest.mark.parametrize(
    "damage,message",
    [
        ("no_classifier", "classifier.ckpt is missing: pretrained_source needs a model folder"),
        ("wrong_classes", "classifier.ckpt has weight (2, 8), but label_encoder.txt has 3 labels"),
        ("wrong_body", "embedding_model.ckpt does not fit the model: size mismatch"),
        ("other_labels", "label_encoder.txt lacks 1 training labels (first: left)"),
        ("other_features", "reads 20 Fbank features, the task 40; pass --n_mels=20"),
        ("deletion_ready_head", "classifier.ckpt is a linear head (a deletion-ready model)"),
        ("applyref", "hyperparams.yaml uses !applyref, which runs code when read"),
        ("pickled_code", "classifier.ckpt cannot be loaded as plain tensors"),
    ],
)
def test_a_model_folder_that_does_not_fit_is_refused_in_one_line(damage, message, tmp_path):
    from speechbrain_unlearn.errors import UnlearnError
    from speechbrain_unlearn.pretrained import ModelFolder

    torch.manual_seed(0)
    folder = exported(tmp_path, deletion_ready(ecapa()) if damage == "deletion_ready_head" else None)
    if damage == "no_classifier":
        (folder / "classifier.ckpt").unlink()
    elif damage == "wrong_classes":
        torch.save({"weight": torch.zeros(2, 8)}, folder / "classifier.ckpt")
    elif damage == "applyref":
        text = (folder / "hyperparams.yaml").read_text()
        (folder / "hyperparams.yaml").write_text(text + "danger: !applyref:os.getcwd []\n")
    elif damage == "pickled_code":  # a checkpoint whose unpickling would call a function
        torch.save({"weight": Exploit()}, folder / "classifier.ckpt")
    elif damage == "wrong_body":
        other = ECAPAClassifier(n_mels=N_MELS, n_classes=3, channels=[8, 8, 8, 8, 24], lin_neurons=8)
        torch.save(other.embedding.state_dict(), folder / "embedding_model.ckpt")
    with pytest.raises(UnlearnError) as err:
        found = ModelFolder.read(str(folder))
        found.check_task(40 if damage == "other_features" else N_MELS, "standard")
        found.check_weights()
        found.check_labels(label_encoder(["down", "left"]) if damage == "other_labels" else label_encoder(LABELS))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_request_against_a_standard_model_folder_runs_the_method_on_its_data(cache, tmp_path, capsys):
    from speechbrain_unlearn import forget
    from speechbrain_unlearn.pretrained import read_labels

    run = tmp_path / "run"
    proc = tiny_run("SpeechCommands", "finetune", cache, run, "--export_original=true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((run / "unlearn_results.json").read_text())
    retain = [line.split(",") for line in (run / "retain.csv").read_text().splitlines()[1:]]
    (tmp_path / "one.txt").write_text("\n".join(r[0] for r in retain[:3]) + "\n")
    (tmp_path / "two.txt").write_text("\n".join(r[0] for r in retain[3:5]) + "\n")
    first, second = tmp_path / "first", tmp_path / "second"

    def request(model, ids, output, *extra):
        argv = ["--model", str(model), "--forget_list", str(tmp_path / ids), "--output", str(output)]
        return forget.main([*argv, "--cache_folder", cache, "--no-progress", *extra])

    # no stored statistics: the data are needed, and the answer says so before anything is written
    assert request(run / "original_model", "one.txt", first) == 2
    assert "pass --data_folder" in capsys.readouterr().err and not first.exists()
    data = ["--data_folder", results["data"]["folder"]]
    assert request(run / "original_model", "one.txt", first, *data, "--method", "finetune") == 0
    assert request(first, "two.txt", second, *data) == 0  # the default method: influence
    assert f"written to {second}" in capsys.readouterr().out
    for folder, method, requests in ((first, "finetune", 1), (second, "influence", 2)):
        served = json.loads((folder / "request_results.json").read_text())
        # the deployed model is the original: nothing trained for it, no reference, no shadows, no attacks
        assert served["time_s"]["train"] == 0.0 and served["cost"]["retrain"] is None
        assert served["sizes"]["forget"] == (3 if requests == 1 else 2) and "relearn" not in served
        stored = json.loads((folder / receipt.RECEIPT).read_text())
        assert (stored["method"], stored["training_regime"]) == (method, "standard")
        assert stored["method_status"] == served["method_status"]["status"]
        assert (
            receipt.verify(str(folder)) == [] and len(json.loads((folder / forget.REQUEST_LOG).read_text())) == requests
        )
        loaded = EncoderClassifier.from_hparams(source=str(folder), savedir=str(tmp_path / f"load-{requests}"))
        assert loaded.classify_file(retain[0][2])[0].shape[-1] == len(read_labels(str(run / "original_model")))
    assert json.loads((second / receipt.RECEIPT).read_text())["previous_receipt"]["file"].startswith("receipts/")
    # the second request's data leave out what the first removed
    served = json.loads((second / "request_results.json").read_text())
    assert served["data"]["excluded"] == 3 and served["sizes"]["train"] == results["sizes"]["train"] - 3
    assert (second / forget.REMOVED).read_text().split() == sorted(r[0] for r in retain[:5])
