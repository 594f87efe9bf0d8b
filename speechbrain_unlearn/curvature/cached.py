"""Cached curvature statistics that can be down-dated by a forget set.

Both statistics are *sums over training samples*, accumulated once (e.g.
during the final training epoch) and stored; a deletion request subtracts the
forget set's share, so the curvature of the retain set costs forget-set
gradients only:

* :class:`DiagonalFisher`: ``sum_i g_i * g_i`` of per-sample gradients (the
  diagonal of the empirical Fisher), with the sample count;
* :class:`KroneckerFactors`: for each ``Linear``, ``Conv1d`` and ``Conv2d``
  layer, K-FAC's input factor ``A = sum_n a_n a_n^T`` and output-gradient
  factor ``G = sum_n g_n g_n^T``, in the *K-FAC-reduce* form (Eschenhagen et
  al. 2023) for layers shared over positions: ``a_n`` is the mean over
  positions of sample ``n``'s layer inputs (with a bias column; unfolded
  patches for convolutions: ECAPA is Conv1d, the CRDNN's front end Conv2d)
  and ``g_n`` the *sum* over positions of the gradients with respect to the
  layer outputs. Both models pool over time before a per-utterance loss, so
  a sample's gradient ``sum_t g_t a_t^T`` is close to ``g_n a_n^T``; the
  "expand" form (positions as independent samples, as in KFC) would
  underestimate the curvature along pooled directions by about the number
  of positions, and a Newton step along them breaks the model.

Example
-------
>>> _ = torch.manual_seed(0)
>>> grads = {"w": torch.randn(10, 3)}
>>> full, forget = DiagonalFisher(), DiagonalFisher()
>>> full.update(grads); forget.update({"w": grads["w"][:4]})
>>> full.downdate({"w": grads["w"][:4]})
>>> retain = DiagonalFisher(); retain.update({"w": grads["w"][4:]})
>>> torch.allclose(full.sums["w"], retain.sums["w"]), full.count
(True, 6)
"""

import contextlib
import itertools

import torch
import torch.nn.functional as F


class DiagonalFisher:
    """Running sum of squared per-sample gradients, with a down-date."""

    def __init__(self):
        self.sums, self.count = {}, 0

    def update(self, grads, sign=1.0):
        """Add (``sign=1``) or remove (``sign=-1``) per-sample gradients ``(B, *shape)``."""
        batch = next(iter(grads.values())).shape[0]
        for name, g in grads.items():
            contribution = sign * (g.detach() ** 2).sum(0)
            self.sums[name] = self.sums[name] + contribution if name in self.sums else contribution
        self.count += int(sign) * batch

    def downdate(self, grads):
        """Remove the contribution of the forget samples' gradients."""
        self.update(grads, sign=-1.0)

    def mean(self):
        """The diagonal Fisher: ``sums / count``."""
        return {k: v / max(self.count, 1) for k, v in self.sums.items()}

    def state_dict(self):
        """Plain tensors and an int, for :func:`speechbrain_unlearn.io.save_tensors`."""
        return {"sums": dict(self.sums), "count": int(self.count)}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        self.sums, self.count = dict(state["sums"]), int(state["count"])


def _layer_inputs(module, x):
    """Rows of K-FAC input vectors ``(N, in_features [+1])`` of one layer call."""
    if isinstance(module, torch.nn.Linear):
        rows = x.reshape(-1, x.shape[-1])
    elif isinstance(module, torch.nn.Conv1d):
        patches = F.unfold(
            x.unsqueeze(-1),
            (module.kernel_size[0], 1),
            dilation=(module.dilation[0], 1),
            padding=(module.padding[0], 0),
            stride=(module.stride[0], 1),
        )
        rows = patches.transpose(1, 2).reshape(-1, patches.shape[1])
    else:  # Conv2d
        patches = F.unfold(x, module.kernel_size, module.dilation, module.padding, module.stride)
        rows = patches.transpose(1, 2).reshape(-1, patches.shape[1])
    if module.bias is not None:
        rows = torch.cat([rows, torch.ones(rows.shape[0], 1, dtype=rows.dtype, device=rows.device)], dim=1)
    return rows


