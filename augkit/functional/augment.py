"""Kernels of the batch augmentations: boxes erased (Cutout) and samples mixed (MixUp, CutMix).

Boxes are per sample, as int64 tensors of shape N: ``top``, ``left``, ``height``, ``width`` in
pixels of an H x W image (rows ``top .. top + height - 1``); an empty box (height or width 0)
leaves its sample as it is. Mixing pairs sample n with a partner ``pi(n)`` (int64 N, a
permutation of the batch). Every kernel takes a working batch (float N x C x H x W on [0, 1])
and draws nothing random.
"""

from __future__ import annotations

import torch


def box_weights(top: torch.Tensor, left: torch.Tensor, height: torch.Tensor, width: torch.Tensor,
                size: tuple[int, int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """1 inside each sample's box, 0 outside: weights for ``torch.lerp(x, fill, weights)``.

    ``lerp`` returns ``x`` and ``fill`` exactly at weights 0 and 1 and is several times faster
    on CPU than ``torch.where`` with a bool mask.

    Parameters
    ----------
    top, left, height, width : torch.Tensor
        int64 N each: the boxes (empty when ``height`` or ``width`` is 0).
    size : tuple of int
        ``(H, W)`` of the images.
    dtype : torch.dtype
        Of the result.
    device : torch.device
        Of the result.

    Returns
    -------
    torch.Tensor
        N x 1 x H x W.
    """
    index = torch.arange(max(size), device=device)

    def inside(start: torch.Tensor, length: torch.Tensor, extent: int) -> torch.Tensor:
        start, stop = start.to(device)[:, None], (start + length).to(device)[:, None]
        return ((index[:extent] >= start) & (index[:extent] < stop)).to(dtype)

    rows, cols = inside(top, height, size[0]), inside(left, width, size[1])
    return rows[:, None, :, None] * cols[:, None, None, :]


def erase(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, height: torch.Tensor, width: torch.Tensor,
          fill: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Overwrite each sample's box with ``fill`` (torchvision's ``erase``, a box per sample).

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1].
    top, left, height, width : torch.Tensor
        int64 N each: the boxes.
    fill : torch.Tensor
        Broadcasts against ``x``: 1 x C x 1 x 1 (a value per channel) or N x C x H x W (a value
        per pixel), ``x``'s dtype.
    inplace : bool
        Write into ``x``.

    Returns
    -------
    torch.Tensor
        ``x``'s shape and dtype: ``fill`` inside the boxes, ``x`` exactly outside.
    """
    box = box_weights(top, left, height, width, tuple(x.shape[-2:]), x.dtype, x.device)
    return x.lerp_(fill, box) if inplace else torch.lerp(x, fill, box)


def mixup(x: torch.Tensor, partner: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """MixUp's images: ``weight_n x_n + (1 - weight_n) x_pi(n)``.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1].
    partner : torch.Tensor
        int64 N: ``pi``.
    weight : torch.Tensor
        Shape N, in [0, 1]: the share of each sample's own image.

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype.
    """
    w = weight.to(x.dtype).view(-1, 1, 1, 1)
    return x.index_select(0, partner).lerp_(x, w)  # w x + (1 - w) x_partner, in the gathered copy


def cutmix(x: torch.Tensor, partner: torch.Tensor, top: torch.Tensor, left: torch.Tensor, height: torch.Tensor,
           width: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """CutMix's images: the box of each sample replaced by the same box of its partner ``x_pi(n)``.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1].
    partner : torch.Tensor
        int64 N: ``pi``.
    top, left, height, width : torch.Tensor
        int64 N each: the boxes.
    inplace : bool
        Write into ``x`` (the partners are gathered first).

    Returns
    -------
    torch.Tensor
        ``x``'s shape and dtype.
    """
    return erase(x, top, left, height, width, x.index_select(0, partner), inplace=inplace)


def mix_targets(target: torch.Tensor, partner: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Soft labels of the mixed samples: ``weight_n target_n + (1 - weight_n) target_pi(n)``.

    Parameters
    ----------
    target : torch.Tensor
        Float N x K, rows summing to 1.
    partner : torch.Tensor
        int64 N: ``pi``.
    weight : torch.Tensor
        Shape N, in [0, 1]: the share of each sample's own label.

    Returns
    -------
    torch.Tensor
        N x K in ``target``'s dtype, rows summing to 1.
    """
    w = weight.to(target.dtype)[:, None]
    return target * w + target.index_select(0, partner) * (1 - w)
