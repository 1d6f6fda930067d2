"""Pure colour kernels with per-sample factors: torchvision's definitions, on batches.

Every kernel takes a working batch ``x`` (float N x C x H x W on [0, 1], C = 1 or 3) and
per-sample parameters (tensors of shape N, any float dtype; cast to ``x``'s dtype) and
returns a new batch of the same shape and dtype, clamped to [0, 1]. They draw nothing random.

The formulas are torchvision's (``torchvision.transforms.v2.functional``), written for a
batch whose samples have different factors. torchvision computes uint8 images in uint8 and
truncates after every operation; here the batch stays float, so a uint8 image rounded once at
the end differs from torchvision's by at most one level (1/255). The level-based operations
(posterize, solarize, equalize) read ``255 x`` as the uint8 level, which is exact for a batch
that came from uint8 (``k / 255 * 255 == k`` in float32 for every k).
"""

from __future__ import annotations

import torch

# ITU-R 601-2 luma, the weights of torchvision's rgb_to_grayscale and PIL's convert("L").
LUMA = (0.2989, 0.587, 0.114)


def per_sample(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample values as a tensor that broadcasts over ``x``'s images.

    Parameters
    ----------
    values : torch.Tensor
        Shape N, any real dtype.
    x : torch.Tensor
        The batch N x C x H x W they apply to.

    Returns
    -------
    torch.Tensor
        N x 1 x 1 x 1, ``x``'s dtype and device.
    """
    return values.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma ``0.2989 r + 0.587 g + 0.114 b`` of each pixel.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).

    Returns
    -------
    torch.Tensor
        N x 1 x H x W in ``x``'s dtype (``x`` itself when C = 1).
    """
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return r.mul(LUMA[0]).add_(g, alpha=LUMA[1]).add_(b, alpha=LUMA[2]).unsqueeze(1)


def blend(x: torch.Tensor, other: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """``ratio_n x + (1 - ratio_n) other``, clamped to [0, 1] (torchvision's ``_blend``).

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).
    other : torch.Tensor
        Broadcasts against ``x`` (an image, a grey image, a mean).
    ratio : torch.Tensor
        Shape N, the weight of ``x`` per sample (any real number; > 1 extrapolates).

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, on [0, 1].
    """
    r = per_sample(ratio, x)
    return (x * r).add_(other * (1 - r)).clamp_(0, 1)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Brightness: ``factor_n x``, clamped; 0 gives black, 1 the image.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).
    factor : torch.Tensor
        Shape N, >= 0.

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, on [0, 1].
    """
    return (x * per_sample(factor, x)).clamp_(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Contrast: blend with the image's mean luma; 0 gives a flat grey image, 1 the image.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).
    factor : torch.Tensor
        Shape N, >= 0.

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, on [0, 1].
    """
    mean = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    return blend(x, mean, factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Saturation: blend with the image's luma; 0 gives grey, 1 the image, 2 doubles it.

    A 1-channel batch comes back unchanged (as torchvision and PIL do).

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).
    factor : torch.Tensor
        Shape N, >= 0.

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, on [0, 1].
    """
    if x.shape[1] == 1:
        return x.clone()
    return blend(x, grayscale(x), factor)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """RGB to HSV (Pillow's algorithm, as torchvision's).

    Parameters
    ----------
    x : torch.Tensor
        RGB, float N x 3 x H x W on [0, 1].

    Returns
    -------
    torch.Tensor
        N x 3 x H x W: hue on [0, 1) (in turns), saturation and value on [0, 1].
    """
    r, g, b = x.unbind(1)
    maxc, minc = x.amax(1), x.amin(1)
    chroma = maxc - minc
    flat = chroma == 0
    # Where the pixel is grey, saturation and hue are 0; keep the divisions finite there.
    s = chroma / torch.where(maxc == 0, 1, maxc)
    c = torch.where(flat, 1, chroma)
    rc, gc, bc = (maxc - r) / c, (maxc - g) / c, (maxc - b) / c
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2 + rc - bc, 4 + gc - rc))
    h = torch.where(flat, 0, h).div_(6).remainder_(1)
    return torch.stack((h, s, maxc), 1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """HSV to RGB, the inverse of :func:`rgb_to_hsv`.

    Parameters
    ----------
    hsv : torch.Tensor
        N x 3 x H x W: hue on [0, 1), saturation and value on [0, 1].

    Returns
    -------
    torch.Tensor
        RGB N x 3 x H x W on [0, 1], ``hsv``'s dtype.
    """
    h, s, v = hsv.unbind(1)
    h6 = h * 6
    sector = torch.floor(h6)
    f = h6 - sector
    sector = sector.long().remainder_(6)
    p = (v * (1 - s)).clamp_(0, 1)
    q = (v * (1 - s * f)).clamp_(0, 1)
    t = (v * (1 - s * (1 - f))).clamp_(0, 1)
    # Per hue sector, which of (v, p, q, t) each of r, g, b takes.
    table = torch.tensor([[0, 2, 1, 1, 3, 0], [3, 0, 0, 2, 1, 1], [1, 1, 3, 0, 0, 2]], device=hsv.device)
    index = table[:, sector].movedim(0, 1)  # N x 3 x H x W
    return torch.stack((v, p, q, t), 1).gather(1, index)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Hue: rotate each image's hue by ``shift_n`` turns; a 1-channel batch comes back unchanged.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).
    shift : torch.Tensor
        Shape N, in [-0.5, 0.5].

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, on [0, 1].
    """
    if x.shape[1] == 1:
        return x.clone()
    hsv = rgb_to_hsv(x)
    hsv[:, 0].add_(per_sample(shift, x)[:, 0]).remainder_(1)
    return hsv_to_rgb(hsv)


def to_grayscale(x: torch.Tensor) -> torch.Tensor:
    """The luma in every channel (torchvision's ``rgb_to_grayscale(num_output_channels=3)``).

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, on [0, 1].
    """
    return grayscale(x).expand_as(x).clone()


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
