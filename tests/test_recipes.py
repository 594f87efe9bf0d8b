"""Tiny end-to-end runs of both recipes, and one-line answers to bad input."""

import json
import os

import pytest
import torch

from tests.support import CONTRACT_METRICS, EVALUATION_ON, assert_model_folder_and_receipt, tiny_run


@pytest.mark.parametrize(
    "task,scenario",
    [
        ("SpeechCommands", "sample"),
        ("SpeechCommands", "class"),
        ("SpeechCommands", "speaker"),
        ("VoxCeleb", "sample"),
        ("VoxCeleb", "class"),
        ("VoxCeleb", "speaker"),
    ],
)
def test_recipe_end_to_end(task, scenario, cache, tmp_path):
    out = tmp_path / "run"
    proc = tiny_run(task, "finetune", cache, out, f"--scenario={scenario}", *EVALUATION_ON)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "embedded corpus" in proc.stdout
    results = json.loads((out / "unlearn_results.json").read_text())
    assert (results["task"], results["method"], results["scenario"]) == (task, "finetune", scenario)
    assert set(results["sizes"]) == {"train", "forget", "retain", "test"}
    assert results["sizes"]["forget"] + results["sizes"]["retain"] == results["sizes"]["train"]
    for model in ("original", "unlearned", "retrained"):
        metrics = results["metrics"][model]
        assert CONTRACT_METRICS <= set(metrics)
        assert all(0.0 <= metrics[k] <= 1.0 for k in CONTRACT_METRICS)
        # whole classes are forgotten in `class`, and in `speaker` on VoxCeleb (a speaker is a class)
        forgets_classes = scenario == "class" or (task == "VoxCeleb" and scenario == "speaker")
        assert ("forget_test_acc" in metrics) == forgets_classes
        # the evaluation hooks (issue 5): every key filled on both tasks
        attacks = {"mia_entropy_auc", "mia_svc_efficacy", "lira_tpr_at_1pct_fpr", "lira_tpr_at_01pct_fpr"}
        assert attacks <= set(metrics) and all(0.0 <= metrics[k] <= 1.0 for k in attacks)
        assert attacks | CONTRACT_METRICS <= set(results["standard_errors"][model])
        assert ({"eer", "min_dcf"} <= set(metrics)) == (task == "VoxCeleb")
        assert ("forgotten_speaker_id_rate" in metrics) == (task == "VoxCeleb" and forgets_classes)
    assert set(results["distance_to_retrain"]) == {"js_divergence", "ks_pvalue"}
    assert 0.0 <= results["distance_to_retrain"]["ks_pvalue"] <= 1.0
    assert set(results["gap_noise_floor"]) == CONTRACT_METRICS | {"avg"}
    for stage in ("train", "retrain", "unlearn", "evaluate", "relearn", "shadows", "noise_floor_reference"):
        assert set(results["cost"][stage]) >= {"time_s", "peak_mem_mb", "grad_evals"}, stage
    assert results["cost"]["unlearn"]["grad_evals"] > 0 and results["cost"]["evaluate"]["grad_evals"] == 0
    samples = results["attack_samples"]
    assert samples["lira_shadows"] == 2 and samples["members"] == samples["nonmembers"] > 0
    # the attacks train on every test utterance not in the matched sample, against as many retain utterances
    held_out_in_test = 0 if forgets_classes else samples["nonmembers"]
    assert samples["shadow_nonmembers"] == results["sizes"]["test"] - held_out_in_test
    assert samples["shadow_members"] == min(samples["shadow_nonmembers"], results["sizes"]["retain"])
    for attack in ("benign", "kshot"):
        relearned = results["relearn"][attack]
        if "skipped" in relearned:  # the tiny VoxCeleb class has 3 forget utterances
            assert attack == "kshot" and results["sizes"]["forget"] < 4
            continue
        assert {"memorization_recovery", "memorization_recovery_original", "curve"} <= set(relearned), attack
        along = {"auc_recovery", "auc_recovery_original", "steps_to_half", "steps_to_half_original"}
        assert along <= set(relearned), attack
        half = relearned["steps_to_half_original"]  # null only with the reason
        assert half in relearned["curve"]["steps"] or (half is None and relearned["steps_to_half_note"]), attack
    gap = results["gap_to_retrain"]
    assert set(gap) == CONTRACT_METRICS | {"avg"}
    for key in CONTRACT_METRICS:
        unlearned, retrained = results["metrics"]["unlearned"][key], results["metrics"]["retrained"][key]
        assert gap[key] == pytest.approx(abs(unlearned - retrained), abs=1e-6)
    assert gap["avg"] == pytest.approx(sum(gap[k] for k in CONTRACT_METRICS) / 4, abs=1e-5)
    assert set(results["time_s"]) == {"train", "curvature_statistics", "retrain", "unlearn"}
    assert results["speedup_vs_retrain"] > 0 and results["time_s"]["curvature_statistics"] > 0
    relearn = results["relearn"]["benign"]
    assert relearn["steps"] == 20 and set(relearn["post_attack"]) == {"original", "unlearned", "retrained"}
    post = {m: relearn["post_attack"][m]["forget_acc"] for m in relearn["post_attack"]}
    assert relearn["memorization_recovery"] == pytest.approx(post["unlearned"] - post["retrained"], abs=1e-6)
    assert ("memorization_recovery_forget_test" in relearn) == forgets_classes
    for name in (
        "unlearn_results.md",
        "forget.csv",
        "retain.csv",
        "test.csv",
        "unlearned_model.pt",
        "unlearning_receipt.json",
    ):
        assert (out / name).exists(), name
    assert_model_folder_and_receipt(out, results)
    test_rows = len((out / "test.csv").read_text().splitlines()) - 1
    if forgets_classes:
        forgotten = len((out / "test_forgotten.csv").read_text().splitlines()) - 1
        assert forgotten > 0 and results["sizes"]["test"] == test_rows - forgotten  # retained classes only
        assert set(results["forget_classes"]) == {
            line.split(",")[-1] for line in (out / "forget.csv").read_text().splitlines()[1:]
        }
    else:
        assert results["sizes"]["test"] == test_rows


