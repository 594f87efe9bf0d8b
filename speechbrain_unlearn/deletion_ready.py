"""The deletion-ready training regime: a core no request touches, a convex head solved on the user data.

``training_regime: deletion_ready`` in the task hparams trains every model
of a run in two parts:

1. **the core** (:class:`Core`): the task's own model (CRDNN or ECAPA-TDNN)
   trained with the standard recipe on a *core set* whose speakers no
   deletion request may name: ``core_data_folder`` (a folder in the task's
   layout, e.g. VoxCeleb2 speakers for VoxCeleb1 users) or, when it is
   empty, the embedded ``core_corpus`` (a second synthesised corpus with
   other speakers). It is trained once and cached like the other models,
   with the mean and deviation of its embeddings on the core set;
2. **the deletable part**: a
   :class:`~speechbrain_unlearn.deletable.model.DeletionReadyModel` head,
   an L2-regularised multinomial logistic model on the core's standardised
   embeddings of the user's training utterances, solved to ``deletable_gtol``
   (:class:`~speechbrain_unlearn.deletable.state.DeletableState`).

:class:`DeletionReadyCache` serves the run's shared models in this regime
with :class:`~speechbrain_unlearn.model_cache.ModelCache`'s interface:
"training" a model on rows is solving the head on their stored features,
so the original, the reference, the noise-floor reference and the shadows
cost a convex solve each; the original's
:class:`~speechbrain_unlearn.deletable.state.DeletableState` is its stored
statistics, from which influence removes a request exactly. The features
of the user's utterances are computed once per core (whole utterances,
batches of equal length, so no padding), so a request never reads the
audio of retained users.
"""

import copy
import dataclasses
import logging
import os
import time

import torch
from speechbrain.utils.distributed import if_main_process

from speechbrain_unlearn.brain import UtteranceBrain
from speechbrain_unlearn.config import without_keys
from speechbrain_unlearn.cost import CostMeter
from speechbrain_unlearn.data.dataio import FeatureStore
from speechbrain_unlearn.data.utterances import UtteranceSet, label_encoder
from speechbrain_unlearn.deletable.model import DeletionReadyModel
from speechbrain_unlearn.deletable.perturbation import draw_noise, noise_scale
from speechbrain_unlearn.deletable.state import DeletableState
from speechbrain_unlearn.errors import UnlearnError
from speechbrain_unlearn.io import digest, load_tensors, save_tensors
from speechbrain_unlearn.model_cache import ModelCache

logger = logging.getLogger(__name__)

#: Task keys of the deletable part only: changing them never retrains the core.
DELETABLE_KEYS = ("training_regime", "deletable_l2", "deletable_gtol", "deletable_epsilon", "deletable_delta")
#: Task keys the core's cache key leaves out besides those: the run's seed (the core's is ``core_seed``).
CORE_UNUSED_KEYS = (*DELETABLE_KEYS, "seed")


def core_config(config):
    r"""The training configuration the core's cache key is taken over: without :data:`CORE_UNUSED_KEYS`.

    Neither in the task hparams' text nor in the overrides, so that a
    change of the deletable part's settings or of the default regime never
    retrains the core.

    Example
    -------
    >>> config = {"task_text": "lr: 0.1\ndeletable_l2: 0.001\ntraining_regime: deletion_ready", "run_opts": {}}
    >>> core_config({**config, "overrides": {"seed": 2, "lr": 0.2}})
    {'task_text': 'lr: 0.1', 'run_opts': {}, 'overrides': {'lr': 0.2}}
    """
    kept = {k: v for k, v in config["overrides"].items() if k not in CORE_UNUSED_KEYS}
    return {**config, "task_text": without_keys(config["task_text"], CORE_UNUSED_KEYS), "overrides": kept}


