"""Curvature products against torch.autograd.functional, and the inverse solvers."""

import pytest
import torch
import torch.nn.functional as F

from speechbrain_unlearn.curvature.products import curvature_operator, ggn_vp, hvp, model_functions
from speechbrain_unlearn.curvature.solvers import conjugate_gradient, lissa, top_eigenvalue


def tiny_problem(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).double()
    x, y = torch.randn(7, 4, dtype=torch.float64), torch.randint(0, 3, (7,))
    params = {k: v.detach() for k, v in model.named_parameters()}
    output_fn, loss_fn = model_functions(model, x, lambda out: F.cross_entropy(out, y))
    return model, params, output_fn, loss_fn


def flat(d, keys):
    return torch.cat([d[k].reshape(-1) for k in keys])


def unflat(vec, like, keys):
    out, i = {}, 0
    for k in keys:
        n = like[k].numel()
        out[k] = vec[i : i + n].reshape(like[k].shape)
        i += n
    return out


def test_hvp_matches_autograd_functional():
    _, params, output_fn, loss_fn = tiny_problem()
    keys = list(params)
    v = {k: torch.randn_like(p) for k, p in params.items()}

    def flat_loss(theta):
        return loss_fn(output_fn(unflat(theta, params, keys)))

    _, expected = torch.autograd.functional.hvp(flat_loss, flat(params, keys), flat(v, keys))
    got = flat(hvp(output_fn, loss_fn, params, v), keys)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-10)


def test_ggn_matches_explicit_jacobian_product():
    _, params, output_fn, loss_fn = tiny_problem(1)
    keys = list(params)
    theta = flat(params, keys)
    v = {k: torch.randn_like(p) for k, p in params.items()}
    outputs = output_fn(params).detach()
    jac = torch.autograd.functional.jacobian(lambda t: output_fn(unflat(t, params, keys)).reshape(-1), theta)
    h_out = torch.autograd.functional.hessian(lambda o: loss_fn(o.reshape(outputs.shape)), outputs.reshape(-1))
    expected = jac.T @ h_out @ jac @ flat(v, keys)
    got = flat(ggn_vp(output_fn, loss_fn, params, v), keys)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-10)
    # and the Gauss-Newton matrix is PSD while this Hessian is not
    ggn = jac.T @ h_out @ jac
    assert torch.linalg.eigvalsh((ggn + ggn.T) / 2).min() > -1e-10


def test_ggn_scope_is_a_subset_of_parameters():
    model, params, output_fn, loss_fn = tiny_problem(2)
    head = {k: v for k, v in params.items() if k.startswith("2.")}
    v = {k: torch.ones_like(p) for k, p in head.items()}
    out = ggn_vp(output_fn, loss_fn, head, v)
    assert sorted(out) == ["2.bias", "2.weight"]


