r"""SISA: exact unlearning by sharded, isolated, sliced, aggregated training.

Bourtoule et al. (2021), "Machine Unlearning", IEEE S&P.

Algorithm
---------
Input: training set D, shards S, slices R, epochs E per shard model, seed.

Training (once; cached, and the cost SISA adds to training):

1. assign every utterance a shard and a slice by a seeded hash of its ID
   (:func:`assignment`): the assignment of an utterance never depends on
   which other utterances are present
2. for each shard s: start from the seeded initial weights; for stage
   r = 1..R train ``E / R`` epochs on slices 1..r of shard s (seeded
   shuffle, learning rate annealed linearly over the shard's E epochs) and
   store the weights and optimiser state after each stage
3. the model is the ensemble of the S shard models: the mean of their scores

Deletion of F:

4. for each shard s, let k be the first slice holding an utterance of F;
   untouched shards keep their final weights
5. otherwise restore the stored state after stage k-1 (the initial weights
   for k = 1) and run stages k..R again on the same slices without F

Stages before k never saw F and every stage is seeded by (seed, shard,
stage, epoch) alone, so step 5 yields exactly the shard models that
training SISA on D \ F from scratch would give (``sisa_from_scratch: true``
trains that model, for the check): SISA is *exact* unlearning, and its cost
is the retrained stages only (``retrained_stages`` / ``total_stages`` in the
diagnostics). Time spent training the SISA model itself is reported as
the method's training time, not as unlearning time.

Hparams (``hparams/sisa.yaml``): ``sisa_shards``, ``sisa_slices``,
``sisa_epochs``, ``sisa_folder``, ``sisa_from_scratch``,
``unlearn_batch_size``, ``unlearn_opt_class``, ``sisa_final_lr_ratio``; from
the task: ``seed``, ``loss``, ``cache_folder``, ``number_of_epochs``.
"""

import hashlib
import logging
import os
import time

import torch

from speechbrain_unlearn.data.dataio import PaddedBatch
from speechbrain_unlearn.io import digest, load_tensors, save_tensors
from speechbrain_unlearn.methods.base import Unlearner

logger = logging.getLogger(__name__)


