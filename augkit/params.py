"""Per-sample parameter structures: what a transform draws and a replay applies again.

A transform's parameters are a dict of tensors whose leading dimension is the batch's N
(``apply``, angles, crop windows, ...), 0-d tensors for per-batch values (a noise seed), and for
containers nested lists and dicts of their children's parameters. They are plain data: returned
by ``t(x, return_params=True)``, inspected, moved between devices and handed to ``t.replay``.
"""

from __future__ import annotations

from typing import Any

import torch

#: A batch's shape ``(N, C, H, W)``.
Shape = tuple[int, int, int, int]
#: A transform's parameters: names -> per-sample tensors (first dimension N), or nested
#: parameters for containers.
Params = dict[str, Any]


def params_to(params: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) parameter structure to ``device``."""
    if isinstance(params, torch.Tensor):
        return params.to(device)
    if isinstance(params, dict):
        return {k: params_to(v, device) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return [params_to(v, device) for v in params]
    return params


def index_params(params: Any, index: torch.Tensor) -> Any:
    """Select samples ``index`` (bool mask or indices) in every per-sample tensor (ndim >= 1)."""
    if isinstance(params, torch.Tensor):
        return params[index.to(params.device)] if params.dim() >= 1 else params
    if isinstance(params, dict):
        return {k: index_params(v, index) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return [index_params(v, index) for v in params]
    return params


def check_params_batch(params: Any, n: int) -> None:
    """Raise ValueError unless every per-sample tensor in ``params`` has leading dimension n."""
    if isinstance(params, torch.Tensor):
        if params.dim() >= 1 and params.shape[0] != n:
            raise ValueError(f"params were drawn for {params.shape[0]} samples but the batch has {n}")
    elif isinstance(params, dict):
        for v in params.values():
            check_params_batch(v, n)
    elif isinstance(params, (list, tuple)):
        for v in params:
            check_params_batch(v, n)
    else:
        raise TypeError(f"params must be the nested dict returned with return_params=True, "
                        f"found {type(params).__name__}")
