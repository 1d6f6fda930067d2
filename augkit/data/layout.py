"""Layout conversion between image arrays (N x H x W x C) and torch batches (N x C x H x W)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["to_batch", "to_nhwc"]


def to_batch(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Images N x H x W x C (numpy or tensor) -> a contiguous torch batch N x C x H x W.

    Parameters
    ----------
    images : numpy.ndarray or torch.Tensor
        Rank 4, N x H x W x C, any dtype.

    Returns
    -------
    torch.Tensor
        N x C x H x W, contiguous, the input's dtype.

    Raises
    ------
    ValueError
        If ``images`` is not rank 4.
    """
    tensor = torch.as_tensor(images)
    if tensor.dim() != 4:
        raise ValueError(f"images must be N x H x W x C (rank 4), got shape {tuple(tensor.shape)}")
    return tensor.permute(0, 3, 1, 2).contiguous()


def to_nhwc(batch: torch.Tensor) -> np.ndarray:
    """Torch batch N x C x H x W (any device) -> numpy N x H x W x C.

    Parameters
    ----------
    batch : torch.Tensor
        Rank 4, N x C x H x W, any dtype and device.

    Returns
    -------
    numpy.ndarray
        N x H x W x C, contiguous, the batch's dtype, on the CPU.

    Raises
    ------
    ValueError
        If ``batch`` is not a rank-4 tensor.
    """
    if not isinstance(batch, torch.Tensor) or batch.dim() != 4:
        got = getattr(batch, "shape", type(batch))
        raise ValueError(f"batch must be an N x C x H x W tensor, got {got}")
    return batch.detach().permute(0, 2, 3, 1).cpu().contiguous().numpy()
