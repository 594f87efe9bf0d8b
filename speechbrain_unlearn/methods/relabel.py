"""Views that relabel or mark utterances (random labels, SalUn, Bad Teaching).

* :func:`random_other_labels`, :func:`randomly_relabelled`: a seeded random
  *wrong* label per utterance;
* :class:`WithFields`: a dataset view that adds or overrides item fields
  (a forget flag, random labels), so that forget and retain utterances can
  be mixed in one shuffled loader.

Example
-------
>>> data = WithFields([{"id": "a", "label": 0}, {"id": "b", "label": 1}], forget=1, label=[3, 2])
>>> data[1]
{'id': 'b', 'label': 2, 'forget': 1}
"""

import torch


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


def randomly_relabelled(utterances, n_classes, seed, allowed=None):
    """``utterances`` with each label replaced by a random other one (:func:`random_other_labels`, seeded by ``seed``).

    Arguments
    ---------
    utterances : UtteranceSet
        The items to relabel.
    n_classes : int
        Number of classes.
    seed : int
        Seed of the draw.
    allowed : sequence of int, optional
        Classes a new label may take (every class by default).

    Example
    -------
    >>> from speechbrain_unlearn.data.utterances import UtteranceSet, label_encoder
    >>> same = UtteranceSet([{"ID": "a", "label": 0}, {"ID": "b", "label": 0}], label_encoder(range(4)), None)
    >>> [data.fields["label"] for data in [randomly_relabelled(same, 4, 1, allowed=[0, 2])]]
    [[2, 2]]
    """
    generator = torch.Generator().manual_seed(int(seed))
    new = random_other_labels(utterances.labels, n_classes, generator, allowed)
    return WithFields(utterances, label=new.tolist())
