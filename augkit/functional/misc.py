"""The working batch and the kernels outside the other families: noise, normalisation, JPEG.

A *working batch* is a float tensor N x C x H x W with values on the [0, 1] scale (float32, or
float64 when the input was float64); :func:`to_working` / :func:`from_working` convert once per
pipeline call, so uint8 images are converted to float once, not once per transform. The kernels
that also take uint8 levels (quantised after each step, as torchvision's uint8 kernels) compute
on the batch's own scale: :func:`on_scale` and :func:`back_to`.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image


def to_working(x: torch.Tensor) -> torch.Tensor:
    """A batch as a working batch.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W, uint8 [0, 255] or float [0, 1].

    Returns
    -------
    torch.Tensor
        uint8 -> float32 ``x / 255`` (correctly rounded); float16/bfloat16 -> float32;
        float32/64: ``x`` itself, not a copy.
    """
    if x.dtype == torch.uint8:
        # A plain cast then an in-place divide: the mixed-dtype ``x * (1 / 255)`` takes a slow
        # non-vectorised CPU path (about 10x slower on a 1024 x 3 x 32 x 32 batch).
        return x.to(torch.float32).div_(255)
    if x.dtype in (torch.float32, torch.float64):
        return x
    return x.to(torch.float32)


def from_working(x: torch.Tensor, dtype: torch.dtype, clamp: bool = True,
                 inplace: bool = False) -> torch.Tensor:
    """A working batch back in ``dtype``.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W.
    dtype : torch.dtype
        uint8 rounds ``255 x`` to nearest (halves up) and saturates; a float dtype casts.
    clamp : bool
        Keep float results in [0, 1].
    inplace : bool
        Let it overwrite ``x`` (a pipeline's own intermediate), which saves a batch-sized
        allocation; the result is the same.

    Returns
    -------
    torch.Tensor
        ``x``'s shape in ``dtype``.
    """
    if dtype == torch.uint8:
        # 255 x + 1/2 in one pass, saturate, then the cast truncates: round to nearest in three
        # passes over the batch instead of four.
        y = torch.add(x.new_tensor(0.5), x, alpha=255, out=x if inplace else None)
        return y.clamp_(0, 255).to(torch.uint8)
    if clamp:
        x = x.clamp_(0, 1) if inplace else x.clamp(0, 1)
    return x.to(dtype)


def on_scale(x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The values a kernel computes on, and their top: float ``x`` itself on [0, 1], or uint8 levels
    as float32 on [0, 255] (where torchvision's uint8 kernels compute).

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W: a working batch (float on [0, 1]) or uint8 levels.

    Returns
    -------
    tuple
        ``(values, top)``: ``x`` itself (float) or a new float32 tensor (uint8), and 1.0 or 255.0.
    """
    if x.is_floating_point():
        return x, 1.0
    return x.to(torch.float32), 255.0


def back_to(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Results computed on ``x``'s scale (:func:`on_scale`), clamped and in ``x``'s dtype.

    uint8 is truncated, as torchvision's uint8 kernels do (``clamp(0, 255).to(uint8)``).

    Parameters
    ----------
    values : torch.Tensor
        Float, on ``x``'s scale; overwritten.
    x : torch.Tensor
        The kernel's input batch (float on [0, 1] or uint8).

    Returns
    -------
    torch.Tensor
        ``values``' shape in ``x``'s dtype, on [0, 1] or [0, 255].
    """
    if x.is_floating_point():
        return values.clamp_(0, 1)
    return values.clamp_(0, 255).to(x.dtype)


def shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``a`` and ``b`` live in the same storage, so that writing into one changes the other.

    A kernel's result that does not share the input's storage may be overwritten by the next one.

    Parameters
    ----------
    a, b : torch.Tensor
        Any tensors.

    Returns
    -------
    bool
        True when their storages start at the same address.
    """
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def gaussian_noise(x: torch.Tensor, sigma: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Add ``sigma_n * z`` with ``z ~ N(0, 1)`` per pixel and channel to image n; clamp to [0, 1].

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1].
    sigma : torch.Tensor
        Shape N, >= 0.
    seed : torch.Tensor
        0-d int64. ``z`` is drawn on ``x``'s device from a generator seeded with it, so the same
        seed gives the same noise (on the same device type).

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, on [0, 1].
    """
    generator = torch.Generator(device=x.device).manual_seed(int(seed))
    z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    # x + sigma z in one fused pass, written over z (elementwise aliasing is allowed).
    return torch.addcmul(x, z, sigma.to(x.dtype)[:, None, None, None], out=z).clamp_(0, 1)



def jpeg(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG round trip: encode image n at ``quality_n`` and decode it again.

    Pillow, in memory, with its default 4:2:0 chroma subsampling (CIFAR-10-C's
    ``jpeg_compression``); the images are rounded to uint8 first, as a JPEG file holds them.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).
    quality : torch.Tensor
        Shape N, integer values in 1 .. 95.

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape, dtype and device, on the uint8 levels.
    """
    images = from_working(x, torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = []
    for image, q in zip(images, quality.tolist()):  # Pillow codes one image at a time
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="JPEG", quality=int(q))
        out.append(np.asarray(Image.open(buffer)).reshape(image.shape))
    return to_working(torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)).to(device=x.device, dtype=x.dtype)
