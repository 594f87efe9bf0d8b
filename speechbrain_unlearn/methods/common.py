"""Small pieces several unlearning methods share.

* :func:`distillation_kl`: ``KL(teacher || student)`` per utterance from
  predictive log-probabilities at a temperature (Bad Teaching, SCRUB);
* :func:`random_other_labels`, :func:`randomly_relabelled`: a seeded random
  *wrong* label per utterance (random labels, SalUn);
* :class:`WithFields`: a dataset view that adds or overrides item fields
  (a forget flag, random labels), so that forget and retain utterances can
  be mixed in one shuffled loader;
* :func:`dataset_field` (:func:`dataset_labels`, :func:`dataset_ids`),
  :func:`subset`: labels or IDs without loading features, and seeded subsets
  that keep a :func:`~speechbrain_unlearn.data.dataio.make_dataset`
  dataset's deterministic view;
* :func:`train_keeping_batchnorm_statistics`, :func:`cycle`,
  :class:`UtteranceMean`: pieces of the minibatch loops (with
  :meth:`~speechbrain_unlearn.methods.base.Unlearner.guarded_epoch` and
  :meth:`~speechbrain_unlearn.methods.base.Unlearner.guarded_step`);
* :func:`squared_gradient_sums`: the sums of squared per-sample gradients
  (a diagonal empirical Fisher, :class:`~speechbrain_unlearn.curvature.cached.DiagonalFisher`)
  over a dataset, in eval mode, sharded and all-reduced under DDP
  (Selective Synaptic Dampening, Fisher forgetting).

Example
-------
>>> student = torch.log_softmax(torch.tensor([[2.0, 0.0], [0.0, 0.0]]), dim=-1)
>>> distillation_kl(student, student).tolist()
[0.0, 0.0]
>>> data = WithFields([{"id": "a", "label": 0}, {"id": "b", "label": 1}], forget=1, label=[3, 2])
>>> data[1]
{'id': 'b', 'label': 2, 'forget': 1}
"""

import copy

import torch
import torch.nn.functional as F

from speechbrain_unlearn.brain import train_keeping_batchnorm_statistics  # noqa: F401 (re-exported)
from speechbrain_unlearn.curvature.cached import DiagonalFisher
from speechbrain_unlearn.curvature.per_sample import per_sample_grads
from speechbrain_unlearn.data.dataio import PaddedBatch, fixed_length_batches, make_dataset
from speechbrain_unlearn.errors import UnlearnError


def distillation_kl(student_log_probs, teacher_log_probs, temperature=1.0):
    """``KL(teacher || student)`` of each row, both distributions softened at ``temperature``.

    The inputs are predictive log-probabilities (``loss.log_probs(scores)``,
    never raw scores: VoxCeleb's scores are cosines); softening divides them
    by the temperature and renormalises, which is the usual
    ``softmax(logits / T)``.

    Arguments
    ---------
    student_log_probs, teacher_log_probs : torch.Tensor
        ``(batch, n_classes)`` log-probabilities.
    temperature : float
        Softening temperature ``T`` (1: the distributions as they are).

    Returns
    -------
    torch.Tensor
        ``(batch,)`` divergences in nats (not multiplied by ``T**2``).

    Example
    -------
    >>> teacher = torch.log(torch.tensor([[0.5, 0.5]]))
    >>> student = torch.log(torch.tensor([[0.9, 0.1]]))
    >>> round(float(distillation_kl(student, teacher)), 4)
    0.5108
    >>> bool(distillation_kl(student, teacher, 4.0) < distillation_kl(student, teacher))
    True
    """
    student = F.log_softmax(student_log_probs / temperature, dim=-1)
    teacher = F.log_softmax(teacher_log_probs / temperature, dim=-1)
    return F.kl_div(student, teacher, reduction="none", log_target=True).sum(dim=-1)


def random_other_labels(labels, n_classes, generator, allowed=None):
    """A random label different from each given one, uniform over the allowed classes.

    Arguments
    ---------
    labels : sequence of int or torch.Tensor
        The true labels.
    n_classes : int
        Number of classes.
    generator : torch.Generator
        Source of randomness (seeded by the caller).
    allowed : sequence of int, optional
        Classes a new label may take (e.g. the retained classes when whole
        classes are forgotten); every class by default. A label's own class
        is never drawn; at least one other allowed class must exist.

    Returns
    -------
    torch.Tensor
        ``(n,)`` integer labels.

    Example
    -------
    >>> gen = torch.Generator().manual_seed(0)
    >>> new = random_other_labels([0, 0, 1, 2], 3, gen)
    >>> bool((new != torch.tensor([0, 0, 1, 2])).all())
    True
    >>> random_other_labels([0, 0], 4, gen, allowed=[0, 3]).tolist()
    [3, 3]
    """
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    pool = torch.tensor(sorted(set(range(n_classes) if allowed is None else map(int, allowed))), dtype=torch.long)
    out = torch.empty_like(labels)
    for i, label in enumerate(labels.tolist()):
        choices = pool[pool != label]
        if len(choices) == 0:
            raise ValueError(f"no allowed class other than {label} to relabel with")
        out[i] = choices[torch.randint(len(choices), (1,), generator=generator)]
    return out


