"""MixUp (Zhang et al. 2018) and CutMix (Yun et al. 2019): batch transforms that mix labels too.

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

import numpy as np
import torch

from ._checks import check_probability
from .base import Params, Shape, Transform
from .boxes import box_weights, uniform_offset


def beta_draws(n: int, alpha: float, generator: torch.Generator) -> torch.Tensor:
    """N draws from Beta(alpha, alpha), reproducible from ``generator``.

    torch's Beta sampler takes no generator, so a seed drawn from ``generator`` drives numpy's.

    Parameters
    ----------
    n : int
        Draws.
    alpha : float
        > 0.
    generator : torch.Generator
        The seed is drawn from it.

    Returns
    -------
    torch.Tensor
        float64 N on the generator's device, in [0, 1].
    """
    seed = int(torch.randint(0, 2**63 - 1, (), generator=generator, device=generator.device))
    return torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, n)).to(generator.device)


def mix_targets(target: torch.Tensor, partner: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Soft labels of the mixed samples: ``weight_n target_n + (1 - weight_n) target_pi(n)``.

    Parameters
    ----------
    target : torch.Tensor
        Float N x K, rows summing to 1.
    partner : torch.Tensor
        int64 N: ``pi``.
    weight : torch.Tensor
        Shape N, in [0, 1]: the share of each sample's own label.

    Returns
    -------
    torch.Tensor
        N x K in ``target``'s dtype, rows summing to 1.
    """
    w = weight.to(target.dtype)[:, None]
    return target * w + target.index_select(0, partner) * (1 - w)


class _Mixing(Transform):
    """A batch transform that mixes samples and their labels (see :mod:`augkit.mixing`)."""

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
    permutation of the batch. See :mod:`augkit.mixing` for the call form.

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
        w = lam.to(x.dtype).view(-1, 1, 1, 1)
        out = x.index_select(0, partner).lerp_(x, w)  # w x + (1 - w) x_partner, in the gathered copy
        return out, mix_targets(target, partner, lam)


class CutMix(_Mixing):
    """CutMix: paste a box of the partner ``x_pi(n)`` into ``x_n``; labels weighted by true area.

    Per sample ``lam_n ~ Beta(alpha, alpha)`` and a box centre uniform over the pixels; the box
    has half sizes ``int(r W)``, ``int(r H)`` with ``r = sqrt(1 - lam_n) / 2`` and is clipped to
    the image (torchvision's rule). The label weight of the sample's own image is
    ``1 - (clipped box area) / (H W)``: the pixels it really keeps. See :mod:`augkit.mixing` for
    the call form.

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
        box = box_weights(params["top"], params["left"], params["height"], params["width"], (h, w),
                          x.dtype, x.device)
        pasted = x.index_select(0, params["partner"])
        out = x.lerp_(pasted, box) if inplace else torch.lerp(x, pasted, box)
        kept = 1 - (params["height"] * params["width"]).double() / (h * w)
        return out, mix_targets(target, params["partner"], kept)
