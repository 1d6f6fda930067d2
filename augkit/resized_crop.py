"""Inception-style random resized crop (Szegedy et al. 2015), torchvision's sampling rule."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from . import geometry as G
from ._checks import check_range, check_size
from .base import Params, Shape
from .boxes import area_aspect_tries, first_valid, uniform_offset
from .transforms import _Geometric


def resized_crop_antialias(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, height: torch.Tensor,
                           width: torch.Tensor, size: tuple[int, int], flips: torch.Tensor | None = None
                           ) -> torch.Tensor:
    """Crop image n to its window, resize it to ``size`` with antialiased bilinear, then flip.

    torchvision's ``resized_crop(..., antialias=True)`` per sample: the window alone is resized
    (``interpolate(mode="bilinear", antialias=True, align_corners=False)``, edge taps clamped
    at the window's border). One interpolate call per sample: every window has its own scale.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W, uint8 (resized in uint8, the SIMD kernel on CPU) or float on [0, 1].
    top, left, height, width : torch.Tensor
        int64 N each: the windows, inside the images.
    size : tuple of int
        ``(h, w)`` of the output.
    flips : torch.Tensor, optional
        bool N x 2 (mirror top-bottom, left-right): the flips that follow the crop in a pipeline.

    Returns
    -------
    torch.Tensor
        N x C x h x w in ``x``'s dtype.
    """
    out = x.new_empty((x.shape[0], x.shape[1], *size))
    columns = [top, left, height, width]
    if flips is not None:
        columns += [flips[:, 0].long(), flips[:, 1].long()]
    for i, (t, lc, h, w, *flip) in enumerate(torch.stack(columns, 1).tolist()):
        window = x[i:i + 1, :, t:t + h, lc:lc + w]
        y = F.interpolate(window, size=size, mode="bilinear", antialias=True, align_corners=False)[0]
        mirror = [d for d, f in zip((-2, -1), flip) if f]
        out[i] = y.flip(mirror) if mirror else y
    return out


class RandomResizedCrop(_Geometric):
    """Crop a random window of random area and aspect, resized to ``size`` (torchvision's rule).

    Per sample, up to 10 tries each draw an area ``a = H W U[scale)`` and an aspect
    ``r = exp(U[log ratio))`` (``ratio`` is width / height) and take ``w = round(sqrt(a r))``,
    ``h = round(sqrt(a / r))``; the first try with ``0 < w <= W`` and ``0 < h <= H`` is placed
    at an integer offset uniform over the source image. When no try fits, the fallback is
    torchvision's centre crop: the whole image, narrowed to the nearest bound of ``ratio``
    when its own aspect lies outside. The window always lies inside the source image
    (``window_inside``): it resamples source pixels only, never a fill.

    ``interpolation="bilinear"`` (default) is torchvision's ``resized_crop(antialias=True)``,
    the antialiased bilinear of Pillow and ``resize`` (see :func:`resized_crop_antialias`),
    exact alone and in a Compose whose other members of the run are flips and per-image colour
    maps; uint8 batches on the CPU stay uint8 (within one level of the float result). Fused with
    a rotation, shear, stretch, translation or lens map into one resampling, the window becomes
    part of one sampling grid, antialiased as RandomScaleCrop is there (each sample's box
    supersampling, taps clamped at the image edge; see :func:`augkit.functional.warp`), so the
    pixels along the window's border may read the pixels just outside it. ``"nearest"``: the
    fused grid's nearest sampling.

    Parameters
    ----------
    size : int or (int, int)
        Output ``(h, w)``.
    scale : (float, float)
        Range of the window's area as a fraction of the image (> 0).
    ratio : (float, float)
        Range of the window's width / height (> 0, drawn log-uniformly).
    interpolation : {"bilinear", "nearest"}

    Notes
    -----
    Params: ``top``, ``left``, ``height``, ``width`` (int64 N: the window in source pixels). No
    ``p``: every sample is cropped, as in torchvision. Output N x C x size.
    """

    window_inside: ClassVar[bool] = True
    has_exact_kernel: ClassVar[bool] = True

    def __init__(self, size: int | tuple[int, int], scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), interpolation: str = "bilinear") -> None:
        super().__init__(None, interpolation, "zeros")  # no p; a window inside the image never fills
        self.size = check_size(size)
        self.scale = check_range(scale, "scale", symmetric_about=None, minimum=0.0, exclusive_minimum=True)
        self.ratio = check_range(ratio, "ratio", symmetric_about=None, minimum=0.0, exclusive_minimum=True)

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return self.size

    def _fallback(self, size: tuple[int, int]) -> tuple[int, int]:
        """torchvision's centre-crop (height, width) when no try fits."""
        h, w = size
        if w / h < self.ratio[0]:
            return round(w / self.ratio[0]), w
        if w / h > self.ratio[1]:
            return h, round(h * self.ratio[1])
        return h, w

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        n, (h, w) = batch_shape[0], batch_shape[2:]
        widths, heights = area_aspect_tries(n, h * w, self.scale, self.ratio, generator)
        valid = (widths > 0) & (widths <= w) & (heights > 0) & (heights <= h)
        found, width, height = first_valid(valid, widths, heights)
        fall_h, fall_w = self._fallback((h, w))
        height, width = torch.where(found, height, fall_h), torch.where(found, width, fall_w)
        top = torch.where(found, uniform_offset((h - height).clamp(min=0), generator), (h - fall_h) // 2)
        left = torch.where(found, uniform_offset((w - width).clamp(min=0), generator), (w - fall_w) // 2)
        return {"top": top, "left": left, "height": height, "width": width}

    def forward_then_flip(self, x: torch.Tensor, params: Params, flips: torch.Tensor | None) -> torch.Tensor:
        """The exact crop-then-resize, then the per-sample flips ``flips`` (bool N x 2: vertical,
        horizontal) of the flip transforms that follow it in a run."""
        return resized_crop_antialias(x, params["top"], params["left"], params["height"], params["width"],
                                      self.size, flips)

    def stage(self, params: Params, in_size: tuple[int, int]) -> torch.Tensor:
        # The window resized to `size` is the window of the whole image scaled by size / window.
        (h_in, w_in), (h_out, w_out) = in_size, self.size
        fy, fx = h_out / params["height"].double(), w_out / params["width"].double()
        scaled = torch.stack([h_in * fy, w_in * fx], 1)
        return G.scale_crop_matrix(in_size, scaled, params["top"] * fy, params["left"] * fx, self.size)

    def get_config(self) -> dict[str, Any]:
        return {"size": self.size, "scale": self.scale, "ratio": self.ratio, "interpolation": self.interpolation}
