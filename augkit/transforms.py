"""Batched transforms with per-sample random parameters.

Each transform is a thin shell: ``make_params`` draws every sample's parameters (a dict of
tensors whose leading dimension is N), and ``forward`` applies them with a pure kernel from
:mod:`augkit.functional`. Geometric transforms also expose ``stage``: their per-sample backward
map (a 3x3 matrix, or a radial lens map) so that :class:`augkit.Compose` can fuse consecutive
geometric transforms into one sampling grid and one ``grid_sample`` call per batch.

Randomness: parameters are drawn on the generator's device (the CPU for ``None`` = torch's
default generator and for int seeds) and then moved to the batch's device, so a CPU generator
gives the same parameters for a CPU and a CUDA batch. The only exception is the per-pixel noise
field of :class:`GaussianNoise`, drawn on the batch's device from a seed in its parameters.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import torch

from . import functional as F
from . import geometry as G
from ._checks import as_batch, as_generator, check_choice, check_probability, check_range, check_size

Shape = tuple[int, int, int, int]
Params = dict[str, Any]

_REGISTRY: dict[str, type[Transform]] = {}
_INTERPOLATIONS = ("bilinear", "nearest")
_FILLS = ("zeros", "border", "reflect")


# ---------------------------------------------------------------- parameter helpers
def uniform(n: int, lo: float, hi: float, generator: torch.Generator) -> torch.Tensor:
    """N float64 draws from U[lo, hi) on the generator's device."""
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device)
    return lo + (hi - lo) * u


