"""The vectorised engine: every member of a chunk trains in one forward/backward per step.

A small CNN's kernels leave a GPU mostly idle; stacking the members' weights
(``torch.func.stack_module_state``) and running ``vmap(functional_call(...))`` turns ``k``
small models into one wide one. Each member keeps what makes it a member:

- its own minibatches: member ``k``'s generator draws the same permutations that
  :func:`nets.fit` would draw for it alone, over its own bag of rows;
- its own dropout masks: :func:`nets.set_dropout_seed` makes masks a pure function of the
  member's seed buffer and step counter, so they are the same inside vmap and alone;
- its own BatchNorm statistics (stacked buffers, updated in place under vmap);
- its own optimiser state (SGD/Adam are element-wise, so one optimiser over stacked
  parameters is ``k`` independent optimisers) and its own early-stopping snapshot.

Without augmentation a member trained here equals the same member trained alone by
:func:`nets.fit` up to float rounding (tested). Augmentation parameters are drawn for all
members' minibatches in one batched call from a stream seeded by the chunk's first member,
so with augmentation members differ from their solo runs in which augmentations they see.

Two strategies run the forward pass over the same stacked tensors (``TrainSetup.vectorize``):
``"vmap"`` (``vmap(functional_call(...))``) and ``"grouped"`` (:mod:`ensemble.grouped`: the
members' activations packed along channels, convolutions grouped, no vmap). Both train the
same members up to float rounding (tested); which is faster depends on the device
(``benchmarks/gpu.py`` measures both).
"""
from __future__ import annotations

import copy
import gc
import math
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

import nets
from nets.train import autocast, lr_factor, population_batches

from .grouped import check_packing, pack_input, pack_model, packed_tensors, unpack_output
from .members import MemberOutcome, MemberPlan, TrainSetup, build_member
from .storage import MemberRecord, save_member

__all__ = ["train_vectorized"]


def train_vectorized(plans: list[MemberPlan], X: np.ndarray, y: np.ndarray, setup: TrainSetup,
                     members_per_chunk: int | None = None,
                     on_member_done: Callable[[int], None] | None = None) -> dict[int, MemberOutcome]:
    """Train ``plans`` in chunks of ``members_per_chunk`` (all at once by default).

    Without ``members_per_chunk``, a chunk that runs out of device memory is retried with half
    its members (with a warning) until it fits; members are a function of their seeds, so the
    retried ones are the members the larger chunk would have trained, up to the augmentation
    draws, which come from a stream per chunk.

    Members whose bags differ in size train in separate chunks (a vmapped step needs equal
    batch counts). Returns outcomes by member index; each finished member is saved to
    ``setup.checkpoint_dir`` as soon as its chunk ends.
    """
    kw = setup.fit_kwargs
    device = torch.device(kw.get("device", "cpu"))
    X = np.asarray(X)
    X_dev = torch.as_tensor(X if X.flags.writeable else X.copy()).to(device)  # joblib hands workers read-only maps
    y_dev = torch.as_tensor(np.asarray(y)).to(device)
    by_size: dict[int, list[MemberPlan]] = {}
    for plan in plans:
        by_size.setdefault(len(plan.train_indices), []).append(plan)
    outcomes: dict[int, MemberOutcome] = {}
    for group in by_size.values():
        pending = list(group)
        step = members_per_chunk or len(group)
        while pending:
            chunk = pending[:step]
            try:
                trained = _train_chunk(chunk, X_dev, y_dev, setup, device)
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
                if outcome.record is not None and setup.checkpoint_dir:
                    save_member(setup.checkpoint_dir, outcome.record)
                outcomes[plan.index] = outcome
                if on_member_done is not None:
                    on_member_done(plan.index)
    return outcomes


