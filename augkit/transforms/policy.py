"""The augmentation policies: TrivialAugmentWide (Müller & Hutter 2021) and RandAugment (Cubuk et al. 2020).

Thin shells over :mod:`augkit.functional.policy` (torchvision's op tables and per-op kernels).
Every sample draws its own ops and magnitudes; the batch is then processed per op, not per
sample. The geometric ops use ``interpolation`` and ``fill`` (torchvision's defaults: nearest,
zeros). Signed ops flip the sign of their magnitude with probability 1/2.

uint8 and float batches. The policies are defined op by op on 8-bit images, and a threshold
or a lookup (Solarize, Posterize, Equalize) after another op reads the levels that op wrote.
A uint8 batch (the policy called on it, or reaching it in a Compose through transforms that
keep uint8, such as flips and crops) therefore stays uint8: every op writes uint8 levels as
torchvision's uint8 kernel does (the colour ops truncate, the resampling rounds), and the next
op reads them. A float batch stays float between ops, unrounded: its Posterize, Solarize and
Equalize read the level ``round(255 x)`` of each value, where torchvision's float kernels floor
``2^bits x``, compare ``x`` itself and truncate ``255.999 x``.

Measured against torchvision 0.29.1 on the CPU (1024 images, 32 x 32 photo crops and noise;
each sample's ops and magnitudes replayed into torchvision's op kernels), max absolute difference in
levels and share of values more than one level apart:

* uint8, nearest (the default): 0 levels, 0% for TrivialAugmentWide, TrivialAugmentWide twice,
  RandAugment(2, 9) and RandAugment(3, 17): torchvision's images exactly. The exception is a
  nearest sample exactly halfway between two pixels, which augkit's float64 maps and
  torchvision's float32 grid may break differently: RandAugment's shear at bin 20 (0.2, which
  moves every fifth row of a 32-pixel image by a whole pixel and a half) puts 0.05% of the
  values of RandAugment(2, 20) on the neighbouring pixel (up to 255 levels after a threshold;
  0.02% more than one level).
* uint8, bilinear: each resampled value is rounded from float values that may differ in the
  last bits, so a level may differ by one, and a following threshold may flip it:
  RandAugment(2, 9) 0.05% of values differ, up to 102 levels, 0.002% by more than one.
* float: one op agrees with torchvision's float kernel to within one level (Posterize; the
  others to 1e-6): TrivialAugmentWide max 0.996 levels. In chains a Posterize, Solarize or
  Equalize after another op reads values between levels and may land in another bin than
  torchvision's float path puts it: 0.6% (TrivialAugmentWide twice), 0.8% (RandAugment(2, 9)),
  1.5% (RandAugment(3, 17)) of values more than one level apart, up to 255.

Command: ``python benchmarks/torchvision_fidelity.py`` (with torchvision installed). The tests
in ``tests/augkit/transforms/test_policy.py`` assert the exact uint8 chains, the per-op bounds
and the float chains' bound where no Posterize, Solarize or Equalize follows another op.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from conventions import check_choice, check_int

from .. import functional as F
from ..params import Params, Shape
from .base import Transform, apply_where


class _Policy(Transform):
    """Shared machinery: the op set, its magnitude table and the grouped application of one op per sample."""

    SPACE: ClassVar[F.Space]

    def __init__(self, num_magnitude_bins: int, interpolation: str, fill: str, ops: Sequence[str] | None) -> None:
        self.num_magnitude_bins = check_int(num_magnitude_bins, "num_magnitude_bins", minimum=2)
        self.interpolation = check_choice(interpolation, "interpolation", F.INTERPOLATIONS)
        self.fill = check_choice(fill, "fill", F.FILLS)
        names = tuple(self.SPACE) if ops is None else tuple(ops)
        unknown = [name for name in names if name not in self.SPACE]
        if isinstance(ops, str) or unknown or not names:
            raise ValueError(f"ops must be a non-empty sequence of {type(self).__name__} op names, got "
                             f"{ops!r}{f' (unknown: {unknown})' if unknown else ''}; known: {list(self.SPACE)}")
        self.ops = names

    @property
    def _reads_uint8(self) -> bool:
        return True  # uint8 in, each op quantised as torchvision's uint8 kernel, uint8 out

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
        warp = lambda sub, sub_op, sub_m: F.warp_ops(sub, self.ops, sub_op, sub_m, self.interpolation, self.fill)
        shift = lambda sub, sub_op, sub_m: F.shift_ops(sub, self.ops, sub_op, sub_m, self.fill)
        x = apply_where(x, self._of(op, F.WARPED_OPS), warp, op, magnitude, inplace=True)
        x = apply_where(x, self._of(op, F.SHIFT_OPS), shift, op, magnitude, inplace=True)
        for i, name in enumerate(self.ops):
            if name in F.COLOR_OPS:
                x = apply_where(x, op == i, F.COLOR_OPS[name], magnitude, inplace=True)
        return x

    def _policy_config(self) -> dict[str, Any]:
        return {"num_magnitude_bins": self.num_magnitude_bins, "interpolation": self.interpolation,
                "fill": self.fill, "ops": self.ops}


class TrivialAugmentWide(_Policy):
    """TrivialAugment Wide: each sample gets one op, uniform over ``ops``, at a uniform magnitude bin.

    The bins span each op's range as torchvision's ``TrivialAugmentWide`` table does (see
    :mod:`augkit.functional.policy`). Signed ops flip their sign with probability 1/2 per sample.

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
    A uint8 batch comes back uint8, quantised after the op as torchvision's uint8 kernel (its
    images exactly with nearest interpolation); a float batch stays float (see
    :mod:`augkit.transforms.policy` for both, measured).

    Params: ``op`` (int64 N: index into ``ops``), ``magnitude`` (float64 N: signed, 0 for ops
    without one).
    """

    SPACE = F.TRIVIAL_AUGMENT_WIDE

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

    The bins are torchvision's ``RandAugment`` table (see :mod:`augkit.functional.policy`); each sample
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
    A uint8 batch stays uint8 from op to op, each quantised as torchvision's uint8 kernel, so
    that a Solarize, Posterize or Equalize reads the levels the op before it wrote (with nearest
    interpolation torchvision's images exactly); a float batch stays float between ops (see
    :mod:`augkit.transforms.policy` for both, measured).

    Params: ``op`` (int64 N x num_ops), ``magnitude`` (float64 N x num_ops).
    """

    SPACE = F.RAND_AUGMENT

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
