"""Training a stream's members: every decoded batch trains each of them, in turn.

Decoding a photo costs more than a small member's training step on it, so a
:class:`~ensemble.engine.sources.StreamSource` is read once per epoch for all the members
trained together: each batch (uint8 crops, decoded and cropped on DataLoader workers) trains
member 1, then member 2, ..., each with its own :class:`nets.step.TrainStep` (optimiser,
schedule, look-ahead), augmentation stream and weights. A plain loop over members, not the
stacked engines: on a CPU it trains small members faster than ``vmap`` or grouped
convolutions (SmallCNN 16/32/64 at 64 and 112 px, 4 members, batch 64;
``benchmarks/ensemble_photo_folder.py --engines`` measures the three).

Bagging is the Poisson bootstrap (:mod:`ensemble.engine.poisson`): member m's loss on a batch
is sum_i w(m, i) l_i / sum_i w(m, i) over the batch's rows with w(m, i) > 0 (its out-of-bag
rows never reach its forward pass, so they stay out of its BatchNorm statistics too), and a
batch where all of a member's weights are 0 gives it no step (its schedule still advances).
Each member early-stops on its out-of-bag rows (or, with ``bootstrap=False``, its held-out
rows), validated after every epoch from one decode of each such row for all members.

After the last epoch each member gets its best snapshot back and BatchNorm's population
statistics (Algorithm 2) from un-augmented centre views of up to 32 batches of evenly spaced
rows of its bag, one decode for all members.

With a ``checkpoint_dir`` the members' whole state is saved after every epoch
(:mod:`ensemble.engine.checkpoints`) and a resumed run continues from the last saved epoch,
training the same members as an uninterrupted run: every random draw of an epoch comes from
(seed, epoch). ``on_epoch_end`` is where a member collector (snapshot ensembles, SWA: members
collected along one run's schedule) would take the members' weights after each epoch.
"""
from __future__ import annotations

import contextlib
import math
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

import nets
from augkit.data import BadImageError
from nets.batches import (
    DATA_INIT_IMAGES,
    POPULATION_BATCHES,
    inference_batch_size,
    initialise_from_data,
    set_memory_format,
    to_float_batch,
)
from nets.batchnorm import population_statistics
from nets.loop import SingleModel
from nets.precision import training_precision
from nets.step import TrainStep

from ..failures import MemberFailedError
from .checkpoints import EpochCheckpoint
from .members import MemberOutcome, TrainSetup, build_member, record_of, torch_threads, write_marker
from .plans import MemberPlan, row_weights
from .sources import StreamSource
from .storage import save_member

__all__ = ["train_stream"]

EpochEnd = Callable[[int, list[nn.Module]], None]


