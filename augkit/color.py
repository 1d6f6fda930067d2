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
    """Shape-N values as an N x 1 x 1 x 1 tensor of ``x``'s dtype and device, for broadcasting."""
    return values.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma ``0.2989 r + 0.587 g + 0.114 b`` (N x 1 x H x W); a 1-channel batch is returned as is."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return r.mul(LUMA[0]).add_(g, alpha=LUMA[1]).add_(b, alpha=LUMA[2]).unsqueeze(1)


def blend(x: torch.Tensor, other: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """``ratio_n x + (1 - ratio_n) other``, clamped (torchvision's ``_blend``); ``other``
    broadcasts against ``x``."""
    r = per_sample(ratio, x)
    return (x * r).add_(other * (1 - r)).clamp_(0, 1)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``factor_n x``, clamped: 0 gives black, 1 the image."""
    return (x * per_sample(factor, x)).clamp_(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the image's mean luma: 0 gives a flat grey image, 1 the image."""
    mean = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    return blend(x, mean, factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the image's luma: 0 gives grey, 1 the image, 2 doubles the saturation.
    A 1-channel batch is returned unchanged (as torchvision and PIL do)."""
    if x.shape[1] == 1:
        return x.clone()
    return blend(x, grayscale(x), factor)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """RGB N x 3 x H x W on [0, 1] -> HSV, hue on [0, 1) (Pillow's algorithm, as torchvision)."""
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
    """Inverse of :func:`rgb_to_hsv`."""
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
    """Rotate the hue by ``shift_n`` turns (in [-0.5, 0.5]); a 1-channel batch is unchanged."""
    if x.shape[1] == 1:
        return x.clone()
    hsv = rgb_to_hsv(x)
    hsv[:, 0].add_(per_sample(shift, x)[:, 0]).remainder_(1)
    return hsv_to_rgb(hsv)


def to_grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma copied into every channel (torchvision's ``rgb_to_grayscale(num_output_channels=3)``)."""
    return grayscale(x).expand_as(x).clone()


def levels(x: torch.Tensor) -> torch.Tensor:
    """The uint8 levels ``round(255 x)`` of a working batch, as uint8."""
    return (x * 255).round_().to(torch.uint8)


def posterize(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Keep the ``bits_n`` (0..8) high bits of each uint8 level ``round(255 x)``."""
    keep = bits.to(device=x.device, dtype=torch.long).view(-1, 1, 1, 1)
    mask = ((255 << (8 - keep)) & 255).to(torch.uint8)
    return (levels(x) & mask).to(x.dtype).div_(255)


def solarize(x: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Invert (``1 - x``) the pixels with ``x >= threshold_n`` (threshold on [0, 1]).

    Compared on the 255 scale, as torchvision compares a uint8 level with ``255 threshold``.
    """
    above = x * 255 >= per_sample(threshold.double() * 255, x)
    return torch.where(above, 1 - x, x)


def autocontrast(x: torch.Tensor) -> torch.Tensor:
    """Stretch each channel of each image linearly so its minimum is 0 and maximum 1
    (a flat channel is left as it is)."""
    low = x.amin(dim=(2, 3), keepdim=True)
    high = x.amax(dim=(2, 3), keepdim=True)
    flat = high == low
    scale = torch.where(flat, 1, high - low)
    return (x - torch.where(flat, 0, low)).div_(scale).clamp_(0, 1)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of each channel of each image on its 256 uint8 levels.

    PIL's lookup table (torchvision's ``equalize``): with ``step = (pixels not at the
    channel's highest level) // 255``, level ``k`` maps to ``(cdf(k - 1) + step // 2) // step``;
    a channel with ``step == 0`` is left as it is.
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
