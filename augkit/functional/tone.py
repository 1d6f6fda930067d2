"""Tone kernels on the uint8 levels: levels, posterize, solarize, autocontrast, equalize.

The operations of AutoAugment-style policies that PIL defines on 8-bit images: a threshold, a
bit mask, a per-channel stretch and a histogram lookup. They take a working batch ``x`` (float
N x C x H x W on [0, 1], C = 1 or 3) and read ``255 x`` as the uint8 level, which is exact for
a batch that came from uint8 (``k / 255 * 255 == k`` in float32 for every k); they return a new
batch of the same shape and dtype on [0, 1] and draw nothing random. Kept apart from
:mod:`augkit.functional.color`, whose kernels are continuous in the pixel values.
"""

from __future__ import annotations

import torch

from .color import per_sample


def levels(x: torch.Tensor) -> torch.Tensor:
    """The uint8 levels ``round(255 x)`` of a working batch.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).

    Returns
    -------
    torch.Tensor
        uint8, ``x``'s shape.
    """
    return (x * 255).round_().to(torch.uint8)


def posterize(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Posterize: keep the ``bits_n`` high bits of each uint8 level ``round(255 x)``.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).
    bits : torch.Tensor
        Shape N, integer values in 0 .. 8.

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, on [0, 1].
    """
    keep = bits.to(device=x.device, dtype=torch.long).view(-1, 1, 1, 1)
    mask = ((255 << (8 - keep)) & 255).to(torch.uint8)
    return (levels(x) & mask).to(x.dtype).div_(255)


def solarize(x: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Solarize: invert (``1 - x``) the pixels with ``x >= threshold_n``.

    Compared on the 255 scale, as torchvision compares a uint8 level with ``255 threshold``.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).
    threshold : torch.Tensor
        Shape N, on [0, 1].

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, on [0, 1].
    """
    above = x * 255 >= per_sample(threshold.double() * 255, x)
    return torch.where(above, 1 - x, x)


def autocontrast(x: torch.Tensor) -> torch.Tensor:
    """Autocontrast: stretch each channel of each image so its minimum is 0 and maximum 1.

    A flat channel is left as it is.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, on [0, 1].
    """
    low = x.amin(dim=(2, 3), keepdim=True)
    high = x.amax(dim=(2, 3), keepdim=True)
    flat = high == low
    scale = torch.where(flat, 1, high - low)
    return (x - torch.where(flat, 0, low)).div_(scale).clamp_(0, 1)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Equalize: histogram equalisation of each channel of each image on its uint8 levels.

    PIL's lookup table (torchvision's ``equalize``): with ``step = (pixels not at the
    channel's highest level) // 255``, level ``k`` maps to ``(cdf(k - 1) + step // 2) // step``;
    a channel with ``step == 0`` is left as it is. The output is on the uint8 levels.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, on [0, 1].
    """
    n, c, h, w = x.shape
    flat = levels(x).view(n * c, h * w).long()
    # One bincount over all channels of all images: channel i counts into bins 256 i .. 256 i + 255.
    offsets = torch.arange(n * c, device=x.device)[:, None] * 256
    hist = torch.bincount((flat + offsets).view(-1), minlength=n * c * 256).view(n * c, 256)
    cdf = hist.cumsum(1)
    # The last non-empty bin is the first that reaches the total.
    top = hist.gather(1, cdf.argmax(1, keepdim=True))
    step = (h * w - top).div_(255, rounding_mode="floor")
    lut = (cdf[:, :-1] + step // 2).div_(step.clamp(min=1), rounding_mode="floor").clamp_(0, 255)
    lut = torch.cat([torch.zeros_like(lut[:, :1]), lut], 1)
    lut = torch.where(step > 0, lut, torch.arange(256, device=x.device))  # a flat channel maps to itself
    return lut.to(x.dtype).div_(255).gather(1, flat).view(n, c, h, w)
