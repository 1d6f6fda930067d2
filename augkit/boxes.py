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
    """torchvision's candidate boxes: ``TRIES`` per sample, each from an area and an aspect.

    Each try draws an area ``a = area * U[scale)`` and an aspect ``r = exp(U[log ratio))`` and
    returns ``round(sqrt(a r))`` and ``round(sqrt(a / r))`` (RandomResizedCrop takes them as
    width and height, RandomErasing as height and width, as torchvision does).

    Parameters
    ----------
    n : int
        Samples.
    area : float
        The image's area in pixels.
    scale, ratio : tuple of float
        ``(lo, hi)`` ranges of the area fraction and of the aspect (``ratio`` > 0).
    generator : torch.Generator
        Drawn on its device.

    Returns
    -------
    tuple of torch.Tensor
        ``(long, short)``: int64 N x TRIES each.
    """
    target = area * uniform(n * TRIES, *scale, generator).view(n, TRIES)
    aspect = torch.exp(uniform(n * TRIES, math.log(ratio[0]), math.log(ratio[1]), generator)).view(n, TRIES)
    return torch.round(torch.sqrt(target * aspect)).long(), torch.round(torch.sqrt(target / aspect)).long()


def first_valid(valid: torch.Tensor, *candidates: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The first valid try of each sample.

    Parameters
    ----------
    valid : torch.Tensor
        bool N x TRIES.
    *candidates : torch.Tensor
        N x TRIES each.

    Returns
    -------
    tuple of torch.Tensor
        ``(found, *picked)``: ``found`` bool N (whether any try is valid), then, from each
        candidate, the value (shape N) of the first valid try, or of try 0 when none is.
    """
    index = valid.long().argmax(1, keepdim=True)  # argmax returns the first maximum
    return (valid.any(1), *(c.gather(1, index)[:, 0] for c in candidates))


def uniform_offset(room: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per sample an integer uniform on ``0 .. room_n``.

    Parameters
    ----------
    room : torch.Tensor
        int64 N, >= 0.
    generator : torch.Generator
        Drawn on its device.

    Returns
    -------
    torch.Tensor
        int64 N on ``room``'s device.
    """
    u = uniform(len(room), 0, 1, generator).to(room.device)
    return (u * (room + 1)).long().minimum(room)


def box_weights(top: torch.Tensor, left: torch.Tensor, height: torch.Tensor, width: torch.Tensor,
                size: tuple[int, int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """1 inside each sample's box, 0 outside: weights for ``torch.lerp(x, fill, weights)``.

    ``lerp`` returns ``x`` and ``fill`` exactly at weights 0 and 1 and is several times faster
    on CPU than ``torch.where`` with a bool mask.

    Parameters
    ----------
    top, left, height, width : torch.Tensor
        int64 N each: the boxes (empty when ``height`` or ``width`` is 0).
    size : tuple of int
        ``(H, W)`` of the images.
    dtype : torch.dtype
        Of the result.
    device : torch.device
        Of the result.

    Returns
    -------
    torch.Tensor
        N x 1 x H x W.
    """
    index = torch.arange(max(size), device=device)

    def inside(start: torch.Tensor, length: torch.Tensor, extent: int) -> torch.Tensor:
        start, stop = start.to(device)[:, None], (start + length).to(device)[:, None]
        return ((index[:extent] >= start) & (index[:extent] < stop)).to(dtype)

    rows, cols = inside(top, height, size[0]), inside(left, width, size[1])
    return rows[:, None, :, None] * cols[:, None, None, :]
