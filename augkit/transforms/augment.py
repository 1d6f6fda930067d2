"""The batch augmentations: RandomErasing (Cutout), MixUp and CutMix.

Thin shells over :mod:`augkit.functional.augment`; their boxes are drawn by the box sampling of
:mod:`augkit.sampling` (torchvision's rules).

MixUp (Zhang et al. 2018) and CutMix (Yun et al. 2019) mix labels too.

Both are called with the labels and return soft targets::

    x, target = t(x, y, generator=g, num_classes=K)
    (x, target), params = t(x, y, generator=g, num_classes=K, return_params=True)
    x, target = t.replay(x, params, y, num_classes=K)

``x``: N x C x H x W (uint8 or float on [0, 1], as every transform); ``y``: int64 N class
indices in ``0 .. K - 1`` (``num_classes=K`` required) or float N x K soft labels (rows >= 0
summing to 1; ``num_classes``, when given, must equal K). ``target``: float N x K (float32
for class indices, else the soft labels' float dtype) on ``x``'s device, rows summing to 1.
A :class:`~augkit.Compose` that contains one has ``mixes_labels == True`` and the same call form.

Per-sample draws, the point of batching them: every sample draws its own mixing weight
``lam_n ~ Beta(alpha, alpha)`` and its own partner ``pi(n)`` (a random permutation of the
batch), so one batch holds many mixing weights (torchvision draws one weight per batch and
pairs each sample with its neighbour). With probability ``1 - p`` a sample is not mixed.
"""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import torch

from conventions import check_probability, check_range

from .. import functional as F
from ..params import Params, Shape
from ..sampling import area_aspect_tries, beta_draws, first_valid, uniform_offset
from .base import Transform


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
        if self.value == "random":
            noise = torch.Generator(device=x.device).manual_seed(int(params["seed"]))
            fill = torch.rand(x.shape, generator=noise, device=x.device, dtype=x.dtype)
        else:
            fill = torch.tensor(self.value, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return F.erase(x, params["top"], params["left"], params["height"], params["width"], fill, inplace=inplace)

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p, "scale": self.scale, "ratio": self.ratio, "value": self.value}


class _Mixing(Transform):
    """A batch transform that mixes samples and their labels (see :mod:`augkit.transforms.augment`)."""

    mixes_labels: ClassVar[bool] = True

    def __init__(self, alpha: float = 1.0, p: float = 1.0) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
            raise TypeError(f"alpha must be a number > 0, got {alpha!r}")
        if not 0 < float(alpha) < float("inf"):
            raise ValueError(f"alpha must be > 0 (Beta(alpha, alpha) mixing weights), got {alpha!r}")
        self.alpha = float(alpha)
        self.p = check_probability(p)

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        n = batch_shape[0]
        lam = torch.where(apply, beta_draws(n, self.alpha, generator), 1.0)
        return {"lam": lam, "partner": torch.randperm(n, generator=generator, device=generator.device)}

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "p": self.p}


class MixUp(_Mixing):
    """MixUp: ``x_n <- lam_n x_n + (1 - lam_n) x_pi(n)``, the labels likewise.

    ``lam_n ~ Beta(alpha, alpha)`` per sample (1 where not applied); ``pi`` is a random
    permutation of the batch. See :mod:`augkit.transforms.augment` for the call form.

    Parameters
    ----------
    alpha : float
        > 0, the Beta distribution's parameter.
    p : float
        Probability that a sample is mixed.

    Notes
    -----
    Params: ``apply`` (bool N), ``lam`` (float64 N), ``partner`` (int64 N: pi).
    """

    def mix(self, x: torch.Tensor, target: torch.Tensor, params: Params,
            inplace: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        lam, partner = params["lam"], params["partner"]
        return F.mixup(x, partner, lam), F.mix_targets(target, partner, lam)


class CutMix(_Mixing):
    """CutMix: paste a box of the partner ``x_pi(n)`` into ``x_n``; labels weighted by true area.

    Per sample ``lam_n ~ Beta(alpha, alpha)`` and a box centre uniform over the pixels; the box
    has half sizes ``int(r W)``, ``int(r H)`` with ``r = sqrt(1 - lam_n) / 2`` and is clipped to
    the image (torchvision's rule). The label weight of the sample's own image is
    ``1 - (clipped box area) / (H W)``: the pixels it really keeps. See :mod:`augkit.transforms.augment`
    for the call form.

    Parameters
    ----------
    alpha : float
        > 0, the Beta distribution's parameter.
    p : float
        Probability that a sample gets a box (an empty box otherwise).

    Notes
    -----
    Params: ``apply`` (bool N), ``lam`` (float64 N: the Beta draw), ``partner`` (int64 N),
    ``top``, ``left``, ``height``, ``width`` (int64 N: the clipped box).
    """

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        n, (h, w) = batch_shape[0], batch_shape[2:]
        params = super().sample(batch_shape, apply, generator)
        centre_y = uniform_offset(torch.full((n,), h - 1, device=generator.device), generator)
        centre_x = uniform_offset(torch.full((n,), w - 1, device=generator.device), generator)
        r = torch.sqrt(1 - params["lam"]) / 2
        half_h, half_w = (r * h).long(), (r * w).long()
        top, left = (centre_y - half_h).clamp(min=0), (centre_x - half_w).clamp(min=0)
        height = (centre_y + half_h).clamp(max=h) - top
        width = (centre_x + half_w).clamp(max=w) - left
        return {**params, "top": top, "left": left, "height": height, "width": width}

    def mix(self, x: torch.Tensor, target: torch.Tensor, params: Params,
            inplace: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = x.shape[-2:]
        out = F.cutmix(x, params["partner"], params["top"], params["left"], params["height"], params["width"],
                       inplace=inplace)
        kept = 1 - (params["height"] * params["width"]).double() / (h * w)  # the pixels it really keeps
        return out, F.mix_targets(target, params["partner"], kept)