@pytest.mark.parametrize("task", ["SpeechCommands"])
def test_influence_step_raises_the_forget_loss(task, cache, tmp_path):
    out = tmp_path / "influence"
    # trained closer to a minimum than the other tiny runs: the step's premise
    proc = tiny_run(task, "influence", cache, out, "--repair_steps=2", "--number_of_epochs=6", "--influence_scope=all")
    assert proc.returncode == 0, proc.stderr[-3000:]
    diagnostics = json.loads((out / "unlearn_results.json").read_text())["method_diagnostics"]
    assert not diagnostics["solver"]["negative_curvature"] and diagnostics["solver"]["relative_residual"] < 0.01
    assert diagnostics["accepted"]
    # the stored statistics of the unlearning-aware original, down-dated
    assert diagnostics["curvature_source"] == "cached"
    assert diagnostics["forget_loss_after"] > diagnostics["forget_loss_before"]
    assert diagnostics["step_norm"] > 0 and diagnostics["batchnorm_layers"] > 0
    # the safeguard's trials raise the damping tenfold each time, and say whether the last one held
    trials = diagnostics["damping_trials"]
    assert trials and all(b["damping"] == pytest.approx(10 * a["damping"]) for a, b in zip(trials, trials[1:]))
    assert trials[-1]["retain_loss_change"] <= 0.2 and trials[-1]["relative_step"] <= 0.5
    assert all(t["retain_loss_change"] > 0.2 or t["relative_step"] > 0.5 for t in trials[:-1])
    # scope `all`: the head and every Linear/Conv layer (not the CRDNN's GRU)
    state = torch.load(out / "unlearned_model.pt", weights_only=True)
    assert diagnostics["scope_layers"] > 1 and 0 < diagnostics["scope_parameters"] < sum(
        t.numel() for t in state.values()
    )


