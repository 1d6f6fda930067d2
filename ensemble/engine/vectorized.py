"""The vectorised engine: every member of a chunk trains in one forward/backward per step.

A small CNN's kernels leave a GPU mostly idle; stacking the members' weights
(``torch.func.stack_module_state``) and running them as one wide model turns ``k`` small
models into one. The chunk trains in :func:`nets.loop.train_members`, the loop and step of
:func:`nets.fit` itself, so each member keeps what makes it a member:

- its own minibatches: member ``k``'s generator draws the same permutations that
  :func:`nets.fit` would draw for it alone, over its own bag of rows;
- its own dropout masks: :func:`nets.set_dropout_seed` makes masks a pure function of the
  member's seed buffer and step counter, so they are the same inside vmap and alone;
- its own BatchNorm statistics (stacked buffers, updated in place);
- its own optimiser state (the updates of :mod:`nets.optim` are element-wise, so one
  optimiser over stacked parameters is ``k`` independent optimisers), early stopping,
  snapshot and Algorithm-2 BatchNorm statistics, and the networks an ensemble from one run
  takes from its trajectory (:mod:`nets.snapshots`).

Without augmentation a member trained here equals the same member trained alone by
:func:`nets.fit` up to float rounding (tested). Augmentation parameters are drawn for all
members' minibatches in one batched call from a stream seeded by the chunk's first member,
so with augmentation members differ from their solo runs in which augmentations they see
(a label-mixing augmentation is called once per member, mixing a member's images only with
its own).

Two strategies, the estimator's ``engine="vmap"`` and ``engine="grouped"``
(``TrainSetup.strategy``), run the forward pass over the same stacked tensors:
``"vmap"`` (``vmap(functional_call(...))``) and ``"grouped"`` (:mod:`ensemble.engine.grouped`: the
members' activations packed along channels, convolutions grouped, no vmap). Both train the
same members up to float rounding (tested); which is faster depends on the device
(``benchmarks/gpu.py`` measures both). With ``channels_last`` the stacked convolution
weights are laid out so that every member's slice (and the grouped strategy's packed weight)
is channels-last, and so are the batches.
"""
from __future__ import annotations

import copy
import gc
import math
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

import nets
from nets.batches import inference_batch_size, initialise_from_data, set_memory_format, to_float_batch
from nets.batchnorm import cumulative_counters, normalisation_parameters
from nets.loop import train_members

from .grouped import check_packing, pack_input, pack_model, packed_tensors, unpack_output
from .members import MemberOutcome, TrainSetup, build_member, outcome_of, with_runs_left
from .plans import MemberPlan
from .storage import save_member

__all__ = ["train_vectorized", "StackedMembers"]


def train_vectorized(plans: list[MemberPlan], X: np.ndarray, y: np.ndarray, setup: TrainSetup,
                     members_per_chunk: int | None = None,
                     on_member_done: Callable[[int], None] | None = None) -> dict[int, MemberOutcome]:
    """Train ``plans`` in chunks of ``members_per_chunk`` (all at once by default).

    Without ``members_per_chunk``, a chunk that runs out of device memory is retried with half
    its members (with a warning) until it fits; members are a function of their seeds, so the
    retried ones are the members the larger chunk would have trained, up to the augmentation
    draws, which come from a stream per chunk.

    Members whose bags differ in size train in separate chunks (a vectorised step needs equal
    batch counts). Chunks train one after another, each in its share of ``setup.deadline``
    (whose ``runs_left - 1`` other units train after these members). Returns outcomes by member
    index; each finished member is saved to ``setup.checkpoint_dir`` as soon as its chunk ends.
    """
    device = setup.config.device
    X = np.asarray(X)
    X_dev = torch.as_tensor(X if X.flags.writeable else X.copy()).to(device)  # joblib hands workers read-only maps
    y_dev = torch.as_tensor(np.asarray(y)).to(device)
    by_size: dict[int, list[MemberPlan]] = {}
    for plan in plans:
        by_size.setdefault(len(plan.train_indices), []).append(plan)
    outcomes: dict[int, MemberOutcome] = {}
    later = setup.deadline.runs_left - 1 if setup.deadline is not None else 0
    for group in by_size.values():
        pending = list(group)
        step = members_per_chunk or len(group)
        while pending:
            chunk = pending[:step]
            try:
                left = len(plans) - len(outcomes)
                trained = _train_chunk(chunk, X_dev, y_dev, with_runs_left(setup, later + math.ceil(left / len(chunk))))
            except torch.OutOfMemoryError:
                if members_per_chunk is not None or len(chunk) == 1:
                    raise  # a chunk size the caller chose, or one member alone: nothing smaller to try
                step = len(chunk) // 2
                _release_memory(device)
                warnings.warn(f"{len(chunk)} members did not fit in {device}'s memory together; "
                              f"training them {step} at a time (set members_per_chunk to choose)", stacklevel=2)
                continue
            pending = pending[len(chunk):]
            for plan, outcome in zip(chunk, trained):
                for record in outcome.records if setup.checkpoint_dir else ():
                    save_member(setup.checkpoint_dir, record)
                outcomes[plan.index] = outcome
                if on_member_done is not None:
                    on_member_done(plan.index)
    return outcomes