class WithFields(torch.utils.data.Dataset):
    """A view of a dataset whose items get extra or replaced fields.

    Arguments
    ---------
    dataset : Dataset
        Items are dicts (``id``, ``feats``, ``label``).
    **fields
        ``name=value`` sets the field on every item; ``name=sequence`` (a
        list or tensor as long as the dataset) sets item ``i``'s field to
        ``sequence[i]``.
    """

    def __init__(self, dataset, **fields):
        self.dataset, self.fields = dataset, fields

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        item = dict(self.dataset[index])
        for name, value in self.fields.items():
            if isinstance(value, (list, tuple, torch.Tensor)):
                value = value[index]
                value = value.item() if isinstance(value, torch.Tensor) else value
            item[name] = value
        return item


def dataset_field(dataset, key):
    """The ``key`` field (``label``, ``id``) of every item, without computing features where possible.

    Example
    -------
    >>> data = [{"id": "a", "label": 2}, {"id": "b", "label": 0}, {"id": "c", "label": 1}]
    >>> dataset_field(torch.utils.data.Subset(data, [2, 0]), "id")
    ['c', 'a']
    """
    if isinstance(dataset, torch.utils.data.Subset):
        values = dataset_field(dataset.dataset, key)
        return [values[i] for i in dataset.indices]
    if isinstance(dataset, torch.utils.data.ConcatDataset):
        return [value for part in dataset.datasets for value in dataset_field(part, key)]
    if hasattr(dataset, "output_keys_as"):
        with dataset.output_keys_as([key]):
            return [item[key] for item in dataset]
    return [item[key] for item in dataset]


def dataset_labels(dataset):
    """The integer label of every item (:func:`dataset_field`)."""
    return [int(label) for label in dataset_field(dataset, "label")]


def dataset_ids(dataset):
    """The ID of every item (:func:`dataset_field`)."""
    return dataset_field(dataset, "id")


def randomly_relabelled(dataset, labels, n_classes, seed, allowed=None):
    """``dataset`` with each label replaced by a random other one (:func:`random_other_labels`, seeded by ``seed``).

    Arguments
    ---------
    dataset : Dataset
        Items with ``label``.
    labels : sequence of int
        Their labels (:func:`dataset_labels`).
    n_classes : int
        Number of classes.
    seed : int
        Seed of the draw.
    allowed : sequence of int, optional
        Classes a new label may take (every class by default).

    Example
    -------
    >>> data = randomly_relabelled([{"id": "a", "label": 0}, {"id": "b", "label": 0}], [0, 0], 4, 1, allowed=[0, 2])
    >>> [item["label"] for item in data]
    [2, 2]
    """
    generator = torch.Generator().manual_seed(int(seed))
    return WithFields(dataset, label=random_other_labels(labels, n_classes, generator, allowed).tolist())


def subset(dataset, indices):
    """Items ``indices`` of a dataset, as a dataset of the same kind where that matters.

    A :func:`~speechbrain_unlearn.data.dataio.make_dataset` dataset stays one
    (its ``source`` is kept, so :func:`statistic_batches` can still make
    deterministic, padding-free batches of it); other datasets become a
    ``torch.utils.data.Subset``.
    """
    indices = [int(i) for i in indices]
    src = getattr(dataset, "source", None)
    if src is not None:
        return make_dataset([src["rows"][i] for i in indices], src["encoder"], src["store"], src["crop_frames"])
    return torch.utils.data.Subset(dataset, indices)


def seeded_sample(dataset, size, seed):
    """A seeded random subset of ``size`` items (the whole dataset if ``size`` is ``None`` or too large)."""
    if size is None or int(size) >= len(dataset):
        return dataset
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(int(seed))).tolist()
    return subset(dataset, sorted(order[: int(size)]))