def test_influence_rejected_step_leaves_the_weights(cache, tmp_path):
    """A step no damping makes safe (here: the trust region is tiny) is not applied."""
    import glob

    out = tmp_path / "rejected"
    proc = tiny_run("VoxCeleb", "influence", cache, out, "--influence_max_relative_step=0.000001")
    assert proc.returncode == 0, proc.stderr[-3000:]
    diagnostics = json.loads((out / "unlearn_results.json").read_text())["method_diagnostics"]
    assert not diagnostics["accepted"] and diagnostics["step_norm"] == 0.0
    assert len(diagnostics["damping_trials"]) == 4
    unlearned = torch.load(out / "unlearned_model.pt", weights_only=True)
    (original_path,) = json.loads((out / "unlearning_receipt.json").read_text())["input_model"]["original"]
    assert original_path in glob.glob(f"{cache}/models/VoxCeleb/original-*/model.pt")
    original = torch.load(original_path, weights_only=True)
    weights = [k for k in original if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert weights and all(torch.equal(original[k], unlearned[k]) for k in weights)


def test_influence_serves_sequential_requests(cache, tmp_path):
    out = tmp_path / "sequential"
    proc = tiny_run("SpeechCommands", "influence", cache, out, "--influence_requests=3", "--number_of_epochs=6")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "unlearn_results.json").read_text())
    diagnostics = results["influence"]
    assert diagnostics["requests"] == 3 and len(diagnostics["per_request"]) == 3
    # each request down-dated the statistics: they now cover the retain set only
    assert diagnostics["statistics_utterances"] == results["sizes"]["retain"]
    assert all(r["residual_ratio"] > 0 for r in diagnostics["per_request"]) and diagnostics["fallback"] is None
    # a bound no request can meet: the method says so and retrains
    out = tmp_path / "fallback"
    proc = tiny_run("SpeechCommands", "influence", cache, out, "--influence_requests=2", "--influence_residual_bound=0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "unlearn_results.json").read_text())
    assert results["influence"]["fallback"]["method"] == "retrain" and results["influence"]["requests"] == 1
    # said where the user looks: the status, the first line of the table and the report, the record; no speed-up
    assert (
        results["method_status"]["status"] == "fallback"
        and "influence_residual_bound" in results["method_status"]["reason"]
    )
    assert results["speedup_vs_retrain"] is None
    first = "**influence fell back to retraining**"
    assert (out / "unlearn_results.md").read_text().startswith(first)
    assert 0 <= proc.stdout.find(first) < proc.stdout.find("# SpeechCommands / influence")
    assert json.loads((out / "unlearning_receipt.json").read_text())["method_status"] == "fallback"


def test_influence_checks_that_a_class_removal_removed_the_class(cache, tmp_path):
    runs = {}
    for name, bound in (("lenient", "1.0"), ("strict", "-1.0")):  # no accuracy is above 1 or below -1
        out = tmp_path / name
        extra = ("--scenario=class", f"--influence_forgotten_bound={bound}", "--influence_residual_bound=1e9")
        proc = tiny_run("SpeechCommands", "influence", cache, out, *extra)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[name] = json.loads((out / "unlearn_results.json").read_text())
    lenient, strict = runs["lenient"], runs["strict"]
    check = lenient["influence"]["forgotten_check"]
    assert check["utterances"] > 0 and 0.0 <= check["accuracy"] <= 1.0  # held-out utterances of the class
    assert lenient["method_status"]["status"] == "ok" and lenient["influence"]["fallback"] is None
    assert strict["method_status"]["status"] == "fallback"
    assert "the forgotten classes are still recognised" in strict["method_status"]["reason"]
    assert strict["metrics"]["unlearned"] == strict["metrics"]["retrained"]  # it retrained: the reference's recipe


def test_influence_without_stored_statistics_computes_them(cache, tmp_path):
    out = tmp_path / "computed"
    proc = tiny_run("VoxCeleb", "influence", cache, out, "--unlearning_aware=false", "--influence_scope=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "unlearn_results.json").read_text())
    assert results["method_diagnostics"]["curvature_source"] == "computed"
    assert results["time_s"]["curvature_statistics"] is None
    assert results["method_diagnostics"]["scope_layers"] == 2


def test_list_scenario_and_cache_reuse(cache, tmp_path):
    first = tmp_path / "first"
    assert tiny_run("SpeechCommands", "finetune", cache, first).returncode == 0
    forget = [line.split(",")[0] for line in (first / "train.csv").read_text().splitlines()[1:4]]
    (tmp_path / "ids.txt").write_text("\n".join(forget) + "\n")
    out = tmp_path / "list"
    proc = tiny_run(
        "SpeechCommands", "finetune", cache, out, "--scenario=list", f"--forget_list={tmp_path / 'ids.txt'}"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "unlearn_results.json").read_text())
    assert results["sizes"]["forget"] == 3
    assert results["cached"]["original"] is True  # same data, seed and task hparams as the first run


def test_changed_setting_misses_the_cache_and_reference_is_optional(cache, tmp_path):
    out = tmp_path / "noref"
    proc = tiny_run("SpeechCommands", "finetune", cache, out, "--retrain_reference=false", "--lr=0.003")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "unlearn_results.json").read_text())
    assert results["cached"]["original"] is False  # another learning rate: another original
    assert "retrained" not in results["metrics"] and results["gap_to_retrain"] is None
    assert results["time_s"]["retrain"] is None and results["speedup_vs_retrain"] is None
    assert "| retrain | - |" in (out / "unlearn_results.md").read_text()


