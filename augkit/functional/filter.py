"""Spatial filter kernels with per-sample parameters: Gaussian blur and sharpness.

Both take a working batch (float N x C x H x W on [0, 1]; sharpness also uint8 levels, as
torchvision's uint8 kernel) and per-sample parameters of shape N, return a new batch of the
same shape and dtype, draw nothing random, and follow torchvision's definitions (the blur also
takes the edge padding of ``scipy.ndimage``, which CIFAR-10-C's corruptions use).
"""

from __future__ import annotations

import torch

from conventions import check_choice

from .color import per_sample
from .crop import fold_indices
from .misc import back_to, on_scale


def gaussian_weights(kernel_size: int, sigma: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Normalised 1-D Gaussian taps ``exp(-k^2 / (2 sigma_n^2))`` (torchvision's kernel).

    Parameters
    ----------
    kernel_size : int
        Odd tap count; the taps sit at the integer offsets ``k = -(kernel_size // 2) .. kernel_size // 2``.
    sigma : torch.Tensor
        Shape N, > 0, in pixels.
    dtype : torch.dtype
        Of the result.

    Returns
    -------
    torch.Tensor
        N x kernel_size, each row summing to 1, on ``sigma``'s device.
    """
    radius = kernel_size // 2
    k = torch.arange(-radius, radius + 1, dtype=torch.float64, device=sigma.device)
    taps = torch.exp(-(k[None, :] / sigma.double()[:, None]) ** 2 / 2)
    return (taps / taps.sum(1, keepdim=True)).to(dtype)


def _blur_axis(x: torch.Tensor, taps: torch.Tensor, dim: int, padding: str) -> torch.Tensor:
    """Correlate every image along ``dim`` (2 = rows, 3 = columns) with its own taps (N x K)."""
    size, radius = x.shape[dim], taps.shape[1] // 2
    # The padded row's pixel indices: mirrored or repeated however wide the padding is.
    index = fold_indices(torch.arange(-radius, size + radius, device=x.device), size, padding)
    padded = x.index_select(dim, index)
    out = None
    for k in range(taps.shape[1]):  # K shifted, weighted copies: K is small, N is not looped over
        weight = taps[:, k].view(-1, 1, 1, 1)
        term = padded.narrow(dim, k, size) * weight
        out = term if out is None else out.add_(term)
    return out


def gaussian_blur(x: torch.Tensor, kernel_size: tuple[int, int], sigma: torch.Tensor,
                  padding: str = "reflect") -> torch.Tensor:
    """Separable Gaussian blur of image n with standard deviation ``sigma_n`` on both axes.

    Each axis is one weighted sum of ``k`` shifted copies of the padded image, so the batch is
    never looped over.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1].
    kernel_size : tuple of int
        Odd ``(kx, ky)`` tap counts: along a row, then along a column (torchvision's order).
    sigma : torch.Tensor
        Shape N, > 0, in pixels.
    padding : {"reflect", "edge"}
        Outside the image: mirrored about the edge pixels (torchvision's ``gaussian_blur``), or
        the edge pixel repeated (``scipy.ndimage``'s ``mode="nearest"``, CIFAR-10-C's blur).

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype.
    """
    check_choice(padding, "padding", ("reflect", "edge"))
    kx, ky = kernel_size
    out = _blur_axis(x, gaussian_weights(kx, sigma, x.dtype).to(x.device), 3, padding)
    return _blur_axis(out, gaussian_weights(ky, sigma, x.dtype).to(x.device), 2, padding)


def adjust_sharpness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Sharpness: blend image n with its smoothed copy (PIL's and torchvision's ``adjust_sharpness``).

    Factor 0 smooths, 1 keeps, 2 sharpens. The smoothing kernel is
    ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13``; the one-pixel border is kept, and images at most
    2 pixels high or wide come back unchanged.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W: a working batch (float on [0, 1]) or uint8 levels (torchvision's uint8
        kernel: the smoothed copy rounded to levels, the blend in float32, truncated; the same
        levels exactly).
    factor : torch.Tensor
        Shape N, >= 0.

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, clamped to its range.
    """
    h, w = x.shape[-2:]
    if h <= 2 or w <= 2:
        return x.clone()
    values, _ = on_scale(x)
    out = values.clone() if values is x else values
    # The kernel is a 3 x 3 box plus 4 times the centre: separable sums of shifted views, about
    # twice as fast on CPU as a grouped conv2d on small images.
    rows = values[:, :, :, :-2] + values[:, :, :, 1:-1] + values[:, :, :, 2:]
    inner = out[:, :, 1:-1, 1:-1]
    smooth = (rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:]).add_(inner, alpha=4).div_(13)
    if not x.is_floating_point():
        # A sum of levels over 13 is never halfway between two levels: rounding is exact here.
        smooth.round_()
    # torchvision's inner + (1 - factor) (smooth - inner), one fused multiply-add.
    inner.addcmul_(smooth.sub_(inner), per_sample(1 - factor.double(), values))
    return back_to(out, x)
