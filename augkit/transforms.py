"""The geometric transforms, Gaussian noise and Normalize, over the base of :mod:`augkit.base`.

Each is a thin shell: its draws (declared, or in ``sample``) give every sample's parameters,
and ``forward`` applies them with a pure kernel from :mod:`augkit.functional`. Geometric
transforms also expose ``stage``: their per-sample backward map (a 3x3 matrix, or a radial lens
map) so that :class:`augkit.Compose` can fuse consecutive geometric transforms into one sampling
grid and one ``grid_sample`` call per batch.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from . import functional as F
from . import geometry as G
from ._checks import check_choice, check_probability, check_range, check_size
from .base import Params, Shape, Transform, Uniform, uniform

_INTERPOLATIONS = ("bilinear", "nearest")
_FILLS = ("zeros", "border", "reflect")


class _Geometric(Transform):
    """A transform that moves pixels: it has a per-sample backward ``stage`` for fusion."""

    geometric = True
    gated = False  # identity parameters where not applied, see augkit.base
    #: The transform samples a window that lies inside its input (a scale-crop): its edge taps
    #: clamp as a resize's do, and it never fills.
    window_inside: ClassVar[bool] = False
    #: The transform has an exact kernel of its own for bilinear, :meth:`forward_then_flip` (a
    #: scale-crop, a resized crop), used alone and in runs of flips and colour maps only.
    has_exact_kernel: ClassVar[bool] = False

    def __init__(self, p: float | None, interpolation: str, fill: str) -> None:
        self.p = None if p is None else check_probability(p)
        self.interpolation = check_choice(interpolation, "interpolation", _INTERPOLATIONS)
        self.fill = check_choice(fill, "fill", _FILLS)

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """Output (H, W) for an input (H, W)."""
        return size

    @property
    def _reads_uint8(self) -> bool:
        return True

    def output_shape(self, shape: Shape) -> Shape:
        return (*shape[:2], *self.output_size(tuple(shape[2:])))

    def stage(self, params: Params, in_size: tuple[int, int]) -> torch.Tensor | G.Radial:
        """Per-sample backward map in centred pixel coordinates of the input (see geometry)."""
        raise NotImplementedError

    def step(self, params: Params, in_size: tuple[int, int]) -> G.Step:
        """This transform as one :class:`augkit.geometry.Step` of a fused run."""
        fill = None if self.window_inside or self.interpolation is None else self.fill
        return G.Step(self.stage(params, in_size), tuple(in_size), fill)

    @property
    def exact_alone(self) -> bool:
        """Whether a run of this transform with flips and colour maps only uses its own exact
        kernel (:meth:`forward_then_flip`) rather than the fused grid."""
        return self.has_exact_kernel and self.interpolation == "bilinear"

    def forward_then_flip(self, x: torch.Tensor, params: Params, flips: torch.Tensor | None) -> torch.Tensor:
        """The exact kernel, then the per-sample flips ``flips`` (bool N x 2: vertical, horizontal)
        of the flip transforms that follow it in a run (transforms with ``has_exact_kernel``)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        if self.exact_alone:
            return self.forward_then_flip(x, params, None)
        size = tuple(x.shape[-2:])
        return F.warp(x, [self.step(params, size)], self.output_size(size), self.interpolation)

    def _resample_config(self) -> dict[str, Any]:
        return {"p": self.p, "interpolation": self.interpolation, "fill": self.fill}


class _Flip(_Geometric):
    """Mirror with probability p. Alone it is an exact index flip; fused it is a matrix."""

    axis: ClassVar[int]

    def __init__(self, p: float = 0.5) -> None:
        self.p = check_probability(p)
        # Flips map pixel centres onto pixel centres, so they never set the resampling mode.
        self.interpolation, self.fill = None, None

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        flip = F.hflip if self.axis == -1 else F.vflip
        return flip(x, params["apply"], inplace=inplace)

    def stage(self, params: Params, in_size: tuple[int, int]) -> torch.Tensor:
        no = torch.zeros_like(params["apply"])
        return G.flip_matrix(params["apply"], no) if self.axis == -1 else G.flip_matrix(no, params["apply"])

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p}


class HorizontalFlip(_Flip):
    """Mirror left-right each sample with probability ``p``. Params: ``apply`` (bool N)."""

    axis = -1


class VerticalFlip(_Flip):
    """Mirror top-bottom each sample with probability ``p``. Params: ``apply`` (bool N)."""

    axis = -2