def test_retrain_is_deterministic(cache, tmp_path):
    metrics = []
    for name in ("a", "b"):
        proc = tiny_run("VoxCeleb", "retrain", cache, tmp_path / name, "--relearn_steps=20")
        assert proc.returncode == 0, proc.stderr[-3000:]
        metrics.append(json.loads((tmp_path / name / "unlearn_results.json").read_text())["metrics"])
    assert metrics[0] == metrics[1]
    assert metrics[0]["unlearned"] == metrics[0]["retrained"]  # retrain reproduces the reference
    relearn = json.loads((tmp_path / "a" / "unlearn_results.json").read_text())["relearn"]
    # the same model under the same attack: no memorisation recovered, by construction
    assert relearn["benign"]["memorization_recovery"] == 0.0
    assert relearn["kshot"].get("memorization_recovery", 0.0) == 0.0


def test_evaluations_of_shared_models_are_reused_exactly(tmp_path):
    """A second run loads the shared models' scores, embeddings and attacks and reports the same numbers."""
    cache, runs = str(tmp_path / "cache"), []
    for name in ("a", "b"):
        out = tmp_path / name
        proc = tiny_run("VoxCeleb", "finetune", cache, out, "--scenario=class", *EVALUATION_ON)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs.append(json.loads((out / "unlearn_results.json").read_text()))
    first, second = (r["cached"]["evaluations"] for r in runs)
    # scores of 5 models (shadows on 2 sets), embeddings of 3 on 4 sets, 2 models x 2 attacks
    assert first["reused"] == 0 and first["computed"] > 10
    assert second == {"reused": first["computed"], "computed": 0}
    assert list((tmp_path / "cache" / "evaluations" / "VoxCeleb").glob("*.pt"))
    keys = ["metrics", "standard_errors", "per_class_test_acc", "gap_to_retrain", "gap_noise_floor", "relearn"]
    keys += ["distance_to_retrain", "distance_original_to_retrain", "distance_noise_floor", "verification"]
    for key in keys:
        assert runs[0][key] == runs[1][key], key


def test_real_layout_folder(tmp_path, tiny_vc, cache):
    out = tmp_path / "real"
    proc = tiny_run("VoxCeleb", "finetune", cache, out, f"--data_folder={tiny_vc}", "--scenario=class")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "embedded corpus" not in proc.stdout
    assert json.loads((out / "unlearn_results.json").read_text())["data"]["embedded"] is False


