"""The K-FAC block of the Newton removal step: the layers outside the head.

For every ``Linear``/``Conv1d``/``Conv2d`` layer in scope, the step is the
damped Kronecker inverse of the retain curvature ``A_bar (x) G_bar``
(:class:`~speechbrain_unlearn.curvature.cached.KroneckerFactors`) applied to
the removal right-hand side ``(sum_F grad l_i + m lambda theta*) / (n - m)``
(:func:`~speechbrain_unlearn.curvature.newton.removal_rhs`), scaled by
``alpha``.

Example
-------
>>> import torch
>>> model = torch.nn.Sequential(torch.nn.Linear(3, 2))
>>> factors = KroneckerFactors(model)
>>> with factors.collect(model):
...     model(torch.randn(8, 3)).pow(2).sum().backward()
>>> g = {"0.weight": torch.ones(2, 3), "0.bias": torch.ones(2)}
>>> step, top = kfac_newton_step(model, factors, ["0"], g, (8, 2), l2=0.0, damping=1.0, alpha=1.0)
>>> sorted(step), step["0.weight"].shape, top > 0
(['0.bias', '0.weight'], torch.Size([2, 3]), True)
"""

from speechbrain_unlearn.curvature.cached import KroneckerFactors, layer_matrix, split_layer_matrix
from speechbrain_unlearn.curvature.newton import removal_rhs


def kfac_layers(model, head_name):
    """The K-FAC layers of ``model`` (``Linear``/``Conv1d``/``Conv2d``) outside its head module ``head_name``.

    Example
    -------
    >>> import torch
    >>> model = torch.nn.Module()
    >>> model.body, model.head = torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)
    >>> kfac_layers(model, "head")
    ['body']
    """
    return [n for n in KroneckerFactors(model).layers if not n.startswith(head_name)]


def kfac_newton_step(model, factors, layers, g_forget, sizes, l2, damping, alpha):
    """The step of ``layers``, by parameter name, and the largest eigenvalue of their factors.

    Arguments
    ---------
    model : torch.nn.Module
        The model at the original weights.
    factors : KroneckerFactors
        The retain set's factor sums.
    layers : list of str
        Module names in scope.
    g_forget : dict
        Summed forget gradients of the layers' parameters.
    sizes : tuple of int
        ``(n_train, n_forget)``.
    l2, damping, alpha : float
        The L2 coefficient, the damping added to it, and the step's scale.
    """
    n_train, n_forget = sizes
    if not layers:
        return {}, None
    modules = dict(model.named_modules())
    params = dict(model.named_parameters())
    rhs = removal_rhs(g_forget, {n: params[n] for n in g_forget}, n_train, n_forget, l2)
    mats = {layer: layer_matrix(modules[layer], rhs[f"{layer}.weight"], rhs.get(f"{layer}.bias")) for layer in layers}
    solved, top = factors.inverse_product(mats, damping)
    step = {}
    for layer, mat in solved.items():
        weight, bias = split_layer_matrix(modules[layer], mat)
        step[f"{layer}.weight"] = alpha * weight
        if bias is not None:
            step[f"{layer}.bias"] = alpha * bias
    return step, top
