"""Random erasing (Zhong et al. 2017) / Cutout: overwrite a random box of each sample."""

from __future__ import annotations

import numbers
from typing import Any

import torch

from ._checks import check_probability, check_range
from .base import Params, Shape, Transform
from .boxes import area_aspect_tries, box_weights, first_valid, uniform_offset


class RandomErasing(Transform):
    """Erase one box per sample with probability ``p``, by torchvision's rule (Cutout).

    Per sample, up to 10 tries each draw an area ``a = H W U[scale)`` and an aspect
    ``r = exp(U[log ratio))`` and take ``h = round(sqrt(a r))``, ``w = round(sqrt(a / r))``
    (``ratio`` is height / width); the first try with ``h < H`` and ``w < W`` is placed at an
    offset uniform over all positions. When no try fits, the sample is left as it is
    (torchvision's rule too).

    Parameters
    ----------
    p : float
        Probability that a sample is erased.
    scale : (float, float)
        Range of the box's area as a fraction of the image, within [0, 1].
    ratio : (float, float)
        Range of the box's height / width, > 0 (drawn log-uniformly).
    value : float or tuple of float or "random"
        A number or one number per channel on the [0, 1] scale (0.5 is level 128 of a uint8
        image), or ``"random"``: independent U[0, 1) values per pixel and channel
        (torchvision draws N(0, 1) because it erases normalised tensors; augkit's batches are
        on [0, 1]).

    Notes
    -----
    Params: ``apply`` (bool N), ``top``, ``left``, ``height``, ``width`` (int64 N: the box;
    empty where not applied or where no try fitted), and for ``value="random"`` ``seed`` (0-d
    int64: the noise field's seed, drawn on the batch's device).
    """

    # The boxes are empty where not applied: one lerp over the batch is cheaper than the gate's gather.
    gated = False

    def __init__(self, p: float = 0.5, scale: tuple[float, float] = (0.02, 0.33),
                 ratio: tuple[float, float] = (0.3, 3.3), value: float | tuple[float, ...] | str = 0.0) -> None:
        self.p = check_probability(p)
        self.scale = check_range(scale, "scale", symmetric_about=None, minimum=0.0, maximum=1.0)
        self.ratio = check_range(ratio, "ratio", symmetric_about=None, minimum=0.0, exclusive_minimum=True)
        self.value = self._check_value(value)

    @staticmethod
    def _check_value(value: Any) -> str | tuple[float, ...]:
        if value == "random":
            return value
        values = (value,) if isinstance(value, numbers.Real) else value
        if isinstance(values, (str, bytes)) or not all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
            raise TypeError(f"value must be a number, one number per channel or 'random', got {value!r}")
        values = tuple(float(v) for v in values)
        if len(values) not in (1, 3) or not all(0.0 <= v <= 1.0 for v in values):
            raise ValueError(f"value must hold 1 or 3 numbers in [0, 1] (or be 'random'), got {value!r}")
        return values

    def output_shape(self, shape: Shape) -> Shape:
        if self.value != "random" and len(self.value) == 3 and shape[1] != 3:
            raise ValueError(f"RandomErasing has 3 channel values but the batch has C={shape[1]}")
        return shape

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        n, (h, w) = batch_shape[0], batch_shape[2:]
        heights, widths = area_aspect_tries(n, h * w, self.scale, self.ratio, generator)
        found, height, width = first_valid((heights < h) & (widths < w), heights, widths)
        erase = apply & found
        height, width = torch.where(erase, height, 0), torch.where(erase, width, 0)
        top = torch.where(erase, uniform_offset(h - height, generator), 0)
        left = torch.where(erase, uniform_offset(w - width, generator), 0)
        params = {"top": top, "left": left, "height": height, "width": width}
        if self.value == "random":
            params["seed"] = torch.randint(0, 2**62, (), generator=generator, device=generator.device)
        return params

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        box = box_weights(params["top"], params["left"], params["height"], params["width"],
                          tuple(x.shape[-2:]), x.dtype, x.device)
        if self.value == "random":
            noise = torch.Generator(device=x.device).manual_seed(int(params["seed"]))
            fill = torch.rand(x.shape, generator=noise, device=x.device, dtype=x.dtype)
        else:
            fill = torch.tensor(self.value, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return x.lerp_(fill, box) if inplace else torch.lerp(x, fill, box)

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p, "scale": self.scale, "ratio": self.ratio, "value": self.value}