def _layer_output_grads(module, g):
    """Rows of output gradients ``(N, out_features)`` matching :func:`_layer_inputs`."""
    if isinstance(module, torch.nn.Linear):
        return g.reshape(-1, g.shape[-1])
    return g.reshape(g.shape[0], g.shape[1], -1).transpose(1, 2).reshape(-1, g.shape[1])


def _mean_inputs(module, x):
    """Each sample's K-FAC input vector averaged over positions, ``(B, in_features [+1])``.

    Equal to the mean over positions of :func:`_layer_inputs`'s rows, without
    unfolding: for a convolution, the mean of a patch entry is the mean of
    the (zero-padded) input over the positions that kernel offset reads.
    """
    batch = x.shape[0]
    if isinstance(module, torch.nn.Linear):
        means = x.reshape(batch, -1, x.shape[-1]).mean(dim=1)
    elif isinstance(module.padding, str) or module.padding_mode != "zeros":
        means = _layer_inputs(module, x)[:, : -1 if module.bias is not None else None]
        means = means.reshape(batch, -1, means.shape[-1]).mean(dim=1)
    else:
        dims = x.dim() - 2
        x = F.pad(x, [p for pad in reversed(module.padding) for p in (pad, pad)])
        spans = [
            (x.shape[2 + i] - module.dilation[i] * (module.kernel_size[i] - 1) - 1) // module.stride[i] + 1
            for i in range(dims)
        ]
        entries = []
        for offset in itertools.product(*(range(k) for k in module.kernel_size)):
            window = x
            for i, k in enumerate(offset):
                start = k * module.dilation[i]
                window = window.narrow(2 + i, start, (spans[i] - 1) * module.stride[i] + 1)
                window = window[(slice(None),) * (2 + i) + (slice(None, None, module.stride[i]),)]
            entries.append(window.mean(dim=tuple(range(2, 2 + dims))))
        means = torch.stack(entries, dim=-1).reshape(batch, -1)
    if module.bias is not None:
        means = torch.cat([means, torch.ones(batch, 1, dtype=means.dtype, device=means.device)], dim=1)
    return means


def _summed_output_grads(module, g):
    """Each sample's output gradients summed over positions, ``(B, out_features)``."""
    if isinstance(module, torch.nn.Linear):
        return g.reshape(g.shape[0], -1, g.shape[-1]).sum(dim=1)
    return g.reshape(g.shape[0], g.shape[1], -1).sum(dim=2)


SUPPORTED = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)


