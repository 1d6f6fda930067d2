"""SGD with (Nesterov) momentum and Adam: torch.optim's update rules, on lists of tensors.

Why not ``torch.optim``: its first use in a process imports ``torch._dynamo`` (2.5-5 s on a
2-core machine), which every joblib/dask worker of an ensemble would pay again. These are the
same formulas in the same operation order as ``torch.optim.SGD(dampening=0)`` and
``torch.optim.Adam`` (equal within float rounding, tested), written with torch's ``_foreach``
kernels, so one call updates every tensor. They work on any leaf tensors: a model's
parameters, or the stacked k x ... parameters of the vectorised ensemble engine (both
updates are element-wise, so one optimiser over stacked tensors is k independent ones).

A parameter group is ``(tensors, weight_decay)`` or ``(tensors, weight_decay, lr_scale)``:
coupled L2 decay adds ``weight_decay * W`` to the gradient of those tensors (the gradient of
(wd / 2) ||W||^2), and the group steps with ``lr_scale * lr`` (1 by default; airbench trains
BatchNorm shifts 64 times faster than the weights).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

ParamGroup = tuple[Sequence[torch.Tensor], float] | tuple[Sequence[torch.Tensor], float, float]

__all__ = ["SGD", "Adam", "ParamGroup"]


class _Optimizer:
    """Shared body: parameter groups, ``zero_grad``, and the decayed gradients of a step.

    As in ``torch.optim``, a tensor whose gradient is None (unused in the last backward) is
    skipped by the step: no decay, no momentum.
    """

    def __init__(self, groups: Sequence[ParamGroup]) -> None:
        self.groups = [([t for t in group[0] if t.requires_grad], float(group[1]),
                        float(group[2]) if len(group) > 2 else 1.0) for group in groups]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    def _tensors(self) -> list[torch.Tensor]:
        return [t for tensors, _, _ in self.groups for t in tensors]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The per-tensor state (momentum buffers; Adam's moments and step counts as 0-d int64
        tensors), keyed ``"<position>.<name>"`` by the tensor's position in the groups."""
        out = {}
        for i, t in enumerate(self._tensors()):
            for name, value in self.state.get(t, {}).items():
                out[f"{i}.{name}"] = value if isinstance(value, torch.Tensor) else torch.tensor(value)
        return out

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state_dict`'s state onto the same tensors (a rebuilt model's, in order)."""
        tensors = self._tensors()
        self.state = {}
        for key, value in state.items():
            position, name = key.split(".", 1)
            t = tensors[int(position)]
            self.state.setdefault(t, {})[name] = int(value) if value.dim() == 0 and name == "t" else \
                value.to(device=t.device, dtype=t.dtype).clone()

    def zero_grad(self) -> None:
        """Drop every gradient (set to None, as ``torch.optim``'s default)."""
        for tensors, _, _ in self.groups:
            for t in tensors:
                t.grad = None

    def _with_gradients(self) -> list[tuple[list[torch.Tensor], list[torch.Tensor], float]]:
        """Per group: the tensors that have a gradient, their gradients g + wd W, the lr scale."""
        out = []
        for tensors, decay, scale in self.groups:
            live = [t for t in tensors if t.grad is not None]
            if live:
                grads = [t.grad for t in live]
                out.append((live, torch._foreach_add(grads, live, alpha=decay) if decay else grads, scale))
        return out


class SGD(_Optimizer):
    """Stochastic gradient descent with momentum mu and optional Nesterov look-ahead.

    buf <- mu buf + g (buf = g at the first step); step direction d = g + mu buf (Nesterov)
    or buf; W <- W - lr d. ``momentum=0`` is plain SGD: W <- W - lr g.
    """

    def __init__(self, groups: Sequence[ParamGroup], momentum: float = 0.9, nesterov: bool = True) -> None:
        super().__init__(groups)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov) and momentum > 0

    @torch.no_grad()
    def step(self, lr: float) -> None:
        """One update of every tensor with learning rate ``lr``."""
        for tensors, grads, scale in self._with_gradients():
            if self.momentum:
                known = [(self.state[t]["momentum"], g) for t, g in zip(tensors, grads) if t in self.state]
                if known:
                    buffers, known_grads = (list(z) for z in zip(*known))
                    torch._foreach_mul_(buffers, self.momentum)
                    torch._foreach_add_(buffers, known_grads)
                for t, g in zip(tensors, grads):
                    if t not in self.state:
                        self.state[t] = {"momentum": g.detach().clone()}  # buf = g at the first step
                buffers = [self.state[t]["momentum"] for t in tensors]
                grads = torch._foreach_add(grads, buffers, alpha=self.momentum) if self.nesterov else buffers
            torch._foreach_add_(tensors, grads, alpha=-lr * scale)


class Adam(_Optimizer):
    """Adam (Kingma & Ba 2015) with torch's defaults beta = (0.9, 0.999), eps = 1e-8.

    m <- beta1 m + (1 - beta1) g; v <- beta2 v + (1 - beta2) g^2; after t updates of a tensor
    W <- W - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    """

    def __init__(self, groups: Sequence[ParamGroup], betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        super().__init__(groups)
        self.betas, self.eps = betas, eps

    @torch.no_grad()
    def step(self, lr: float) -> None:
        """One update of every tensor with learning rate ``lr``."""
        beta1, beta2 = self.betas
        for tensors, grads, scale in self._with_gradients():
            for t in tensors:
                if t not in self.state:
                    self.state[t] = {"t": 0, "m": torch.zeros_like(t), "v": torch.zeros_like(t)}
                self.state[t]["t"] += 1
            by_steps: dict[int, list[int]] = {}  # tensors skipped in some steps have their own bias corrections
            for j, t in enumerate(tensors):
                by_steps.setdefault(self.state[t]["t"], []).append(j)
            for steps, idx in by_steps.items():
                params = [tensors[j] for j in idx]
                g = [grads[j] for j in idx]
                m = [self.state[p]["m"] for p in params]
                v = [self.state[p]["v"] for p in params]
                torch._foreach_lerp_(m, g, 1 - beta1)
                torch._foreach_mul_(v, beta2)
                torch._foreach_addcmul_(v, g, g, value=1 - beta2)
                denom = torch._foreach_sqrt(v)
                torch._foreach_div_(denom, math.sqrt(1 - beta2 ** steps))
                torch._foreach_add_(denom, self.eps)
                torch._foreach_addcdiv_(params, m, denom, value=-lr * scale / (1 - beta1 ** steps))
