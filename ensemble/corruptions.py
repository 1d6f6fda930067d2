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
drawn per image.

The pixel operations are augkit's kernels (:mod:`augkit.functional`); this module holds the
severity table and draws what is random (the noise seed, the rotation signs). Where CIFAR-10-C's
definition differs from torchvision's, the kernel says so by a parameter or by its name: the blur
repeats the edge pixel (``gaussian_blur(..., padding="edge")``) with scipy's kernel size,
contrast blends with each channel's own mean (``adjust_contrast(..., mean="channel")``), and
brightness shifts the HSV value (``adjust_value``) where torchvision scales.

Every corruption maps a float working batch ``N x C x H x W`` on [0, 1] (see
:mod:`augkit.functional`) to one of the same shape and dtype; :func:`corrupt` applies a named
corruption to uint8 images, deterministically for a given seed.
"""
from __future__ import annotations

import numbers
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from augkit import functional as F
from augkit.validation import check_batch
from conventions import check_choice

__all__ = ["CORRUPTIONS", "SEVERITIES", "Corruption", "brightness", "check_corruption", "check_severity", "contrast",
           "corrupt", "gaussian_blur", "gaussian_noise", "jpeg", "rotation"]

SEVERITIES = (1, 2, 3, 4, 5)


def _per_image(x: torch.Tensor, value: float) -> torch.Tensor:
    """``value`` for every image of ``x``: the kernels take per-sample parameters (float64 N)."""
    return torch.full((x.shape[0],), float(value), dtype=torch.float64)


def gaussian_noise(x: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """``clip(x + sigma z, 0, 1)``, ``z ~ N(0, 1)`` per pixel and channel
    (:func:`augkit.functional.gaussian_noise`); ``generator`` (CPU) draws the noise field's seed."""
    seed = torch.randint(0, 2**62, (), generator=generator)
    return F.gaussian_noise(x, _per_image(x, sigma).to(x.device), seed)


def gaussian_blur(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Separable Gaussian filter of standard deviation ``sigma`` pixels, per channel, the edge
    pixel repeated outside: ``skimage.filters.gaussian``'s default (``scipy.ndimage.gaussian_filter``,
    ``truncate=4``, ``mode="nearest"``), which CIFAR-10-C used (:func:`augkit.functional.gaussian_blur`)."""
    taps = 2 * int(4.0 * sigma + 0.5) + 1  # scipy's radius: truncate * sigma, rounded
    return F.gaussian_blur(x, (taps, taps), _per_image(x, sigma), padding="edge")


def contrast(x: torch.Tensor, factor: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``clip((x - m) * factor + m, 0, 1)`` with ``m`` the image's mean per channel (CIFAR-10-C's,
    :func:`augkit.functional.adjust_contrast` with ``mean="channel"``)."""
    return F.adjust_contrast(x, _per_image(x, factor), mean="channel")


def brightness(x: torch.Tensor, shift: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add ``shift`` to the HSV value of every pixel, clipped to 1, keeping H and S (CIFAR-10-C's,
    :func:`augkit.functional.adjust_value`)."""
    return F.adjust_value(x, _per_image(x, shift))


def jpeg(x: torch.Tensor, quality: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Encode every image as a JPEG of ``quality`` and decode it again: CIFAR-10-C's
    ``jpeg_compression`` (:func:`augkit.functional.jpeg`)."""
    return F.jpeg(x, _per_image(x, quality))


def rotation(x: torch.Tensor, degrees: float, generator: torch.Generator) -> torch.Tensor:
    """Rotate each image about its centre by ``+degrees`` or ``-degrees`` (sign drawn per image
    from ``generator``; positive is counter-clockwise as displayed), bilinear, zeros outside
    (:func:`augkit.functional.rotate`)."""
    sign = torch.randint(0, 2, (x.shape[0],), generator=generator, dtype=torch.float64) * 2 - 1
    return F.rotate(x, sign * degrees)


Kernel = Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class Corruption:
    """A corruption and its parameter at each severity.

    Parameters
    ----------
    name : str
        Its key in :data:`CORRUPTIONS`.
    parameter : str
        What ``values`` set (e.g. ``"sigma"``).
    values : tuple of float
        The parameter at severities 1 to 5.
    kernel : callable
        ``kernel(x, value, generator)``, float working batch in and out.
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
    images : torch.Tensor
        uint8 ``N x C x H x W`` (C = 1 or 3).
    name : str
        A key of :data:`CORRUPTIONS`.
    severity : int
        From 1 to 5.
    seed : int
        The random draws (noise, rotation signs) depend only on ``seed``, ``name`` and
        ``severity``, so the same call gives the same images.

    Returns
    -------
    torch.Tensor
        uint8, of the same shape and device (rounded to nearest).
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
