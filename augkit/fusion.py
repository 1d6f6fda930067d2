"""The fusion planner and executor: how a Compose runs its children with one resampling per run.

Planning (:func:`plan_runs`, once per pipeline): every maximal run of consecutive geometric
transforms, with the per-image affine colour maps (``color_affine``) between them, is one *run*.
Executing (:func:`run`, at every call) applies each run in the cheapest way that keeps its
semantics:

* a run of flips and colour maps only: one transform after another, exactly (flips re-index);
* a run whose one resampling transform has an exact kernel of its own (``exact_alone``: a
  bilinear scale-crop or resized crop) among flips and colour maps: that kernel, with the
  flips after it folded into its copy-out, then the colour maps;
* any other run: one sampling grid per sample and one :func:`augkit.functional.warp` call;
* a label-mixing transform (MixUp, CutMix) mixes the images and the soft targets.

A uint8 batch stays uint8 as long as the transforms read it (geometric ones, ColorJitter and the
policies do) and is converted to the float working batch once, where the first transform needs it. ``owned`` tracks whether the
current batch is the pipeline's own intermediate, which the next transform may overwrite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from . import functional as F
from .params import Params

if TYPE_CHECKING:
    from .transforms.base import Transform


def plan_runs(transforms: Sequence[Transform]) -> list[tuple[int, int]]:
    """The runs of a pipeline.

    Parameters
    ----------
    transforms : sequence of Transform
        The pipeline's children, in order.

    Returns
    -------
    list of (int, int)
        ``(start, stop)`` of each maximal run of geometric transforms, with the per-image colour
        maps (``color_affine``) that sit between two of them; a run ends on a geometric transform.

    Raises
    ------
    ValueError
        The resampling transforms of a run differ in ``interpolation``.
    """
    runs, i, ts = [], 0, list(transforms)
    while i < len(ts):
        if not ts[i].geometric:
            i += 1
            continue
        j = stop = i + 1
        while j < len(ts) and (ts[j].geometric or ts[j].color_affine):
            j += 1
            if ts[j - 1].geometric:
                stop = j  # a run ends on a geometric transform
        modes = {t.interpolation for t in ts[i:stop] if t.geometric and t.interpolation is not None}
        if len(modes) > 1:
            raise ValueError(f"fused geometric transforms {ts[i:stop]} must share interpolation, "
                             f"got {sorted(modes)}")
        runs.append((i, stop))
        i = stop
    return runs


def run(transforms: Sequence[Transform], runs: list[tuple[int, int]], x: torch.Tensor, params: list[Params],
        inplace: bool, target: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Apply a pipeline's children by its plan.

    Parameters
    ----------
    transforms : sequence of Transform
        The children, in order.
    runs : list of (int, int)
        Their plan, from :func:`plan_runs`.
    x : torch.Tensor
        N x C x H x W: the raw uint8 batch, or a working batch (float on [0, 1]).
    params : list of dict
        One parameter dict per child.
    inplace : bool
        ``x`` is the caller's own intermediate (never the user's batch), free to overwrite.
    target : torch.Tensor, optional
        Soft targets (float N x K) for label-mixing children, else None.

    Returns
    -------
    tuple
        ``(x, target)``: a working batch (or exact uint8, from transforms that read uint8) and the
        targets as the mixing children left them.
    """
    ts, starts = list(transforms), dict(runs)
    i, owned = 0, inplace  # owned: x is this call's own intermediate, free to overwrite
    while i < len(ts):
        stop = starts.get(i, i + 1)
        children = ts[i:stop]
        if x.dtype == torch.uint8 and not children[0]._reads_uint8:
            x, owned = F.to_working(x), True  # the raw batch, read as far as possible
        resampling = [t for t in children if t.geometric and t.interpolation is not None]
        if children[0].mixes_labels:
            x, target = children[0].mix(x, target, params[i], inplace=owned)
            owned = True
        elif len(resampling) == 1 and getattr(resampling[0], "exact_alone", False):
            x, owned = _exact_run(x, children, params[i:stop], owned)
        elif not resampling:  # flips and colour maps: exact one after another
            x, owned = _sequence(x, children, params[i:stop], owned)
        else:
            x, owned = _warp_run(x, children, params[i:stop], resampling[0].interpolation), True
        i = stop
    return x, target


def _sequence(x: torch.Tensor, children: list[Transform], params: list[Params],
              owned: bool) -> tuple[torch.Tensor, bool]:
    """Apply ``children`` one transform after another; returns ``(x, owned)``."""
    for t, p in zip(children, params):
        if x.dtype == torch.uint8 and not t._reads_uint8:
            x, owned = F.to_working(x), True
        y = t._apply(x, p, inplace=owned)
        x, owned = y, owned or not F.shares_memory(y, x)
    return x, owned


def _exact_run(x: torch.Tensor, children: list[Transform], params: list[Params],
               owned: bool) -> tuple[torch.Tensor, bool]:
    """A run whose one resampling transform has an exact kernel of its own, among flips and
    colour maps: the transforms before it one by one, then it with the flips after it folded
    into its copy-out (flips commute with per-image colour maps), then the colour maps."""
    j = next(k for k, t in enumerate(children) if t.geometric and t.interpolation is not None)
    x, owned = _sequence(x, children[:j], params[:j], owned)
    flips = None
    for t, p in zip(children[j + 1:], params[j + 1:]):
        if t.geometric:  # a flip: apply (bool N), axis -1 (left-right) or -2
            flips = torch.zeros(len(p["apply"]), 2, dtype=torch.bool) if flips is None else flips
            flips[:, 1 if t.axis == -1 else 0] ^= p["apply"].cpu()
    if x.dtype == torch.uint8 and not children[j]._reads_uint8:
        x = F.to_working(x)
    x = children[j].forward_then_flip(x, params[j], flips)
    color_maps = [(t, p) for t, p in zip(children[j + 1:], params[j + 1:]) if not t.geometric]
    return _sequence(x, [t for t, _ in color_maps], [p for _, p in color_maps], True)


def _warp_run(x: torch.Tensor, children: list[Transform], params: list[Params], interpolation: str) -> torch.Tensor:
    """One grid, one grid_sample for a run of geometric transforms and colour maps."""
    size, items = tuple(x.shape[-2:]), []
    for t, p in zip(children, params):
        if t.geometric:
            items.append(t.step(p, size))
            size = t.output_size(size)
        else:
            items.append(t.color_map(p, x.shape[1]))
    return F.warp(x, items, size, interpolation)
