"""The filter transforms: GaussianBlur, a thin shell over :func:`augkit.functional.gaussian_blur`."""

from __future__ import annotations

from typing import Any

import torch

from conventions import check_probability, check_range

from .. import functional as F
from ..params import Params
from ..sampling import Uniform
from ..validation import check_size
from .base import Transform


class GaussianBlur(Transform):
    """Separable Gaussian blur with a standard deviation ~ U[sigma) per sample (torchvision's).

    Edges are mirrored (see :func:`augkit.functional.gaussian_blur`).

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
        return F.gaussian_blur(x, self.kernel_size, params["sigma"])

    def get_config(self) -> dict[str, Any]:
        return {"kernel_size": self.kernel_size, "sigma": self.sigma, "p": self.p}
