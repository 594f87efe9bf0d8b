"""The deletable part of a deletion-ready model: the convex objective, its solver, removal and certificate."""

import pytest
import torch

from speechbrain_unlearn.deletable.blocks import ClassBlocks
from speechbrain_unlearn.deletable.hessian import LogisticHessian
from speechbrain_unlearn.deletable.logistic import LogisticObjective
from speechbrain_unlearn.deletable.perturbation import draw_noise
from speechbrain_unlearn.deletable.solve import certificate, newton, remove
from speechbrain_unlearn.deletable.state import DeletableState
from speechbrain_unlearn.errors import UnlearnError


def problem(n=240, d=8, classes=5, l2=1e-3, chunk=16384, seed=0):
    """Clustered features with some overlap, so the solution is not at infinity even with a weak penalty."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    features = torch.randn(classes, d, generator=gen)[labels] + 1.5 * torch.randn(n, d, generator=gen)
    return LogisticObjective(features, labels, classes, l2, chunk=chunk)


def test_chunked_gradient_and_hessian_products_equal_the_dense_derivatives():
    objective = problem(n=50, d=3, classes=4, l2=0.05, chunk=16)  # four chunks, the last a short one
    theta = torch.randn(objective.size, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    whole = problem(n=50, d=3, classes=4, l2=0.05)
    dense = torch.func.hessian(lambda t: whole._penalised(t, whole._chunk_value(t, 0)))(theta)
    vector = torch.randn(objective.size, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(objective.gradient(theta), whole.gradient(theta), atol=1e-12)
    assert torch.allclose(objective.hessian_vector(theta, vector), dense @ vector, atol=1e-10)
    assert torch.linalg.eigvalsh(dense).min() >= 0.05 - 1e-10  # lambda-strongly convex


def test_newton_reaches_the_gradient_tolerance_it_states():
    objective = problem()
    theta, report, _ = newton(objective, gtol=1e-11)
    assert report["converged"] and report["iterations"] < 30
    assert float(objective.gradient(theta).norm()) <= 1e-11
    again, _, _ = newton(objective, start=torch.randn(objective.size, dtype=torch.float64), gtol=1e-11)
    assert float((again - theta).norm()) <= 2e-11 / objective.l2  # one minimiser, from any start


def test_removal_equals_retraining_without_the_forget_set_and_the_certificate_holds():
    objective = problem()
    original, _, _ = newton(objective, gtol=1e-11)
    keep = torch.ones(len(objective.labels), dtype=torch.bool)
    keep[torch.arange(0, 240, 17)] = False
    removed, report, _ = remove(objective, original, keep, gtol=1e-11)
    retrained, _, _ = newton(objective.restricted(keep), gtol=1e-12)
    distance = float((removed - retrained).norm())
    assert distance <= report["certificate"]["distance_bound"] <= 1e-11 / objective.l2
    assert distance / float(retrained.norm()) < 1e-8
    assert report["iterations"] <= 6  # warm-started at the original


def test_the_certificate_bounds_the_distance_of_a_model_that_removed_nothing():
    objective = problem()
    original, _, _ = newton(objective, gtol=1e-11)
    keep = torch.arange(len(objective.labels)) >= 40
    retained = objective.restricted(keep)
    retrained, _, _ = newton(retained, gtol=1e-12)
    bound = certificate(retained, original)
    distance = float((original - retrained).norm())
    assert 0 < distance <= bound["distance_bound"]  # conservative: lambda is the Hessian's floor, not its size


def test_sequential_requests_end_at_the_model_retrained_without_all_of_them():
    objective = problem()
    theta, _, _ = newton(objective, gtol=1e-11)
    keep = torch.ones(len(objective.labels), dtype=torch.bool)
    for request in range(20):  # one utterance, then a whole class, then utterances again
        if request == 10:
            keep &= objective.labels != 4
        else:
            keep[request * 7] = False
        theta, report, _ = remove(objective, theta, keep, gtol=1e-11)
        assert report["certificate"]["gradient_norm"] <= 1e-11
    retrained, _, _ = newton(objective.restricted(keep), gtol=1e-12)
    assert float((theta - retrained).norm()) / float(retrained.norm()) < 1e-8
    # the removed class keeps its rows but is never predicted again
    assert not (objective.logits(theta).argmax(1) == 4).any()


def test_a_penalty_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="must be positive"):
        LogisticObjective(torch.zeros(2, 2), torch.zeros(2), 2, 0.0)


def test_a_hundred_sequential_requests_end_at_the_head_retrained_without_all_of_them(tmp_path):
    objective = problem(n=400, d=8, classes=8)
    ids = [f"u{i:03d}" for i in range(400)]
    state = DeletableState.fit(ids, objective.features, objective.labels, 8, objective.l2, gtol=1e-10)
    state.save(tmp_path / "state.pt")
    state = DeletableState.load(tmp_path / "state.pt")  # requests continue from the stored state
    labels = dict(zip(ids, objective.labels.tolist()))
    for request in range(100):  # 97 single utterances, then three whole classes
        if request < 97:
            forget = [state.ids[(request * 37) % len(state.ids)]]
        else:
            forget = [utt for utt in state.ids if labels[utt] == request - 97]
        state, report = state.remove(forget)
        assert report["removed"] == len(forget) and report["certificate"]["gradient_norm"] <= 1e-10
    kept = torch.tensor([utt in set(state.ids) for utt in ids])
    assert not any(labels[utt] < 3 for utt in state.ids) and len(state.ids) == int(kept.sum()) < 400 - 97
    retrained, retrain_report, _ = newton(objective.restricted(kept), gtol=1e-12)
    distance = float((state.theta - retrained).norm())
    # both solves are approximate: the certified distance is the sum of their bounds
    assert distance <= (report["certificate"]["gradient_norm"] + retrain_report["gradient_norm"]) / objective.l2
    assert distance / float(retrained.norm()) < 1e-8


def test_a_request_naming_an_utterance_already_removed_is_refused_in_one_line():
    objective = problem(n=60, d=3, classes=3)
    state = DeletableState.fit([f"u{i}" for i in range(60)], objective.features, objective.labels, 3, 0.01)
    state, _ = state.remove(["u1"])
    with pytest.raises(UnlearnError, match="1 forget ID is not in the deletable part's training set \\(first: u1\\)"):
        state.remove(["u1", "u2"])
    assert len(state.ids) == 59  # nothing changed


def test_the_fast_hessian_products_and_diagonal_equal_the_dense_hessian():
    objective = problem(n=50, d=3, classes=4, l2=0.05, chunk=16)
    theta = torch.randn(objective.size, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    whole = problem(n=50, d=3, classes=4, l2=0.05)
    dense = torch.func.hessian(lambda t: whole._penalised(t, whole._chunk_value(t, 0)))(theta)
    hessian = LogisticHessian(objective, theta)
    vector = torch.randn(objective.size, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(hessian @ vector, dense @ vector, atol=1e-10)
    assert torch.allclose(hessian.diagonal(), torch.diagonal(dense), atol=1e-10)


def test_a_request_starts_from_the_stored_sums_minus_the_forget_sets():
    objective = problem(n=120, d=4, classes=3)
    state = DeletableState.fit([f"u{i}" for i in range(120)], objective.features, objective.labels, 3, 0.01)
    keep = torch.arange(120) % 7 != 0
    derived = state.sums().minus(objective.restricted(~keep).sums(state.theta)[0])
    direct = objective.restricted(keep).sums(state.theta)[0]
    assert derived.count == direct.count and derived.dtype == torch.float64
    assert derived.loss == pytest.approx(direct.loss, rel=1e-12)
    assert torch.allclose(derived.gradient, direct.gradient, rtol=0, atol=1e-10)


def test_the_class_blocks_are_the_hessians_diagonal_blocks_and_precondition_removal():
    objective = problem(n=60, d=3, classes=4, l2=0.05)
    theta = torch.randn(objective.size, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    dense = torch.func.hessian(lambda t: objective._penalised(t, objective._chunk_value(t, 0)))(theta)
    # the dense Hessian's layout: W row-major, then the biases; gather class k's (d + 1) indices
    index = torch.tensor([[k * 3 + j for j in range(3)] + [4 * 3 + k] for k in range(4)])
    expected = torch.stack([dense[i][:, i] for i in index])
    exact = ClassBlocks.of(LogisticHessian(objective, theta), threshold=0.0).matrices()
    assert torch.allclose(exact, expected, atol=1e-10)
    approximate = ClassBlocks.of(LogisticHessian(objective, theta), threshold=0.05).matrices()
    assert torch.allclose(torch.diagonal(approximate, dim1=1, dim2=2), torch.diagonal(expected, dim1=1, dim2=2))
    assert not torch.allclose(approximate, expected, atol=1e-6)  # the small terms' off-diagonals were dropped


def test_a_request_that_empties_a_class_is_served_exactly_from_its_re_solved_row():
    objective = problem(n=240, d=8, classes=5)
    ids = [f"u{i}" for i in range(240)]
    state = DeletableState.fit(ids, objective.features, objective.labels, 5, objective.l2, gtol=1e-11)
    speaker = [utt for utt, label in zip(ids, objective.labels.tolist()) if label == 2]
    after, report = state.remove(speaker)
    assert report["emptied_classes"] == [2] and report["certificate"]["gradient_norm"] <= 1e-11
    retrained = state.retrained(speaker)
    assert float((after.theta - retrained.theta).norm()) <= 2e-11 / objective.l2


def test_a_perturbed_head_is_removed_from_exactly_and_the_removal_names_its_epsilon_delta():
    """(epsilon, delta) removal: the perturbation enters the gradient, the emptied-row solve and the retrain."""
    objective = problem(n=240, d=8, classes=5)
    noise = draw_noise(objective.size, 0.5, seed=3)  # large, so that a missed term would show
    perturbed = LogisticObjective(objective.features, objective.labels, 5, objective.l2, linear=noise)
    theta = torch.randn(objective.size, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    by_autograd = torch.func.grad(lambda t: perturbed._penalised(t, perturbed._chunk_value(t, 0)))(theta)
    assert torch.allclose(perturbed.gradient(theta), by_autograd, atol=1e-12)
    assert not torch.allclose(perturbed.gradient(theta), objective.gradient(theta), atol=1e-3)
    ids = [f"u{i}" for i in range(240)]
    state = DeletableState.fit(ids, objective.features, objective.labels, 5, objective.l2, 1e-11, noise, (1.0, 1e-5))
    plain = DeletableState.fit(ids, objective.features, objective.labels, 5, objective.l2, 1e-11)
    assert float((state.theta - plain.theta).norm()) > 1.0  # the perturbation moved the head
    for forget in (ids[:7], [utt for utt, label in zip(ids, objective.labels.tolist()) if label == 2]):
        after, report = state.remove(forget)
        assert report["certificate"]["epsilon_delta"] == [1.0, 1e-5]
        retrained = state.retrained(forget)
        assert float((after.theta - retrained.theta).norm()) <= 2e-11 / objective.l2
    assert "epsilon_delta" not in plain.remove(ids[:7])[1]["certificate"]
