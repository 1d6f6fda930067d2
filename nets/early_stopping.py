"""Early stopping: watch a validation metric, keep the best snapshot, restore it at the end."""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from conventions import check_choice, check_int

_MONITORS = {"val_loss": "min", "val_acc": "max"}


class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``fit`` calls :meth:`reset`, then :meth:`step` after every epoch and :meth:`restore` at the
    end. The snapshot is a deep copy of ``model.state_dict()``: weights AND buffers
    (BatchNorm running statistics, dropout counters). Learned state: ``best_`` (float),
    ``best_epoch_`` (int, 0-based), ``wait_`` (epochs since the last improvement), ``best_state_``
    (the snapshot: a state dict of tensors, None until an epoch improves).

    Parameters
    ----------
    monitor : {"val_loss", "val_acc"}
        The validation metric watched: the loss is minimised, the accuracy maximised.
    patience : int
        Epochs without improvement before stopping, >= 1.
    min_delta : float
        The smallest change that counts as an improvement, >= 0.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0) -> None:
        check_choice(monitor, "monitor", tuple(_MONITORS))
        check_int(patience, "patience", minimum=1)
        if not min_delta >= 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.reset()

    def reset(self) -> None:
        """Forget the best value and snapshot (called at the start of every fit)."""
        self.best_ = math.inf if _MONITORS[self.monitor] == "min" else -math.inf
        self.best_epoch_: int | None = None
        self.wait_ = 0
        self.best_state_: dict[str, torch.Tensor] | None = None

    def _improved(self, value: float) -> bool:
        if _MONITORS[self.monitor] == "min":
            return value < self.best_ - self.min_delta
        return value > self.best_ + self.min_delta

    def step(self, epoch: int, value: float, model: nn.Module) -> bool:
        """Record an epoch's metric, and snapshot the model when it improved.

        Parameters
        ----------
        epoch : int
            The epoch (0-based).
        value : float
            Its value of ``monitor``.
        model : torch.nn.Module
            The network, snapshotted on improvement.

        Returns
        -------
        bool
            True when training should stop: ``patience`` epochs without improvement.
        """
        if self._improved(value):
            self.best_, self.best_epoch_, self.wait_ = value, epoch, 0
            self.best_state_ = copy.deepcopy(model.state_dict())
            return False
        self.wait_ += 1
        return self.wait_ >= self.patience

    def restore(self, model: nn.Module) -> nn.Module:
        """Load the best snapshot (if any epoch improved) into ``model``.

        Parameters
        ----------
        model : torch.nn.Module
            The network the snapshot was taken from.

        Returns
        -------
        torch.nn.Module
            ``model`` itself.
        """
        if self.best_state_ is not None:
            model.load_state_dict(self.best_state_)
        return model