@pytest.mark.parametrize(
    "task,args,message",
    [  # the whole table, in process: test_bad_input.py; these as a user meets them, in a process of their own
        ("VoxCeleb", ["--data_folder=/nonexistent/vox"], "does not exist"),
        ("SpeechCommands", ["--forget_ratio=1.5"], "forget_ratio must lie in (0, 1)"),
        (
            "SpeechCommands",
            ["--scenario=list", "--forget_list={ids}"],
            "2 IDs not in the training manifest: ghost-1, ghost-2",
        ),
    ],
)
def test_bad_input_answers_in_one_line(task, args, message, tmp_path, tiny_vc, cache):
    (tmp_path / "ids.txt").write_text("ghost-1\nghost-2\n")
    args = [a.format(tmp=tmp_path, vc=tiny_vc, ids=tmp_path / "ids.txt") for a in args]
    out = tmp_path / "out"
    proc = tiny_run(task, "finetune", cache, out, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_runs_under_torchrun_on_cpu(cache, tmp_path):
    """DESIGN section 5: every stage runs under torchrun (gloo on CPU); the main process writes."""
    out = tmp_path / "ddp"
    proc = tiny_run("SpeechCommands", "retrain", str(tmp_path / "cache"), out, nproc=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("# SpeechCommands / retrain") == 1  # one report, from the main process
    results = json.loads((out / "unlearn_results.json").read_text())
    assert results["metrics"]["unlearned"] == results["metrics"]["retrained"]
    # 2 epochs: both processes' utterances are counted (the sampler may pad each epoch by one)
    assert results["cost"]["train"]["grad_evals"] >= 2 * results["sizes"]["train"]


def test_relative_folders_as_the_defaults_give_them(tmp_path):
    """The default ``cache_folder`` and ``output_folder`` are relative to where the recipe is started."""
    from speechbrain_unlearn import receipt
    from tests.support import run_recipe, tiny_args

    args = tiny_args("VoxCeleb", "cache", "out", "--training_regime=deletion_ready", "--core_n_speakers=6")
    proc = run_recipe("VoxCeleb", "influence", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("results, model folder and receipt written to out")
    assert receipt.verify(str(tmp_path / "out")) == []


def test_caches_follow_the_audio_not_the_path(tmp_path, tiny_vc):
    """A wav corrected in place misses the feature and model caches; the same dataset moved elsewhere hits them."""
    import shutil

    from speechbrain.lobes.features import Fbank

    from speechbrain_unlearn.data import fingerprints
    from speechbrain_unlearn.data.dataio import FeatureStore, read_audio
    from speechbrain_unlearn.data.synth import write_wav
    from speechbrain_unlearn.data.voxceleb import prepare_voxceleb

    shutil.copytree(tiny_vc, tmp_path / "vox")
    features, fbank = str(tmp_path / "features"), Fbank(n_mels=8)

    def keyed(folder):
        rows = prepare_voxceleb(str(folder))["train"][:3]
        return rows, fingerprints.rows_key(rows), FeatureStore(rows, fbank, features)

    rows, key, store = keyed(tmp_path / "vox")
    shutil.move(tmp_path / "vox", tmp_path / "moved")
    moved_rows, moved_key, moved = keyed(tmp_path / "moved")
    assert moved_rows[0]["wav"] != rows[0]["wav"] and moved_key == key and len(os.listdir(features)) == 1
    assert torch.equal(moved[rows[0]["ID"]], store[rows[0]["ID"]])
    write_wav(moved_rows[0]["wav"], 0.5 * read_audio(moved_rows[0]["wav"]).numpy())  # corrected in place
    _, corrected_key, corrected = keyed(tmp_path / "moved")
    assert corrected_key != key and len(os.listdir(features)) == 2
    assert not torch.equal(corrected[rows[0]["ID"]], store[rows[0]["ID"]])