class RandomScaleCrop(_Geometric):
    """Scale augmentation of He et al. (2015): shorter side to L ~ U{lo..hi}, random crop.

    Per sample: an integer ``L`` uniform in ``[scale[0], scale[1]]`` inclusive; the image is
    resized so its shorter side is ``L`` and the other side is ``round(side * L / shorter)``;
    a ``size`` window (int or (h, w)) is cropped at an integer offset uniform over all positions
    in the rescaled image. A sample not drawn (prob. ``1 - p``) gets the test view:
    ``L = scale[0]``, centred crop.

    The result is *resize, then crop*. ``interpolation="bilinear"`` (default) is the antialiased
    bilinear of Pillow and ``torchvision``'s ``resize(antialias=True)``: a triangle kernel
    widened by the scale factor when shrinking, plain bilinear when enlarging, taps clamped at
    the image edges (the window lies inside the image, so ``fill`` is unused). Only the window is
    computed (:func:`augkit.functional.scale_crop_antialias`); uint8 batches on the CPU stay
    uint8 through the SIMD kernel of ``interpolate`` (fixed point: within one level of the float
    result). This holds alone and in a Compose whose other members of the run are flips and
    per-image colour maps. Fused with a rotation, shear, stretch, translation or lens map into
    one resampling, the scale-crop becomes part of one sampling grid: bilinear taps (clamped),
    antialiased by each sample's own box supersampling when the window is larger than the
    output (see :func:`augkit.functional.warp`); on smooth images that box filter stays within
    about 0.02 (mean absolute, [0, 1] scale) of the triangle filter, and where the window is not
    larger than the output the two agree to float rounding. ``"nearest"``: nearest-neighbour
    resize (the pixel whose area holds the sample point), then crop; no filtering.
    ``"antialias"`` is accepted as the former name of ``"bilinear"``.

    Params: ``apply`` (bool N), ``length`` (int64 N: L), ``top``, ``left`` (int64 N: crop offset
    in the rescaled image). Output N x C x h x w.
    """

    window_inside = True
    has_exact_kernel = True

    def __init__(self, size: int | tuple[int, int], scale: int | tuple[int, int], p: float = 1.0,
                 interpolation: str = "bilinear", fill: str = "zeros") -> None:
        if interpolation == "antialias":  # its former name, kept so saved pipelines load
            interpolation = "bilinear"
        super().__init__(p, interpolation, fill)
        self.size = check_size(size)
        lo, hi = check_range(scale, "scale", symmetric_about=None, minimum=1)
        if lo != int(lo) or hi != int(hi):
            raise ValueError(f"scale must be integer shorter-side lengths, got {scale!r}")
        self.scale = (int(lo), int(hi))

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        h, w = self._scaled(size, torch.tensor([self.scale[0]]))
        if int(h) < self.size[0] or int(w) < self.size[1]:
            raise ValueError(f"crop size {self.size} is larger than the image {tuple(size)} "
                             f"rescaled to shorter side scale[0]={self.scale[0]} "
                             f"({int(h)} x {int(w)})")
        return self.size

    @staticmethod
    def _scaled(size: tuple[int, int], length: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = size
        short = min(h, w)
        length = length.double()
        return torch.round(h * length / short).long(), torch.round(w * length / short).long()

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        n, size = batch_shape[0], tuple(batch_shape[2:])
        lo, hi = self.scale
        length = torch.randint(lo, hi + 1, (n,), generator=generator, device=generator.device)
        length = torch.where(apply, length, lo)
        h, w = self._scaled(size, length)
        room_y, room_x = h - self.size[0], w - self.size[1]
        top = (uniform(n, 0, 1, generator) * (room_y + 1)).long().clamp_(max=room_y)
        left = (uniform(n, 0, 1, generator) * (room_x + 1)).long().clamp_(max=room_x)
        top = torch.where(apply, top, room_y // 2)
        left = torch.where(apply, left, room_x // 2)
        return {"length": length, "top": top, "left": left}

    def forward_then_flip(self, x: torch.Tensor, params: Params, flips: torch.Tensor | None) -> torch.Tensor:
        """The exact resize-then-crop, then the per-sample flips ``flips`` (bool N x 2: vertical,
        horizontal) of the flip transforms that follow it, done while the crop is copied out."""
        h, w = self._scaled(tuple(x.shape[-2:]), params["length"])
        return F.scale_crop_antialias(x, torch.stack([h, w], 1), params["top"], params["left"],
                                      self.size, flips)

    def stage(self, params: Params, in_size: tuple[int, int]) -> torch.Tensor:
        h, w = self._scaled(in_size, params["length"])
        return G.scale_crop_matrix(in_size, torch.stack([h, w], 1), params["top"], params["left"],
                                   self.size)

    def get_config(self) -> dict[str, Any]:
        return {"size": self.size, "scale": self.scale, **self._resample_config()}


class Rotate(_Geometric):
    """Rotate about the centre by an angle ~ U[lo, hi) degrees (``degrees=d`` means [-d, d]).

    Positive angles turn the content counter-clockwise as displayed. Params: ``apply``
    (bool N), ``angle`` (float64 N, 0 where not applied). Output has the input's shape.
    """

    draws = (Uniform("angle", "degrees", 0.0),)

    def __init__(self, degrees: float | tuple[float, float], p: float = 1.0,
                 interpolation: str = "bilinear", fill: str = "zeros") -> None:
        super().__init__(p, interpolation, fill)
        self.degrees = check_range(degrees, "degrees")

    def stage(self, params: Params, in_size: tuple[int, int]) -> torch.Tensor:
        return G.rotation_matrix(params["angle"])

    def get_config(self) -> dict[str, Any]:
        return {"degrees": self.degrees, **self._resample_config()}


class Translate(_Geometric):
    """Shift the content by (dx, dy), each ~ U[lo, hi) per axis (x right, y down).

    ``x``/``y``: a number v means [-v, v]; ``unit="fraction"`` of the image width/height or
    ``"pixels"`` (sub-pixel shifts are interpolated). Params: ``apply``, ``dx``, ``dy``
    (float64 N, in ``unit``; 0 where not applied).
    """

    draws = (Uniform("dx", "x", 0.0), Uniform("dy", "y", 0.0))

    def __init__(self, x: float | tuple[float, float] = 0.0, y: float | tuple[float, float] = 0.0,
                 unit: str = "fraction", p: float = 1.0, interpolation: str = "bilinear",
                 fill: str = "zeros") -> None:
        super().__init__(p, interpolation, fill)
        self.x, self.y = check_range(x, "x"), check_range(y, "y")
        self.unit = check_choice(unit, "unit", ("fraction", "pixels"))

    def stage(self, params: Params, in_size: tuple[int, int]) -> torch.Tensor:
        h, w = in_size if self.unit == "fraction" else (1, 1)
        return G.translation_matrix(params["dx"] * w, params["dy"] * h)

    def get_config(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "unit": self.unit, **self._resample_config()}


class Stretch(_Geometric):
    """Scale x and y independently about the centre by factors ~ U[lo, hi) (> 0).

    A number v means [1 - v, 1 + v]. Params: ``apply``, ``x_scale``, ``y_scale`` (float64 N,
    1 where not applied).
    """

    draws = (Uniform("x_scale", "x", 1.0), Uniform("y_scale", "y", 1.0))

    def __init__(self, x: float | tuple[float, float] = 0.0, y: float | tuple[float, float] = 0.0,
                 p: float = 1.0, interpolation: str = "bilinear", fill: str = "zeros") -> None:
        super().__init__(p, interpolation, fill)
        self.x = check_range(x, "x", symmetric_about=1.0, minimum=0.0, exclusive_minimum=True)
        self.y = check_range(y, "y", symmetric_about=1.0, minimum=0.0, exclusive_minimum=True)

    def stage(self, params: Params, in_size: tuple[int, int]) -> torch.Tensor:
        return G.stretch_matrix(params["x_scale"], params["y_scale"])

    def get_config(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, **self._resample_config()}


class Shear(_Geometric):
    """Shear by angles ~ U[lo, hi) degrees: ``x += tan(ax) y`` then ``y += tan(ay) x``.

    A number v means [-v, v]; angles must lie in (-90, 90). A shear along one axis slides rows
    (columns) along themselves and shrinks nothing, so it is plain bilinear, never supersampled;
    an x-shear followed by a y-shear of the other sign spreads the rows apart and is antialiased
    like any minifying map (see :func:`augkit.geometry.supersample_factors`). Params: ``apply``,
    ``x_angle``, ``y_angle`` (float64 N, 0 where not applied).
    """

    draws = (Uniform("x_angle", "x", 0.0), Uniform("y_angle", "y", 0.0))

    def __init__(self, x: float | tuple[float, float] = 0.0, y: float | tuple[float, float] = 0.0,
                 p: float = 1.0, interpolation: str = "bilinear", fill: str = "zeros") -> None:
        super().__init__(p, interpolation, fill)
        self.x, self.y = check_range(x, "x"), check_range(y, "y")
        for name, (lo, hi) in (("x", self.x), ("y", self.y)):
            if lo <= -90 or hi >= 90:
                raise ValueError(f"{name} shear angles must lie in (-90, 90) degrees, got {(lo, hi)}")

    def stage(self, params: Params, in_size: tuple[int, int]) -> torch.Tensor:
        return G.shear_matrix(params["x_angle"], params["y_angle"])

    def get_config(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, **self._resample_config()}


class LensDistortion(_Geometric):
    """Radial barrel/pincushion distortion ``r_src = r (1 + k1 r^2 + k2 r^4)``.

    ``r`` is measured in normalised coordinates (the image spans [-1, 1] on each axis, so
    r = 1 at the middle of each edge). k1, k2 ~ U[lo, hi) (a number v means [-v, v]); k > 0
    samples farther out (barrel-looking shrink of the content toward the centre), k < 0 nearer.
    Params: ``apply``, ``k1``, ``k2`` (float64 N, 0 where not applied).
    """

    draws = (Uniform("k1", "k1", 0.0), Uniform("k2", "k2", 0.0))

    def __init__(self, k1: float | tuple[float, float] = 0.0, k2: float | tuple[float, float] = 0.0,
                 p: float = 1.0, interpolation: str = "bilinear", fill: str = "zeros") -> None:
        super().__init__(p, interpolation, fill)
        self.k1, self.k2 = check_range(k1, "k1"), check_range(k2, "k2")

    def stage(self, params: Params, in_size: tuple[int, int]) -> G.Radial:
        return G.Radial(params["k1"], params["k2"], in_size)

    def get_config(self) -> dict[str, Any]:
        return {"k1": self.k1, "k2": self.k2, **self._resample_config()}


class GaussianNoise(Transform):
    """Add N(0, sigma_n^2) noise per pixel (on the [0, 1] scale) and clamp to [0, 1].

    ``sigma``: a number (fixed) or a (lo, hi) range drawn per sample, >= 0. Params: ``apply``,
    ``sigma`` (float64 N, 0 where not applied), ``seed`` (0-d int64: the noise field's seed,
    drawn on the batch's device).
    """

    draws = (Uniform("sigma", "sigma", 0.0),)

    def __init__(self, sigma: float | tuple[float, float], p: float = 1.0) -> None:
        self.sigma = check_range(sigma, "sigma", symmetric_about=None, minimum=0.0)
        self.p = check_probability(p)

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        return {"seed": torch.randint(0, 2**62, (), generator=generator, device=generator.device)}

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        return F.gaussian_noise(x, params["sigma"], params["seed"])

    def get_config(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "p": self.p}


class Normalize(Transform):
    """``(x - mean_c) / std_c`` per channel on the [0, 1] scale; deterministic, no ``p``.

    The output is float (float32 for uint8 input, else the input's float dtype) and leaves
    [0, 1], so Normalize must be the last transform of a pipeline. ``mean``/``std``: one
    value per channel (or one value for all); ``std > 0``. Params: empty dict.
    """

    def __init__(self, mean: float | tuple[float, ...], std: float | tuple[float, ...]) -> None:
        self.mean = self._per_channel(mean, "mean")
        self.std = self._per_channel(std, "std")
        if min(self.std) <= 0:
            raise ValueError(f"std must be > 0, got {std!r}")

    @staticmethod
    def _per_channel(value: Any, name: str) -> tuple[float, ...]:
        values = (value,) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        try:
            values = tuple(float(v) for v in values)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number or a sequence of numbers, got {value!r}") from None
        if len(values) not in (1, 3) or not all(abs(v) < float("inf") for v in values):
            raise ValueError(f"{name} must hold 1 or 3 finite numbers, got {value!r}")
        return values

    @property
    def keeps_range(self) -> bool:
        return False

    def output_shape(self, shape: Shape) -> Shape:
        if (len(self.mean) == 3 and shape[1] != 3) or (len(self.std) == 3 and shape[1] != 3):
            raise ValueError(f"Normalize has 3 channel statistics but the batch has C={shape[1]}")
        return shape

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        return F.normalize(x, self.mean, self.std)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std}