def coin(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """N bool draws, each True with probability ``p``."""
    return torch.rand(n, generator=generator, device=generator.device) < p


def uniform_where(apply: torch.Tensor, value_range: tuple[float, float], neutral: float,
                  generator: torch.Generator) -> torch.Tensor:
    """Per sample, U[lo, hi) where ``apply`` is set and the identity value ``neutral`` elsewhere."""
    return torch.where(apply, uniform(len(apply), *value_range, generator), neutral)


def params_to(params: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) parameter structure to ``device``."""
    if isinstance(params, torch.Tensor):
        return params.to(device)
    if isinstance(params, dict):
        return {k: params_to(v, device) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return [params_to(v, device) for v in params]
    return params


def index_params(params: Any, index: torch.Tensor) -> Any:
    """Select samples ``index`` (bool mask or indices) in every per-sample tensor (ndim >= 1)."""
    if isinstance(params, torch.Tensor):
        return params[index] if params.dim() >= 1 else params
    if isinstance(params, dict):
        return {k: index_params(v, index) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return [index_params(v, index) for v in params]
    return params


def check_params_batch(params: Any, n: int) -> None:
    """Raise ValueError unless every per-sample tensor in ``params`` has leading dimension n."""
    if isinstance(params, torch.Tensor):
        if params.dim() >= 1 and params.shape[0] != n:
            raise ValueError(f"params were drawn for {params.shape[0]} samples but the batch has {n}")
    elif isinstance(params, dict):
        for v in params.values():
            check_params_batch(v, n)
    elif isinstance(params, (list, tuple)):
        for v in params:
            check_params_batch(v, n)
    else:
        raise TypeError(f"params must be the nested dict returned with return_params=True, "
                        f"found {type(params).__name__}")


def shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``a`` and ``b`` live in the same storage (so writing into one changes the other)."""
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return value


# ---------------------------------------------------------------- base classes
class Transform:
    """Base of every transform and container.

    Call as ``t(batch, generator=None, return_params=False)``: ``batch`` is N x C x H x W
    (C = 1 or 3), uint8 [0, 255] or float [0, 1], CPU or CUDA, or a single PIL image / numpy
    H x W x C uint8 image (returned as the same kind). The output has the input's dtype and
    device (uint8 is rounded to nearest) unless the transform says otherwise (Normalize).
    ``generator`` is a torch.Generator, an int seed (a fresh CPU generator) or None (torch's
    default generator); the same seed gives the same output. N = 0 returns an empty batch.
    """

    geometric: ClassVar[bool] = False
    #: A per-image affine colour map (x -> A_n x + b_n per pixel, see :meth:`colour_map`): it
    #: commutes with resampling, so a Compose keeps it inside a geometric run (one resampling).
    colour_affine: ClassVar[bool] = False

    @property
    def _reads_uint8(self) -> bool:
        """Whether ``forward`` also takes the raw uint8 batch [0, 255]; it then returns a float
        working batch, or a uint8 batch whose values are exact (flips, the SIMD antialiased
        crop), which is never converted. Resampling then converts only the pixels it reads."""
        return False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _REGISTRY[cls.__name__] = cls

    @property
    def keeps_range(self) -> bool:
        """Whether the output stays on [0, 1] (and so can go back to uint8)."""
        return True

    # -- what subclasses define
    def output_shape(self, shape: Shape) -> Shape:
        """Validate an input batch shape (N, C, H, W) and return the output shape."""
        return shape

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        """Draw per-sample parameters for a batch of ``batch_shape``: dict of tensors on ``device``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        """Apply ``params`` to a working batch (float N x C x H x W on [0, 1])."""
        raise NotImplementedError

    def _forward(self, x: torch.Tensor, params: Params, inplace: bool) -> torch.Tensor:
        """:meth:`forward`, allowed to overwrite ``x`` when ``inplace`` (x is a pipeline's own
        intermediate, never the caller's batch); elementwise transforms use it to skip an
        allocation. Same result as :meth:`forward`."""
        return self.forward(x, params)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-safe."""
        raise NotImplementedError

    def colour_map(self, params: Params, channels: int) -> F.Colour:
        """For ``colour_affine`` transforms: the per-image map ``v -> A_n v + b_n`` of ``params``."""
        raise NotImplementedError

    # -- shared machinery
    def __call__(self, batch: Any, generator: torch.Generator | int | None = None,
                 return_params: bool = False) -> Any:
        x, restore = as_batch(batch)
        shape = tuple(x.shape)
        self.output_shape(shape)
        params = self.make_params(shape, as_generator(generator), x.device)
        out = restore(self._run(x, params))
        return (out, params) if return_params else out

    def replay(self, batch: Any, params: Params) -> Any:
        """Apply exactly ``params`` (from ``return_params=True``) to a batch of the same N (and,
        for size-dependent transforms, the same H and W), e.g. to warp a mask identically."""
        x, restore = as_batch(batch)
        check_params_batch(params, x.shape[0])
        return restore(self._run(x, params_to(params, x.device)))

    def _run(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        shape = self.output_shape(tuple(x.shape))
        out_dtype = x.dtype if self.keeps_range or x.dtype != torch.uint8 else torch.float32
        if x.shape[0] == 0:
            return x.new_empty(shape, dtype=out_dtype)
        working = x if x.dtype == torch.uint8 and self._reads_uint8 else F.to_working(x)
        y = self._forward(working, params, inplace=working is not x)
        if not self.keeps_range:
            return y.to(out_dtype)
        if y.dtype == torch.uint8:  # exact values from a uint8-reading forward (x is uint8)
            return y.clone() if shares_memory(y, x) else y
        return F.from_working(y, x.dtype, inplace=not shares_memory(y, x))

    def to_json(self) -> str:
        """JSON text that :meth:`from_json` turns back into an equal transform."""
        return json.dumps(self.to_config())

    def to_config(self) -> dict[str, Any]:
        """``{"name": class name, **constructor arguments}``, JSON-safe."""
        return {"name": type(self).__name__, **{k: _jsonable(v) for k, v in self.get_config().items()}}

    @classmethod
    def from_json(cls, text: str) -> Transform:
        """Rebuild a transform (any built-in, containers included) from :meth:`to_json` text."""
        obj = transform_from_config(json.loads(text))
        if not isinstance(obj, cls):
            raise ValueError(f"JSON describes a {type(obj).__name__}, not a {cls.__name__}")
        return obj

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Transform:
        """Build from :meth:`get_config`'s dict (without "name")."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_config() == other.to_config()

    __hash__ = None  # mutable configuration: unhashable, like a list


def transform_from_config(config: dict[str, Any]) -> Transform:
    """Build any registered transform from ``{"name": ..., **arguments}``."""
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"a transform config must be a dict with a 'name', got {config!r}")
    config = dict(config)
    name = config.pop("name")
    if name not in _REGISTRY:
        raise ValueError(f"unknown transform name {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name].from_config(config)


class _Geometric(Transform):
    """A transform that moves pixels: it has a per-sample backward ``stage`` for fusion."""

    geometric = True
    #: The transform samples a window that lies inside its input (a scale-crop): its edge taps
    #: clamp as a resize's do, and it never fills.
    window_inside: ClassVar[bool] = False

    def __init__(self, p: float, interpolation: str, fill: str) -> None:
        self.p = check_probability(p)
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

    def forward(self, x: torch.Tensor, params: Params) -> torch.Tensor:
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

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        return {"apply": coin(batch_shape[0], self.p, generator).to(device)}

    def forward(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        return self._forward(x, params, inplace=False)

    def _forward(self, x: torch.Tensor, params: Params, inplace: bool) -> torch.Tensor:
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

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        n, size = batch_shape[0], tuple(batch_shape[2:])
        apply = coin(n, self.p, generator)
        lo, hi = self.scale
        length = torch.randint(lo, hi + 1, (n,), generator=generator, device=generator.device)
        length = torch.where(apply, length, lo)
        h, w = self._scaled(size, length)
        room_y, room_x = h - self.size[0], w - self.size[1]
        top = (uniform(n, 0, 1, generator) * (room_y + 1)).long().clamp_(max=room_y)
        left = (uniform(n, 0, 1, generator) * (room_x + 1)).long().clamp_(max=room_x)
        top = torch.where(apply, top, room_y // 2)
        left = torch.where(apply, left, room_x // 2)
        return params_to({"apply": apply, "length": length, "top": top, "left": left}, device)

    @property
    def exact_alone(self) -> bool:
        """Whether a run of this transform with flips and colour maps only uses its own exact
        resize-then-crop kernel rather than the fused grid."""
        return self.interpolation == "bilinear"

    def forward(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        if not self.exact_alone:
            return super().forward(x, params)
        return self.forward_then_flip(x, params, None)

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

    def __init__(self, degrees: float | tuple[float, float], p: float = 1.0,
                 interpolation: str = "bilinear", fill: str = "zeros") -> None:
        super().__init__(p, interpolation, fill)
        self.degrees = check_range(degrees, "degrees")

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        n = batch_shape[0]
        apply = coin(n, self.p, generator)
        angle = uniform_where(apply, self.degrees, 0.0, generator)
        return params_to({"apply": apply, "angle": angle}, device)

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

    def __init__(self, x: float | tuple[float, float] = 0.0, y: float | tuple[float, float] = 0.0,
                 unit: str = "fraction", p: float = 1.0, interpolation: str = "bilinear",
                 fill: str = "zeros") -> None:
        super().__init__(p, interpolation, fill)
        self.x, self.y = check_range(x, "x"), check_range(y, "y")
        self.unit = check_choice(unit, "unit", ("fraction", "pixels"))

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        n = batch_shape[0]
        apply = coin(n, self.p, generator)
        dx = uniform_where(apply, self.x, 0.0, generator)
        dy = uniform_where(apply, self.y, 0.0, generator)
        return params_to({"apply": apply, "dx": dx, "dy": dy}, device)

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

    def __init__(self, x: float | tuple[float, float] = 0.0, y: float | tuple[float, float] = 0.0,
                 p: float = 1.0, interpolation: str = "bilinear", fill: str = "zeros") -> None:
        super().__init__(p, interpolation, fill)
        self.x = check_range(x, "x", symmetric_about=1.0, minimum=0.0, exclusive_minimum=True)
        self.y = check_range(y, "y", symmetric_about=1.0, minimum=0.0, exclusive_minimum=True)

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        n = batch_shape[0]
        apply = coin(n, self.p, generator)
        sx = uniform_where(apply, self.x, 1.0, generator)
        sy = uniform_where(apply, self.y, 1.0, generator)
        return params_to({"apply": apply, "x_scale": sx, "y_scale": sy}, device)

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

    def __init__(self, x: float | tuple[float, float] = 0.0, y: float | tuple[float, float] = 0.0,
                 p: float = 1.0, interpolation: str = "bilinear", fill: str = "zeros") -> None:
        super().__init__(p, interpolation, fill)
        self.x, self.y = check_range(x, "x"), check_range(y, "y")
        for name, (lo, hi) in (("x", self.x), ("y", self.y)):
            if lo <= -90 or hi >= 90:
                raise ValueError(f"{name} shear angles must lie in (-90, 90) degrees, got {(lo, hi)}")

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        n = batch_shape[0]
        apply = coin(n, self.p, generator)
        ax = uniform_where(apply, self.x, 0.0, generator)
        ay = uniform_where(apply, self.y, 0.0, generator)
        return params_to({"apply": apply, "x_angle": ax, "y_angle": ay}, device)

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

    def __init__(self, k1: float | tuple[float, float] = 0.0, k2: float | tuple[float, float] = 0.0,
                 p: float = 1.0, interpolation: str = "bilinear", fill: str = "zeros") -> None:
        super().__init__(p, interpolation, fill)
        self.k1, self.k2 = check_range(k1, "k1"), check_range(k2, "k2")

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        n = batch_shape[0]
        apply = coin(n, self.p, generator)
        k1 = uniform_where(apply, self.k1, 0.0, generator)
        k2 = uniform_where(apply, self.k2, 0.0, generator)
        return params_to({"apply": apply, "k1": k1, "k2": k2}, device)

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

    def __init__(self, sigma: float | tuple[float, float], p: float = 1.0) -> None:
        self.sigma = check_range(sigma, "sigma", symmetric_about=None, minimum=0.0)
        self.p = check_probability(p)

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        n = batch_shape[0]
        apply = coin(n, self.p, generator)
        sigma = uniform_where(apply, self.sigma, 0.0, generator)
        seed = torch.randint(0, 2**62, (), generator=generator, device=generator.device)
        return params_to({"apply": apply, "sigma": sigma, "seed": seed}, device)

    def forward(self, x: torch.Tensor, params: Params) -> torch.Tensor:
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

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        return {}

    def forward(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        return F.normalize(x, self.mean, self.std)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std}
