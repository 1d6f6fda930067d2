"""The transforms outside the other families: GaussianNoise and Normalize.

Thin shells over :func:`augkit.functional.gaussian_noise` and :func:`augkit.functional.normalize`.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import functional as F
from .._checks import check_probability, check_range
from ..params import Params, Shape
from ..sampling import Uniform
from .base import Transform


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