def _seed(*entropy: int) -> int:
    """A 63-bit seed drawn from the integers ``entropy`` (a SeedSequence hash)."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1, np.uint64)[0] >> 1)


def _evenly_spaced(rows: np.ndarray, count: int) -> np.ndarray:
    """At most ``count`` of ``rows``, evenly spaced (no randomness)."""
    if len(rows) <= count:
        return rows
    return rows[np.linspace(0, len(rows) - 1, count).round().astype(np.int64)]


def _centre_views(source: StreamSource, rows: np.ndarray, chunk: int, desc: str):
    """(uint8 n x 3 x h x w centre views, int64 n rows) of ``rows``, ``chunk`` images at a time."""
    for views, chunk_rows in source.view_chunks(rows, [None], chunk, desc=desc):
        yield views[0][:, 0], chunk_rows


class _StreamMembers:
    """The members trained together on one stream, with everything that resumes them."""

    def __init__(self, plans: list[MemberPlan], source: StreamSource, setup: TrainSetup) -> None:
        config = setup.config
        self.plans, self.source, self.setup, self.config = plans, source, setup, config
        self.device = torch.device(config.device)
        self.models = [build_member(setup, p.seed).to(self.device) for p in plans]
        self.memory_format = torch.contiguous_format
        for model in self.models:
            self.memory_format = set_memory_format(model, config.channels_last)
        self.weights = torch.as_tensor(row_weights(plans, len(source)))  # M x N
        self.use_val = [setup.early_stopping and len(p.val_indices) > 0 for p in plans]
        self.stoppers = [nets.EarlyStopping(monitor="val_loss", patience=setup.patience) if u else None
                         for u in self.use_val]
        self.histories = [nets.History() for _ in plans]
        self.active = [True] * len(plans)
        self.diverged: dict[int, tuple[int, float]] = {}
        rows = len(source.epoch_order(setup.stream_seed, 0))
        self.steps_per_epoch = max(1, math.ceil(rows / config.batch_size))
        self.total_steps = max(1, round(config.epochs * self.steps_per_epoch))
        self.n_epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        precision = training_precision(config.precision, self.device)
        self.steps = []
        for model in self.models:
            single = SingleModel(model, self.memory_format)
            self.steps.append(TrainStep(config, single.forward, *single.parameter_groups(), 1, setup.n_classes,
                                        self.total_steps, precision, self.memory_format))
        self.steps_done = 0

    # ------------------------------------------------------------------ one epoch
    def initialise_from_data(self) -> None:
        """Data-dependent initialisation (e.g. a whitened stem) from centre views of evenly spaced rows."""
        if not any(hasattr(m, "init_from_data") for m in self.models):
            return
        rows = _evenly_spaced(np.arange(len(self.source)), DATA_INIT_IMAGES)
        sample = torch.cat([x for x, _ in _centre_views(self.source, rows, 256, "initialising")])
        for model in self.models:
            initialise_from_data(model, sample.to(self.device), self.config.normalize, self.memory_format)

    def train_epoch(self, epoch: int) -> None:
        """One pass over the stream: every batch trains each active member on its weighted rows."""
        k, device = len(self.models), self.device
        start = time.perf_counter()
        generators = [torch.Generator().manual_seed(_seed(p.seed, epoch)) for p in self.plans]
        loss_sum, hits, weight_sum = torch.zeros(k), torch.zeros(k), torch.zeros(k)
        for model in self.models:
            model.train()
            nets.restart_population_statistics(model)  # exact-average BatchNorms: this epoch's batches only
        for images, rows in self.source.train_batches(self.setup.stream_seed, epoch, self.config.batch_size):
            if self.steps_done == self.total_steps:  # a fractional last epoch
                break
            weights = self.weights[:, rows]
            labels = torch.as_tensor(self.source.y)[rows]
            for m, step in enumerate(self.steps):
                keep = weights[m] > 0
                if not self.active[m] or not bool(keep.any()):
                    step.skip()
                    continue
                w = weights[m, keep]
                loss, correct = step(images[keep].to(device), labels[keep][None].to(device), generators[m],
                                     weights=w[None].to(device))
                loss_sum[m] += float(loss) * float(w.sum())
                hits[m] += float(correct)
                weight_sum[m] += float(w.sum())
            self.steps_done += 1
        for step in self.steps:
            step.end_epoch()
        val_losses, val_accs = self.validate() if any(u and a for u, a in zip(self.use_val, self.active)) \
            else ([None] * k, [None] * k)
        for m in range(k):
            if not self.active[m]:
                continue
            epoch_loss = float(loss_sum[m] / weight_sum[m]) if weight_sum[m] > 0 else float("nan")
            if not math.isfinite(epoch_loss):
                self.diverged[m] = (epoch, epoch_loss)
                self.active[m] = False
                continue
            history = self.histories[m]
            history.loss.append(epoch_loss)
            history.acc.append(float(hits[m] / weight_sum[m]))
            history.seconds.append(time.perf_counter() - start)
            if val_losses[m] is not None:
                history.val_loss.append(val_losses[m])
                history.val_acc.append(val_accs[m])
                if self.stoppers[m].step(epoch, val_losses[m], self.models[m]) and epoch < self.n_epochs - 1:
                    history.stopped_epoch = epoch
                    self.active[m] = False

    @torch.no_grad()
    def validate(self) -> tuple[list[float | None], list[float | None]]:
        """Each validating member's mean cross-entropy and accuracy on its own held-out rows,
        in eval mode, from one decode of each row for all members."""
        k = len(self.models)
        held = [np.zeros(len(self.source), dtype=bool) for _ in range(k)]
        for m, plan in enumerate(self.plans):
            if self.use_val[m] and self.active[m]:
                held[m][plan.val_indices] = True
        rows = np.flatnonzero(np.any(held, axis=0))
        loss, correct, count = np.zeros(k), np.zeros(k), np.zeros(k)
        for model in self.models:
            model.eval()
        chunk = inference_batch_size(self.device, math.prod(self.source.geometry.size))
        for images, chunk_rows in _centre_views(self.source, rows, chunk, "validating"):
            inputs = to_float_batch(images.to(self.device), normalize=self.config.normalize,
                                    memory_format=self.memory_format)
            labels = torch.as_tensor(self.source.y)[chunk_rows].to(self.device)
            for m, model in enumerate(self.models):
                mine = torch.as_tensor(held[m][chunk_rows.numpy()], device=self.device)
                if bool(mine.any()):
                    logits = model(inputs[mine]).float()
                    loss[m] += float(F.cross_entropy(logits, labels[mine], reduction="sum"))
                    correct[m] += float((logits.argmax(1) == labels[mine]).sum())
                    count[m] += int(mine.sum())
        return ([float(loss[m] / count[m]) if count[m] else None for m in range(k)],
                [float(correct[m] / count[m]) if count[m] else None for m in range(k)])

    # ------------------------------------------------------------------ after training
    @torch.no_grad()
    def finish(self) -> list[MemberOutcome]:
        """Best snapshots back, BatchNorm's population statistics, one outcome per member."""
        for m, model in enumerate(self.models):
            if self.stoppers[m] is not None:
                self.stoppers[m].restore(model)
                self.histories[m].best_epoch = self.stoppers[m].best_epoch_
        batch = self.config.batch_size
        order = self.source.epoch_order(self.setup.stream_seed, 0)
        rows = _evenly_spaced(np.sort(order), POPULATION_BATCHES * batch)
        bagged = self.weights > 0
        with contextlib.ExitStack() as stack:
            for model in self.models:
                stack.enter_context(population_statistics(model))
            for images, chunk_rows in _centre_views(self.source, rows, batch, "BatchNorm statistics"):
                inputs = to_float_batch(images.to(self.device), normalize=self.config.normalize,
                                        memory_format=self.memory_format)
                for m, model in enumerate(self.models):
                    mine = bagged[m, chunk_rows].to(self.device)
                    if bool(mine.any()):
                        model(inputs[mine])
        outcomes = []
        for m, (plan, model) in enumerate(zip(self.plans, self.models)):
            skipped = tuple(sorted(self.source.skipped))
            if m in self.diverged:
                error = nets.DivergenceError(*self.diverged[m])
                outcomes.append(MemberOutcome(record=None, message=str(error), skipped=skipped))
            else:
                outcomes.append(MemberOutcome(record=record_of(plan, model.eval(), self.histories[m]), skipped=skipped))
        return outcomes

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Everything that resumes the run after an epoch: tensors and JSON values."""
        tensors, members = {}, []
        for m, (model, step, stopper) in enumerate(zip(self.models, self.steps, self.stoppers)):
            tensors.update({f"m{m}/model/{k}": v for k, v in model.state_dict().items()})
            tensors.update({f"m{m}/step/{k}": v for k, v in step.state_dict().items()})
            if stopper is not None and stopper.best_state_ is not None:
                tensors.update({f"m{m}/best/{k}": v for k, v in stopper.best_state_.items()})
            members.append({"history": self.histories[m].to_dict(), "active": self.active[m],
                            "diverged": self.diverged.get(m),
                            "stopper": None if stopper is None else
                            {"best": stopper.best_, "best_epoch": stopper.best_epoch_, "wait": stopper.wait_}})
        return tensors, {"steps_done": self.steps_done, "skipped": sorted(self.source.skipped), "members": members}

    def restore(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        """Load :meth:`state` back into freshly built members."""
        self.steps_done = int(meta["steps_done"])
        self.source.skipped.update(int(i) for i in meta["skipped"])
        for m, (model, step, stopper) in enumerate(zip(self.models, self.steps, self.stoppers)):
            model.load_state_dict(_part(tensors, m, "model"))
            step.load_state_dict(_part(tensors, m, "step"))
            member = meta["members"][m]
            self.histories[m] = nets.History.from_dict(member["history"])
            self.active[m] = bool(member["active"])
            if member["diverged"] is not None:
                self.diverged[m] = (int(member["diverged"][0]), float(member["diverged"][1]))
            if stopper is not None:
                saved = member["stopper"]
                stopper.best_, stopper.best_epoch_, stopper.wait_ = float(saved["best"]), saved["best_epoch"], saved["wait"]
                stopper.best_state_ = _part(tensors, m, "best") or None


def _part(tensors: dict[str, torch.Tensor], m: int, kind: str) -> dict[str, torch.Tensor]:
    """Member ``m``'s tensors of one ``kind`` in :meth:`_StreamMembers.state`, keys unprefixed."""
    prefix = f"m{m}/{kind}/"
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def train_stream(plans: list[MemberPlan], source: StreamSource, setup: TrainSetup,
                 on_epoch_end: EpochEnd | None = None) -> dict[int, MemberOutcome]:
    """Train the members of ``plans`` together on ``source`` (see the module docstring).

    Parameters
    ----------
    plans : list of MemberPlan
        The members; their bags weigh the rows (:func:`ensemble.engine.plans.row_weights`).
    source : StreamSource
        The photos, with labels.
    setup : TrainSetup
        Shared by the members; its ``config.augment`` is what runs on collated batches, its
        ``stream_seed`` draws each epoch's order and crops; with ``checkpoint_dir`` the state is
        saved after every epoch, resumed from the last one, and the finished members saved.
    on_epoch_end : callable, optional
        ``on_epoch_end(epoch, models)`` after each epoch, with the members' current weights.

    Returns
    -------
    dict
        Member index -> :class:`~ensemble.engine.members.MemberOutcome` (with the rows the
        stream skipped).

    Raises
    ------
    MemberFailedError
        Naming every member trained here, when anything but a bad image or divergence fails.
    """
    for plan in plans:
        write_marker(setup.markers_dir, plan.index)
    checkpoint = EpochCheckpoint(setup.checkpoint_dir, [p.index for p in plans]) if setup.checkpoint_dir else None
    try:
        with torch_threads(setup.threads):
            members = _StreamMembers(plans, source, setup)
            start = 0
            saved = checkpoint.load() if checkpoint is not None else None
            if saved is None:
                members.initialise_from_data()
            else:
                epoch, tensors, meta = saved
                members.restore(tensors, meta)
                start = epoch + 1
            bar = tqdm(total=members.n_epochs, initial=start, desc="epochs", unit="epoch",
                       disable=not source.progress or None)
            for epoch in range(start, members.n_epochs):
                if not any(members.active):
                    break
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(_seed(setup.stream_seed, epoch))  # torch-RNG dropout and the like
                    members.train_epoch(epoch)
                if on_epoch_end is not None:
                    on_epoch_end(epoch, members.models)
                if checkpoint is not None:
                    checkpoint.save(epoch, *members.state())
                losses = [h.loss[-1] for h, a in zip(members.histories, members.active) if a and h.loss]
                bar.set_postfix_str(f"mean loss {np.mean(losses):.4f}" if losses else "", refresh=False)
                bar.update()
            bar.close()
            outcomes = members.finish()
    except BadImageError:
        raise  # names the file already
    except Exception as e:
        others = ", ".join(str(p.index) for p in plans[1:])
        raise MemberFailedError(f"member {plans[0].index} failed (trained together with members {others or 'none'}): "
                                f"{e.__class__.__name__}: {e}\n{traceback.format_exc()}",
                                [p.index for p in plans]) from None
    if setup.checkpoint_dir:
        for outcome in outcomes:
            if outcome.record is not None:
                save_member(Path(setup.checkpoint_dir), outcome.record)
        checkpoint.clear()
    return {plan.index: outcome for plan, outcome in zip(plans, outcomes)}
