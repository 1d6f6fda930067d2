"""Augmentation policies on batches: TrivialAugmentWide (Müller & Hutter 2021) and RandAugment
(Cubuk et al. 2020), with torchvision's op sets and magnitude bins.

Every sample draws its own ops and magnitudes. The batch is then processed per op, not per
sample: the samples that drew one colour op are gathered and go through its kernel together;
all samples that drew a shear or the rotation are resampled by one
:func:`augkit.functional.warp` call with their own matrices, and all that drew a translation
(whole pixels) are shifted exactly by one pad-and-crop gather. The ops and their magnitudes
are torchvision's (``transforms.v2._auto_augment``):

* ShearX / ShearY ``m``: ``x += m y`` (``y += m x``) about the top-left corner (torchvision's
  ``affine(shear=atan(m), center=[0, 0])``);
* TranslateX / TranslateY ``m``: ``int(m)`` pixels; Rotate ``m`` degrees about the centre,
  counter-clockwise; the geometric ops use ``interpolation`` and ``fill`` (torchvision's
  defaults: nearest, zeros);
* Brightness, Color (saturation), Contrast, Sharpness: factor ``1 + m``;
* Posterize ``m`` bits; Solarize above threshold ``m`` (on [0, 1]); AutoContrast, Equalize,
  Identity take no magnitude.

Signed ops flip the sign of their magnitude with probability 1/2. The batch stays float
between RandAugment's ops, where torchvision rounds to uint8 after each (a difference of at
most one level per op).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch

from . import color as C
from . import filters
from . import functional as F
from . import geometry as G
from ._checks import check_choice, check_int
from .base import Params, Shape, Transform, apply_where
from .crop import shifted_crop
from .transforms import _FILLS, _INTERPOLATIONS

# name -> (magnitude bins(num_bins, height, width) or None, signed); torchvision computes the
# bins in float32, kept here so that thresholds and angles are the same numbers.
Space = dict[str, tuple[Callable[[int, int, int], torch.Tensor] | None, bool]]


def _linspace(lo: float, hi: float) -> Callable[[int, int, int], torch.Tensor]:
    return lambda bins, h, w: torch.linspace(lo, hi, bins)


def _posterize_bits(low: int) -> Callable[[int, int, int], torch.Tensor]:
    return lambda bins, h, w: (8 - (torch.arange(bins) / ((bins - 1) / (8 - low)))).round()


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

WARPED_OPS = ("ShearX", "ShearY", "Rotate")
SHIFT_OPS = ("TranslateX", "TranslateY")
# An integer shift samples pixel centres, so the warp's fills are these paddings, exactly.
SHIFT_PADDING = {"zeros": "constant", "border": "edge", "reflect": "symmetric"}

# Colour ops: name -> kernel(batch, magnitudes of shape N).
COLOUR_OPS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "Brightness": lambda x, m: C.adjust_brightness(x, 1 + m),
    "Color": lambda x, m: C.adjust_saturation(x, 1 + m),
    "Contrast": lambda x, m: C.adjust_contrast(x, 1 + m),
    "Sharpness": lambda x, m: filters.adjust_sharpness(x, 1 + m),
    "Posterize": C.posterize,
    "Solarize": C.solarize,
    "AutoContrast": lambda x, m: C.autocontrast(x),
    "Equalize": lambda x, m: C.equalize(x),
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
        float64 N x 3 x 3 in centred pixel coordinates (see :mod:`augkit.geometry`).
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

    The pad-and-crop gathers of :func:`augkit.crop.shifted_crop`, padded as the warp fills.

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


class _Policy(Transform):
    """Shared machinery: the op set, its magnitude table and the grouped application of one op per sample."""

    SPACE: ClassVar[Space]

    def __init__(self, num_magnitude_bins: int, interpolation: str, fill: str, ops: Sequence[str] | None) -> None:
        self.num_magnitude_bins = check_int(num_magnitude_bins, "num_magnitude_bins", minimum=2)
        self.interpolation = check_choice(interpolation, "interpolation", _INTERPOLATIONS)
        self.fill = check_choice(fill, "fill", _FILLS)
        names = tuple(self.SPACE) if ops is None else tuple(ops)
        unknown = [name for name in names if name not in self.SPACE]
        if isinstance(ops, str) or unknown or not names:
            raise ValueError(f"ops must be a non-empty sequence of {type(self).__name__} op names, got "
                             f"{ops!r}{f' (unknown: {unknown})' if unknown else ''}; known: {list(self.SPACE)}")
        self.ops = names

    def _table(self, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(magnitudes float64 ops x bins, 0 for ops without one; signed bool ops)."""
        rows, signed = [], []
        for name in self.ops:
            bins, sign = self.SPACE[name]
            rows.append(torch.zeros(self.num_magnitude_bins) if bins is None
                        else bins(self.num_magnitude_bins, *size).float())
            signed.append(sign)
        return torch.stack(rows).double(), torch.tensor(signed)

    def _magnitudes(self, op: torch.Tensor, index: torch.Tensor, size: tuple[int, int],
                    generator: torch.Generator) -> torch.Tensor:
        """Signed magnitudes of ops ``op`` at bins ``index`` (same shapes, on the generator's device)."""
        table, signed = (t.to(generator.device) for t in self._table(size))
        magnitude = table[op, index]
        flip = torch.rand(op.shape, generator=generator, device=generator.device) <= 0.5
        return torch.where(signed[op] & flip, -magnitude, magnitude)

    def _of(self, op: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
        """bool: the samples whose op is one of ``names``."""
        return torch.isin(op, torch.tensor([self.ops.index(n) for n in names if n in self.ops], device=op.device))

    def _apply_layer(self, x: torch.Tensor, op: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
        """One op per sample, grouped per op (all rotations and shears in one warp, all shifts in
        one exact gather); overwrites and returns ``x``."""
        def warp(sub: torch.Tensor, sub_op: torch.Tensor, sub_m: torch.Tensor) -> torch.Tensor:
            size = tuple(sub.shape[-2:])
            stage = warped_op_matrices(self.ops, sub_op, sub_m, size)
            return F.warp(sub, [G.Step(stage, size, self.fill)], size, self.interpolation)

        shift = lambda sub, sub_op, sub_m: shift_ops(sub, self.ops, sub_op, sub_m, self.fill)
        x = apply_where(x, self._of(op, WARPED_OPS), warp, op, magnitude, inplace=True)
        x = apply_where(x, self._of(op, SHIFT_OPS), shift, op, magnitude, inplace=True)
        for i, name in enumerate(self.ops):
            if name in COLOUR_OPS:
                x = apply_where(x, op == i, COLOUR_OPS[name], magnitude, inplace=True)
        return x

    def _policy_config(self) -> dict[str, Any]:
        return {"num_magnitude_bins": self.num_magnitude_bins, "interpolation": self.interpolation,
                "fill": self.fill, "ops": self.ops}


class TrivialAugmentWide(_Policy):
    """TrivialAugment Wide: each sample gets one op, uniform over ``ops``, at a uniform magnitude bin.

    The bins span each op's range as torchvision's ``TrivialAugmentWide`` table does (see
    :mod:`augkit.policies`). Signed ops flip their sign with probability 1/2 per sample.

    Parameters
    ----------
    num_magnitude_bins : int
        >= 2.
    interpolation : {"nearest", "bilinear"}
        Of the rotations and shears (torchvision's default: nearest).
    fill : {"zeros", "border", "reflect"}
        Outside the image, for the geometric ops (torchvision's default: zeros).
    ops : sequence of str, optional
        The op names used (default all 14: Identity, ShearX, ShearY, TranslateX, TranslateY,
        Rotate, Brightness, Color, Contrast, Sharpness, Posterize, Solarize, AutoContrast,
        Equalize); an unknown name is a ValueError.

    Notes
    -----
    Params: ``op`` (int64 N: index into ``ops``), ``magnitude`` (float64 N: signed, 0 for ops
    without one).
    """

    SPACE = TRIVIAL_AUGMENT_WIDE

    def __init__(self, num_magnitude_bins: int = 31, interpolation: str = "nearest", fill: str = "zeros",
                 ops: Sequence[str] | None = None) -> None:
        super().__init__(num_magnitude_bins, interpolation, fill, ops)

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        n, size = batch_shape[0], tuple(batch_shape[2:])
        op = torch.randint(len(self.ops), (n,), generator=generator, device=generator.device)
        index = torch.randint(self.num_magnitude_bins, (n,), generator=generator, device=generator.device)
        return {"op": op, "magnitude": self._magnitudes(op, index, size, generator)}

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        return self._apply_layer(x if inplace else x.clone(), params["op"], params["magnitude"])

    def get_config(self) -> dict[str, Any]:
        return self._policy_config()


class RandAugment(_Policy):
    """RandAugment: ``num_ops`` ops in sequence per sample, each uniform over ``ops``, at bin ``magnitude``.

    The bins are torchvision's ``RandAugment`` table (see :mod:`augkit.policies`); each sample
    draws its own ops and signs, and the ops are applied column by column, grouped per op.

    Parameters
    ----------
    num_ops : int
        >= 0 ops per sample.
    magnitude : int
        The bin index in ``0 .. num_magnitude_bins - 1`` of every op (torchvision's default 9 of 31).
    num_magnitude_bins : int
        >= 2.
    interpolation, fill, ops
        As in :class:`TrivialAugmentWide`.

    Notes
    -----
    Params: ``op`` (int64 N x num_ops), ``magnitude`` (float64 N x num_ops).
    """

    SPACE = RAND_AUGMENT

    def __init__(self, num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31,
                 interpolation: str = "nearest", fill: str = "zeros", ops: Sequence[str] | None = None) -> None:
        super().__init__(num_magnitude_bins, interpolation, fill, ops)
        self.num_ops = check_int(num_ops, "num_ops", minimum=0)
        self.magnitude = check_int(magnitude, "magnitude", minimum=0, maximum=self.num_magnitude_bins - 1)

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        n, size = batch_shape[0], tuple(batch_shape[2:])
        op = torch.randint(len(self.ops), (n, self.num_ops), generator=generator, device=generator.device)
        return {"op": op, "magnitude": self._magnitudes(op, torch.full_like(op, self.magnitude), size, generator)}

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        x = x if inplace else x.clone()
        for layer in range(self.num_ops):
            x = self._apply_layer(x, params["op"][:, layer], params["magnitude"][:, layer])
        return x

    def get_config(self) -> dict[str, Any]:
        return {"num_ops": self.num_ops, "magnitude": self.magnitude, **self._policy_config()}