@dataclasses.dataclass
class CoreSets:
    """The core set's utterances in the shape :class:`ModelCache` trains from."""

    train: UtteranceSet
    valid: UtteranceSet
    model: object

    @classmethod
    def build(cls, data, hp):
        """Utterance sets of the core data (its own label encoder and feature table)."""
        encoder = label_encoder(r["label"] for r in data["train"])
        folder = os.path.join(hp["cache_folder"], "features") if hp["cache_features"] else None
        store = FeatureStore(data["train"] + data["valid"], hp["compute_features"], folder)
        every = UtteranceSet([], encoder, store, hp["train_crop_frames"])
        return cls(every.view(data["train"]), every.view(data["valid"], crop_frames=None), hp["model"])

    def training_items(self, rows):
        """Training items of core ``rows``."""
        return self.train.view(rows)

    def new_model(self, seed):
        """The task's standard model over the core classes, initialised with ``seed``."""
        torch.manual_seed(seed)
        return self.model(n_classes=len(self.train.encoder))


@dataclasses.dataclass
class Core:
    """The trained core, the standardisation of its embeddings and its metadata."""

    model: torch.nn.Module
    mean: torch.Tensor
    std: torch.Tensor
    meta: dict

    @classmethod
    def train_or_load(cls, core_data, user_rows, hp, run_opts, config, task):
        """The core trained with the standard recipe on ``core_data`` (refused if it shares audio with the user)."""
        shared = {r["wav"] for r in core_data["train"]} & {r["wav"] for r in user_rows}
        if shared:
            raise UnlearnError(
                f"the core set shares {len(shared)} audio files with the user training set "
                f"(first: {sorted(shared)[0]}); point core_data_folder at speakers no request may name"
            )
        core_hp = {**hp, "loss": hp["core_loss"], "seed": int(hp["core_seed"])}
        sets = CoreSets.build(core_data, core_hp)
        cache = ModelCache(task, core_config(config), core_hp, run_opts, sets)
        model, meta = cache.trained("core", core_data["train"])
        mean, std = cls.standardisation(model, sets.train.view(core_data["train"], crop_frames=None), meta, hp)
        for p in model.parameters():
            p.requires_grad_(False)
        return cls(model.eval(), mean, std, meta)

    @classmethod
    def from_pretrained(cls, pretrained, hp, task):
        """The core of a model folder (``pretrained_source``): its embedding model, nothing trained.

        Standardised with the folder's ``standardisation.ckpt`` where it has
        one, else not at all; cached data of this core (the user features)
        go to a cache folder keyed by the folder's content.
        """
        model = pretrained.load_body(pretrained.new_model(len(pretrained.labels), int(hp["core_seed"])))
        stored = pretrained.standardisation()
        if stored is None:
            logger.info("%s has no standardisation.ckpt: its embeddings are used as they are", pretrained.folder)
        dim = model.eval().embed(torch.zeros(1, 100, pretrained.n_mels), torch.ones(1)).shape[1]
        mean, std = stored or (torch.zeros(dim), torch.ones(dim))
        for p in model.parameters():
            p.requires_grad_(False)
        folder = os.path.join(hp["cache_folder"], "models", task, f"core-pretrained-{pretrained.content_key()[:12]}")
        os.makedirs(folder, exist_ok=True)
        meta = {"folder": folder, "time_s": 0.0, "epochs": 0, "utterances": 0}
        meta["pretrained_source"] = os.path.abspath(pretrained.folder)
        return cls(model, mean, std, meta)

    @staticmethod
    def standardisation(model, core_train, meta, hp):
        """Mean and deviation of the core's embeddings of its training set (cached beside it)."""
        path = os.path.join(meta["folder"], "standardisation.pt")
        if os.path.exists(path):
            stored = load_tensors(path)
            return stored["mean"], stored["std"]
        embeddings = embed_whole(model, core_train, hp["eval_batch_size"])
        mean, std = embeddings.mean(0), embeddings.std(0).clamp(min=1e-6)
        if if_main_process():
            save_tensors(path, {"mean": mean, "std": std})
        return mean, std

    def new_model(self, n_classes, seed):
        """A deletion-ready model over ``n_classes`` user classes: a copy of the core, a head seeded by ``seed``."""
        torch.manual_seed(seed)
        return DeletionReadyModel(copy.deepcopy(self.model), n_classes, self.mean, self.std)


