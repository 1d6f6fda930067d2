"""Tone kernels on the uint8 levels: levels, posterize, solarize, autocontrast, equalize.

The operations of AutoAugment-style policies that PIL defines on 8-bit images: a threshold, a
bit mask, a per-channel stretch and a histogram lookup. They take a batch ``x`` (N x C x H x W,
C = 1 or 3), either uint8 levels, on which they are torchvision's uint8 kernels (the same
levels, exactly), or a working batch (float on [0, 1]), whose uint8 level they read as
``round(255 x)`` where they need one (exact for a batch that came from uint8:
``k / 255 * 255 == k`` in float32 for every k). They return a new batch of ``x``'s shape and
dtype and draw nothing random. Kept apart from :mod:`augkit.functional.color`, whose kernels are
continuous in the pixel values.

On float batches torchvision's own float kernels read levels differently (its posterize floors
``x 2^bits``, its equalize truncates ``255.999 x``); on batches of levels ``k / 255`` the two
agree to within one level (posterize, whose output levels torchvision puts at ``j / 2^bits``
instead of ``j 2^(8 - bits) / 255``) or exactly (solarize, equalize), and autocontrast to 1e-6.
"""

from __future__ import annotations

import torch

from .misc import back_to, on_scale


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
    """Posterize: keep the ``bits_n`` high bits of each uint8 level (of ``round(255 x)`` for floats).

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W (C = 1 or 3): uint8 levels or a working batch (float on [0, 1]).
    bits : torch.Tensor
        Shape N, integer values in 0 .. 8.

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype.
    """
    keep = bits.to(device=x.device, dtype=torch.long).view(-1, 1, 1, 1)
    mask = ((255 << (8 - keep)) & 255).to(torch.uint8)
    if not x.is_floating_point():
        return x & mask
    return (levels(x) & mask).to(x.dtype).div_(255)


def solarize(x: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Solarize: invert the pixels at or above ``threshold_n`` (``255 - x`` for uint8, ``1 - x`` for floats).

    Compared on the 255 scale in float32 (float64 for a float64 batch), as torchvision compares
    a uint8 level with ``255 threshold``.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W (C = 1 or 3): uint8 levels or a working batch (float on [0, 1]).
    threshold : torch.Tensor
        Shape N, on [0, 1].

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype.
    """
    fp = x.is_floating_point()
    bound = (threshold.double() * 255).to(device=x.device, dtype=x.dtype if fp else torch.float32)
    above = (x * 255 if fp else x) >= bound.view(-1, 1, 1, 1)
    return torch.where(above, (1 if fp else 255) - x, x)


def autocontrast(x: torch.Tensor) -> torch.Tensor:
    """Autocontrast: stretch each channel of each image so its minimum is 0 and its maximum the top.

    A flat channel is left as it is. On uint8, torchvision's float32 stretch, truncated (so the
    maximum may land on 254, where PIL puts it on 255).

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W (C = 1 or 3): uint8 levels or a working batch (float on [0, 1]).

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype.
    """
    values, top = on_scale(x)
    low = values.amin(dim=(2, 3), keepdim=True)
    high = values.amax(dim=(2, 3), keepdim=True)
    flat = high == low
    # torchvision divides by (high - low) * (1 / top): the same float32 numbers, the same levels.
    scale = torch.where(flat, 1, (high - low).mul_(1 / top))
    return back_to((values - torch.where(flat, 0, low)).div_(scale), x)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Equalize: histogram equalisation of each channel of each image on its uint8 levels.

    PIL's lookup table (torchvision's ``equalize``): with ``step = (pixels not at the
    channel's highest level) // 255``, level ``k`` maps to ``(cdf(k - 1) + step // 2) // step``;
    a channel with ``step == 0`` is left as it is. The output is on the uint8 levels.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W (C = 1 or 3): uint8 levels or a working batch (float on [0, 1], read as
        the levels ``round(255 x)``).

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype.
    """
    n, c, h, w = x.shape
    flat = (x if x.dtype == torch.uint8 else levels(x)).reshape(n * c, h * w).long()
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
    lut = lut.to(torch.uint8) if x.dtype == torch.uint8 else lut.to(x.dtype).div_(255)
    return lut.gather(1, flat).view(n, c, h, w)