def _release_memory(device: torch.device) -> None:
    """Hand the failed chunk's cached blocks back before a smaller chunk starts."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _train_chunk(plans: list[MemberPlan], X: torch.Tensor, y: torch.Tensor, setup: TrainSetup,
                 device: torch.device) -> list[MemberOutcome]:
    kw = setup.fit_kwargs
    epochs, batch_size, lr = kw["epochs"], kw["batch_size"], kw["lr"]
    schedule = kw.get("lr_schedule", "constant")
    normalize, augment = kw.get("normalize"), kw.get("augment")
    smoothing, precision = kw.get("label_smoothing", 0.0), kw.get("precision", "float32")
    k = len(plans)
    models = [build_member(setup, p.seed).to(device) for p in plans]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    base.train()

    if setup.vectorize == "grouped":  # activations packed along channels: no vmap at all
        net = pack_model(models[0], k)
        probe = nets.to_float_batch(X[:min(4, len(X))], normalize=normalize)
        check_packing(models[0], net, params, buffers, probe)

        def batched(p, b, x):
            return unpack_output(functional_call(net, packed_tensors(net, {**p, **b}), (pack_input(x),)), k)

        def shared_input(p, b, x):
            return batched(p, b, x.unsqueeze(0).expand(k, *x.shape))
    else:
        net = base

        def forward(p, b, x):
            return functional_call(base, (p, b), (x,))

        batched = vmap(forward, in_dims=(0, 0, 0), randomness="different")
        shared_input = vmap(forward, in_dims=(0, 0, None), randomness="different")
    optimizer = _stacked_optimizer(models[0], params, kw)
    decayed = _decayed_names(models[0])
    # Per member, the same stream nets.fit would use: one draw seeds torch's RNG, then permutations.
    generators = [torch.Generator().manual_seed(p.seed) for p in plans]
    for g in generators:
        torch.randint(2**62, (1,), generator=g)
    aug_generator = torch.Generator(device=device if augment is not None and device.type == "cuda" else "cpu")
    aug_generator.manual_seed(plans[0].seed)
    train_rows = torch.stack([torch.as_tensor(p.train_indices, dtype=torch.long) for p in plans]).to(device)
    n = train_rows.shape[1]
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = epochs * steps_per_epoch
    stoppers = [nets.EarlyStopping(monitor="val_loss", patience=setup.patience)
                if setup.early_stopping and len(p.val_indices) else None for p in plans]
    val_rows = _validation_rows(plans, stoppers, X.device)
    histories = [nets.History() for _ in plans]
    diverged: dict[int, int] = {}
    active = [True] * k
    step = 0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        _restart_population_statistics(base, buffers)
        orders = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(device)
        loss_sum = torch.zeros(k, device=device)
        correct = torch.zeros(k, device=device)
        for i in range(0, n, batch_size):
            rows = torch.gather(train_rows, 1, orders[:, i:i + batch_size])  # k x B global row indices
            xb = nets.to_float_batch(X[rows.flatten()], augment, aug_generator, normalize)
            xb = xb.reshape(k, -1, *xb.shape[1:])
            yb = y[rows]
            with autocast(device, precision):
                logits = batched(params, buffers, xb)  # k x B x classes
            per_member = F.cross_entropy(logits.flatten(0, 1).float(), yb.flatten(), reduction="none",
                                         label_smoothing=smoothing).view(k, -1).mean(1)
            loss = per_member.sum()  # member k's gradient is that of its own mean loss
            if kw.get("l1", 0.0) > 0:
                loss = loss + kw["l1"] * sum(params[name].abs().sum() for name in decayed)
            factor = lr * lr_factor(schedule, step, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = factor
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if kw.get("decoupled_weight_decay") and kw.get("weight_decay", 0.0) > 0:
                with torch.no_grad():
                    for name in decayed:
                        params[name].mul_(1 - factor * kw["weight_decay"])
            optimizer.step()
            loss_sum += per_member.detach() * rows.shape[1]
            correct += (logits.argmax(-1) == yb).sum(1)
            step += 1
        epoch_loss = (loss_sum / n).tolist()
        seconds = time.perf_counter() - t0
        val_losses = _validation_losses(shared_input, params, buffers, X, y, val_rows, normalize, net)
        for m in range(k):
            if not active[m]:
                continue
            if not math.isfinite(epoch_loss[m]):
                diverged[m] = epoch
                active[m] = False
                continue
            history = histories[m]
            history.loss.append(epoch_loss[m])
            history.acc.append(correct[m].item() / n)
            history.seconds.append(seconds)
            if stoppers[m] is not None:
                history.val_loss.append(val_losses[m])
                _load_member_state(models[m], params, buffers, m)
                if stoppers[m].step(epoch, val_losses[m], models[m]) and epoch < epochs - 1:
                    history.stopped_epoch = epoch
                    active[m] = False
        if not any(active):
            break
    outcomes = []
    for m, plan in enumerate(plans):
        if m in diverged:
            error = nets.DivergenceError(diverged[m], float("nan"))
            outcomes.append(MemberOutcome(record=None, diverged_epoch=diverged[m], message=str(error)))
            continue
        if stoppers[m] is None or histories[m].stopped_epoch is None:
            _load_member_state(models[m], params, buffers, m)
        if stoppers[m] is not None:
            stoppers[m].restore(models[m])
            histories[m].best_epoch = stoppers[m].best_epoch_
        if nets.has_exact_batch_norm(models[m]):  # as nets.fit: statistics of the final weights
            nets.recompute_population_statistics(models[m], population_batches(
                X[torch.as_tensor(plan.train_indices, device=X.device)], batch_size, normalize))
        state = {name: t.detach().cpu().clone() for name, t in models[m].state_dict().items()}
        outcomes.append(MemberOutcome(record=MemberRecord(
            index=plan.index, seed=plan.seed, state=state, train_indices=plan.train_indices,
            val_indices=plan.val_indices, history=histories[m].to_dict())))
    return outcomes


def _restart_population_statistics(base: torch.nn.Module, buffers: dict[str, torch.Tensor]) -> None:
    """nets.restart_population_statistics on the stacked buffers (as nets.fit does each epoch)."""
    for name, module in base.named_modules():
        if isinstance(module, nets.BatchNorm1d | nets.BatchNorm2d) and module.stats == "exact":
            buffers[f"{name}.num_batches_tracked"].zero_()


def _decayed_names(model: torch.nn.Module) -> list[str]:
    ids = {id(p) for p in nets.decay_parameters(model)}
    return [name for name, p in model.named_parameters() if id(p) in ids]


def _stacked_optimizer(model: torch.nn.Module, params: dict[str, torch.Tensor], kw: dict) -> torch.optim.Optimizer:
    """The optimiser nets.fit builds, over stacked parameters (element-wise, so per member)."""
    decayed = set(_decayed_names(model))
    coupled = 0.0 if kw.get("decoupled_weight_decay") else kw.get("weight_decay", 0.0)
    groups = [{"params": [params[n] for n in params if n in decayed], "weight_decay": coupled},
              {"params": [params[n] for n in params if n not in decayed], "weight_decay": 0.0}]
    momentum = kw.get("momentum", 0.9)
    if kw.get("optimizer", "sgd") == "sgd":
        return torch.optim.SGD(groups, lr=kw["lr"], momentum=momentum, nesterov=kw.get("nesterov", True) and momentum > 0)
    return torch.optim.Adam(groups, lr=kw["lr"])


def _load_member_state(model: torch.nn.Module, params: dict, buffers: dict, m: int) -> None:
    with torch.no_grad():
        for name, t in model.named_parameters():
            t.copy_(params[name][m])
        for name, t in model.named_buffers():
            t.copy_(buffers[name][m])


def _validation_rows(plans, stoppers, device) -> tuple[torch.Tensor, list[torch.Tensor | None]] | None:
    """The union of the members' validation rows, and each member's positions in it."""
    if not any(s is not None for s in stoppers):
        return None
    rows = np.unique(np.concatenate([p.val_indices for p, s in zip(plans, stoppers) if s is not None]))
    positions = [torch.as_tensor(np.searchsorted(rows, p.val_indices), device=device) if s is not None else None
                 for p, s in zip(plans, stoppers)]
    return torch.as_tensor(rows, device=device), positions


@torch.no_grad()
def _validation_losses(shared_input, params, buffers, X, y, val_rows, normalize, net) -> list[float]:
    """Each member's mean cross-entropy on its own validation rows, in eval mode.

    All members see every row that some member validates on (one vmapped pass with a shared
    input); each member's loss is then taken over its own rows only.
    """
    if val_rows is None:
        return [math.nan] * len(next(iter(params.values())))
    rows, positions = val_rows
    net.eval()
    try:
        logits = torch.cat([shared_input(params, buffers, nets.to_float_batch(X[rows[i:i + 1024]], normalize=normalize))
                            for i in range(0, len(rows), 1024)], dim=1)
    finally:
        net.train()
    labels = y[rows]
    return [math.nan if idx is None else F.cross_entropy(logits[m, idx], labels[idx]).item()
            for m, idx in enumerate(positions)]