@torch.no_grad()
def embed_whole(model, utterances, batch_size):
    """``model.embed`` of whole utterances in eval mode, in batches of equal length (no padding), in set order."""
    model.eval()
    by_id = {}
    for batch in utterances.fixed_length_batches(None, batch_size):
        for utt, embedding in zip(batch.id, model.embed(*batch.feats)):
            by_id[utt] = embedding.to(torch.float64)
    return torch.stack([by_id[utt] for utt in utterances.ids])


class DeletionReadyCache(ModelCache):
    """The shared models of the deletion-ready regime (see the module docstring).

    Arguments
    ---------
    task, config, hp, run_opts, sets
        As for :class:`ModelCache`; ``sets.new_model`` gives deletion-ready models.
    core : Core
        The trained core.
    """

    def __init__(self, task, config, hp, run_opts, sets, core):
        config = {**config, "core": core.meta["folder"]}
        super().__init__(task, config, hp, run_opts, sets)
        self.core, self._features = core, None

    def features(self, rows):
        """Core features and labels of user training ``rows`` (every training utterance's, computed once)."""
        if self._features is None:
            everything = self.sets.forget.union(self.sets.retain).whole()
            path = os.path.join(self.core.meta["folder"], f"user-features-{digest(everything.identity())}.pt")
            if os.path.exists(path):
                self._features = load_tensors(path)
            else:
                model = self.core.new_model(len(self.sets.encoder), int(self.hp["seed"]))
                embeddings = embed_whole(model, everything, self.hp["eval_batch_size"])
                self._features = dict(zip(everything.ids, embeddings))
                if if_main_process():
                    save_tensors(path, self._features)
        items = self.sets.training_items(rows)
        return torch.stack([self._features[utt] for utt in items.ids]), torch.tensor(items.labels)

    def train(self, model, name, rows, seed, folder):
        """Solve the head on ``rows``' stored features (from zeros; the seed changes nothing); its metadata."""
        with CostMeter() as cost:
            start = time.time()
            features, labels = self.features(rows)
            feature_time = time.time() - start
            start = time.time()
            ids, n_classes, gtol = [r["ID"] for r in rows], len(self.sets.encoder), self.hp["deletable_gtol"]
            noise, privacy = self.perturbation(n_classes * (features.shape[1] + 1), gtol)
            state = DeletableState.fit(ids, features, labels, n_classes, self.hp["deletable_l2"], gtol, noise, privacy)
            solve_time = time.time() - start
        model.set_head(state.theta)
        if if_main_process():
            state.save(os.path.join(folder, "deletable.pt"))
        valid_acc = float(self.brain(model).score(self.sets.valid, self.hp["eval_batch_size"])["correct"].mean())
        logger.info(
            "%s head solved on %d utterances: %.2f s, valid accuracy %.4f (%s)",
            name,
            len(rows),
            solve_time,
            valid_acc,
            folder,
        )
        return {
            "time_s": round(solve_time, 3),
            "feature_time_s": round(feature_time, 3),
            "epochs": 0,
            "utterances": len(rows),
            "valid_acc": round(valid_acc, 4),
            "resumed": False,
            "peak_mem_mb": cost.result()["peak_mem_mb"],
            "grad_evals": cost.result()["grad_evals"],  # the solver's passes over the stored features
            "core": self.core.meta["folder"],
        }

    def perturbation(self, size, gtol):
        """The head's loss perturbation and its ``(epsilon, delta)``; ``(None, None)`` for ``deletable_epsilon: 0``.

        The same draw (the run's seed) for every model of the run, scaled for
        the whole training set (:mod:`~speechbrain_unlearn.deletable.perturbation`).
        """
        epsilon, delta = float(self.hp["deletable_epsilon"]), float(self.hp["deletable_delta"])
        if epsilon == 0:
            return None, None
        n = len(self.sets.forget) + len(self.sets.retain)
        return draw_noise(size, noise_scale(n, gtol, epsilon, delta), self.hp["seed"]), (epsilon, delta)

    def brain(self, model):
        """A brain to score ``model`` with."""
        return UtteranceBrain(modules={"model": model}, hparams=self.hp, run_opts=self.run_opts)

    def statistics(self, model, meta, rows):
        """The :class:`DeletableState` stored beside a model."""
        return DeletableState.load(os.path.join(meta["folder"], "deletable.pt"))
