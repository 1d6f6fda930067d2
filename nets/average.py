"""Look-ahead weight averaging (Zhang et al. 2019's look-ahead, in the EMA form of hlb-CIFAR10 and
airbench94).

Every ``every`` steps from ``start`` (a fraction of training) on, an exponential moving average
of the weights takes a step towards them, ``A <- rho A + (1 - rho) W``, and the weights jump back
to it, ``W <- A``: the fast weights explore for ``every`` steps, the slow average keeps what they
agree on. The decay warms up with training, ``rho_t = decay^every * (t / T)^power``, so early on
the average follows the weights and at the end it averages strongly. airbench94's settings are
the defaults (every 5 steps, decay 0.95, power 3), except that by default the averaging starts at
30% of training (``start=0.3``), from the weights of the first due step at or after
``start * T``. airbench itself averages from the first step: with ``start=0`` the average starts
as the initial weights, and at step t = 5, 10, ... it is airbench's ``LookaheadState`` after
``update(net, decay=rho_t)``.

It works on any list of leaf tensors: one model's parameters, or the stacked k x ... parameters
of the vectorised ensemble engine (the update is element-wise, so one average over stacked
tensors is k independent ones).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["Lookahead"]


@dataclass
class Lookahead:
    """The slow average of ``tensors`` (float leaf tensors, updated in place).

    Parameters
    ----------
    tensors : sequence of torch.Tensor
        The weights (their values at construction start the average).
    total_steps : int
        T, the length of training in steps.
    every, decay, power, start : int, float, float, float
        See the module docstring.
    """

    tensors: Sequence[torch.Tensor]
    total_steps: int
    every: int = 5
    decay: float = 0.95
    power: float = 3.0
    start: float = 0.3

    def __post_init__(self) -> None:
        self.tensors = list(self.tensors)
        self.average: list[torch.Tensor] | None = None
        if self.start == 0:
            self.average = [t.detach().clone() for t in self.tensors]

    @torch.no_grad()
    def step(self, steps_done: int, progress: float | None = None) -> None:
        """After optimiser step number ``steps_done`` (1-based): average and jump back when due.
        ``progress``: t / T in [0, 1], ``steps_done / total_steps`` unless given (a re-planned
        horizon's, :meth:`nets.step.TrainStep.progress`)."""
        if progress is None:
            progress = steps_done / self.total_steps
        if progress < self.start or steps_done % self.every:
            return
        if self.average is None:  # a later start: the average starts from the weights then
            self.average = [t.detach().clone() for t in self.tensors]
            return
        rho = self.decay ** self.every * progress ** self.power
        torch._foreach_lerp_(self.average, self.tensors, 1 - rho)  # A <- rho A + (1 - rho) W
        torch._foreach_copy_(self.tensors, self.average)  # W <- A

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The average, keyed by the tensors' positions (empty before averaging starts)."""
        return {str(i): a for i, a in enumerate(self.average or [])}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state_dict`'s average."""
        self.average = [state[str(i)].to(t).clone() for i, t in enumerate(self.tensors)] if state else None

    @torch.no_grad()
    def settle(self) -> None:
        """Make the weights the average (at the end of an epoch, and so of training)."""
        if self.average is not None:
            torch._foreach_copy_(self.tensors, self.average)
