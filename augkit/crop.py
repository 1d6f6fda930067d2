"""Pad-and-crop translation: torchvision's ``RandomCrop(size, padding, padding_mode)``, batched.

Each sample is padded by ``padding`` pixels on every side and a ``size`` window is cropped at a
random integer offset, which shifts the content by up to ``padding`` pixels in each direction.
Every output pixel is an input pixel (or the fill), so the result is exact in any dtype: no
interpolation, uint8 stays uint8. The padding follows ``torch.nn.functional.pad`` / numpy:

* ``"reflect"``: mirror about the edge pixel, which is not repeated (``3 2 1 | 0 1 2 3``);
* ``"symmetric"``: mirror about the edge, which is repeated (``2 1 0 | 0 1 2 3``);
* ``"edge"``: repeat the edge pixel;
* ``"constant"``: ``fill`` (a value on the [0, 1] scale; 0 by default).

This is the translation of airbench's CIFAR-10 recipe (2 pixels, reflect) and of the ResNet
CIFAR papers (4 pixels, zeros).
"""

from __future__ import annotations

from typing import Any

import torch

from ._checks import check_choice, check_probability, check_range, check_size
from .base import Params, Shape, Transform

PADDING_MODES = ("reflect", "symmetric", "edge", "constant")


def fold_indices(index: torch.Tensor, length: int, mode: str) -> torch.Tensor:
    """Map integer positions (any shape, int64) on an axis of ``length`` pixels back into
    ``[0, length)`` the way ``mode`` pads; "constant" positions outside are clamped (the caller
    masks them)."""
    if mode == "reflect" and length > 1:
        period = 2 * (length - 1)
        index = torch.remainder(index, period)
        return torch.where(index < length, index, period - index)
    if mode == "symmetric":
        index = torch.remainder(index, 2 * length)
        return torch.where(index < length, index, 2 * length - 1 - index)
    return index.clamp(0, length - 1)


def shifted_crop(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: tuple[int, int],
                 padding: int, mode: str, fill: float = 0.0) -> torch.Tensor:
    """Pad every image of ``x`` (N x C x H x W, any dtype) by ``padding`` and crop ``size`` at
    ``(top[n], left[n])`` of the padded image (int64 N each). Two gathers, no Python loop."""
    n, c, h, w = x.shape
    oh, ow = size
    rows = top.to(x.device)[:, None] + torch.arange(oh, device=x.device) - padding  # N x oh
    cols = left.to(x.device)[:, None] + torch.arange(ow, device=x.device) - padding  # N x ow
    out = x.gather(2, fold_indices(rows, h, mode)[:, None, :, None].expand(n, c, oh, w))
    out = out.gather(3, fold_indices(cols, w, mode)[:, None, None, :].expand(n, c, oh, ow))
    if mode == "constant":
        inside = ((rows >= 0) & (rows < h))[:, None, :, None] & ((cols >= 0) & (cols < w))[:, None, None, :]
        value = round(fill * 255) if x.dtype == torch.uint8 else fill
        out = out.masked_fill(~inside, value)
    return out


class RandomCrop(Transform):
    """Pad by ``padding`` and crop ``size`` at a random integer position (see :mod:`augkit.crop`).

    Per sample, ``top`` and ``left`` are uniform integers in ``[0, H + 2 padding - h]`` and
    ``[0, W + 2 padding - w]``; a sample not drawn (prob. ``1 - p``) gets the centred crop. With
    ``size`` equal to the image size this is a random translation by up to ``padding`` pixels.
    ``size``: int or (h, w); ``fill``: the constant's value on the [0, 1] scale (uint8 batches get
    ``round(255 fill)``). Params: ``apply`` (bool N), ``top``, ``left`` (int64 N, in the padded
    image). Output N x C x h x w, the input's dtype, exact.
    """

    gated = False  # a sample not drawn is still cropped (centred)

    def __init__(self, size: int | tuple[int, int], padding: int = 0, padding_mode: str = "constant",
                 fill: float = 0.0, p: float = 1.0) -> None:
        self.size = check_size(size)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an int >= 0, got {padding!r}")
        self.padding = padding
        self.padding_mode = check_choice(padding_mode, "padding_mode", PADDING_MODES)
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
        return shifted_crop(x, params["top"], params["left"], self.size, self.padding, self.padding_mode, self.fill)

    def get_config(self) -> dict[str, Any]:
        return {"size": self.size, "padding": self.padding, "padding_mode": self.padding_mode,
                "fill": self.fill, "p": self.p}