def _rank_and_world():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def statistic_batches(dataset, batch_size, crop_frames=None):
    """Deterministic batches of this process's share of ``dataset`` (every ``world``-th batch).

    Datasets made by :func:`~speechbrain_unlearn.data.dataio.make_dataset` are
    centre-cropped to ``crop_frames`` and batched without padding
    (:func:`~speechbrain_unlearn.data.dataio.fixed_length_batches`); others are
    batched in order with padding.
    """
    rank, world = _rank_and_world()
    if getattr(dataset, "source", None) is not None:
        batches = fixed_length_batches(dataset, crop_frames, batch_size)
    else:
        batches = torch.utils.data.DataLoader(dataset, batch_size=int(batch_size), collate_fn=PaddedBatch)
    for index, batch in enumerate(batches):
        if index % world == rank:
            yield batch


def all_reduce_sums(tensors):
    """Sum the tensors of a dict in place across processes (no-op without DDP)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        for value in tensors.values():
            torch.distributed.all_reduce(value)
    return tensors


def squared_gradient_sums(model, loss, dataset, device, batch_size, crop_frames=None, chunk_size=32):
    """``sum_i g_i * g_i`` of the per-sample training-loss gradients over ``dataset``.

    Computed in eval mode (BatchNorm's running statistics: per-sample
    gradients need it) with :func:`~speechbrain_unlearn.curvature.per_sample.per_sample_grads`
    (``vmap``, or a loop where the model has layers ``vmap`` cannot batch),
    over this process's share of the data; under DDP the sums and the count
    are all-reduced, so every process returns the totals.

    Arguments
    ---------
    model : torch.nn.Module
        Maps ``(feats, lengths)`` to scores.
    loss : speechbrain_unlearn.losses.CrossEntropy
        Per-sample training loss (``loss(scores, targets)``).
    dataset : Dataset
        Items with ``feats`` and ``label``.
    device : str or torch.device
        Where the batches go.
    batch_size : int
        Utterances per batch (per-sample gradients are taken ``chunk_size`` at a time).
    crop_frames : int, optional
        Centre crop of every utterance (see :func:`statistic_batches`).
    chunk_size : int
        Samples per ``vmap`` chunk.

    Returns
    -------
    tuple
        A :class:`~speechbrain_unlearn.curvature.cached.DiagonalFisher` (its
        ``sums`` by parameter name and ``count``) and the per-sample path taken.
    """
    model.eval()
    params = {k: v for k, v in model.named_parameters() if v.requires_grad}
    stats = DiagonalFisher()
    stats.sums = {k: torch.zeros_like(v) for k, v in params.items()}
    path = None

    def one_loss(out, target):
        return loss(out, target).sum()

    for batch in statistic_batches(dataset, batch_size, crop_frames):
        batch = batch.to(device)
        feats, lengths = batch.feats
        grads, path = per_sample_grads(model, params, one_loss, (feats, lengths), batch.label, chunk_size=chunk_size)
        stats.update(grads)
    count = torch.tensor([float(stats.count)], device=next(iter(params.values())).device)
    all_reduce_sums({**stats.sums, "_count": count})
    stats.count = int(round(float(count)))
    return stats, path


@torch.no_grad()
def count_classes(model, dataset, device):
    """The number of classes ``model`` scores (one eval-mode forward pass of one item)."""
    training = model.training
    model.eval()
    batch = PaddedBatch([dataset[0]]).to(device)
    n_classes = model(*batch.feats).shape[-1]
    model.train(training)
    return int(n_classes)


def frozen_copy(model):
    """A copy of ``model`` in eval mode whose parameters take no gradient (a teacher)."""
    teacher = copy.deepcopy(model)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def cycle(loader):
    """Endless batches of ``loader``, reshuffled at each pass (``sampler.set_epoch``).

    Unlike :func:`itertools.cycle`, which replays the first pass, each pass
    is a new seeded order when the sampler has ``set_epoch``.

    Example
    -------
    >>> batches = cycle(torch.utils.data.DataLoader([1, 2, 3], batch_size=2))
    >>> [next(batches).tolist() for _ in range(3)]
    [[1, 2], [3], [1, 2]]
    """
    if len(loader) == 0:
        raise UnlearnError("cannot cycle an empty loader")
    passes = 0
    while True:
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(passes)
        yield from loader
        passes += 1


class UtteranceMean:
    """The mean over utterances of per-batch means: each batch weighs as many utterances as it holds.

    Example
    -------
    >>> mean = UtteranceMean()
    >>> mean.add(torch.tensor(1.0), 3)
    >>> mean.add(4.0, 1)
    >>> mean.value
    1.75
    """

    def __init__(self):
        self.total, self.count = 0.0, 0

    def add(self, batch_mean, size):
        """Add a batch of ``size`` utterances whose mean is ``batch_mean`` (a float or a scalar tensor)."""
        self.total, self.count = self.total + float(batch_mean) * size, self.count + size

    @property
    def value(self):
        """The mean so far (0 before any batch)."""
        return self.total / max(self.count, 1)
