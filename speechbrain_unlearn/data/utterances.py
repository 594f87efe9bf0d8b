"""A set of utterances: manifest rows with the label encoder, features and crop that make them items.

Every set a run handles (the forget and retain sets, the test sets, a
request, a sample of a set) is an :class:`UtteranceSet`. It is a map-style
torch dataset whose items are ``{"id", "feats", "label"}``; it also knows its
rows, so that views of it (:meth:`UtteranceSet.subset`,
:meth:`UtteranceSet.union`, :meth:`UtteranceSet.sample`,
:meth:`UtteranceSet.whole`) and the padding-free batches that curvature
statistics need (:meth:`UtteranceSet.fixed_length_batches`) are made from
the rows, without loading features, and its :attr:`~UtteranceSet.ids` and
:attr:`~UtteranceSet.labels` are read without computing any.

The features come from ``store``: a
:class:`~speechbrain_unlearn.data.dataio.FeatureStore`, or any mapping of
utterance ID to a ``(frames, n_mels)`` tensor. Training sets are randomly
cropped to ``crop_frames`` frames (drawn from torch's generator, so a seeded
run is reproducible); ``crop_frames=None`` gives whole utterances.

Example
-------
>>> store = {f"u{i}": torch.full((4 + i % 2, 2), float(i)) for i in range(6)}
>>> rows = [{"ID": f"u{i}", "label": "yes" if i % 3 else "no"} for i in range(6)]
>>> data = UtteranceSet(rows, label_encoder(["yes", "no"]), store)
>>> len(data), data.labels, data[1]["feats"].shape
(6, [0, 1, 1, 0, 1, 1], torch.Size([5, 2]))
>>> data.subset([4, 0]).ids, data.sample(3, seed=1).ids, data.union(data.subset([2])).ids[-1]
(['u4', 'u0'], ['u1', 'u2', 'u5'], 'u2')
>>> [batch.id for batch in data.fixed_length_batches(batch_size=2)]
[['u0', 'u2'], ['u4'], ['u1', 'u3'], ['u5']]
"""

import torch
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.dataio.encoder import CategoricalEncoder

from speechbrain_unlearn.data.fingerprints import rows_key
from speechbrain_unlearn.errors import UnlearnError


def label_encoder(labels):
    """A ``CategoricalEncoder`` over the sorted set of ``labels``.

    Built once from the full training manifest so that every model of a run
    (original, reference, unlearned) shares the class indices.
    """
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(sorted(set(labels)))
    return encoder


class UtteranceSet(torch.utils.data.Dataset):
    """Utterances as training or evaluation items (see the module docstring).

    Arguments
    ---------
    rows : list of dict
        Manifest rows (``ID`` and ``label`` at least).
    encoder : CategoricalEncoder
        Maps labels to class indices.
    store : mapping
        Utterance ID to features ``(frames, n_mels)``.
    crop_frames : int, optional
        Random crop length of training items; ``None`` keeps whole utterances.
    centre : bool
        Crop the centre ``crop_frames`` frames instead (deterministic).
    """

    def __init__(self, rows, encoder, store, crop_frames=None, centre=False):
        missing = sorted({r["label"] for r in rows if r["label"] not in encoder.lab2ind}, key=str)
        if missing:
            raise UnlearnError(f"labels {missing[:5]} are not in the training set's label set")
        self.rows, self.encoder, self.store = list(rows), encoder, store
        self.crop_frames, self.centre = crop_frames, centre

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        row = self.rows[index]
        feats = self.store[row["ID"]].float()
        crop = self.crop_frames
        if crop and feats.shape[0] > crop:
            spare = feats.shape[0] - crop
            start = spare // 2 if self.centre else int(torch.randint(0, spare + 1, (1,)))
            feats = feats[start : start + crop]
        return {"id": row["ID"], "feats": feats, "label": self.encoder.lab2ind[row["label"]]}

    @property
    def ids(self):
        """The utterance IDs, in order."""
        return [r["ID"] for r in self.rows]

    @property
    def labels(self):
        """The class index of every utterance, in order."""
        return [int(self.encoder.lab2ind[r["label"]]) for r in self.rows]

    def view(self, rows, crop_frames="same", centre=None):
        """A set of other ``rows`` with this set's encoder and store (and crop, unless given)."""
        crop = self.crop_frames if crop_frames == "same" else crop_frames
        return UtteranceSet(rows, self.encoder, self.store, crop, self.centre if centre is None else centre)

    def subset(self, indices):
        """Utterances ``indices``, in the order given."""
        return self.view([self.rows[int(i)] for i in indices])

    def union(self, other):
        """The utterances of both sets, this one's first (they must share the encoder and store)."""
        if other.encoder is not self.encoder or other.store is not self.store:
            raise ValueError("a union needs sets of one label encoder and feature store")
        return self.view(self.rows + other.rows)

    def without(self, ids):
        """The utterances whose ID is not in ``ids``, in order."""
        ids = set(ids)
        return self.view([r for r in self.rows if r["ID"] not in ids])

    def sample(self, size, seed, seeded_order=False):
        """A seeded random subset of ``size`` utterances (all if ``size`` is ``None`` or too large).

        The subset is the first ``size`` of a seeded permutation, in set order,
        or with ``seeded_order`` in the permutation's order (batches, and so
        float sums over them, then follow the seeded order).
        """
        if not seeded_order and (size is None or int(size) >= len(self)):
            return self
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(int(seed))).tolist()
        chosen = order[: len(self) if size is None else int(size)]
        return self.subset(chosen if seeded_order else sorted(chosen))

    def whole(self):
        """The same utterances uncropped (evaluation items)."""
        return self.view(self.rows, crop_frames=None, centre=False)

    def identity(self):
        """What the utterances are, for cache keys: ID, label, audio content and segment of each row."""
        return rows_key(self.rows)

    def fixed_length_batches(self, crop_frames=None, batch_size=32):
        """Deterministic, padding-free batches of the set.

        Every utterance is centre-cropped to ``crop_frames`` (``None``:
        whole) and batches hold utterances of one length only, so no
        utterance is padded and, with a model in eval mode, what each
        utterance contributes to a batch sum does not depend on its
        batch-mates. Statistics summed over such batches can therefore be
        down-dated exactly by a subset.

        Yields
        ------
        PaddedBatch
            Batches with ``id``, ``feats`` and ``label``.
        """
        view = self.view(self.rows, crop_frames=crop_frames, centre=True)
        by_length = {}
        for index, row in enumerate(self.rows):
            frames = self.store[row["ID"]].shape[0]
            by_length.setdefault(min(frames, crop_frames or frames), []).append(index)
        for length in sorted(by_length):
            indices = by_length[length]
            for start in range(0, len(indices), int(batch_size)):
                yield PaddedBatch([view[i] for i in indices[start : start + int(batch_size)]])
