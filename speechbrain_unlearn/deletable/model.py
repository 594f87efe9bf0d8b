"""A deletion-ready model: a core body no request touches, and a convex deletable head.

``forward(x) = W z(x) + b`` with ``z(x) = (core.embed(x) - mu) / sigma``: the
core's embedding, standardised with statistics of the *core* corpus (so the
features of a user utterance never depend on which other user utterances
are kept), and the head ``(W, b)`` solved on the user data as an
L2-regularised multinomial logistic model
(:class:`~speechbrain_unlearn.deletable.logistic.LogisticObjective`). A
deletion request changes the head only; its parameters move between the
module (float32) and the solver (a float64 vector) with :meth:`head_vector`
and :meth:`set_head`.

Example
-------
>>> class Core(torch.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.lin = torch.nn.Linear(3, 4)
...     def embed(self, feats, lengths):
...         return self.lin(feats.mean(1))
>>> model = DeletionReadyModel(Core(), n_classes=2, mean=torch.zeros(4), std=torch.ones(4))
>>> model(torch.randn(5, 7, 3), torch.ones(5)).shape
torch.Size([5, 2])
>>> theta = torch.arange(10, dtype=torch.float64)
>>> model.set_head(theta)
>>> bool(torch.equal(model.head_vector(), theta))
True
"""

import torch


class DeletionReadyModel(torch.nn.Module):
    """``core`` (with ``embed``) and a linear head on its standardised embeddings (see the module docstring).

    Arguments
    ---------
    core : torch.nn.Module
        The core model; only its ``embed(feats, lengths)`` is used.
    n_classes : int
        Number of user classes.
    mean, std : torch.Tensor
        ``(dim,)`` standardisation of the core's embeddings (core-corpus statistics).
    """

    #: Name of the head module: the deletable part.
    head_name = "head"

    def __init__(self, core, n_classes, mean, std):
        super().__init__()
        self.core = core
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.head = torch.nn.Linear(len(self.mean), n_classes)

    def embed(self, feats, lengths):
        """Standardised core embeddings ``(batch, dim)``: the features of the deletable part."""
        return (self.core.embed(feats, lengths) - self.mean) / self.std

    def classify(self, embeddings):
        """Class scores of the linear head."""
        return self.head(embeddings)

    def forward(self, feats, lengths):
        """Class scores ``(batch, n_classes)``."""
        return self.classify(self.embed(feats, lengths))

    def head_vector(self):
        """The head as the solver's float64 vector ``(W row by row, then b)``."""
        return torch.cat([self.head.weight.detach().reshape(-1), self.head.bias.detach()]).to(torch.float64)

    @torch.no_grad()
    def set_head(self, theta):
        """Load a solver vector (:meth:`head_vector`'s layout) into the head."""
        n_weights = self.head.weight.numel()
        self.head.weight.copy_(theta[:n_weights].reshape(self.head.weight.shape))
        self.head.bias.copy_(theta[n_weights:])