class KroneckerFactors:
    """K-FAC factors ``A`` and ``G`` of every supported layer, as sums with a down-date.

    Arguments
    ---------
    model : torch.nn.Module
        The model; its ``Linear``, ``Conv1d`` and ``Conv2d`` layers (grouped
        convolutions excluded) whose names start with one of ``prefixes`` are
        tracked.
    prefixes : sequence of str
        Module-name prefixes in scope (``("",)``: every layer).

    Example
    -------
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 3, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(12, 2))
    >>> factors = KroneckerFactors(model)
    >>> x, y = torch.randn(5, 2, 4), torch.tensor([0, 1, 0, 1, 1])
    >>> with factors.collect(model):
    ...     torch.nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
    >>> factors.A["0"].shape, factors.G["0"].shape, factors.A["2"].shape, factors.count
    (torch.Size([7, 7]), torch.Size([3, 3]), torch.Size([13, 13]), 5)
    """

    def __init__(self, model, prefixes=("",)):
        self.layers = [
            name
            for name, module in model.named_modules()
            if isinstance(module, SUPPORTED)
            and getattr(module, "groups", 1) == 1
            and any(name.startswith(p) for p in prefixes)
        ]
        self.A, self.G, self.count = {}, {}, 0

    def _add(self, store, name, rows, sign):
        outer = sign * rows.detach().T @ rows.detach()
        store[name] = store[name] + outer if name in store else outer

    @contextlib.contextmanager
    def collect(self, model, sign=1.0):
        """Accumulate (``sign=1``) or remove (``sign=-1``) the factors of the batches run inside.

        Inside the block, run the forward pass of a batch and ``backward()``
        of the *sum* of its per-sample losses (BatchNorm in eval mode), once
        per batch.
        """
        modules = dict(model.named_modules())
        handles = []

        def forward_hook(name):
            def hook(module, inputs, output):
                self._add(self.A, name, _mean_inputs(module, inputs[0]), sign)
                if name == self.layers[0]:
                    self.count += int(sign) * inputs[0].shape[0]
                if output.requires_grad:
                    # a tensor hook, not a module backward hook: it sees the gradient of
                    # this output even when a later layer modifies it in place (ECAPA's SE ReLU)
                    output.register_hook(lambda g: self._add(self.G, name, _summed_output_grads(module, g), sign))

            return hook

        for name in self.layers:
            handles.append(modules[name].register_forward_hook(forward_hook(name)))
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def state_dict(self):
        """Plain tensors and an int, for :func:`speechbrain_unlearn.io.save_tensors`."""
        return {
            "A": dict(self.A),
            "G": dict(self.G),
            "count": int(self.count),
            "layers": list(self.layers),
        }

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        self.A, self.G, self.count = dict(state["A"]), dict(state["G"]), int(state["count"])
        self.layers = list(state["layers"])

    def merge(self, other, sign=1.0):
        """Add (``sign=1``) or subtract (``sign=-1``) another collection's sums (a down-date)."""
        for store, theirs in ((self.A, other.A), (self.G, other.G)):
            for name, value in theirs.items():
                store[name] = store[name] + sign * value if name in store else sign * value
        self.count += int(sign) * other.count

    def inverse_product(self, grads, damping):
        """``(A_bar (x) G_bar + damping I)^{-1}`` applied to each layer's matrix in ``grads``.

        ``A_bar`` and ``G_bar`` are the factors averaged over the samples, so
        ``A_bar (x) G_bar`` approximates the *mean* curvature of a layer. The inverse is
        exact for the damped Kronecker product, through the eigenvectors of
        both factors (eigenvalues clipped at 0: a down-date leaves round-off).

        Arguments
        ---------
        grads : dict
            Layer name to a ``(out, in [+1])`` matrix (:func:`layer_matrix`).
        damping : float
            Added to every eigenvalue product (``lambda + delta``).

        Returns
        -------
        tuple
            The solved matrices by layer, and the largest eigenvalue of
            ``A_bar (x) G_bar`` over the layers (the curvature's scale).
        """
        out, top = {}, 0.0
        for name, vec in grads.items():
            s_a, u_a = torch.linalg.eigh(self.A[name] / max(self.count, 1))
            s_g, u_g = torch.linalg.eigh(self.G[name] / max(self.count, 1))
            s_a, s_g = s_a.clamp(min=0), s_g.clamp(min=0)
            eig = s_g[:, None] * s_a[None, :]
            out[name] = u_g @ ((u_g.T @ vec @ u_a) / (eig + damping)) @ u_a.T
            top = max(top, float(eig.max()))
        return out, top


def layer_matrix(module, weight, bias=None):
    """A layer's weight (and bias) tensors as the ``(out, in [+1])`` matrix K-FAC works on.

    Example
    -------
    >>> conv = torch.nn.Conv1d(2, 3, 5)
    >>> layer_matrix(conv, conv.weight, conv.bias).shape
    torch.Size([3, 11])
    >>> w, b = split_layer_matrix(conv, layer_matrix(conv, conv.weight, conv.bias))
    >>> torch.equal(w, conv.weight) and torch.equal(b, conv.bias)
    True
    """
    mat = weight.reshape(weight.shape[0], -1)
    if module.bias is not None:
        mat = torch.cat([mat, bias.reshape(-1, 1)], dim=1)
    return mat


def split_layer_matrix(module, mat):
    """The inverse of :func:`layer_matrix`: weight-shaped and bias-shaped tensors."""
    if module.bias is None:
        return mat.reshape(module.weight.shape), None
    return mat[:, :-1].reshape(module.weight.shape), mat[:, -1].reshape(module.bias.shape)
