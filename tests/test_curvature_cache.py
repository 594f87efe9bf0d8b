"""Cached curvature statistics: down-dates equal recomputation on the retain set."""

import pytest
import torch
import torch.nn.functional as F

from speechbrain_unlearn.curvature.cached import (
    DiagonalFisher,
    KroneckerFactors,
    _layer_inputs,
    _layer_output_grads,
    _mean_inputs,
    _summed_output_grads,
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


@pytest.mark.parametrize(
    "layer,shape",
    [
        (torch.nn.Linear(5, 3), (4, 2, 5)),
        (torch.nn.Linear(5, 3, bias=False), (4, 5)),
        (torch.nn.Conv1d(3, 4, 3, padding=2, dilation=2, stride=2), (4, 3, 9)),
        (torch.nn.Conv1d(3, 4, 1), (4, 3, 7)),
        (torch.nn.Conv2d(2, 3, (3, 2), padding=(1, 2), stride=(1, 2), dilation=(2, 1)), (4, 2, 6, 8)),
    ],
)
def test_mean_inputs_and_summed_grads_match_the_rows(layer, shape):
    """The fast per-sample reductions equal the mean / sum of the unfolded rows."""
    layer = layer.double()
    x = torch.randn(*shape, dtype=torch.float64)
    rows = _layer_inputs(layer, x)
    torch.testing.assert_close(_mean_inputs(layer, x), rows.reshape(shape[0], -1, rows.shape[-1]).mean(dim=1))
    g = torch.randn_like(layer(x))
    grads = _layer_output_grads(layer, g)
    torch.testing.assert_close(_summed_output_grads(layer, g), grads.reshape(shape[0], -1, grads.shape[-1]).sum(dim=1))


def test_kfac_reduce_is_exact_for_a_pooled_layer_with_a_linear_readout():
    """One sample, outputs mean-pooled over time then read out linearly: the
    gradient is ``g a_bar^T`` exactly, and ``A (x) G`` its outer product."""
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(3, 4, 3).double()
    readout = torch.randn(4, dtype=torch.float64)
    x = torch.randn(1, 3, 9, dtype=torch.float64)
    factors = KroneckerFactors(conv)
    with factors.collect(conv):
        conv.zero_grad()
        (conv(x).mean(dim=2) @ readout).sum().backward()
    grad = torch.cat([conv.weight.grad.reshape(4, -1), conv.bias.grad[:, None]], dim=1)
    vec = grad.T.reshape(-1)  # column-major, to match kron(A, G)
    torch.testing.assert_close(torch.kron(factors.A[""], factors.G[""]), torch.outer(vec, vec), rtol=1e-8, atol=1e-12)


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


def test_kfac_inverse_product_equals_the_dense_damped_inverse():
    model = tiny_ecapa()
    x, y = data()
    factors = factors_of(model, x, y)
    name = factors.layers[2]
    a_bar = factors.A[name] / factors.count
    g_bar = factors.G[name] / factors.count
    vec = torch.randn(g_bar.shape[0], a_bar.shape[0], dtype=torch.float64)
    solved, top = factors.inverse_product({name: vec}, damping=0.1)
    # vec(G V A) = (A (x) G) vec(V) for symmetric A, with column-major vec
    dense = torch.kron(a_bar, g_bar) + 0.1 * torch.eye(a_bar.shape[0] * g_bar.shape[0], dtype=torch.float64)
    expected = torch.linalg.solve(dense, vec.T.reshape(-1)).reshape(vec.shape[1], vec.shape[0]).T
    torch.testing.assert_close(solved[name], expected, rtol=1e-6, atol=1e-9)
    assert top == pytest.approx(float(torch.linalg.eigvalsh(dense).max()) - 0.1, rel=1e-6)


def test_stored_statistics_downdate_exactly_on_real_batches(tiny_vc):
    """The unlearning-aware cache minus the forget set's share equals the retain set's statistics.

    Utterances of different lengths, centre crops and seeded sketch
    signs: the down-date is exact only if no utterance's contribution depends
    on its batch-mates (padding-free batches, eval mode).
    """
    from speechbrain_unlearn.curvature.aware import curvature_statistics
    from speechbrain_unlearn.curvature.ggn_factors import ggn_factors
    from speechbrain_unlearn.data.dataio import Fbank, FeatureStore
    from speechbrain_unlearn.data.utterances import UtteranceSet, label_encoder
    from speechbrain_unlearn.data.voxceleb import prepare_voxceleb
    from speechbrain_unlearn.losses import AAMSoftmax

    rows = prepare_voxceleb(tiny_vc)["train"]
    encoder = label_encoder(r["label"] for r in rows)
    store = FeatureStore(rows, Fbank(n_mels=12))
    torch.manual_seed(0)
    model = ECAPAClassifier(n_mels=12, n_classes=len(encoder), channels=[8, 8, 8, 8, 24], lin_neurons=6).eval()
    loss = AAMSoftmax(margin=0.2, scale=30)
    forget, retain = rows[::4], [r for i, r in enumerate(rows) if i % 4]
    items = lambda r: UtteranceSet(r, encoder, store, crop_frames=150)  # noqa: E731
    lengths = {min(store[r["ID"]].shape[0], 220) for r in rows}
    assert len(lengths) > 1  # some utterances are shorter than the crop: several buckets
    full = curvature_statistics(model, items(rows), loss, seed=3, crop_frames=220, batch_size=5)
    batches = ((b.id, b.feats, b.label) for b in items(forget).fixed_length_batches(220, batch_size=3))
    full["factors"].merge(ggn_factors(model, batches, loss.logits, seed=3), sign=-1.0)
    kept = curvature_statistics(model, items(retain), loss, seed=3, crop_frames=220, batch_size=7)
    assert full["factors"].count == kept["factors"].count == len(retain)
    for name in kept["factors"].layers:
        for factor in ("A", "G"):  # float32 sums: compare relative to the factor's size
            got, want = getattr(full["factors"], factor)[name], getattr(kept["factors"], factor)[name]
            assert float((got - want).norm()) <= 1e-5 * float(want.norm()) + 1e-12, (name, factor)
    by_id = dict(zip(full["ids"], full["embeddings"]))
    torch.testing.assert_close(torch.stack([by_id[i] for i in kept["ids"]]), kept["embeddings"], rtol=1e-5, atol=1e-5)
