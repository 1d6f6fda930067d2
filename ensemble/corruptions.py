"""Image corruptions at 5 severities, with CIFAR-10-C's parameters, for scoring models under shift.

Hendrycks & Dietterich (2019), "Benchmarking neural network robustness to common corruptions
and perturbations", built CIFAR-10-C with ``make_cifar_c.py``; the values per severity 1..5
below are theirs where the operation is one of theirs:

================  =====================================  ===================================
corruption        parameter, severities 1..5             source
================  =====================================  ===================================
gaussian_noise    sigma 0.04, 0.06, 0.08, 0.09, 0.10     CIFAR-10-C ``gaussian_noise``
gaussian_blur     sigma (px) 0.4, 0.6, 0.7, 0.8, 1.0     CIFAR-10-C ``gaussian_blur``
contrast          factor 0.75, 0.5, 0.4, 0.3, 0.15       CIFAR-10-C ``contrast``
brightness        HSV value + 0.05, 0.1, 0.15, 0.2, 0.3  CIFAR-10-C ``brightness``
jpeg              quality 80, 65, 58, 50, 40             CIFAR-10-C ``jpeg_compression``
rotation          +-3, 6, 9, 12, 15 degrees              not in CIFAR-10-C; CIFAR-10-P's
                                                         ``rotate`` spans -15..15 degrees
================  =====================================  ===================================

Where this differs from ``make_cifar_c.py``: results are rounded to uint8 (they truncate with
``np.uint8``, which darkens every image by half a level on average); noise comes from a seeded
torch generator (theirs: numpy's global one), so the pixels differ, not the distribution;
rotation is ours (bilinear, zeros outside, as CIFAR-10-P's torchvision ``affine``), its sign
drawn per image. Blur, contrast and brightness are not yet augkit kernels, so their formulas
are written here (each kernel's docstring states it).

Every kernel maps a float working batch ``N x C x H x W`` on [0, 1] (see
:mod:`augkit.functional`) to one of the same shape and dtype; :func:`corrupt` applies a named
corruption to uint8 images, deterministically for a given seed.
"""
from __future__ import annotations

import io
import numbers
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as tnf
from PIL import Image

from augkit import functional as F
from augkit._checks import check_batch, check_choice
from augkit.functional import geometry as G

__all__ = ["CORRUPTIONS", "SEVERITIES", "Corruption", "brightness", "check_corruption", "check_severity", "contrast",
           "corrupt", "gaussian_blur", "gaussian_noise", "jpeg", "rotation"]

SEVERITIES = (1, 2, 3, 4, 5)


