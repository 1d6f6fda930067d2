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
    """Move every tensor of a (nested) parameter structure to ``device``.

    Parameters
    ----------
    params : dict, list, tuple, torch.Tensor or other
        A parameter structure (other values are returned as they are).
    device : torch.device
        The target device.

    Returns
    -------
    dict, list, torch.Tensor or other
        The same structure (tuples become lists), its tensors on ``device``.
    """
    if isinstance(params, torch.Tensor):
        return params.to(device)
    if isinstance(params, dict):
        return {k: params_to(v, device) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return [params_to(v, device) for v in params]
    return params


def index_params(params: Any, index: torch.Tensor) -> Any:
    """Select some samples in every per-sample tensor (ndim >= 1) of a parameter structure.

    Parameters
    ----------
    params : dict, list, tuple, torch.Tensor or other
        A parameter structure; 0-d tensors (per-batch values) and other values are kept.
    index : torch.Tensor
        A bool mask of N, or int64 indices.

    Returns
    -------
    dict, list, torch.Tensor or other
        The same structure (tuples become lists) with the selected samples.
    """
    if isinstance(params, torch.Tensor):
        return params[index.to(params.device)] if params.dim() >= 1 else params
    if isinstance(params, dict):
        return {k: index_params(v, index) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return [index_params(v, index) for v in params]
    return params


def check_params_batch(params: Any, n: int) -> None:
    """Check that every per-sample tensor in ``params`` has leading dimension ``n``.

    Parameters
    ----------
    params : dict, list, tuple or torch.Tensor
        A parameter structure, as returned with ``return_params=True``.
    n : int
        The batch's N.

    Raises
    ------
    ValueError
        When a tensor was drawn for another number of samples.
    TypeError
        When the structure holds something else than dicts, lists, tuples and tensors.
    """
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
