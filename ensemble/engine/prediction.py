"""The members' class probabilities over test-time views.

Every member sees all views of a chunk of images in one forward pass (about
:func:`nets.batches.inference_batch_size` inputs), in its own memory format, and its
probabilities are averaged over each image's views (:func:`augkit.average_views`).

In-memory rows (:func:`member_probas`) come as one array; a stream's photos
(:func:`stream_member_probas`) come a chunk of images at a time, each image decoded once for
all its views of every requested mode and for every member, so a caller can reduce each
chunk (vote, accumulate held-out decisions) and keep O(N x K) numbers, whatever N.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

import augkit
import nets
from augkit.tta import views
from conventions import Normalization
from nets.batches import inference_batch_size, model_memory_format

from .members import threads_per_worker, torch_threads
from .photos import photo_views
from .sources import StreamSource

__all__ = ["Inference", "member_probas", "stream_member_probas", "view_count"]


@dataclass(frozen=True)
class Inference:
    """How a fitted ensemble's members read their input: the per-channel ``normalize`` of
    images (None for tabular rows, standardised before), the ``device`` they run on, and
    whether rows are ``images`` (test-time views apply)."""

    normalize: Normalization | None
    device: str
    images: bool

    def check_tta(self, tta) -> None:
        """Refuse test-time views of tabular rows."""
        if tta is not None and not self.images:
            raise ValueError(f"tta={tta!r} needs image input; this ensemble was fitted on tabular data")


def view_count(X: np.ndarray, tta, images: bool) -> int:
    """V, the views ``tta`` makes of each row of ``X`` (1 for tabular rows)."""
    return views(torch.as_tensor(X[:1]), tta).shape[1] if images else 1


def forward_views(models: Sequence[torch.nn.Module], batch_views: torch.Tensor,
                  inference: Inference) -> list[torch.Tensor]:
    """Per model, its probabilities n x K (float32, CPU) of a chunk of views ``n x V x ...``
    (uint8 or float, on the device), averaged over each row's V views."""
    n, v = batch_views.shape[:2]
    memory_format = model_memory_format(models[0])
    inputs = nets.to_float_batch(batch_views.flatten(0, 1), normalize=inference.normalize, memory_format=memory_format)
    return [augkit.average_views(model(inputs).reshape(n, v, -1), average="proba").float().cpu() for model in models]


@torch.no_grad()
def member_probas(models: Sequence[torch.nn.Module], X: np.ndarray, tta, inference: Inference) -> torch.Tensor:
    """``M x N x K`` probabilities of ``models`` on prepared rows ``X``, views averaged per row.

    Parameters
    ----------
    models : sequence of nn.Module
        Members in eval mode on ``inference.device``.
    X : np.ndarray
        Prepared rows (images N x C x H x W uint8 or float; tabular N x D float32).
    tta : str, callable or None
        A mode of :func:`augkit.tta.views` (images only).
    inference : Inference
    """
    inference.check_tta(tta)
    n_views = view_count(X, tta, inference.images)
    chunk = max(1, inference_batch_size(inference.device, math.prod(X.shape[2:]) if inference.images else None)
                // n_views)
    out: list[list[torch.Tensor]] = [[] for _ in models]
    for start in range(0, len(X), chunk):
        batch = torch.as_tensor(X[start:start + chunk]).to(inference.device)
        batch_views = views(batch, tta) if inference.images else batch[:, None]
        for slot, proba in zip(out, forward_views(models, batch_views, inference)):
            slot.append(proba)
    return torch.stack([torch.cat(s) for s in out])


@torch.no_grad()
def stream_member_probas(models: Sequence[torch.nn.Module], source: StreamSource, rows: np.ndarray, modes: Sequence,
                         inference: Inference, masks: np.ndarray | None = None,
                         desc: str = "predicting") -> Iterator[tuple[np.ndarray, list[torch.Tensor]]]:
    """The probabilities of ``models`` on a stream's ``rows``, a chunk of images at a time.

    Parameters
    ----------
    models : sequence of nn.Module
        M members in eval mode on ``inference.device``.
    source : StreamSource
        The photos.
    rows : np.ndarray
        The rows to predict (the source's skipped rows are left out).
    modes : sequence
        Test-time modes (:mod:`ensemble.engine.photos`), all made from one decode per image.
    inference : Inference
    masks : np.ndarray, optional
        bool M x N: member m computes only the rows where ``masks[m]`` is True (e.g. its
        out-of-bag rows); the other entries are NaN.
    desc : str
        The progress bar's label.

    Yields
    ------
    (np.ndarray, list of torch.Tensor)
        The chunk's rows (int64 n), and per mode the probabilities M x n x K (float32, CPU),
        averaged over each image's views.
    """
    probe = torch.zeros(1, 3, *source.geometry.size, dtype=torch.uint8)
    n_views = sum(v.shape[0] for v in photo_views(probe, source.geometry, modes))
    chunk = max(1, inference_batch_size(inference.device, math.prod(source.geometry.size)) // n_views)
    with torch_threads(threads_per_worker(1, reserved=source.num_workers)):  # the loader's workers keep their cores
        yield from _stream_chunks(models, source, rows, modes, inference, masks, chunk, desc)


def _stream_chunks(models, source: StreamSource, rows: np.ndarray, modes: Sequence, inference: Inference,
                   masks: np.ndarray | None, chunk: int, desc: str) -> Iterator[tuple[np.ndarray, list[torch.Tensor]]]:
    for views_by_mode, chunk_rows in source.view_chunks(rows, modes, chunk, desc=desc):
        chunk_rows = chunk_rows.numpy()
        out = []
        for batch_views in views_by_mode:
            batch_views = batch_views.to(inference.device)
            if masks is None:
                out.append(torch.stack(forward_views(models, batch_views, inference)))
                continue
            probas = None
            for m, model in enumerate(models):
                mine = torch.as_tensor(masks[m, chunk_rows])
                if bool(mine.any()):
                    proba = forward_views([model], batch_views[mine.to(batch_views.device)], inference)[0]
                    if probas is None:
                        probas = torch.full((len(models), len(chunk_rows), proba.shape[1]), float("nan"))
                    probas[m, mine] = proba
            out.append(probas)
        yield chunk_rows, out