def gaussian_noise(x: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """``clip(x + sigma z, 0, 1)``, ``z ~ N(0, 1)`` per pixel and channel (augkit's kernel).

    ``generator`` (CPU) draws the noise field's seed.
    """
    seed = torch.randint(0, 2**62, (), generator=generator)
    return F.gaussian_noise(x, torch.full((x.shape[0],), sigma, dtype=torch.float64, device=x.device), seed)


def gaussian_blur(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Separable Gaussian filter of standard deviation ``sigma`` pixels, per channel.

    Weights ``exp(-t^2 / (2 sigma^2))`` for ``t = -r..r``, ``r = int(4 sigma + 0.5)``, normalised
    to sum 1; the image edge is repeated outside. This is ``skimage.filters.gaussian``'s default
    (``scipy.ndimage.gaussian_filter``, ``truncate=4``, ``mode="nearest"``), which CIFAR-10-C used.
    """
    radius = int(4.0 * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    weights = torch.exp(-0.5 * (t / sigma) ** 2)
    weights = weights / weights.sum()
    # Windows along the last axis times the weights (unfold + matmul): several times faster on CPU than
    # conv2d with a 1 x k kernel; columns are filtered as rows of the transposed (contiguous) image.
    rows = tnf.pad(x, (radius, radius, radius, radius), mode="replicate").unfold(-1, len(t), 1) @ weights
    columns = rows.transpose(-1, -2).contiguous().unfold(-1, len(t), 1) @ weights
    return columns.transpose(-1, -2).contiguous()


def contrast(x: torch.Tensor, factor: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``clip((x - m) * factor + m, 0, 1)`` with ``m`` the image's mean per channel (CIFAR-10-C's)."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    return ((x - mean) * factor + mean).clamp_(0, 1)


def brightness(x: torch.Tensor, shift: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add ``shift`` to the HSV value ``V = max_c x_c`` of every pixel, clipped to 1, keeping H and S.

    RGB is proportional to V at fixed hue and saturation, so this is ``x * V' / V`` with
    ``V' = min(V + shift, 1)``; a black pixel (``V = 0``, no hue) becomes grey ``V'``. Equal to
    CIFAR-10-C's ``rgb2hsv``, ``V + shift``, ``hsv2rgb`` round trip, without the conversions.
    """
    value = x.amax(dim=1, keepdim=True)
    new_value = (value + shift).clamp_(max=1)
    scaled = x * (new_value / value.clamp(min=torch.finfo(x.dtype).tiny))
    return torch.where(value > 0, scaled, new_value.expand_as(x)).clamp_(0, 1)


def jpeg(x: torch.Tensor, quality: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Encode every image as a JPEG of ``quality`` (Pillow, in memory, its default 4:2:0
    chroma subsampling) and decode it again: CIFAR-10-C's ``jpeg_compression``."""
    images = F.from_working(x, torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = []
    for image in images:  # Pillow codes one image at a time
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="JPEG",
                                                                                 quality=int(quality))
        decoded = np.asarray(Image.open(buffer))
        out.append(decoded.reshape(image.shape))
    return F.to_working(torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)).to(device=x.device, dtype=x.dtype)


def rotation(x: torch.Tensor, degrees: float, generator: torch.Generator) -> torch.Tensor:
    """Rotate each image about its centre by ``+degrees`` or ``-degrees`` (sign drawn per image
    from ``generator``; positive is counter-clockwise as displayed), bilinear, zeros outside."""
    sign = torch.randint(0, 2, (x.shape[0],), generator=generator, dtype=torch.float64) * 2 - 1
    size = tuple(x.shape[-2:])
    step = G.Step(G.rotation_matrix(sign * degrees).to(x.device), size, "zeros")
    return F.warp(x, [step], size, interpolation="bilinear")


Kernel = Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class Corruption:
    """A corruption and its parameter at each severity.

    Attributes
    ----------
    name : key in :data:`CORRUPTIONS`.
    parameter : what ``values`` set (e.g. ``"sigma"``).
    values : the parameter at severities 1..5.
    kernel : ``kernel(x, value, generator)``, float working batch in and out.
    """

    name: str
    parameter: str
    values: tuple[float, ...]
    kernel: Kernel


CORRUPTIONS: dict[str, Corruption] = {c.name: c for c in (
    Corruption("gaussian_noise", "sigma", (0.04, 0.06, 0.08, 0.09, 0.10), gaussian_noise),
    Corruption("gaussian_blur", "sigma (pixels)", (0.4, 0.6, 0.7, 0.8, 1.0), gaussian_blur),
    Corruption("contrast", "factor", (0.75, 0.5, 0.4, 0.3, 0.15), contrast),
    Corruption("brightness", "HSV value shift", (0.05, 0.1, 0.15, 0.2, 0.3), brightness),
    Corruption("jpeg", "quality", (80, 65, 58, 50, 40), jpeg),
    Corruption("rotation", "degrees (sign per image)", (3.0, 6.0, 9.0, 12.0, 15.0), rotation),
)}


def check_corruption(name: str) -> str:
    """Return ``name`` after checking it is a key of :data:`CORRUPTIONS`."""
    return check_choice(name, "corruption", tuple(CORRUPTIONS))


def check_severity(severity: int) -> int:
    """Return ``severity`` after checking it is an int in 1..5."""
    if isinstance(severity, bool) or not isinstance(severity, numbers.Integral) or severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}; got {severity!r}")
    return int(severity)


def corrupt(images: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """A corrupted copy of a uint8 batch.

    Parameters
    ----------
    images : uint8 tensor ``N x C x H x W`` (C = 1 or 3).
    name : a key of :data:`CORRUPTIONS`.
    severity : 1..5.
    seed : int; the random draws (noise, rotation signs) depend only on ``seed``, ``name`` and
        ``severity``, so the same call gives the same images.

    Returns
    -------
    uint8 tensor of the same shape and device (rounded to nearest).
    """
    check_batch(images)
    if images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8 (0..255), as CIFAR-10-C stores them; got dtype {images.dtype}")
    corruption = CORRUPTIONS[check_corruption(name)]
    severity = check_severity(severity)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an int >= 0; got {seed!r}")
    # crc32 of the name, not hash(): the same stream in every process and Python version.
    state = np.random.SeedSequence([int(seed), zlib.crc32(name.encode()), severity]).generate_state(1, np.uint64)
    generator = torch.Generator().manual_seed(int(state[0] % (2**63)))
    value = corruption.values[severity - 1]
    out = corruption.kernel(F.to_working(images), value, generator)
    return F.from_working(out, torch.uint8, inplace=True)
