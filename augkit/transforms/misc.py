"""The transforms outside the other families: GaussianNoise and Normalize.

Thin shells over :func:`augkit.functional.gaussian_noise` and :func:`augkit.functional.normalize`.
"""

from __future__ import annotations

from typing import Any

import torch

from conventions import check_normalization, check_probability, check_range

from .. import functional as F
from ..params import Params, Shape
from ..sampling import Uniform
from .base import Transform


class GaussianNoise(Transform):
    """Add N(0, sigma_n^2) noise per pixel (on the [0, 1] scale) and clamp to [0, 1].

    Params: ``apply``, ``sigma`` (float64 N, 0 where not applied), ``seed`` (0-d int64: the
    noise field's seed, drawn on the batch's device).

    Parameters
    ----------
    sigma : float or (float, float)
        The noise's standard deviation, >= 0: a number (fixed) or a ``(lo, hi)`` range drawn per
        sample.
    p : float
        Probability that a sample gets noise.
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
    [0, 1], so Normalize must be the last transform of a pipeline. Params: empty dict.

    Parameters
    ----------
    mean : float or tuple of float
        One value per channel, or one value for all.
    std : float or tuple of float
        One value per channel, or one value for all; ``> 0``.
    """

    def __init__(self, mean: float | tuple[float, ...], std: float | tuple[float, ...]) -> None:
        self.mean, self.std = check_normalization((mean, std), "Normalize(mean, std)")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, 3):
                raise ValueError(f"{name} must hold 1 or 3 numbers, got {values!r}")

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
