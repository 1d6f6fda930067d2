"""Weight-decay penalties: L2 (lam/2 ||W||^2) and L1 (lam ||W||_1).

By default only the weights of Linear and Conv layers are penalised: biases shift units
without changing their capacity, and BatchNorm's gamma/beta set the scale that BatchNorm
exists to learn, so decaying them only fights the normalisation.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def decay_parameters(model: nn.Module, include_bias: bool = False) -> list[nn.Parameter]:
    """The parameters weight decay applies to: Linear/Conv weights (and their biases if asked).

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    include_bias : bool
        Also return the Linear/Conv biases.

    Returns
    -------
    list of torch.nn.Parameter
        In module order, each weight followed by its bias when included.
    """
    params = []
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
            params.append(module.weight)
            if include_bias and module.bias is not None:
                params.append(module.bias)
    return params


def _check_lam(lam: float) -> None:
    if not lam >= 0:  # also rejects NaN
        raise ValueError(f"lam must be >= 0, got {lam!r}")


def l2_penalty(model: nn.Module, lam: float, include_bias: bool = False) -> torch.Tensor:
    """The L2 penalty ``lam/2 * sum ||W||^2`` over the decayed parameters (gradient ``lam * W``).

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    lam : float
        The penalty's weight, >= 0.
    include_bias : bool
        Also penalise the Linear/Conv biases.

    Returns
    -------
    torch.Tensor
        A float scalar.
    """
    _check_lam(lam)
    params = decay_parameters(model, include_bias)
    return lam / 2 * sum((w * w).sum() for w in params) if params else torch.zeros(())


def l1_norm(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """sum ||W||_1 over ``tensors`` (float scalar tensor; 0 for none)."""
    return sum((w.abs().sum() for w in tensors), torch.zeros(()))


def l1_penalty(model: nn.Module, lam: float, include_bias: bool = False) -> torch.Tensor:
    """The L1 penalty ``lam * sum ||W||_1`` over the decayed parameters (gradient ``lam * sign(W)``).

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    lam : float
        The penalty's weight, >= 0.
    include_bias : bool
        Also penalise the Linear/Conv biases.

    Returns
    -------
    torch.Tensor
        A float scalar.
    """
    _check_lam(lam)
    return lam * l1_norm(decay_parameters(model, include_bias))
