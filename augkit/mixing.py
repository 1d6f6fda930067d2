"""MixUp (Zhang et al. 2018) and CutMix (Yun et al. 2019): batch transforms that mix labels too.

Both are called with the labels and return soft targets::

    x, target = mix(x, y, generator=g, num_classes=K)

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

from . import functional as F
from ._checks import as_batch, as_generator, check_probability
from .boxes import box_weights, uniform_offset
from .transforms import Params, Shape, Transform, check_params_batch, coin, params_to


def soft_targets(labels: Any, n: int, num_classes: int | None, device: torch.device) -> torch.Tensor:
    """Checked soft targets, float N x K on ``device``, from class indices or soft labels."""
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor or numpy array, got {type(labels).__name__}")
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral)
                                    or num_classes < 1):
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if labels.dim() == 0 or labels.shape[0] != n:
        raise ValueError(f"labels of shape {tuple(labels.shape)} do not match the batch of {n} samples")
    labels = labels.to(device)
    if labels.dim() == 1 and not labels.dtype.is_floating_point and labels.dtype != torch.bool:
        if num_classes is None:
            raise ValueError("num_classes is required with class-index labels: call mix(x, y, num_classes=K)")
        if n and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise ValueError(f"class indices must lie in 0 .. {num_classes - 1}, got min {int(labels.min())} "
                             f"and max {int(labels.max())}")
        return torch.nn.functional.one_hot(labels.long(), num_classes).float()
    if labels.dim() != 2 or not labels.dtype.is_floating_point:
        raise ValueError(f"labels must be int class indices (shape N) or float soft labels (N x K), "
                         f"got dtype {labels.dtype} and shape {tuple(labels.shape)}")
    if num_classes is not None and labels.shape[1] != num_classes:
        raise ValueError(f"soft labels have {labels.shape[1]} columns but num_classes={num_classes}")
    if n and not (bool((labels >= 0).all()) and torch.allclose(labels.double().sum(1), torch.ones(
            n, dtype=torch.float64, device=device), atol=1e-4)):
        raise ValueError("soft labels must be >= 0 with rows summing to 1")
    return labels if labels.dtype in (torch.float32, torch.float64) else labels.float()


def beta_draws(n: int, alpha: float, generator: torch.Generator) -> torch.Tensor:
    """N float64 draws from Beta(alpha, alpha), reproducible from ``generator``.

    torch's Beta sampler takes no generator, so a seed drawn from ``generator`` drives numpy's.
    """
    seed = int(torch.randint(0, 2**63 - 1, (), generator=generator, device=generator.device))
    return torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, n)).to(generator.device)


def mix_targets(target: torch.Tensor, partner: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``weight_n target_n + (1 - weight_n) target_pi(n)``: soft labels of the mixed samples."""
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

    def _draw(self, n: int, generator: torch.Generator) -> Params:
        apply = coin(n, self.p, generator)
        lam = torch.where(apply, beta_draws(n, self.alpha, generator), 1.0)
        partner = torch.randperm(n, generator=generator, device=generator.device)
        return {"apply": apply, "lam": lam, "partner": partner}

    def __call__(self, batch: Any, labels: Any = None, *, generator: torch.Generator | int | None = None,
                 return_params: bool = False, num_classes: int | None = None) -> Any:
        return call_mixing(self, batch, labels, generator, return_params, num_classes)

    def replay(self, batch: Any, params: Params, labels: Any = None, num_classes: int | None = None) -> Any:
        """Apply exactly ``params`` to a batch (and its labels) of the same N, H and W."""
        return replay_mixing(self, batch, params, labels, num_classes)

    def forward(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        raise TypeError(f"{type(self).__name__} mixes labels: call it as t(x, y, num_classes=K)")

    def mix(self, x: torch.Tensor, target: torch.Tensor, params: Params) -> tuple[torch.Tensor, torch.Tensor]:
        """Mix a working batch (float N x C x H x W on [0, 1]) and its soft targets (float N x K)."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "p": self.p}


def _check_labels_given(transform: Transform, labels: Any) -> None:
    if labels is None:
        raise TypeError(f"{type(transform).__name__} mixes labels: call it with the labels, "
                        "x, target = t(x, y, generator=g, num_classes=K)")


def call_mixing(transform: Transform, batch: Any, labels: Any, generator: Any, return_params: bool,
                num_classes: int | None) -> Any:
    """``transform(batch, labels, ...)`` for a label-mixing transform or pipeline."""
    _check_labels_given(transform, labels)
    x, restore = as_batch(batch)
    shape = tuple(x.shape)
    transform.output_shape(shape)
    target = soft_targets(labels, shape[0], num_classes, x.device)
    params = transform.make_params(shape, as_generator(generator), x.device)
    out, target = run_mixing(transform, x, target, params)
    return ((restore(out), target), params) if return_params else (restore(out), target)


def replay_mixing(transform: Transform, batch: Any, params: Params, labels: Any, num_classes: int | None) -> Any:
    """``transform.replay(batch, params, labels)`` for a label-mixing transform or pipeline."""
    _check_labels_given(transform, labels)
    x, restore = as_batch(batch)
    check_params_batch(params, x.shape[0])
    target = soft_targets(labels, x.shape[0], num_classes, x.device)
    out, target = run_mixing(transform, x, target, params_to(params, x.device))
    return restore(out), target


def run_mixing(transform: Transform, x: torch.Tensor, target: torch.Tensor,
               params: Params) -> tuple[torch.Tensor, torch.Tensor]:
    """The mixing counterpart of ``Transform._run``: working dtype in, the input's dtype out."""
    shape = transform.output_shape(tuple(x.shape))
    if x.shape[0] == 0:
        return x.new_empty(shape), target
    working = F.to_working(x)
    y, target = transform.mix(working, target, params)
    return F.from_working(y, x.dtype, inplace=y is not x), target


class MixUp(_Mixing):
    """MixUp: ``x_n <- lam_n x_n + (1 - lam_n) x_pi(n)``, the labels likewise.

    ``alpha > 0``: ``lam_n ~ Beta(alpha, alpha)`` per sample (1 where not applied, prob.
    ``1 - p``); ``pi`` is a random permutation of the batch. See :mod:`augkit.mixing` for the
    call form. Params: ``apply`` (bool N), ``lam`` (float64 N), ``partner`` (int64 N: pi).
    """

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        return params_to(self._draw(batch_shape[0], generator), device)

    def mix(self, x: torch.Tensor, target: torch.Tensor, params: Params) -> tuple[torch.Tensor, torch.Tensor]:
        lam, partner = params["lam"], params["partner"]
        w = lam.to(x.dtype).view(-1, 1, 1, 1)
        out = torch.lerp(x.index_select(0, partner), x, w)  # w x + (1 - w) x_partner
        return out, mix_targets(target, partner, lam)


class CutMix(_Mixing):
    """CutMix: paste a box of the partner ``x_pi(n)`` into ``x_n``; labels weighted by true area.

    Per sample ``lam_n ~ Beta(alpha, alpha)`` and a box centre uniform over the pixels; the box
    has half sizes ``int(r W)``, ``int(r H)`` with ``r = sqrt(1 - lam_n) / 2`` and is clipped to
    the image (torchvision's rule). The label weight of the sample's own image is
    ``1 - (clipped box area) / (H W)``: the pixels it really keeps. Not applied (prob.
    ``1 - p``): an empty box. Params: ``apply`` (bool N), ``lam`` (float64 N: the Beta draw),
    ``partner`` (int64 N), ``top``, ``left``, ``height``, ``width`` (int64 N: the clipped box).
    """

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        n, (h, w) = batch_shape[0], batch_shape[2:]
        params = self._draw(n, generator)
        centre_y = uniform_offset(torch.full((n,), h - 1, device=generator.device), generator)
        centre_x = uniform_offset(torch.full((n,), w - 1, device=generator.device), generator)
        r = torch.sqrt(1 - params["lam"]) / 2
        half_h, half_w = (r * h).long(), (r * w).long()
        top, left = (centre_y - half_h).clamp(min=0), (centre_x - half_w).clamp(min=0)
        height = (centre_y + half_h).clamp(max=h) - top
        width = (centre_x + half_w).clamp(max=w) - left
        params.update(top=top, left=left, height=height, width=width)
        return params_to(params, device)

    def mix(self, x: torch.Tensor, target: torch.Tensor, params: Params) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = x.shape[-2:]
        box = box_weights(params["top"], params["left"], params["height"], params["width"], (h, w),
                          x.dtype, x.device)
        out = torch.lerp(x, x.index_select(0, params["partner"]), box)
        kept = 1 - (params["height"] * params["width"]).double() / (h * w)
        return out, mix_targets(target, params["partner"], kept)
