"""Kernels of the augmentation policies: torchvision's op tables and the per-op kernels.

TrivialAugmentWide (Müller & Hutter 2021) and RandAugment (Cubuk et al. 2020) with
torchvision's op sets and magnitude bins (``transforms.v2._auto_augment``):

* ShearX / ShearY ``m``: ``x += m y`` (``y += m x``) about the top-left corner (torchvision's
  ``affine(shear=atan(m), center=[0, 0])``);
* TranslateX / TranslateY ``m``: ``int(m)`` pixels; Rotate ``m`` degrees about the centre,
  counter-clockwise;
* Brightness, Color (saturation), Contrast, Sharpness: factor ``1 + m``;
* Posterize ``m`` bits; Solarize above threshold ``m`` (on [0, 1]); AutoContrast, Equalize,
  Identity take no magnitude.

The policies are defined op by op on 8-bit images (PIL's, then torchvision's uint8 tensors):
each op reads the levels the previous op wrote. Every kernel here takes uint8 levels and
returns uint8 levels quantised as torchvision's uint8 kernel does (the colour ops truncate, a
resampling rounds), so that a chain of ops on uint8 reads what the definition reads; each also
takes a float working batch on [0, 1] and then stays float (see
:mod:`augkit.transforms.policy` for what that changes, measured).

A batch is processed per op, not per sample: the samples of one colour op go through its kernel
together (:data:`COLOR_OPS`); all shears and rotations are resampled by one
:func:`augkit.functional.warp` call with their own matrices (:func:`warp_ops`), and all
translations (whole pixels) are shifted exactly by one pad-and-crop gather (:func:`shift_ops`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from . import geometry as G
from .color import adjust_brightness, adjust_contrast, adjust_saturation
from .crop import shifted_crop
from .filter import adjust_sharpness
from .misc import from_working
from .tone import autocontrast, equalize, posterize, solarize
from .warp import warp

#: An op table: name -> (its magnitude bins as a function of ``(num_bins, height, width)``
#: returning a float32 tensor of ``num_bins`` magnitudes, or None for an op without magnitude;
#: whether the magnitude's sign is drawn). torchvision computes the bins in float32, kept here so
#: that thresholds and angles are the same numbers.
Space = dict[str, tuple[Callable[[int, int, int], torch.Tensor] | None, bool]]


def _linspace(lo: float, hi: float) -> Callable[[int, int, int], torch.Tensor]:
    return lambda bins, h, w: torch.linspace(lo, hi, bins)


def _posterize_bits(low: int) -> Callable[[int, int, int], torch.Tensor]:
    return lambda bins, h, w: (8 - (torch.arange(bins) / ((bins - 1) / (8 - low)))).round()


#: TrivialAugmentWide's ops and magnitude bins (torchvision's).
TRIVIAL_AUGMENT_WIDE: Space = {
    "Identity": (None, False),
    "ShearX": (_linspace(0.0, 0.99), True),
    "ShearY": (_linspace(0.0, 0.99), True),
    "TranslateX": (_linspace(0.0, 32.0), True),
    "TranslateY": (_linspace(0.0, 32.0), True),
    "Rotate": (_linspace(0.0, 135.0), True),
    "Brightness": (_linspace(0.0, 0.99), True),
    "Color": (_linspace(0.0, 0.99), True),
    "Contrast": (_linspace(0.0, 0.99), True),
    "Sharpness": (_linspace(0.0, 0.99), True),
    "Posterize": (_posterize_bits(2), False),
    "Solarize": (_linspace(1.0, 0.0), False),
    "AutoContrast": (None, False),
    "Equalize": (None, False),
}

#: RandAugment's ops and magnitude bins (torchvision's): TrivialAugmentWide's ops with
#: narrower ranges, and translations scaled to the image.
RAND_AUGMENT: Space = {
    **TRIVIAL_AUGMENT_WIDE,
    "ShearX": (_linspace(0.0, 0.3), True),
    "ShearY": (_linspace(0.0, 0.3), True),
    "TranslateX": (lambda bins, h, w: torch.linspace(0.0, 150.0 / 331.0 * w, bins), True),
    "TranslateY": (lambda bins, h, w: torch.linspace(0.0, 150.0 / 331.0 * h, bins), True),
    "Rotate": (_linspace(0.0, 30.0), True),
    "Brightness": (_linspace(0.0, 0.9), True),
    "Color": (_linspace(0.0, 0.9), True),
    "Contrast": (_linspace(0.0, 0.9), True),
    "Sharpness": (_linspace(0.0, 0.9), True),
    "Posterize": (_posterize_bits(4), False),
}

#: The ops resampled by one :func:`augkit.functional.warp` call (:func:`warp_ops`).
WARPED_OPS = ("ShearX", "ShearY", "Rotate")
#: The ops that shift by whole pixels, exactly (:func:`shift_ops`).
SHIFT_OPS = ("TranslateX", "TranslateY")
#: The padding of :func:`augkit.functional.shifted_crop` that equals each fill of a warp: an
#: integer shift samples pixel centres, so the warp's fills are these paddings, exactly.
SHIFT_PADDING = {"zeros": "constant", "border": "edge", "reflect": "symmetric"}

#: The colour ops: name -> kernel(batch, magnitudes of shape N), batched over the samples of one op.
COLOR_OPS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "Brightness": lambda x, m: adjust_brightness(x, 1 + m),
    "Color": lambda x, m: adjust_saturation(x, 1 + m),
    "Contrast": lambda x, m: adjust_contrast(x, 1 + m),
    "Sharpness": lambda x, m: adjust_sharpness(x, 1 + m),
    "Posterize": posterize,
    "Solarize": solarize,
    "AutoContrast": lambda x, m: autocontrast(x),
    "Equalize": lambda x, m: equalize(x),
}


def _where_op(names: Sequence[str], op: torch.Tensor, name: str, value: torch.Tensor) -> torch.Tensor:
    """``value`` for the samples whose op is ``name``, 0 elsewhere."""
    index = names.index(name) if name in names else -1
    return torch.where(op == index, value, 0)


def warped_op_matrices(names: Sequence[str], op: torch.Tensor, magnitude: torch.Tensor,
                       size: tuple[int, int]) -> torch.Tensor:
    """Backward maps of ShearX, ShearY and Rotate per sample (identity for the other ops).

    Each sample has one op, so the maps of the ops add up entry by entry.

    Parameters
    ----------
    names : sequence of str
        The policy's op names; ``op`` indexes them.
    op : torch.Tensor
        int64 N.
    magnitude : torch.Tensor
        Shape N: shear factors, rotation angles in degrees.
    size : tuple of int
        ``(H, W)`` of the images.

    Returns
    -------
    torch.Tensor
        float64 N x 3 x 3 in centred pixel coordinates (see :mod:`augkit.functional.geometry`).
    """
    h, w = size
    m = magnitude.double()
    shear_x, shear_y = _where_op(names, op, "ShearX", m), _where_op(names, op, "ShearY", m)
    zero = torch.zeros_like(m)
    # Shears about the top-left corner (-w/2, -h/2) of the centred frame, as offsets to the identity.
    shears = torch.stack([zero, shear_x, shear_x * (h / 2), shear_y, zero, shear_y * (w / 2),
                          zero, zero, zero], 1).view(-1, 3, 3)
    return G.rotation_matrix(_where_op(names, op, "Rotate", m)) + shears


def shift_ops(x: torch.Tensor, names: Sequence[str], op: torch.Tensor, magnitude: torch.Tensor,
              fill: str) -> torch.Tensor:
    """TranslateX / TranslateY by ``int(magnitude)`` whole pixels (content right / down), exactly.

    The pad-and-crop gathers of :func:`augkit.functional.shifted_crop`, padded as the warp fills.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W, any dtype.
    names : sequence of str
        The policy's op names; ``op`` indexes them.
    op : torch.Tensor
        int64 N (samples with other ops are not moved).
    magnitude : torch.Tensor
        Shape N, pixels.
    fill : {"zeros", "border", "reflect"}
        The warp's fill the padding equals (:data:`SHIFT_PADDING`).

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype.
    """
    shift = torch.trunc(magnitude).long()
    dx = _where_op(names, op, "TranslateX", shift)
    dy = _where_op(names, op, "TranslateY", shift)
    pad = int(shift.abs().max()) if len(op) else 0
    return shifted_crop(x, pad - dy, pad - dx, tuple(x.shape[-2:]), pad, SHIFT_PADDING[fill])


def warp_ops(x: torch.Tensor, names: Sequence[str], op: torch.Tensor, magnitude: torch.Tensor,
             interpolation: str, fill: str) -> torch.Tensor:
    """ShearX, ShearY and Rotate per sample, in one :func:`augkit.functional.warp` call.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W, uint8 levels or a working batch on [0, 1].
    names : sequence of str
        The policy's op names; ``op`` indexes them.
    op : torch.Tensor
        int64 N (samples with other ops come back exactly).
    magnitude : torch.Tensor
        Shape N: shear factors, rotation angles in degrees.
    interpolation : {"nearest", "bilinear"}
        ``grid_sample``'s mode.
    fill : {"zeros", "border", "reflect"}
        What is sampled outside the image.

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype: uint8 is rounded to the nearest level, as
        torchvision rounds its resampled uint8 images (nearest sampling reads levels, so it is
        exact).
    """
    size = tuple(x.shape[-2:])
    out = warp(x, [G.Step(warped_op_matrices(names, op, magnitude, size), size, fill)], size, interpolation)
    return from_working(out, x.dtype, inplace=True) if x.dtype == torch.uint8 else out