def _release_memory(device: torch.device) -> None:
    """Hand the failed chunk's cached blocks back before a smaller chunk starts."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _stacked_layout(t: torch.Tensor, memory_format: torch.memory_format) -> torch.Tensor:
    """A leaf copy of stacked k x O x I x kh x kw convolution weights whose member slices, and
    their (k*O) x I x kh x kw view, are in ``memory_format``."""
    if t.dim() != 5 or memory_format != torch.channels_last:
        return t
    _, o, i, kh, kw = t.shape
    out = torch.empty_strided(t.shape, (o * i * kh * kw, i * kh * kw, 1, kw * i, i), dtype=t.dtype, device=t.device)
    return out.copy_(t.detach()).requires_grad_(t.requires_grad)


class StackedMembers:
    """:class:`nets.loop.Members` for ``k`` models of one architecture stacked into one.

    Parameters
    ----------
    models : list of nn.Module
        The k members (same architecture), on the training device, in ``memory_format``.
        They stay the members' own modules: :meth:`member` copies member m's slice back.
    strategy : {"vmap", "grouped"}
        How one forward runs all members.
    memory_format : torch.memory_format
        Layout of 4-d batches and convolution weights.
    probe : torch.Tensor
        A small float input batch; the grouped strategy checks its packing on it.
    """

    def __init__(self, models: list[nn.Module], strategy: str, memory_format: torch.memory_format,
                 probe: torch.Tensor) -> None:
        self.models, self.size, self.memory_format = models, len(models), memory_format
        params, self.buffers = stack_module_state(models)
        self.params = {name: _stacked_layout(p, memory_format) for name, p in params.items()}
        self._base = copy.deepcopy(models[0]).to("meta")
        ids = {id(p) for p in nets.decay_parameters(models[0])}
        self._decayed = [name for name, p in models[0].named_parameters() if id(p) in ids]
        ids = {id(p) for p in normalisation_parameters(models[0])}
        self._normalisation = [name for name, p in models[0].named_parameters() if id(p) in ids]
        k = self.size
        if strategy == "grouped":  # activations packed along channels: no vmap at all
            self.net = pack_model(models[0], k)
            check_packing(models[0], self.net, self.params, self.buffers, probe)

            def batched(p, b, x):
                state = packed_tensors(self.net, {**p, **b})
                return unpack_output(functional_call(self.net, state, (pack_input(x, memory_format),)), k)

            self._batched = batched
            self._shared_input = lambda p, b, x: batched(p, b, x.unsqueeze(0).expand(k, *x.shape))
        else:
            self.net = self._base

            def forward(p, b, x):
                return functional_call(self._base, (p, b), (x,))

            self._batched = vmap(forward, in_dims=(0, 0, 0), randomness="different")
            self._shared_input = vmap(forward, in_dims=(0, 0, None), randomness="different")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._batched(self.params, self.buffers, x.view(self.size, -1, *x.shape[1:]))

    def parameter_groups(self) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        decayed, normalisation = set(self._decayed), set(self._normalisation)
        return ([t for n, t in self.params.items() if n in decayed],
                [t for n, t in self.params.items() if n in normalisation],
                [t for n, t in self.params.items() if n not in decayed and n not in normalisation])

    def train(self, mode: bool = True) -> None:
        self.net.train(mode)

    def restart_statistics(self) -> None:
        for name in cumulative_counters(self.models[0]):
            self.buffers[name].zero_()

    @torch.no_grad()
    def member(self, m: int) -> nn.Module:
        model = self.models[m]
        for name, t in model.named_parameters():
            t.copy_(self.params[name][m])
        for name, t in model.named_buffers():
            t.copy_(self.buffers[name][m])
        return model

    @torch.no_grad()
    def validate(self, X: torch.Tensor, y: torch.Tensor, rows: torch.Tensor, positions: list[torch.Tensor | None],
                 normalize) -> tuple[list[float | None], list[float | None]]:
        """Each member's mean cross-entropy and accuracy on its own validation rows, in eval mode.

        All members see every row that some member validates on (one pass with a shared
        input); member m's figures are then taken over its own rows ``rows[positions[m]]``
        (None for a member without validation rows).
        """
        step = inference_batch_size(X.device)
        logits = torch.cat([self._shared_input(self.params, self.buffers,
                                               to_float_batch(X[rows[i:i + step]], normalize=normalize,
                                                              memory_format=self.memory_format))
                            for i in range(0, len(rows), step)], dim=1).float()
        labels = y[rows]
        losses, accs = [], []
        for m, idx in enumerate(positions):
            if idx is None:
                losses.append(None)
                accs.append(None)
                continue
            losses.append(F.cross_entropy(logits[m, idx], labels[idx]).item())
            accs.append((logits[m, idx].argmax(1) == labels[idx]).float().mean().item())
        return losses, accs


def _validation_rows(plans: list[MemberPlan], use: list[bool],
                     device: torch.device) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """The union of the validating members' rows, and each member's positions in it."""
    rows = np.unique(np.concatenate([p.val_indices for p, u in zip(plans, use) if u]))
    positions = [torch.as_tensor(np.searchsorted(rows, p.val_indices), device=device) if u else None
                 for p, u in zip(plans, use)]
    return torch.as_tensor(rows, device=device), positions


def _train_chunk(plans: list[MemberPlan], X: torch.Tensor, y: torch.Tensor, setup: TrainSetup) -> list[MemberOutcome]:
    config, device = setup.config, setup.config.device
    models = [build_member(setup, p.seed).to(device) for p in plans]
    for model, plan in zip(models, plans):
        memory_format = set_memory_format(model, config.channels_last)
        rows = torch.as_tensor(plan.train_indices, device=X.device)
        initialise_from_data(model, X[rows], config.normalize, memory_format)  # as nets.fit does
    probe = to_float_batch(X[:min(4, len(X))], normalize=config.normalize, memory_format=memory_format)
    members = StackedMembers(models, setup.strategy, memory_format, probe)
    use_val = [setup.early_stopping and len(p.val_indices) > 0 for p in plans]
    stoppers = [nets.EarlyStopping(monitor="val_loss", patience=setup.patience) if u else None for u in use_val]
    validate = None
    if any(use_val):
        rows, positions = _validation_rows(plans, use_val, device)
        validate = lambda: members.validate(X, y, rows, positions, config.normalize)
    aug_generator = torch.Generator(device=device if config.augment is not None and device.type == "cuda" else "cpu")
    aug_generator.manual_seed(plans[0].seed)
    results = train_members(
        members, X, y, config, generators=[torch.Generator().manual_seed(p.seed) for p in plans],
        n_classes=setup.n_classes,
        train_rows=torch.stack([torch.as_tensor(p.train_indices, dtype=torch.long) for p in plans]).to(device),
        augment_generator=aug_generator, validate=validate, stoppers=stoppers, pace=setup.deadline)
    outcomes = []
    for plan, result in zip(plans, results):
        if result.model is None:
            error = nets.DivergenceError(result.diverged_epoch, result.diverged_loss)
            outcomes.append(MemberOutcome(record=None, message=str(error)))
        else:
            outcomes.append(outcome_of(plan, result.snapshots or [result.model], result.history))
    return outcomes