def spd_system(n=30, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    eig = torch.logspace(-1, 1, n, dtype=torch.float64)
    return q @ torch.diag(eig) @ q.T, torch.randn(n, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("tol", [1e-4, 1e-8])
def test_cg_reaches_the_requested_residual(tol):
    a, b = spd_system()
    x, report = conjugate_gradient(lambda v: {"w": a @ v["w"]}, {"w": b}, tol=tol, max_iter=200)
    assert report["converged"] and report["stop"] == "converged"
    assert torch.linalg.norm(b - a @ x["w"]) / torch.linalg.norm(b) <= tol * 1.01
    assert report["relative_residual"] <= tol * 1.01 and 0 < report["iterations"] <= 200


def test_cg_reports_an_unmet_budget_and_negative_curvature():
    a, b = spd_system()
    _, report = conjugate_gradient(lambda v: {"w": a @ v["w"]}, {"w": b}, tol=1e-12, max_iter=3)
    assert not report["converged"] and report["stop"] == "max_iter" and report["relative_residual"] > 1e-12
    indefinite = a - 2.0 * torch.eye(30, dtype=torch.float64)  # eigenvalues from -1.9 to 8
    _, report = conjugate_gradient(lambda v: {"w": indefinite @ v["w"]}, {"w": b}, tol=1e-10, max_iter=200)
    assert report["negative_curvature"] and not report["converged"]


def test_lissa_converges_with_a_valid_scale_and_diverges_otherwise():
    a, b = spd_system()
    op = lambda v: {"w": a @ v["w"]}  # noqa: E731
    top = top_eigenvalue(op, {"w": b}, iters=100)
    assert top == pytest.approx(10.0, rel=1e-3)
    x, report = lissa(op, {"w": b}, scale=1.1 * top, tol=1e-10, max_iter=5000)
    assert report["converged"] and not report["diverged"]
    torch.testing.assert_close(a @ x["w"], b, rtol=1e-6, atol=1e-6)
    _, report = lissa(op, {"w": b}, scale=0.4 * top, max_iter=5000)
    assert report["diverged"] and report["stop"] == "diverged"


def test_damped_operator_on_a_model():
    _, params, output_fn, loss_fn = tiny_problem(3)
    op = curvature_operator("ggn", output_fn, loss_fn, params, damping=0.1)
    g = {k: torch.randn_like(p) for k, p in params.items()}
    x, report = conjugate_gradient(op, g, tol=1e-8, max_iter=500)
    assert report["converged"]
    residual = {k: op(x)[k] - g[k] for k in g}
    assert (
        sum(float((r**2).sum()) for r in residual.values()) ** 0.5
        <= 1e-7 * sum(float((v**2).sum()) for v in g.values()) ** 0.5 * 1.01
    )
    with pytest.raises(ValueError, match="hessian or ggn"):
        curvature_operator("fisher", output_fn, loss_fn, params)


def test_newton_removal_reproduces_retraining_on_l2_logistic_regression():
    """Exact to second order on a convex problem: relative parameter error <= 1e-3."""
    from speechbrain_unlearn.curvature.newton import newton_removal

    torch.manual_seed(0)
    n, d, m, lam = 400, 6, 20, 1e-2
    x = torch.randn(n, d, dtype=torch.float64)
    y = (torch.sigmoid(x @ torch.randn(d, dtype=torch.float64)) > torch.rand(n, dtype=torch.float64)).double()

    def fit(xs, ys):
        w = torch.zeros(d, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS(
            [w], max_iter=500, tolerance_grad=1e-14, tolerance_change=1e-16, line_search_fn="strong_wolfe"
        )

        def closure():
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(xs @ w, ys) + lam / 2 * (w**2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return w.detach()

    w_full, w_retrained = fit(x, y), fit(x[m:], y[m:])
    params = {"w": w_full}
    forget_sum = torch.func.grad(lambda p: F.binary_cross_entropy_with_logits(x[:m] @ p["w"], y[:m], reduction="sum"))(
        params
    )
    retain_op = curvature_operator(
        "hessian", lambda p: x[m:] @ p["w"], lambda o: F.binary_cross_entropy_with_logits(o, y[m:]), params, damping=lam
    )
    for solver, kwargs in (("cg", {"tol": 1e-12}), ("lissa", {"scale": 1.0, "tol": 1e-12, "max_iter": 20000})):
        step, report = newton_removal(forget_sum, params, n, m, retain_op, l2=lam, solver=solver, **kwargs)
        assert report["converged"], report
        error = torch.linalg.norm(w_full + step["w"] - w_retrained) / torch.linalg.norm(w_retrained)
        moved = torch.linalg.norm(w_full - w_retrained) / torch.linalg.norm(w_retrained)
        assert error <= 1e-3 and moved > 10 * error, (solver, float(error), float(moved))
    # the sign matters: stepping the other way moves away from the retrained model
    wrong = torch.linalg.norm(w_full - step["w"] - w_retrained) / torch.linalg.norm(w_retrained)
    assert wrong > moved


def test_gauss_newton_through_the_aam_margin_is_psd():
    """Split at AAM's training logits (margin inside the 'network'): v^T G v >= 0 for every v."""
    from speechbrain_unlearn.losses import AAMSoftmax

    torch.manual_seed(0)
    loss = AAMSoftmax(margin=0.2, scale=30)
    head = torch.nn.Linear(6, 4).double()
    emb, y = torch.randn(16, 6, dtype=torch.float64), torch.randint(0, 4, (16,))
    params = {k: v.detach() for k, v in head.named_parameters()}

    def cosines(p):
        w = F.normalize(p["weight"], dim=1)
        return F.normalize(emb, dim=1) @ w.T

    op = curvature_operator(
        "ggn", lambda p: loss.logits(cosines(p), y), lambda z: loss.cross_entropy(z, y).mean(), params
    )
    for _ in range(20):
        v = {k: torch.randn_like(p) for k, p in params.items()}
        assert float(sum((v[k] * op(v)[k]).sum() for k in v)) >= -1e-10
