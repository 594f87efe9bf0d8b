"""Cached curvature statistics: down-dates equal recomputation on the retain set."""

import pytest
import torch
import torch.nn.functional as F

from speechbrain_unlearn.curvature.cached import (
    DiagonalFisher,
    KroneckerFactors,
    _layer_inputs,
    _layer_output_grads,
)
from speechbrain_unlearn.curvature.per_sample import per_sample_grads
from speechbrain_unlearn.models import ECAPAClassifier


def tiny_ecapa():
    torch.manual_seed(0)
    return ECAPAClassifier(n_mels=12, n_classes=4, channels=[8, 8, 8, 8, 24], lin_neurons=6).double().eval()


def data(n=12):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(n, 20, 12, generator=gen, dtype=torch.float64), torch.arange(n) % 4


def ce(out, target):
    return F.cross_entropy(out, target, reduction="sum")


def factors_of(model, x, y, factors=None, sign=1.0, batch=5):
    factors = factors or KroneckerFactors(model)
    for start in range(0, len(y), batch):
        with factors.collect(model, sign=sign):
            model.zero_grad()
            ce(
                model(x[start : start + batch], torch.ones(len(y[start : start + batch]), dtype=x.dtype)),
                y[start : start + batch],
            ).backward()
    return factors


def test_kfac_downdate_equals_retain_recomputation():
    model = tiny_ecapa()
    x, y = data()
    forget = torch.zeros(len(y), dtype=torch.bool)
    forget[[1, 4, 7]] = True
    full = factors_of(model, x, y)
    assert full.layers and full.count == len(y)
    factors_of(model, x[forget], y[forget], factors=full, sign=-1.0)
    retain = factors_of(model, x[~forget], y[~forget])
    assert full.count == retain.count == int((~forget).sum())
    for name in retain.layers:
        torch.testing.assert_close(full.A[name], retain.A[name], rtol=1e-5, atol=1e-9)
        torch.testing.assert_close(full.G[name], retain.G[name], rtol=1e-5, atol=1e-9)


def test_diagonal_fisher_downdate_equals_retain_recomputation():
    model = tiny_ecapa()
    x, y = data()
    params = {k: v for k, v in model.named_parameters() if k.startswith("classifier") or "fc" in k}
    lengths = torch.ones(len(y), dtype=x.dtype)
    grads, path = per_sample_grads(model, params, ce, (x, lengths), y, chunk_size=4)
    assert path == "vmap"
    full = DiagonalFisher()
    full.update(grads)
    full.downdate({k: g[:3] for k, g in grads.items()})
    retain = DiagonalFisher()
    retain.update({k: g[3:] for k, g in grads.items()})
    assert full.count == retain.count == len(y) - 3
    for name in params:
        torch.testing.assert_close(full.sums[name], retain.sums[name], rtol=1e-5, atol=1e-12)
        torch.testing.assert_close(full.mean()[name], retain.mean()[name], rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize(
    "layer,shape",
    [
        (torch.nn.Linear(5, 3), (4, 2, 5)),
        (torch.nn.Conv1d(3, 4, 3, padding=2, dilation=2, stride=1), (4, 3, 9)),
        (torch.nn.Conv2d(2, 3, (3, 3), padding=1, stride=(1, 2)), (4, 2, 6, 8)),
    ],
)
def test_factor_rows_reproduce_the_weight_gradient(layer, shape):
    """Rows of inputs and output gradients are what K-FAC needs: sum g a^T is the gradient."""
    layer = layer.double()
    x = torch.randn(*shape, dtype=torch.float64)
    captured = {}
    out = layer(x)
    out.register_hook(lambda g: captured.update(g=g))
    out.pow(2).sum().backward()
    rows_g, rows_a = _layer_output_grads(layer, captured["g"]), _layer_inputs(layer, x)
    grad = rows_g.T @ rows_a
    expected = torch.cat([layer.weight.grad.reshape(layer.weight.shape[0], -1), layer.bias.grad[:, None]], dim=1)
    torch.testing.assert_close(grad, expected, rtol=1e-8, atol=1e-10)


def test_state_dict_round_trip(tmp_path):
    from speechbrain_unlearn.io import load_tensors, save_tensors

    model = tiny_ecapa()
    x, y = data(6)
    factors = factors_of(model, x, y)
    save_tensors(tmp_path / "kfac.pt", factors.state_dict())
    restored = KroneckerFactors(model)
    restored.load_state_dict(load_tensors(tmp_path / "kfac.pt"))
    assert restored.count == factors.count and restored.layers == factors.layers
    torch.testing.assert_close(restored.A[factors.layers[0]], factors.A[factors.layers[0]])
