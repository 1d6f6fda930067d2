"""Random boxes for crops, erasing and CutMix: area/aspect tries, integer offsets, masks.

Boxes are per sample, as int64 tensors of shape N: ``top``, ``left``, ``height``, ``width``
in pixels of an H x W image (rows ``top .. top + height - 1``). Every draw is vectorised over
the batch (and over the tries), on the generator's device.
"""

from __future__ import annotations

import math

import torch

from .base import uniform

TRIES = 10  # torchvision's number of tries for RandomResizedCrop and RandomErasing


def area_aspect_tries(n: int, area: float, scale: tuple[float, float], ratio: tuple[float, float],
                      generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision's candidate boxes: ``TRIES`` per sample, N x TRIES int64 ``(long, short)``.

    Each try draws an area ``a = area * U[scale)`` and an aspect ``r = exp(U[log ratio))``;
    returns ``round(sqrt(a r))`` and ``round(sqrt(a / r))``. (RandomResizedCrop takes them as
    width and height, RandomErasing as height and width, as torchvision does.)
    """
    target = area * uniform(n * TRIES, *scale, generator).view(n, TRIES)
    aspect = torch.exp(uniform(n * TRIES, math.log(ratio[0]), math.log(ratio[1]), generator)).view(n, TRIES)
    return torch.round(torch.sqrt(target * aspect)).long(), torch.round(torch.sqrt(target / aspect)).long()


def first_valid(valid: torch.Tensor, *candidates: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``(found, *picked)``: per sample whether any try is valid (N x TRIES bool) and, from each
    candidate tensor (N x TRIES), the value of the first valid try (of try 0 when none is)."""
    index = valid.long().argmax(1, keepdim=True)  # argmax returns the first maximum
    return (valid.any(1), *(c.gather(1, index)[:, 0] for c in candidates))


def uniform_offset(room: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per sample an integer uniform on ``0 .. room_n`` (``room >= 0``, int64 N)."""
    u = uniform(len(room), 0, 1, generator).to(room.device)
    return (u * (room + 1)).long().minimum(room)


def box_weights(top: torch.Tensor, left: torch.Tensor, height: torch.Tensor, width: torch.Tensor,
                size: tuple[int, int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """N x 1 x H x W of ``dtype``: 1 inside each sample's box, 0 outside.

    Meant for ``torch.lerp(x, fill, weights)``, which returns ``x`` and ``fill`` exactly at
    weights 0 and 1 and is several times faster on CPU than ``torch.where`` with a bool mask.
    """
    index = torch.arange(max(size), device=device)

    def inside(start: torch.Tensor, length: torch.Tensor, extent: int) -> torch.Tensor:
        start, stop = start.to(device)[:, None], (start + length).to(device)[:, None]
        return ((index[:extent] >= start) & (index[:extent] < stop)).to(dtype)

    rows, cols = inside(top, height, size[0]), inside(left, width, size[1])
    return rows[:, None, :, None] * cols[:, None, None, :]
