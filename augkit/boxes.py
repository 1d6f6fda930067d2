"""Random boxes for crops, erasing and CutMix: area/aspect tries, integer offsets, masks.

Boxes are per sample, as int64 tensors of shape N: ``top``, ``left``, ``height``, ``width``
in pixels of an H x W image (rows ``top .. top + height - 1``). Every draw is vectorised over
the batch (and over the tries), on the generator's device.
"""

from __future__ import annotations

import math

import torch

from .transforms import uniform

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


def box_mask(top: torch.Tensor, left: torch.Tensor, height: torch.Tensor, width: torch.Tensor,
             size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """Bool N x 1 x H x W, True inside each sample's box."""
    rows = torch.arange(size[0], device=device)[None, :]
    cols = torch.arange(size[1], device=device)[None, :]
    top, left, height, width = (t.to(device)[:, None] for t in (top, left, height, width))
    inside_rows = (rows >= top) & (rows < top + height)
    inside_cols = (cols >= left) & (cols < left + width)
    return (inside_rows[:, :, None] & inside_cols[:, None, :])[:, None]
