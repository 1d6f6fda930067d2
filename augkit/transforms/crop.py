"""The crops: RandomScaleCrop (He et al.), RandomResizedCrop (Inception) and RandomCrop (pad and crop).

* :class:`RandomScaleCrop`: shorter side to a random length, then a random window (ResNet's scale
  augmentation); resize, then crop.
* :class:`RandomResizedCrop`: a window of random area and aspect, resized to the output size
  (torchvision's rule); crop, then resize.
* :class:`RandomCrop`: torchvision's ``RandomCrop(size, padding, padding_mode)``, batched: each
  sample is padded by ``padding`` pixels on every side and a ``size`` window is cropped at a
  random integer offset, which shifts the content by up to ``padding`` pixels in each direction.
  Every output pixel is an input pixel (or the fill), so it is exact in any dtype (see
  :mod:`augkit.functional.crop` for the paddings). This is the translation of airbench's CIFAR-10
  recipe (2 pixels, reflect) and of the ResNet CIFAR papers (4 pixels, zeros).

The first two resample: they are geometric transforms that fuse with the others of
:mod:`augkit.transforms.geometry` into one sampling grid, and alone (or among flips and colour
maps) use their own exact antialiased kernels.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from conventions import check_choice, check_probability, check_range

from .. import functional as F
from ..functional import geometry as G
from ..params import Params, Shape, params_to
from ..sampling import area_aspect_tries, first_valid, uniform, uniform_offset
from ..validation import check_size
from .base import Transform
from .geometry import _Geometric


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
    uint8, with the pixels of ``interpolate``'s uint8 kernel (fixed point: within one level of
    the float result), computed for the window only (by numba, a dependency). This holds alone
    and in a Compose whose other members of the run are flips and per-image colour maps. Fused
    with a rotation, shear, stretch, translation or lens map into one resampling, the scale-crop
    becomes part of one sampling grid: bilinear taps (clamped),
    antialiased by each sample's own box supersampling when the window is larger than the
    output (see :func:`augkit.functional.warp`); on smooth images that box filter stays within
    about 0.02 (mean absolute, [0, 1] scale) of the triangle filter, and where the window is not
    larger than the output the two agree to float rounding. ``"nearest"``: nearest-neighbour
    resize (the pixel whose area holds the sample point), then crop; no filtering.
    ``"antialias"`` is accepted as the former name of ``"bilinear"``.

    Params: ``apply`` (bool N), ``length`` (int64 N: L), ``top``, ``left`` (int64 N: crop offset
    in the rescaled image). Output N x C x h x w.

    Parameters
    ----------
    size : int or (int, int)
        Output ``(h, w)``; an int means a square.
    scale : int or (int, int)
        The range ``(lo, hi)`` of the shorter side L, inclusive; an int fixes L. The crop must
        fit the image rescaled to shorter side ``lo``.
    p : float
        Probability that a sample gets a random L and window (else the test view).
    interpolation : {"bilinear", "nearest"}
        Antialiased bilinear, or nearest neighbour.
    fill : {"zeros", "border", "reflect"}
        Unused alone (the window lies inside the image); kept for the fused grid's steps.
    """

    window_inside = True
    has_exact_kernel = True

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
        h, w = self._scaled_one(size, self.scale[0])
        if h < self.size[0] or w < self.size[1]:
            raise ValueError(f"crop size {self.size} is larger than the image {tuple(size)} "
                             f"rescaled to shorter side scale[0]={self.scale[0]} "
                             f"({h} x {w})")
        return self.size

    @staticmethod
    def _scaled_sizes(size: tuple[int, int], length: torch.Tensor) -> torch.Tensor:
        """The rescaled ``(h, w)`` of an image of ``size`` for each shorter side ``length`` (int64
        N), as int64 N x 2: ``round(side * L / shorter)``, float64, round half to even."""
        sides = torch.tensor(size, dtype=torch.float64, device=length.device)
        return (length.double()[:, None] * sides).div_(min(size)).round_().long()

    @staticmethod
    def _scaled(size: tuple[int, int], length: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_scaled_sizes` as two int64 N tensors, ``(h, w)``."""
        return RandomScaleCrop._scaled_sizes(size, length).unbind(1)

    @staticmethod
    def _scaled_one(size: tuple[int, int], length: int) -> tuple[int, int]:
        """:meth:`_scaled_sizes`' rule for one length in Python floats (the same float64 product,
        quotient and round half to even), where torch's per-op cost would dominate."""
        return round(size[0] * length / min(size)), round(size[1] * length / min(size))

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        n, size = batch_shape[0], tuple(batch_shape[2:])
        lo, hi = self.scale
        length = torch.randint(lo, hi + 1, (n,), generator=generator, device=generator.device)
        length = torch.where(apply, length, lo)
        h, w = self._scaled(size, length)
        room_y, room_x = h - self.size[0], w - self.size[1]
        top = (uniform(n, 0, 1, generator) * (room_y + 1)).long().clamp_(max=room_y)
        left = (uniform(n, 0, 1, generator) * (room_x + 1)).long().clamp_(max=room_x)
        top = torch.where(apply, top, room_y // 2)
        left = torch.where(apply, left, room_x // 2)
        return {"length": length, "top": top, "left": left}

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        # One image: the batched draws' values without their tensor ops (see draw_one).
        if batch_shape[0] != 1:
            return super().make_params(batch_shape, generator, device)
        applied, length, top, left, _ = self._draw_one(tuple(batch_shape[2:]), generator)
        params = {"length": torch.tensor([length]), "top": torch.tensor([top]), "left": torch.tensor([left])}
        if self.p is not None:
            params = {"apply": torch.tensor([applied]), **params}
        return params_to(params, device)

    def draw_one(self, size: tuple[int, int], generator: torch.Generator) -> tuple[int, int, int, tuple[int, int]]:
        """``make_params`` for a batch of one image of ``size`` = (H, W), as Python numbers.

        The same draws from ``generator`` in the same order (the ``p`` coin, L, the two offsets)
        and the same arithmetic in float64, so the numbers equal ``make_params((1, C, H, W),
        generator)``'s for the same generator state; without the tensor ops around each draw,
        which dominate for one image (a DataLoader worker's item).

        Parameters
        ----------
        size : (int, int)
            The image's ``(H, W)``.
        generator : torch.Generator
            Drawn from, as ``make_params`` draws.

        Returns
        -------
        (L, top, left, (scaled_h, scaled_w)) : (int, int, int, (int, int))
        """
        return self._draw_one(size, generator)[1:]

    def _draw_one(self, size: tuple[int, int], generator: torch.Generator
                  ) -> tuple[bool, int, int, int, tuple[int, int]]:
        """:meth:`draw_one`, with whether the sample was drawn (the ``p`` coin) first."""
        device = generator.device
        # The coin compares a float32 draw with p in float32, as a float32 tensor compares with a scalar.
        applied = self.p is None or float(torch.rand(1, generator=generator, device=device)) < float(np.float32(self.p))
        lo, hi = self.scale
        length = int(torch.randint(lo, hi + 1, (1,), generator=generator, device=device))
        length = length if applied else lo
        h, w = self._scaled_one(size, length)
        room_y, room_x = h - self.size[0], w - self.size[1]
        u_top, u_left = (float(torch.rand(1, generator=generator, dtype=torch.float64, device=device)) for _ in "yx")
        if not applied:
            return False, length, room_y // 2, room_x // 2, (h, w)
        return True, length, min(int(u_top * (room_y + 1)), room_y), min(int(u_left * (room_x + 1)), room_x), (h, w)

    def forward_then_flip(self, x: torch.Tensor, params: Params, flips: torch.Tensor | None) -> torch.Tensor:
        """Apply the exact resize-then-crop, then the flips that follow it in a run.

        Parameters
        ----------
        x : torch.Tensor
            N x C x H x W, uint8 or float on [0, 1].
        params : dict
            This transform's parameters.
        flips : torch.Tensor or None
            bool N x 2 (vertical, horizontal): the per-sample flips of the flip transforms that
            follow it, done while the crop is copied out.

        Returns
        -------
        torch.Tensor
            N x C x h x w (see :func:`augkit.functional.scale_crop_antialias` for the dtype).
        """
        return F.scale_crop_antialias(x, self._scaled_sizes(tuple(x.shape[-2:]), params["length"]), params["top"],
                                      params["left"], self.size, flips)

    def stage(self, params: Params, in_size: tuple[int, int]) -> torch.Tensor:
        h, w = self._scaled(in_size, params["length"])
        return G.scale_crop_matrix(in_size, torch.stack([h, w], 1), params["top"], params["left"],
                                   self.size)

    def get_config(self) -> dict[str, Any]:
        return {"size": self.size, "scale": self.scale, **self._resample_config()}


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
    the antialiased bilinear of Pillow and ``resize`` (see :func:`augkit.functional.resized_crop_antialias`),
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
        Antialiased bilinear, or the fused grid's nearest sampling.

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
        """Apply the exact crop-then-resize, then the flips that follow it in a run.

        Parameters
        ----------
        x : torch.Tensor
            N x C x H x W, uint8 or float on [0, 1].
        params : dict
            This transform's parameters.
        flips : torch.Tensor or None
            bool N x 2 (vertical, horizontal): the per-sample flips of the flip transforms that
            follow it.

        Returns
        -------
        torch.Tensor
            N x C x h x w in ``x``'s dtype.
        """
        return F.resized_crop_antialias(x, params["top"], params["left"], params["height"], params["width"],
                                      self.size, flips)

    def stage(self, params: Params, in_size: tuple[int, int]) -> torch.Tensor:
        # The window resized to `size` is the window of the whole image scaled by size / window.
        (h_in, w_in), (h_out, w_out) = in_size, self.size
        fy, fx = h_out / params["height"].double(), w_out / params["width"].double()
        scaled = torch.stack([h_in * fy, w_in * fx], 1)
        return G.scale_crop_matrix(in_size, scaled, params["top"] * fy, params["left"] * fx, self.size)

    def get_config(self) -> dict[str, Any]:
        return {"size": self.size, "scale": self.scale, "ratio": self.ratio, "interpolation": self.interpolation}


class RandomCrop(Transform):
    """Pad by ``padding`` and crop ``size`` at a random integer position (see :mod:`augkit.functional.crop`).

    Per sample, ``top`` and ``left`` are uniform integers in ``[0, H + 2 padding - h]`` and
    ``[0, W + 2 padding - w]``; a sample not drawn (prob. ``1 - p``) gets the centred crop. With
    ``size`` equal to the image size this is a random translation by up to ``padding`` pixels.
    Params: ``apply`` (bool N), ``top``, ``left`` (int64 N, in the padded image). Output
    N x C x h x w, the input's dtype, exact.

    Parameters
    ----------
    size : int or (int, int)
        Output ``(h, w)``; an int means a square.
    padding : int
        Pixels added on every side, >= 0.
    padding_mode : {"constant", "reflect", "symmetric", "edge"}
        How the padding is filled (torchvision's modes).
    fill : float
        The constant's value on the [0, 1] scale (uint8 batches get ``round(255 fill)``).
    p : float
        Probability that a sample gets a random position (else the centred crop).
    """

    gated = False  # a sample not drawn is still cropped (centred)

    def __init__(self, size: int | tuple[int, int], padding: int = 0, padding_mode: str = "constant",
                 fill: float = 0.0, p: float = 1.0) -> None:
        self.size = check_size(size)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an int >= 0, got {padding!r}")
        self.padding = padding
        self.padding_mode = check_choice(padding_mode, "padding_mode", F.PADDING_MODES)
        self.fill = check_range(fill, "fill", symmetric_about=None, minimum=0.0, maximum=1.0)[0]
        self.p = check_probability(p)

    @property
    def _reads_uint8(self) -> bool:
        return True  # exact re-indexing: uint8 in, the same uint8 values out

    def output_shape(self, shape: Shape) -> Shape:
        h, w = shape[2] + 2 * self.padding, shape[3] + 2 * self.padding
        if self.size[0] > h or self.size[1] > w:
            raise ValueError(f"crop size {self.size} is larger than the image {tuple(shape[2:])} padded by "
                             f"{self.padding} ({h} x {w})")
        if self.padding_mode == "reflect" and self.padding >= min(shape[2:]) > 1:
            raise ValueError(f"reflect padding {self.padding} needs images larger than it, got {tuple(shape[2:])}")
        return (*shape[:2], *self.size)

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        n = batch_shape[0]
        room_y = batch_shape[2] + 2 * self.padding - self.size[0]
        room_x = batch_shape[3] + 2 * self.padding - self.size[1]
        top = torch.randint(0, room_y + 1, (n,), generator=generator, device=generator.device)
        left = torch.randint(0, room_x + 1, (n,), generator=generator, device=generator.device)
        return {"top": torch.where(apply, top, room_y // 2), "left": torch.where(apply, left, room_x // 2)}

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        return F.shifted_crop(x, params["top"], params["left"], self.size, self.padding, self.padding_mode, self.fill)

    def get_config(self) -> dict[str, Any]:
        return {"size": self.size, "padding": self.padding, "padding_mode": self.padding_mode,
                "fill": self.fill, "p": self.p}
