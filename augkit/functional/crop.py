"""Crop kernels: fixed windows, and pad-and-crop by exact integer re-indexing.

Every output pixel is an input pixel (or the constant fill), so these kernels are exact in any
dtype: no interpolation, uint8 stays uint8. Padding follows ``torch.nn.functional.pad`` / numpy:

* ``"reflect"``: mirror about the edge pixel, which is not repeated (``3 2 1 | 0 1 2 3``);
* ``"symmetric"``: mirror about the edge, which is repeated (``2 1 0 | 0 1 2 3``);
* ``"edge"``: repeat the edge pixel;
* ``"constant"``: a fill value.
"""

from __future__ import annotations

import torch

#: The padding modes of :func:`shifted_crop` (torchvision's ``RandomCrop`` names).
PADDING_MODES = ("reflect", "symmetric", "edge", "constant")


def crop(x: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    """The same ``height x width`` window at ``(top, left)`` of every image.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W, any dtype.
    top, left, height, width : int
        The window, inside the images.

    Returns
    -------
    torch.Tensor
        N x C x height x width, a view of ``x``.
    """
    return x[..., top:top + height, left:left + width]


def fold_indices(index: torch.Tensor, length: int, mode: str) -> torch.Tensor:
    """Integer positions on an axis of ``length`` pixels, mapped back into ``[0, length)`` the way
    ``mode`` pads.

    Parameters
    ----------
    index : torch.Tensor
        int64, any shape; any values (the reflections repeat however far out they lie).
    length : int
        Pixels on the axis (>= 1).
    mode : {"reflect", "symmetric", "edge", "constant"}
        "constant" positions outside are clamped (the caller masks them).

    Returns
    -------
    torch.Tensor
        int64 of ``index``'s shape, values in ``0 .. length - 1``.
    """
    if mode == "reflect" and length > 1:
        period = 2 * (length - 1)
        index = torch.remainder(index, period)
        return torch.where(index < length, index, period - index)
    if mode == "symmetric":
        index = torch.remainder(index, 2 * length)
        return torch.where(index < length, index, 2 * length - 1 - index)
    return index.clamp(0, length - 1)


def shifted_crop(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: tuple[int, int],
                 padding: int, mode: str, fill: float = 0.0) -> torch.Tensor:
    """Pad every image by ``padding`` and crop ``size`` at ``(top[n], left[n])`` of the padded image.

    Two gathers, no Python loop over the batch.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W, any dtype.
    top, left : torch.Tensor
        int64 N: the window's corner in the padded image.
    size : tuple of int
        ``(h, w)`` of the output.
    padding : int
        >= 0, on every side.
    mode : {"reflect", "symmetric", "edge", "constant"}
        How the padding is filled (:data:`PADDING_MODES`).
    fill : float
        The constant on the [0, 1] scale (uint8 batches get ``round(255 fill)``).

    Returns
    -------
    torch.Tensor
        N x C x h x w in ``x``'s dtype, exact.
    """
    n, c, h, w = x.shape
    oh, ow = size
    rows = top.to(x.device)[:, None] + torch.arange(oh, device=x.device) - padding  # N x oh
    cols = left.to(x.device)[:, None] + torch.arange(ow, device=x.device) - padding  # N x ow
    out = x.gather(2, fold_indices(rows, h, mode)[:, None, :, None].expand(n, c, oh, w))
    out = out.gather(3, fold_indices(cols, w, mode)[:, None, None, :].expand(n, c, oh, ow))
    if mode == "constant":
        inside = ((rows >= 0) & (rows < h))[:, None, :, None] & ((cols >= 0) & (cols < w))[:, None, None, :]
        value = round(fill * 255) if x.dtype == torch.uint8 else fill
        out = out.masked_fill(~inside, value)
    return out
