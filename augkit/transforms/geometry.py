"""The geometric transforms: flips, Rotate, Translate, Stretch, Shear, LensDistortion, and their base.

Each is a thin shell: its draws (declared, or in ``sample``) give every sample's parameters,
and ``forward`` applies them with a kernel of :mod:`augkit.functional.warp`. Every geometric
transform (the crops of :mod:`augkit.transforms.crop` too) also exposes ``stage``: its per-sample
backward map (a 3x3 matrix, or a radial lens map, see :mod:`augkit.functional.geometry`) so that
:class:`augkit.Compose` can fuse consecutive geometric transforms into one sampling grid and one
``grid_sample`` call per batch (see :mod:`augkit.fusion`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from conventions import check_choice, check_probability, check_range

from .. import functional as F
from ..functional import geometry as G
from ..params import Params, Shape
from ..sampling import Uniform
from .base import Transform


class _Geometric(Transform):
    """A transform that moves pixels: it has a per-sample backward ``stage`` for fusion."""

    geometric = True
    gated = False  # identity parameters where not applied, see augkit.transforms.base
    #: The transform samples a window that lies inside its input (a scale-crop): its edge taps
    #: clamp as a resize's do, and it never fills.
    window_inside: ClassVar[bool] = False
    #: The transform has an exact kernel of its own for bilinear, :meth:`forward_then_flip` (a
    #: scale-crop, a resized crop), used alone and in runs of flips and colour maps only.
    has_exact_kernel: ClassVar[bool] = False

    def __init__(self, p: float | None, interpolation: str, fill: str) -> None:
        self.p = None if p is None else check_probability(p)
        self.interpolation = check_choice(interpolation, "interpolation", F.INTERPOLATIONS)
        self.fill = check_choice(fill, "fill", F.FILLS)

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
        """This transform as one :class:`augkit.functional.geometry.Step` of a fused run."""
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
    """Mirror left-right each sample with probability ``p``. Params: ``apply`` (bool N).

    Parameters
    ----------
    p : float
        Probability that a sample is mirrored.
    """

    axis = -1


class VerticalFlip(_Flip):
    """Mirror top-bottom each sample with probability ``p``. Params: ``apply`` (bool N).

    Parameters
    ----------
    p : float
        Probability that a sample is mirrored.
    """

    axis = -2


class Rotate(_Geometric):
    """Rotate about the centre by an angle ~ U[lo, hi) degrees (``degrees=d`` means [-d, d]).

    Positive angles turn the content counter-clockwise as displayed. Params: ``apply``
    (bool N), ``angle`` (float64 N, 0 where not applied). Output has the input's shape.

    Parameters
    ----------
    degrees : float or (float, float)
        The angle's range ``(lo, hi)`` in degrees; a number d means ``(-d, d)``.
    p : float
        Probability that a sample is transformed.
    interpolation : {"bilinear", "nearest"}
        The resampling (``grid_sample``'s mode).
    fill : {"zeros", "border", "reflect"}
        What is sampled outside the image: black, the nearest edge pixel, or the mirrored image.
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

    Params: ``apply``, ``dx``, ``dy`` (float64 N, in ``unit``; 0 where not applied).

    Parameters
    ----------
    x, y : float or (float, float)
        The ranges of the shift right and down; a number v means ``(-v, v)``.
    unit : {"fraction", "pixels"}
        ``x`` and ``y`` as fractions of the image width and height, or in pixels (sub-pixel
        shifts are interpolated).
    p : float
        Probability that a sample is transformed.
    interpolation : {"bilinear", "nearest"}
        The resampling (``grid_sample``'s mode).
    fill : {"zeros", "border", "reflect"}
        What is sampled outside the image: black, the nearest edge pixel, or the mirrored image.
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

    Params: ``apply``, ``x_scale``, ``y_scale`` (float64 N, 1 where not applied).

    Parameters
    ----------
    x, y : float or (float, float)
        The ranges of the horizontal and vertical factors, > 0; a number v means
        ``(1 - v, 1 + v)``.
    p : float
        Probability that a sample is transformed.
    interpolation : {"bilinear", "nearest"}
        The resampling (``grid_sample``'s mode).
    fill : {"zeros", "border", "reflect"}
        What is sampled outside the image: black, the nearest edge pixel, or the mirrored image.
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

    A shear along one axis slides rows
    (columns) along themselves and shrinks nothing, so it is plain bilinear, never supersampled;
    an x-shear followed by a y-shear of the other sign spreads the rows apart and is antialiased
    like any minifying map (see :func:`augkit.functional.geometry.supersample_factors`). Params: ``apply``,
    ``x_angle``, ``y_angle`` (float64 N, 0 where not applied).

    Parameters
    ----------
    x, y : float or (float, float)
        The ranges of the angles ``ax`` and ``ay`` in degrees, inside (-90, 90); a number v
        means ``(-v, v)``.
    p : float
        Probability that a sample is transformed.
    interpolation : {"bilinear", "nearest"}
        The resampling (``grid_sample``'s mode).
    fill : {"zeros", "border", "reflect"}
        What is sampled outside the image: black, the nearest edge pixel, or the mirrored image.
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

    Parameters
    ----------
    k1, k2 : float or (float, float)
        The coefficients' ranges; a number v means ``(-v, v)``.
    p : float
        Probability that a sample is transformed.
    interpolation : {"bilinear", "nearest"}
        The resampling (``grid_sample``'s mode).
    fill : {"zeros", "border", "reflect"}
        What is sampled outside the image: black, the nearest edge pixel, or the mirrored image.
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