def assignment(utt_id, seed, shards, slices):
    """The ``(shard, slice)`` of an utterance: a seeded hash of its ID alone.

    Example
    -------
    >>> assignment("spk1/utt3", 1, 4, 2) == assignment("spk1/utt3", 1, 4, 2)
    True
    >>> all(0 <= s < 4 and 0 <= r < 2 for s, r in (assignment(f"u{i}", 1, 4, 2) for i in range(50)))
    True
    """
    value = int.from_bytes(hashlib.sha256(f"{seed}:{utt_id}".encode()).digest()[:8], "big")
    return value % shards, (value // shards) % slices


class ShardEnsemble(torch.nn.Module):
    """The SISA model: the mean of its shard models' class scores.

    Example
    -------
    >>> members = [torch.nn.Linear(2, 3) for _ in range(2)]
    >>> class Member(torch.nn.Module):
    ...     def __init__(self, lin):
    ...         super().__init__()
    ...         self.lin = lin
    ...     def forward(self, feats, lengths):
    ...         return self.lin(feats)
    >>> model = ShardEnsemble([Member(m) for m in members])
    >>> x = torch.randn(4, 2)
    >>> torch.allclose(model(x, None), (members[0](x) + members[1](x)) / 2)
    True
    """

    def __init__(self, members):
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def forward(self, feats, lengths):
        """The mean of the shard models' scores."""
        return torch.stack([m(feats, lengths) for m in self.members]).mean(0)

    def embed(self, feats, lengths):
        """The shard models' embeddings side by side."""
        return torch.cat([m.embed(feats, lengths) for m in self.members], dim=-1)


class Sisa(Unlearner):
    """Sharded, isolated, sliced, aggregated training and exact deletion (see the module docstring)."""

    def unlearn(self, request):
        """Train (or load) the SISA model, then retrain the stages that held the forget set."""
        hp = self.hparams
        shards, slices, seed = int(hp.sisa_shards), int(hp.sisa_slices), int(hp.seed)
        full = request.training_set
        ids = full.ids
        forget_ids = set(request.forget.ids)
        self.new_model = request.new_model
        self.index = {utt: i for i, utt in enumerate(ids)}
        self.slots = {utt: assignment(utt, seed, shards, slices) for utt in ids}
        trained_on = sorted(u for u in ids if not (hp.sisa_from_scratch and u in forget_ids))
        settings = [request.training_key, shards, slices, int(hp.sisa_epochs), seed, hp.sisa_final_lr_ratio]
        folder = os.path.join(hp.sisa_folder, f"sisa-{digest([settings, trained_on])}")
        self.dataset = full

        start, trained_stages = time.time(), 0
        for shard in range(shards):
            trained_stages += self.train_shard(folder, shard, trained_on, range(slices))
        self.training_time_s = time.time() - start

        members, retrained, touched = [], 0, []
        for shard in range(shards):
            hit = [self.slots[u][1] for u in forget_ids if self.slots[u][0] == shard]
            if hp.sisa_from_scratch or not hit:
                members.append(self.load_stage(folder, shard, slices - 1)[0])
                continue
            first = min(hit)
            kept = sorted(u for u in trained_on if u not in forget_ids)
            members.append(self.retrain_from(folder, shard, kept, first))
            retrained += slices - first
            touched.append(shard)
        self.modules.model = ShardEnsemble(members).to(self.device).eval()
        return {
            "shards": shards,
            "slices": slices,
            "shards_retrained": touched,
            "retrained_stages": retrained,
            "total_stages": shards * slices,
            "stages_trained_for_the_model": trained_stages,
            "training_time_s": round(self.training_time_s, 3),
            "from_scratch": bool(hp.sisa_from_scratch),
        }

    def stage_data(self, utterances, shard, stage):
        """The utterances of ``shard`` in slices ``0..stage``, in ID order."""
        return [u for u in utterances if self.slots[u][0] == shard and self.slots[u][1] <= stage]

    def fresh(self):
        """The seeded initial shard model and its optimiser."""
        model = self.new_model().to(self.device)
        return model, self.hparams.unlearn_opt_class(model.parameters())

    def load_stage(self, folder, shard, stage):
        """The stored model and optimiser after ``stage`` of ``shard`` (the initial ones before stage 0)."""
        model, optimizer = self.fresh()
        if stage >= 0:
            state = load_tensors(os.path.join(folder, f"shard{shard}", f"stage{stage}.pt"))
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
        return model, optimizer

    def train_shard(self, folder, shard, utterances, stages):
        """Train the stored stages of ``shard`` that are missing; return how many were trained."""
        done = 0
        for stage in stages:
            path = os.path.join(folder, f"shard{shard}", f"stage{stage}.pt")
            if os.path.exists(path):
                continue
            model, optimizer = self.load_stage(folder, shard, stage - 1)
            self.train_stage(model, optimizer, self.stage_data(utterances, shard, stage), shard, stage)
            save_tensors(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict()})
            done += 1
        return done

    def retrain_from(self, folder, shard, utterances, first):
        """Stages ``first..R-1`` of ``shard`` again on ``utterances``, from the state before ``first``."""
        model, optimizer = self.load_stage(folder, shard, first - 1)
        for stage in range(first, int(self.hparams.sisa_slices)):
            self.train_stage(model, optimizer, self.stage_data(utterances, shard, stage), shard, stage)
        return model.eval()

    def train_stage(self, model, optimizer, utterances, shard, stage):
        """``E / R`` epochs on ``utterances``, every random choice seeded by (seed, shard, stage, epoch)."""
        hp = self.hparams
        slices, epochs = int(hp.sisa_slices), int(hp.sisa_epochs)
        per_stage = max(1, round(epochs / slices))
        data = self.dataset.subset([self.index[u] for u in utterances])
        base_lr = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
        for group, lr in zip(optimizer.param_groups, base_lr):
            group["initial_lr"] = lr

        def objective(batch):
            loss = hp.loss(model(*batch.feats), batch.label).mean()
            return loss, loss

        for epoch in range(per_stage):
            step = stage * per_stage + epoch
            ratio = 1.0 - (1.0 - float(hp.sisa_final_lr_ratio)) * step / max(per_stage * slices - 1, 1)
            for group, lr in zip(optimizer.param_groups, base_lr):
                group["lr"] = lr * ratio
            seed = int(hp.seed) * 1_000_003 + shard * 10_007 + stage * 101 + epoch
            torch.manual_seed(seed)
            order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).tolist()
            size = int(hp.unlearn_batch_size)
            chunks = [order[begin : begin + size] for begin in range(0, len(order), size)]
            # its own generator: the loader's base-seed draw leaves the seeded stream above alone
            loader = torch.utils.data.DataLoader(
                data, batch_sampler=chunks, collate_fn=PaddedBatch, generator=torch.Generator()
            )
            self.train_batches(self.minibatches(loader, model=model), optimizer, objective)
        model.eval()
