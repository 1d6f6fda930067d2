"""Class-invariance audit: does an augmentation keep the label, as judged by a trained model?

An augmentation is only a regulariser if the class survives it (a vertically flipped 6 is a 9).
Given a model trained on the data, each transform is applied to held-out images and the model's
accuracy on the transformed images is compared with its clean accuracy: a transform whose
*relative accuracy* ``acc_transformed / acc_clean`` falls below ``threshold`` is flagged as one
that changes labels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from conventions import as_generator

from .data import to_batch

__all__ = ["AuditReport", "audit"]


@dataclass
class AuditReport:
    """Result of :func:`audit`.

    Parameters
    ----------
    clean_accuracy : float
        The model's accuracy on the untransformed images.
    threshold : float
        The relative accuracy below which a transform is flagged.
    n_images : int
        The number of images audited.
    rows : list of dict
        One dict per transform, in the order given: ``transform`` (name), ``accuracy``,
        ``relative_accuracy`` (accuracy / clean_accuracy), ``changed`` (fraction of images whose
        predicted class changed), ``changes_labels`` (relative_accuracy < threshold).
    """

    clean_accuracy: float
    threshold: float
    n_images: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def flagged(self) -> list[str]:
        """Names of the transforms flagged as changing labels."""
        return [row["transform"] for row in self.rows if row["changes_labels"]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: clean_accuracy, threshold, n_images, rows, flagged."""
        return {
            "clean_accuracy": self.clean_accuracy,
            "threshold": self.threshold,
            "n_images": self.n_images,
            "rows": [dict(row) for row in self.rows],
            "flagged": self.flagged,
        }

    def to_markdown(self) -> str:
        """A Markdown table: one line for the clean images, then one per transform."""
        lines = [
            "| transform | accuracy | relative accuracy | predictions changed | changes labels |",
            "|---|---:|---:|---:|---|",
            f"| (clean) | {self.clean_accuracy:.3f} | 1.000 | 0.000 | |",
        ]
        for row in self.rows:
            verdict = f"yes (< {self.threshold:g})" if row["changes_labels"] else "no"
            lines.append(
                f"| {row['transform']} | {row['accuracy']:.3f} | {row['relative_accuracy']:.3f} "
                f"| {row['changed']:.3f} | {verdict} |"
            )
        return "\n".join(lines)


def _as_images(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        images = to_batch(images)  # numpy is N x H x W x C
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.dtype != torch.uint8:
        raise ValueError(
            "images must be a uint8 N x C x H x W tensor or a uint8 N x H x W x C numpy array, got "
            f"{type(images).__name__} with shape {tuple(getattr(images, 'shape', ()))} "
            f"and dtype {getattr(images, 'dtype', None)}"
        )
    return images


@torch.no_grad()
def audit(
    model: torch.nn.Module,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    transforms: Mapping[str, Callable[..., torch.Tensor]],
    *,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 512,
    threshold: float = 0.9,
    generator: torch.Generator | int | None = 0,
    device: str | torch.device = "cpu",
) -> AuditReport:
    """Audit which augmentations change the class, as judged by a trained ``model``.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier emitting logits N x K, already on ``device``; run in eval mode under
        ``no_grad`` (its training mode is restored afterwards).
    images : torch.Tensor or numpy.ndarray
        uint8 tensor N x C x H x W, or uint8 numpy N x H x W x C (ideally held-out images).
    labels : numpy.ndarray or torch.Tensor
        int N.
    transforms : mapping of str to callable
        Name -> transform: any callable ``t(batch, generator=g)`` on float batches
        N x C x H x W in [0, 1] (e.g. an augkit transform or Compose).
    preprocess : callable, optional
        Maps a float [0, 1] batch to the model input (normalisation, flattening); default
        identity.
    batch_size : int
        Images per forward pass.
    threshold : float
        A transform is flagged when accuracy_t / clean_accuracy < threshold.
    generator : torch.Generator, int or None
        The transforms' random parameters (shared, consumed in order of ``transforms`` and
        batches).
    device : str or torch.device
        Where batches are moved before the transforms and the model run.

    Returns
    -------
    AuditReport
        ``rows``, ``flagged``, ``to_markdown()``, ``to_dict()``.

    Raises
    ------
    ValueError for bad arguments and when the clean accuracy is 0 (nothing to compare to).
    """
    images = _as_images(images)
    labels = torch.as_tensor(labels).long().reshape(-1)
    if len(labels) != len(images) or len(images) == 0:
        raise ValueError(
            f"labels must have one entry per image: {len(labels)} labels for {len(images)} images"
        )
    if not isinstance(transforms, Mapping) or not transforms:
        raise ValueError(f"transforms must be a non-empty dict name -> transform, got {transforms!r}")
    for name, transform in transforms.items():
        if not callable(transform):
            raise ValueError(f"transforms[{name!r}] must be callable, got {transform!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    preprocess = (lambda x: x) if preprocess is None else preprocess
    generator = as_generator(generator)

    was_training = model.training
    model.eval()
    try:
        clean_correct = 0
        correct = dict.fromkeys(transforms, 0)
        changed = dict.fromkeys(transforms, 0)
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].to(device).float().div_(255)
            target = labels[start : start + batch_size].to(device)
            clean = model(preprocess(batch)).argmax(dim=1)
            clean_correct += int((clean == target).sum())
            for name, transform in transforms.items():
                predicted = model(preprocess(transform(batch, generator=generator))).argmax(dim=1)
                correct[name] += int((predicted == target).sum())
                changed[name] += int((predicted != clean).sum())
    finally:
        model.train(was_training)

    n = len(images)
    clean_accuracy = clean_correct / n
    if clean_accuracy == 0:
        raise ValueError(
            "the model's clean accuracy is 0: the audit needs a model that classifies the clean images"
        )
    report = AuditReport(clean_accuracy=clean_accuracy, threshold=float(threshold), n_images=n)
    for name in transforms:
        relative = correct[name] / n / clean_accuracy
        report.rows.append(
            {
                "transform": name,
                "accuracy": correct[name] / n,
                "relative_accuracy": relative,
                "changed": changed[name] / n,
                "changes_labels": relative < threshold,
            }
        )
    return report
