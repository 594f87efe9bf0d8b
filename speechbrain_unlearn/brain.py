"""The utterance-classifier ``Brain`` both tasks share.

:class:`UtteranceBrain` trains a model (see :mod:`speechbrain_unlearn.models`)
with a per-sample loss (see :mod:`speechbrain_unlearn.losses`) and scores it:
during evaluation it records, per utterance, the ID, label, prediction, the
predictive log-probabilities and the negative log-likelihood, which every
metric and attack reads. It follows SpeechBrain's hooks:

* ``compute_forward``: features and lengths to class scores; in training,
  the per-batch objective (:meth:`UtteranceBrain.training_objective` unless a
  loop of :meth:`UtteranceBrain.train_batches` names another);
* ``compute_objectives``: the loss to lower; per-sample records at eval;
* ``on_fit_batch_start``: counts the batch's utterance gradients;
* ``optimizers_step``: a loop's gradient hook, then SpeechBrain's step;
* ``on_fit_batch_end``: after each optimiser step, a loop's ``after_step``;
* ``on_fit_start``: a fresh learning-rate schedule from ``lr_annealing``;
* ``on_stage_end``: logs, anneals the learning rate, checkpoints each training epoch;
* ``on_evaluate_start``: scores the model *in memory*, never reloading a
  checkpoint (SpeechBrain's default would silently swap the model).

**One step loop.** ``fit`` (whole epochs with checkpoints and schedules,
:meth:`UtteranceBrain.train_epochs`) and every shorter loop
(:meth:`UtteranceBrain.train_batches`: the unlearning methods, relearning
attacks, repair steps, SISA's stages) take their steps through SpeechBrain's
``fit_batch``, so ``--precision`` (autocast), ``--max_grad_norm`` (clipping)
and ``--grad_accumulation_factor`` (a step every k batches, the loss divided
by k) apply to all of them. The batch-of-one rule is in
:meth:`UtteranceBrain.minibatches`, the one source of a loop's batches.

Hparams used: ``model`` is passed in ``modules``; ``loss``; optional
``lr_annealing`` (a factory of a SpeechBrain epoch scheduler) and
``train_logger``. Subclasses choose other keys through ``annealing_key``.

Example
-------
>>> from speechbrain_unlearn.losses import CrossEntropy
>>> class Toy(torch.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.lin = torch.nn.Linear(3, 2)
...     def forward(self, feats, lengths):
...         return self.lin(feats.mean(1))
>>> brain = UtteranceBrain({"model": Toy()}, hparams={"loss": CrossEntropy()}, run_opts={"device": "cpu"})
>>> data = [{"id": f"u{i}", "feats": torch.randn(4, 3), "label": i % 2} for i in range(6)]
>>> records = brain.score(data, batch_size=4)
>>> records["pred"].shape, float(records["nll"].mean()) > 0
((6,), True)
"""

import logging
import time

import numpy as np
import speechbrain as sb
import torch
from speechbrain.dataio.sampler import ReproducibleRandomSampler

from speechbrain_unlearn import progress
from speechbrain_unlearn.checkpoints import RandomState
from speechbrain_unlearn.cost import count_gradients
from speechbrain_unlearn.data.dataio import PaddedBatch
from speechbrain_unlearn.loop import UtteranceMean

logger = logging.getLogger(__name__)


def train_keeping_batchnorm_statistics(model):
    """Training mode (dropout on) with every BatchNorm layer in eval mode.

    For loops whose batches hold forget utterances only: the running
    statistics are averages over the training data, and a forward pass in
    training mode would pull them towards the forget set's.

    Example
    -------
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2), torch.nn.Dropout(0.5))
    >>> _ = train_keeping_batchnorm_statistics(model)
    >>> [m.training for m in model]
    [True, False, True]
    """
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    return model


def records_of(ids, labels, log_probs):
    """The evaluation records of utterances ``ids`` from their labels and predictive log-probabilities.

    Example
    -------
    >>> log_probs = torch.log(torch.tensor([[0.9, 0.1], [0.8, 0.2]]))
    >>> records = records_of(["a", "b"], torch.tensor([0, 1]), log_probs)
    >>> records["pred"].tolist(), records["correct"].tolist(), round(float(records["nll"][1]), 3)
    ([0, 0], [1.0, 0.0], 1.609)
    """
    labels, log_probs = labels.cpu().numpy(), log_probs.detach().cpu().numpy()
    pred = log_probs.argmax(axis=1)
    return {
        "id": list(ids),
        "label": labels,
        "pred": pred,
        "correct": (pred == labels).astype(np.float64),
        "nll": -log_probs[np.arange(len(labels)), labels],
        "log_probs": log_probs,
    }


