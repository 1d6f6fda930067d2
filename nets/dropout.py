"""Dropout (Srivastava et al. 2014) with p = probability of KEEPING a unit (the lecture's convention).

- ``mode="inverted"``: train y = m * x / p with m ~ Bernoulli(p); test y = x.
- ``mode="standard"``: train y = m * x; test y = p * x (the weight-scaling inference rule).

Both give E[y_train] = y_test. Masks come from torch's global RNG by default;
:func:`set_dropout_seed` switches a model to a counter-based hash RNG that is a pure tensor
function of (seed buffer, counter buffer, element index), hence deterministic and usable
under ``torch.func.vmap`` with per-member seeds.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from conventions import check_choice, check_int

MODES = ("inverted", "standard")
_MASK32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer finaliser (xorshift-multiply rounds) on int64 tensors holding uint32 values.

    Multipliers are odd and below 2**31 so every product of a uint32 value fits in int64.
    """
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x31848BAB) & _MASK32
    x = x ^ (x >> 16)
    return x


def hash_uniform(seed: torch.Tensor, counter: torch.Tensor, numel: int) -> torch.Tensor:
    """Counter-based uniforms in [0, 1): a pure function of (seed, counter, element index).

    ``key = mix(seed * K1 + counter * K2)``, ``u_i = mix(key ^ i) / 2^32`` (top 24 bits, exact
    in float32).

    Parameters
    ----------
    seed, counter : torch.Tensor
        int64 tensors of one shape S (scalars, or one entry per member).
    numel : int
        The uniforms per stream.

    Returns
    -------
    torch.Tensor
        float32 of shape S + (numel,): entry ``[..., i]`` is stream (seed, counter)'s i-th
        uniform.
    """
    key = _mix32(((seed & _MASK32) * 0x61C88647 + (counter & _MASK32) * 0x27D4EB2F) & _MASK32)
    index = torch.arange(numel, device=seed.device, dtype=torch.int64)
    bits = _mix32(key.unsqueeze(-1) ^ (index & _MASK32))
    return (bits >> 8).to(torch.float32) * (1.0 / (1 << 24))


class Dropout(nn.Module):
    """Dropout on any float tensor; ``p_keep`` in (0, 1] is the probability of keeping a unit.

    Training draws a Bernoulli(p_keep) mask of the input's shape; inference is the identity
    (``"inverted"``) or multiplies by p_keep (``"standard"``). Output: same shape and dtype.
    After :func:`set_dropout_seed` the module carries int64 scalar buffers ``seed`` and
    ``counter``; the counter advances in place on every training forward.

    Parameters
    ----------
    p_keep : float
        In (0, 1]: the probability of keeping a unit.
    mode : {"inverted", "standard"}
        Inverted dropout scales the kept units by 1 / p_keep in training; standard dropout
        scales the output by p_keep at inference (see the module docstring).
    """

    def __init__(self, p_keep: float = 0.5, mode: str = "inverted") -> None:
        super().__init__()
        if not 0.0 < p_keep <= 1.0:
            raise ValueError(f"p_keep must be in (0, 1], got {p_keep!r}")
        check_choice(mode, "mode", MODES)
        self.p_keep = float(p_keep)
        self.mode = mode
        self.register_buffer("seed", None)
        self.register_buffer("counter", None)

    def extra_repr(self) -> str:
        return f"p_keep={self.p_keep}, mode={self.mode!r}"

    def _uniform(self, x: torch.Tensor) -> torch.Tensor:
        if self.seed is None:
            return torch.rand(x.shape, device=x.device)
        u = hash_uniform(self.seed, self.counter, x.numel()).reshape(x.shape)
        self.counter.add_(1)
        return u

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p_keep
        if not self.training:
            return x if self.mode == "inverted" else x * p  # test: y = x (inverted) or y = p x
        mask = (self._uniform(x) < p).to(x.dtype)  # m ~ Bernoulli(p)
        return x * mask / p if self.mode == "inverted" else x * mask  # train: m x / p or m x


def dropout_modules(model: nn.Module) -> list[Dropout]:
    """All :class:`Dropout` modules of ``model`` in registration order."""
    return [m for m in model.modules() if isinstance(m, Dropout)]


@torch.no_grad()
def set_dropout_seed(model: nn.Module, seed: int) -> nn.Module:
    """Give every Dropout in ``model`` its own counter-based RNG derived from ``seed``.

    Dropout number k gets seed buffer mix(seed + mix(k)) and a counter buffer 0 (both int64
    scalars on the model's device).

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    seed : int
        The seed every Dropout's stream derives from.

    Returns
    -------
    torch.nn.Module
        ``model`` itself.
    """
    check_int(seed, "seed")
    device = next(model.parameters(), torch.empty(0)).device
    for k, module in enumerate(dropout_modules(model)):
        mixed = _mix32((torch.tensor(seed, dtype=torch.int64) + _mix32(torch.tensor(k))) & _MASK32)
        module.seed = mixed.to(device)
        module.counter = torch.zeros((), dtype=torch.int64, device=device)
    return model


def _following_weight_layer(model: nn.Module, dropout: Dropout) -> nn.Module:
    modules = list(model.modules())
    for module in modules[modules.index(dropout) + 1:]:
        if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
            return module
        if any(True for _ in module.parameters(recurse=False)):
            break
    raise ValueError(f"convert_dropout needs a Linear or Conv layer right after each Dropout "
                     f"(in registration order); found none after {dropout!r}")


@torch.no_grad()
def convert_dropout(model: nn.Module, mode: str) -> nn.Module:
    """Switch every Dropout of a trained ``model`` to ``mode`` without changing its predictions.

    Standard dropout's test rule y = p x becomes inverted dropout's y = x by folding p into
    the next layer's weight: W' = p W (and W' = W / p the other way). The next layer is the
    first Linear/Conv registered after the Dropout, as in :class:`nets.MLP`, :class:`nets.SmallCNN`
    and :class:`nets.ResNet20`.

    Parameters
    ----------
    model : torch.nn.Module
        The trained network.
    mode : {"inverted", "standard"}
        The mode every Dropout gets.

    Returns
    -------
    torch.nn.Module
        ``model`` itself.
    """
    check_choice(mode, "mode", MODES)
    for dropout in dropout_modules(model):
        if dropout.mode == mode:
            continue
        layer = _following_weight_layer(model, dropout)
        p = dropout.p_keep
        layer.weight.mul_(p if mode == "inverted" else 1.0 / p)
        dropout.mode = mode
    return model


@torch.no_grad()
def mc_dropout_predict(model: nn.Module, x: torch.Tensor, T: int = 20) -> torch.Tensor:
    """Monte-Carlo dropout: the mean of softmax(model(x)) over ``T`` stochastic passes.

    BatchNorm (and everything else) runs in eval mode; only Dropout modules sample masks.
    The model's train/eval flags are restored afterwards.

    Parameters
    ----------
    model : torch.nn.Module
        A network with :class:`Dropout` modules.
    x : torch.Tensor
        A float batch the model accepts (N x ...).
    T : int
        The stochastic passes, >= 1.

    Returns
    -------
    torch.Tensor
        float32 probabilities N x K.
    """
    check_int(T, "T", minimum=1)
    flags = {m: m.training for m in model.modules()}
    model.eval()
    for dropout in dropout_modules(model):
        dropout.train()
    try:
        probs = sum(F.softmax(model(x).float(), dim=-1) for _ in range(T)) / T
    finally:
        for module, flag in flags.items():
            module.train(flag)
    return probs
