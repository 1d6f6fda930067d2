"""Transforms that change pixel values and keep the geometry: ColorJitter, Grayscale, GaussianBlur.

Thin shells over :mod:`augkit.color` and :mod:`augkit.filters`: each sample's factors are drawn
where applied, and the base's gate hands ``forward`` only the samples it applies to.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, ClassVar

import torch

from . import color as C
from . import filters
from . import functional as F
from ._checks import check_probability, check_range, check_size
from .base import Params, Shape, Transform, Uniform, apply_where


def _factor_range(value: float | tuple[float, float] | None, name: str) -> tuple[float, float]:
    """torchvision's ColorJitter factor: v means [max(0, 1 - v), 1 + v]; a pair must be >= 0."""
    if value is None:
        return (1.0, 1.0)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        lo, hi = check_range(value, name, symmetric_about=1.0)
        return (max(0.0, lo), hi)
    return check_range(value, name, minimum=0.0)


class ColorJitter(Transform):
    """Random brightness, contrast, saturation and hue, in a random order per sample (torchvision's).

    Each applied sample draws its four factors and its own order of the four operations (as
    torchvision draws ``randperm(4)`` per call); the parts are
    :func:`augkit.color.adjust_brightness`, ``adjust_contrast``, ``adjust_saturation`` and
    ``adjust_hue``. Saturation and hue leave 1-channel images unchanged. Not an affine colour
    map (contrast uses the image mean, hue is non-linear), so it ends a fused geometric run.

    Parameters
    ----------
    brightness, contrast, saturation : float or (float, float) or None
        A number v means a factor ~ U[max(0, 1 - v), 1 + v]; a pair (lo, hi) >= 0 the factor
        range; 0 or None leaves the part out.
    hue : float or (float, float) or None
        A number v means a hue shift ~ U[-v, v] turns; a pair a range; within [-0.5, 0.5].
    p : float
        Probability that a sample is jittered.

    Notes
    -----
    Params: ``apply`` (bool N), ``brightness``, ``contrast``, ``saturation`` (float64 N, 1 where
    not applied), ``hue`` (float64 N, 0 where not applied), ``order`` (int64 N x 4: the
    operations 0 = brightness, 1 = contrast, 2 = saturation, 3 = hue, in the order applied).
    """

    _KERNELS: ClassVar[tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], ...]] = (
        C.adjust_brightness, C.adjust_contrast, C.adjust_saturation, C.adjust_hue)
    draws = (Uniform("brightness", "brightness", 1.0), Uniform("contrast", "contrast", 1.0),
             Uniform("saturation", "saturation", 1.0), Uniform("hue", "hue", 0.0))

    def __init__(self, brightness: float | tuple[float, float] | None = 0,
                 contrast: float | tuple[float, float] | None = 0,
                 saturation: float | tuple[float, float] | None = 0,
                 hue: float | tuple[float, float] | None = 0, p: float = 1.0) -> None:
        self.brightness = _factor_range(brightness, "brightness")
        self.contrast = _factor_range(contrast, "contrast")
        self.saturation = _factor_range(saturation, "saturation")
        self.hue = check_range(0 if hue is None else hue, "hue", minimum=-0.5, maximum=0.5)
        self.p = check_probability(p)

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        order = torch.rand(batch_shape[0], 4, generator=generator, device=generator.device).argsort(1)
        return {"order": order}

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        order = params["order"]
        for step in range(4):
            for op, (draw, kernel) in enumerate(zip(self.draws, self._KERNELS)):
                if getattr(self, draw.attr) == (draw.neutral, draw.neutral):
                    continue  # a part left out
                x = apply_where(x, order[:, step] == op, kernel, params[draw.name], inplace=inplace)
                inplace = True  # x is now this call's own copy
        return x

    def get_config(self) -> dict[str, Any]:
        return {"brightness": self.brightness, "contrast": self.contrast, "saturation": self.saturation,
                "hue": self.hue, "p": self.p}


class Grayscale(Transform):
    """Replace each sample, with probability ``p``, by its luma in every channel.

    Equal to torchvision's ``rgb_to_grayscale(num_output_channels=3)``: ``0.2989 r + 0.587 g
    + 0.114 b``; the output keeps C channels (a 1-channel image is unchanged). A per-image
    linear colour map, so it declares ``colour_affine`` and :meth:`colour_map`: inside a
    Compose it stays in the geometric run around it.

    Parameters
    ----------
    p : float
        Probability that a sample is turned grey.

    Notes
    -----
    Params: ``apply`` (bool N).
    """

    colour_affine: ClassVar[bool] = True

    def __init__(self, p: float = 1.0) -> None:
        self.p = check_probability(p)

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        return C.to_grayscale(x)

    def colour_map(self, params: Params, channels: int) -> F.Colour:
        """The luma as a colour map.

        Parameters
        ----------
        params : dict
            This transform's parameters (``apply``: bool N).
        channels : int
            C of the batch (1 or 3).

        Returns
        -------
        augkit.functional.Colour
            Matrix float64 N x 3 x 3 (every row the luma weights where applied, the identity
            elsewhere; None for C = 1) and a zero offset N x C.
        """
        apply = params["apply"]
        offset = torch.zeros(len(apply), channels, dtype=torch.float64, device=apply.device)
        if channels == 1:
            return F.Colour(None, offset)
        eye = torch.eye(3, dtype=torch.float64, device=apply.device)
        luma = torch.tensor(C.LUMA, dtype=torch.float64, device=apply.device).expand(3, 3)
        return F.Colour(torch.where(apply[:, None, None], luma, eye), offset)

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p}


class GaussianBlur(Transform):
    """Separable Gaussian blur with a standard deviation ~ U[sigma) per sample (torchvision's).

    Edges are mirrored (see :func:`augkit.filters.gaussian_blur`).

    Parameters
    ----------
    kernel_size : int or (int, int)
        Odd tap count, or an ``(x, y)`` pair of odd counts (torchvision's order: taps along a
        row, then along a column).
    sigma : float or (float, float)
        A number (fixed) or a (lo, hi) range, > 0, in pixels, the same on both axes.
    p : float
        Probability that a sample is blurred.

    Notes
    -----
    Params: ``apply`` (bool N), ``sigma`` (float64 N, 0 where not applied).
    """

    draws = (Uniform("sigma", "sigma", 0.0),)

    def __init__(self, kernel_size: int | tuple[int, int], sigma: float | tuple[float, float] = (0.1, 2.0),
                 p: float = 1.0) -> None:
        self.kernel_size = check_size(kernel_size, "kernel_size")
        if min(k % 2 for k in self.kernel_size) == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size!r}")
        self.sigma = check_range(sigma, "sigma", symmetric_about=None, minimum=0.0, exclusive_minimum=True)
        self.p = check_probability(p)

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        return filters.gaussian_blur(x, self.kernel_size, params["sigma"])

    def get_config(self) -> dict[str, Any]:
        return {"kernel_size": self.kernel_size, "sigma": self.sigma, "p": self.p}