class UtteranceBrain(sb.Brain):
    """Train and score an utterance classifier (Speech Commands or VoxCeleb)."""

    #: hparams key of the learning-rate schedule factory used by ``fit``.
    annealing_key = "lr_annealing"
    #: Mean training loss of the last epoch (``None`` before any epoch ran).
    train_loss = None
    #: Whether the last ``fit`` resumed from a checkpoint.
    resumed = False

    #: While a :meth:`train_batches` loop runs: its per-batch objective, gradient hook and step callback.
    objective = gradient_hook = after_step = None

    def compute_forward(self, batch, stage):
        """Class scores ``(batch, n_classes)`` from padded features; in training, the objective's pair.

        A training batch gives ``(loss, reported)`` of the loop's
        ``objective(batch)`` (by default :meth:`training_objective`), computed
        inside SpeechBrain's ``training_ctx`` (``--precision``).
        """
        batch = batch.to(self.device)
        if stage == sb.Stage.TRAIN:
            return (self.objective or self.training_objective)(batch)
        feats, lengths = batch.feats
        return self.modules.model(feats, lengths)

    def training_objective(self, batch):
        """The mean training loss of ``batch``, to lower and to report (the default per-batch objective)."""
        loss = self.hparams.loss(self.modules.model(*batch.feats), batch.label).mean()
        return loss, loss

    def compute_objectives(self, predictions, batch, stage):
        """The loss to lower (its reported value averaged per utterance); at evaluation, record every utterance."""
        if stage == sb.Stage.TRAIN:
            loss, reported = predictions
            self.reported.add(reported.detach(), len(batch.label))
            return loss
        targets = batch.label.to(self.device)
        log_probs = self.hparams.loss.log_probs(predictions).detach().cpu()
        self.records["id"].extend(batch.id)
        self.records["label"].append(targets.cpu())
        self.records["log_probs"].append(log_probs)
        return self.hparams.loss(predictions, targets).mean()

    def on_fit_batch_start(self, batch, should_step):
        """Count the batch's utterance gradients (:mod:`speechbrain_unlearn.cost`)."""
        count_gradients(len(batch.label))

    def optimizers_step(self):
        """The loop's gradient hook (SalUn's mask), then SpeechBrain's step: unscale, clip, step, zero."""
        if self.gradient_hook is not None:
            self.gradient_hook()
        super().optimizers_step()

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """After an optimiser step: count it and call the loop's ``after_step(steps, loss)``."""
        if should_step:
            self.steps_taken += 1
            if self.after_step is not None:
                self.after_step(self.steps_taken, loss.detach())

    def on_fit_start(self):
        """Make a fresh schedule, let SpeechBrain set up and recover, start the clock.

        The training time of a stage accumulates across interruptions: each
        checkpoint stores the seconds spent so far (``elapsed_s``), and a
        resumed stage continues from the recovered value.
        """
        factory = getattr(self.hparams, self.annealing_key, None)
        self.scheduler = factory() if factory is not None else None
        super().on_fit_start()
        recovered = self.checkpointer.find_checkpoint() if self.checkpointer is not None else None
        self.elapsed_before = float(recovered.meta.get("elapsed_s", 0.0)) if recovered is not None else 0.0
        self.resumed = recovered is not None
        self.fit_started = time.time()

    @property
    def elapsed_s(self):
        """Seconds of training so far in this stage, across interruptions."""
        return self.elapsed_before + time.time() - self.fit_started

    def _wrap_distributed(self):
        """SpeechBrain's DDP wrapping, without SyncBatchNorm on CPU (it needs CUDA).

        With ``torchrun`` on CPU (the gloo backend) each process keeps its own
        BatchNorm statistics; on GPUs SpeechBrain's SyncBatchNorm conversion
        applies unchanged.
        """
        if not (self.distributed_launch and str(self.device).startswith("cpu")):
            return super()._wrap_distributed()
        for name, module in self.modules.items():
            if any(p.requires_grad for p in module.parameters()):
                self.modules[name] = torch.nn.parallel.DistributedDataParallel(
                    module, device_ids=None, find_unused_parameters=self.find_unused_parameters
                )

    def print_trainable_parameters(self):
        """SpeechBrain's parameter count, in ``log.txt`` only: a run builds many ``Brain`` objects."""
        count = sum(p.numel() for p in self.modules.parameters())
        logger.debug("%s: %d parameters", type(self).__name__, count)

    def on_stage_start(self, stage, epoch=None):
        """Reset the per-utterance records; at training, the reported value and the step count."""
        self.records = {"id": [], "label": [], "log_probs": []}
        if stage == sb.Stage.TRAIN:
            self.reported, self.steps_taken = UtteranceMean(), 0

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """At the end of a training epoch: log, anneal the learning rate, checkpoint."""
        if stage != sb.Stage.TRAIN:
            return
        self.train_loss = stage_loss
        lr = self.optimizer.param_groups[0]["lr"]
        if self.scheduler is not None:
            _, new_lr = self.scheduler(epoch)
            sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
        name, total = getattr(self, "stage_name", "training"), getattr(self, "total_epochs", "?")
        logger.info("%s: epoch %s/%s, lr %.3g, train loss %.4g", name, epoch, total, lr, stage_loss)
        if getattr(self, "train_log", None) is not None:
            self.train_log.log_stats(stats_meta={"epoch": epoch, "lr": lr}, train_stats={"loss": stage_loss})
        if self.checkpointer is not None:
            meta = {"epoch": int(epoch), "elapsed_s": float(self.elapsed_s)}
            self.checkpointer.save_and_keep_only(meta=meta, num_to_keep=1)

    def loader_kwargs(self, dataset, batch_size):
        """Training loader options: padded batches in a seeded, per-epoch shuffle."""
        sampler = ReproducibleRandomSampler(dataset, seed=int(self.hparams.seed))
        return {"batch_size": int(batch_size), "collate_fn": PaddedBatch, "sampler": sampler, **self.workers()}

    def workers(self):
        """Loader worker processes (hparams ``num_workers``, default 0: in the main process)."""
        workers = int(getattr(self.hparams, "num_workers", 0) or 0) if self.hparams is not None else 0
        return {"num_workers": workers, "persistent_workers": False} if workers else {}

    def training_loader(self, dataset, batch_size):
        """A loader of ``dataset`` with :meth:`loader_kwargs` (``sampler.set_epoch`` reshuffles it)."""
        return torch.utils.data.DataLoader(dataset, **self.loader_kwargs(dataset, batch_size))

    def _train_loader_specifics(self, dataset, loader_kwargs):
        # SpeechBrain only calls ``set_epoch`` on samplers it made itself.
        loader_kwargs = super()._train_loader_specifics(dataset, loader_kwargs)
        if self.train_sampler is None:
            self.train_sampler = loader_kwargs.get("sampler")
        return loader_kwargs

    def train_epochs(self, dataset, epochs, batch_size, counter_name="counter", name="training", log_file=None):
        """Train for ``epochs`` epochs (resuming from the checkpointer if it has one).

        Each epoch shows SpeechBrain's progress bar (see
        :mod:`~speechbrain_unlearn.progress`) and logs one line, named
        ``name``; with ``log_file`` its statistics also go to that
        ``train_log.txt`` (SpeechBrain's ``FileTrainLogger``).

        Arguments
        ---------
        dataset : UtteranceSet
            Training items.
        epochs : int
            Number of epochs.
        batch_size : int
            Minibatch size.
        counter_name : str
            Checkpoint name of the epoch counter.
        name : str
            The stage, in the log lines.
        log_file : str, optional
            Where the per-epoch statistics are written.

        Returns
        -------
        float
            Seconds spent training this stage, across interruptions.
        """
        counter = sb.utils.epoch_loop.EpochCounter(int(epochs))
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable(counter_name, counter)
            self.checkpointer.add_recoverable("random_state", RandomState(), optional_load=True)
        self.train_sampler = None
        self.stage_name, self.total_epochs = name, int(epochs)
        self.train_log = sb.utils.train_logger.FileTrainLogger(log_file) if log_file else None
        loader_kwargs = self.loader_kwargs(dataset, batch_size)
        self.fit(counter, dataset, progressbar=progress.showing(), train_loader_kwargs=loader_kwargs)
        return self.elapsed_s

    def minibatches(self, loader, epoch=None, keep_batchnorm_statistics=False, model=None):
        """The batches of ``loader`` (in its seeded order for ``epoch``), with ``model`` in training mode.

        ``model`` (default ``modules.model``) is put in training mode before
        each batch (a check in between may change modes), with its BatchNorm
        layers in eval mode if ``keep_batchnorm_statistics`` (batches of
        forget utterances only: :func:`train_keeping_batchnorm_statistics`).
        The one batch-of-one rule: a batch of a single utterance is skipped
        (BatchNorm cannot train on it; ECAPA's fails outright).
        """
        if epoch is not None:
            loader.sampler.set_epoch(epoch)
        model = self.modules.model if model is None else model
        set_mode = train_keeping_batchnorm_statistics if keep_batchnorm_statistics else type(model).train
        for batch in loader:
            if len(batch.label) < 2:
                continue
            set_mode(model)
            yield batch

    def train_batches(self, batches, optimizer, objective=None, steps=None, gradient_hook=None, after_step=None):
        """The step loop outside ``fit``: SpeechBrain's ``fit_batch`` on each of ``batches``.

        As in an epoch of ``fit``: the gradients are zeroed first and flushed
        at the end (a last, incomplete accumulation is dropped), and
        ``optimizer`` steps every ``grad_accumulation_factor`` batches with
        ``--max_grad_norm`` clipping and ``--precision`` autocast.

        Arguments
        ---------
        batches : iterable
            Batches, usually of :meth:`minibatches`.
        optimizer : torch.optim.Optimizer
            The loop's optimiser (it may hold a model other than ``modules.model``).
        objective : callable, optional
            ``objective(batch)`` gives the loss to lower and the batch-mean
            value to report (default :meth:`training_objective`).
        steps : int, optional
            Stop after this many optimiser steps.
        gradient_hook : callable, optional
            Runs between the backward pass and the step (SalUn masks the gradients there).
        after_step : callable, optional
            ``after_step(steps, loss)`` after each optimiser step.

        Returns
        -------
        float
            The reported value's mean over the loop's utterances.
        """
        saved = self.optimizers_dict
        self.objective, self.gradient_hook, self.after_step = objective, gradient_hook, after_step
        self.optimizers_dict = {"loop": optimizer}
        self.reported, self.steps_taken = UtteranceMean(), 0
        optimizer.zero_grad(set_to_none=True)
        try:
            for count, batch in enumerate(batches, 1):
                self.step = count  # set each time: an evaluation in between resets it
                self.fit_batch(batch)
                if steps is not None and self.steps_taken >= steps:
                    break
        finally:
            optimizer.zero_grad(set_to_none=True)
            self.optimizers_dict, self.step = saved, 0
            self.objective = self.gradient_hook = self.after_step = None
        return self.reported.value

    def train_steps(self, dataset, steps, optimizer, batch_size, on_step=None, keep_batchnorm_statistics=False):
        """``steps`` optimiser steps of the training loss on ``dataset`` (seeded shuffle): :meth:`train_batches`.

        For short updates without checkpoints or schedules (repair steps,
        relearning attacks); every pass over ``dataset`` takes the same seeded
        order, and the model is left in eval mode. ``on_step(done)``, if
        given, runs after each step (it may evaluate the model: training mode
        is set again before the next batch). ``keep_batchnorm_statistics``:
        see :meth:`minibatches`. Returns the number of steps taken.
        """
        loader = self.training_loader(dataset, batch_size)

        def passes():
            while True:
                batches = 0
                for batch in self.minibatches(loader, 0, keep_batchnorm_statistics):
                    batches += 1
                    yield batch
                if not batches:
                    return  # nothing in the set can train (a set of one utterance)

        after_step = None if on_step is None else (lambda done, loss: on_step(done))
        self.train_batches(passes(), optimizer, steps=steps, after_step=after_step)
        self.modules.model.eval()
        return self.steps_taken

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Score the model in memory: do not load a checkpoint."""

    def collect_records(self):
        """The records of the last evaluation as numpy arrays.

        Returns
        -------
        dict
            ``id`` (list), ``label``, ``pred``, ``correct``, ``nll`` (arrays of
            shape ``(n,)``) and ``log_probs`` ``(n, n_classes)``.
        """
        return records_of(self.records["id"], torch.cat(self.records["label"]), torch.cat(self.records["log_probs"]))

    def _batches(self, dataset, batch_size):
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=int(batch_size), collate_fn=PaddedBatch, **self.workers()
        )
        for batch in loader:
            yield batch.to(self.device)

    @torch.no_grad()
    def embed(self, dataset, batch_size=64):
        """Representations before the head, in eval mode, and the labels.

        Returns
        -------
        tuple of torch.Tensor
            Embeddings ``(n, dim)`` and integer labels ``(n,)``.
        """
        model = self.modules.model
        model.eval()
        embeddings, labels = [], []
        for batch in self._batches(dataset, batch_size):
            embeddings.append(model.embed(*batch.feats))
            labels.append(batch.label)
        return torch.cat(embeddings), torch.cat(labels)

    @torch.no_grad()
    def reestimate_batchnorm(self, dataset, batch_size=64):
        """Recompute every BatchNorm's running statistics on ``dataset``.

        The running statistics are averages over the training data, forget
        set included; an update of the weights does not touch them. Here they
        are reset and re-accumulated as an exact average (``momentum=None``)
        over ``dataset``, with dropout off. Returns the number of layers.
        """
        model = self.modules.model
        norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        model.eval()
        saved = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        for batch in self._batches(dataset, batch_size):
            model(*batch.feats)
        for m, momentum in zip(norms, saved):
            m.momentum = momentum
            m.eval()
        return len(norms)

    def score(self, dataset, batch_size=64):
        """Evaluate ``dataset`` with the model as it is and return the records."""
        self.evaluate(
            dataset,
            progressbar=False,
            test_loader_kwargs={"batch_size": batch_size, "collate_fn": PaddedBatch},
        )
        return self.collect_records()
