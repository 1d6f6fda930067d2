"""Validation at augkit's boundary: image sizes, batches, single images and soft targets.

Every public entry point funnels its inputs through these helpers (and the generic argument
checks and seed convention of :mod:`conventions`), so the error messages, which name the
argument and the bad value, are the same everywhere.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
import torch

from conventions import check_int

try:  # Pillow is a runtime dependency, but keep the import failure readable.
    from PIL import Image
except ImportError:  # pragma: no cover
    Image = None


# PIL modes that convert to RGB without losing information the user would miss.
_PIL_TO_RGB = {"P", "CMYK", "YCbCr", "1", "HSV", "LAB"}


def check_size(size: int | tuple[int, int], name: str = "size") -> tuple[int, int]:
    """Check a size and return it as ``(h, w)``.

    Parameters
    ----------
    size : int or (int, int)
        A positive int (a square) or an ``(h, w)`` pair of positive ints.
    name : str
        The argument's name in error messages.

    Returns
    -------
    (int, int)
        ``(h, w)``.

    Raises
    ------
    TypeError
        When ``size`` is neither an int nor a pair of ints.
    ValueError
        When a side is not positive.
    """
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (int(size), int(size))
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in size)
    ):
        raise TypeError(f"{name} must be an int or an (h, w) pair of ints, got {size!r}")
    if min(size) < 1:
        raise ValueError(f"{name} must be positive, got {size!r}")
    return (int(size[0]), int(size[1]))


def check_crop_fits_scale(size: tuple[int, int], scale: tuple[int, int]) -> None:
    """Check that an ``(h, w)`` crop fits every image rescaled to shorter side ``scale[0]``.

    Whatever the aspect ratio, the rescaled image is at least ``scale[0]`` on both sides, so
    this holds for any image exactly when ``scale[0] >= max(h, w)``.

    Parameters
    ----------
    size : (int, int)
        ``(h, w)`` of the crop.
    scale : (int, int)
        ``(lo, hi)``: the range of the shorter side.

    Raises
    ------
    ValueError
        When ``scale[0] < max(h, w)``.
    """
    if scale[0] < max(size):
        raise ValueError(f"crop size {tuple(size)} is larger than an image rescaled to shorter side "
                         f"scale[0]={scale[0]}: pass scale=(lo, hi) with lo >= {max(size)}")


def check_batch(batch: object, *, channels: tuple[int, ...] = (1, 3)) -> torch.Tensor:
    """Check a batch N x C x H x W: uint8, or a float dtype with values in [0, 1] (no NaN).

    Parameters
    ----------
    batch : object
        The batch to check.
    channels : tuple of int
        The channel counts C allowed.

    Returns
    -------
    torch.Tensor
        ``batch`` itself.

    Raises
    ------
    TypeError
        When ``batch`` is not a tensor, or neither uint8 nor float.
    ValueError
        For another rank, channel count, an empty image, or float values outside [0, 1].
    """
    if not isinstance(batch, torch.Tensor):
        raise TypeError(f"batch must be a torch.Tensor, got {type(batch).__name__}")
    if batch.dim() != 4:
        raise ValueError(f"batch must have rank 4 (N x C x H x W), got shape {tuple(batch.shape)}")
    if batch.dtype != torch.uint8 and not batch.dtype.is_floating_point:
        raise TypeError(f"batch dtype must be uint8 or floating point, got {batch.dtype}")
    if batch.shape[1] not in channels:
        raise ValueError(f"batch must have {' or '.join(map(str, channels))} channels, "
                         f"got C={batch.shape[1]} in shape {tuple(batch.shape)}")
    if batch.shape[2] < 1 or batch.shape[3] < 1:
        raise ValueError(f"image height and width must be positive, got shape {tuple(batch.shape)}")
    if batch.dtype.is_floating_point and batch.numel() > 0:
        lo, hi = torch.aminmax(batch)
        # `not (a and b)` also catches NaN, for which every comparison is False.
        if not (bool(lo >= 0) and bool(hi <= 1)):
            raise ValueError(f"float batch values must be in [0, 1], got min {lo.item()} "
                             f"and max {hi.item()}")
    return batch


def as_batch(image: object) -> tuple[torch.Tensor, Callable[[torch.Tensor], object]]:
    """Turn a batch, a PIL image or a numpy H x W x C uint8 image into a checked batch.

    PIL modes P, CMYK, YCbCr, 1, HSV and LAB are converted to RGB; RGB and L are kept; RGBA/LA
    (alpha would be dropped silently) and 16/32-bit or float modes are refused with a ValueError.

    Parameters
    ----------
    image : torch.Tensor, PIL image or numpy.ndarray
        A batch N x C x H x W (see :func:`check_batch`), a PIL image, or a numpy H x W x C (or
        H x W) uint8 image.

    Returns
    -------
    batch : torch.Tensor
        The checked batch, N x C x H x W.
    restore : callable
        Turns an output batch of the same kind back into the caller's kind (identity for
        tensors).
    """
    if isinstance(image, torch.Tensor):
        return check_batch(image), lambda out: out
    if Image is not None and isinstance(image, Image.Image):
        mode = image.mode
        if mode in _PIL_TO_RGB:
            image, mode = image.convert("RGB"), "RGB"
        if mode not in ("RGB", "L"):
            raise ValueError(f"PIL image mode {image.mode!r} is not supported: convert it to 'RGB' "
                             "or 'L' first (e.g. image.convert('RGB'))")
        array = np.asarray(image, dtype=np.uint8)
        batch, restore = as_batch(array)
        return batch, lambda out: Image.fromarray(restore(out), mode=mode)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise TypeError(f"numpy images must be uint8 H x W x C, got dtype {image.dtype}")
        if image.ndim == 2:
            squeeze = True
            image = image[:, :, None]
        elif image.ndim == 3:
            squeeze = False
        else:
            raise ValueError("numpy input must be one H x W x C image (rank 3) or H x W (rank 2); "
                             f"got shape {image.shape}: pass batches as N x C x H x W tensors")
        image = np.ascontiguousarray(image)
        if not image.flags.writeable:  # torch.from_numpy warns on read-only arrays (e.g. from PIL)
            image = image.copy()
        # 1 x C x H x W, channels-last in memory, with the batch stride of a real channels-last batch
        # (numpy's image[None] gives 0 there, which makes torch's kernels read it as channels-first).
        batch = check_batch(torch.from_numpy(image).view(1, *image.shape).permute(0, 3, 1, 2))

        def restore(out: torch.Tensor) -> np.ndarray:
            if out.dtype != torch.uint8:
                raise TypeError("this transform returns float values outside [0, 1]; "
                                "call it on a tensor batch, not a numpy image")
            array = out[0].permute(1, 2, 0).cpu().numpy()
            return array[:, :, 0] if squeeze else array

        return batch, restore
    raise TypeError("expected a torch.Tensor batch, a PIL image or a numpy uint8 image, "
                    f"got {type(image).__name__}")


def as_soft_targets(labels: object, n: int, num_classes: int | None, device: torch.device) -> torch.Tensor:
    """Checked soft targets for label mixing.

    Parameters
    ----------
    labels : torch.Tensor or numpy.ndarray
        Int class indices (shape N) or float soft labels (N x K, rows >= 0 summing to 1).
    n : int
        Samples in the batch.
    num_classes : int, optional
        K: required with class indices; when given with soft labels, their width must match.
    device : torch.device
        Of the result.

    Returns
    -------
    torch.Tensor
        N x K: one-hot float32 for class indices, else the soft labels in their float dtype.

    Raises
    ------
    TypeError, ValueError
        Labels of another kind, a length other than ``n``, indices out of range, soft labels
        of the wrong width or not summing to 1.
    """
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor or numpy array, got {type(labels).__name__}")
    if num_classes is not None:
        check_int(num_classes, "num_classes", minimum=1)
    if labels.dim() == 0 or labels.shape[0] != n:
        raise ValueError(f"labels of shape {tuple(labels.shape)} do not match the batch of {n} samples")
    labels = labels.to(device)
    if labels.dim() == 1 and not labels.dtype.is_floating_point and labels.dtype != torch.bool:
        if num_classes is None:
            raise ValueError("num_classes is required with class-index labels: call t(x, y, num_classes=K)")
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
