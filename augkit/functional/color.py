"""Colour kernels with per-sample factors: torchvision's definitions, on batches.

Every kernel takes a batch ``x``, N x C x H x W (C = 1 or 3), and per-sample parameters
(tensors of shape N, any real dtype), and returns a new batch of the same shape and dtype. They
draw nothing random. ``x`` is either

* a working batch, float on [0, 1]: the kernel computes in ``x``'s dtype and clamps to [0, 1];
* or, for the kernels that say so (the blends, brightness, contrast, saturation, hue), uint8
  levels 0 .. 255: the kernel computes as torchvision's uint8 kernel does, in float32 on the
  0 .. 255 scale (:func:`augkit.functional.on_scale`), and truncates to uint8 (the grey image
  of contrast and saturation is floored first; hue converts to [0, 1] and back with
  torchvision's ``to_dtype``). A chain of these kernels on uint8 is then quantised after every
  step, as torchvision's and PIL's are.

The formulas, and the order of the float operations, are torchvision's
(``torchvision.transforms.v2.functional``), written for a batch whose samples have different
factors; factors in float64 (as the transforms draw them) give its numbers exactly, since it
computes ``1 - factor`` from a Python float. Measured against torchvision 0.29.1 on the CPU, on
random and photo images, grey ones included (``tests/augkit/functional/test_color.py``): on
uint8 every kernel gives torchvision's levels exactly (0 levels apart); on float they agree to
1e-6 (measured: 0).
Two kernels follow CIFAR-10-C instead, for its corruptions: contrast about each channel's own
mean (``adjust_contrast(..., mean="channel")``) and the HSV value shift :func:`adjust_value`.

Also here: the per-image affine colour map of a fused geometric run (:class:`ColorMap`) and
AlexNet's PCA lighting, one such map (:func:`pca_offset`, :func:`fit_pca`). That keeps every
colour map in one module, at the price of about 450 lines; the operations on uint8 levels
(posterize, solarize, autocontrast, equalize) are split off into :mod:`augkit.functional.tone`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from .misc import back_to, on_scale

#: ITU-R 601-2 luma: the R, G, B weights of torchvision's ``rgb_to_grayscale`` and PIL's ``convert("L")``.
LUMA = (0.2989, 0.587, 0.114)


def per_sample(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample values as a tensor that broadcasts over ``x``'s images.

    Parameters
    ----------
    values : torch.Tensor
        Shape N, any real dtype.
    x : torch.Tensor
        The batch N x C x H x W they apply to.

    Returns
    -------
    torch.Tensor
        N x 1 x 1 x 1, ``x``'s dtype and device.
    """
    return values.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)


def luma(x: torch.Tensor) -> torch.Tensor:
    """Luma ``0.2989 r + 0.587 g + 0.114 b`` of each pixel, one channel.

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).

    Returns
    -------
    torch.Tensor
        N x 1 x H x W in ``x``'s dtype (``x`` itself when C = 1).
    """
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return r.mul(LUMA[0]).add_(g, alpha=LUMA[1]).add_(b, alpha=LUMA[2]).unsqueeze(1)


def blend(x: torch.Tensor, other: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """``ratio_n x + (1 - ratio_n) other``, clamped (torchvision's ``_blend``).

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W (C = 1 or 3): a working batch (float on [0, 1]) or uint8 levels
        (computed in float32 on [0, 255], truncated to uint8).
    other : torch.Tensor
        Float on ``x``'s scale (:func:`on_scale`), broadcasting against ``x`` (an image, a grey
        image, a mean).
    ratio : torch.Tensor
        Shape N, the weight of ``x`` per sample (any real number; > 1 extrapolates). float64
        gives torchvision's numbers exactly: it computes ``1 - ratio`` from a Python float.

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, clamped to its range.
    """
    values, _ = on_scale(x)
    # torchvision's x.mul(ratio).add_(other, alpha=1 - ratio), its alpha taken in float64 then
    # cast, and one fused multiply-add as its add with alpha does: the same float32 numbers, so
    # the same truncated uint8 levels.
    rest = per_sample(1 - ratio.double(), values)
    if other.shape[-2:] != values.shape[-2:]:
        # addcmul is 4x slower on CPU when both factors are constant over the pixels.
        other = other.expand(*other.shape[:-2], *values.shape[-2:]).contiguous()
    return back_to((values * per_sample(ratio, values)).addcmul_(other, rest), x)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Brightness: ``factor_n x``, clamped; 0 gives black, 1 the image.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W (C = 1 or 3): a working batch (float on [0, 1]) or uint8 levels
        (computed in float32, truncated to uint8).
    factor : torch.Tensor
        Shape N, >= 0.

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, clamped to its range.
    """
    values, _ = on_scale(x)
    return back_to(values * per_sample(factor, values), x)


def _grey(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The luma that contrast and saturation blend with: of uint8 levels, floored (torchvision
    truncates its grey image of a uint8 image)."""
    grey = luma(values)
    return grey.floor() if not x.is_floating_point() else grey


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor, mean: str = "luma") -> torch.Tensor:
    """Contrast: blend with the image's mean; 0 gives a flat image, 1 the image.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W (C = 1 or 3): a working batch (float on [0, 1]) or uint8 levels
        (computed in float32, truncated to uint8).
    factor : torch.Tensor
        Shape N, >= 0.
    mean : {"luma", "channel"}
        What the image is blended with: the mean of its luma, one grey for all channels
        (torchvision's and PIL's ``adjust_contrast``; of uint8 levels, the mean of the floored
        luma, as torchvision), or each channel's own mean, which keeps the image's mean colour
        (CIFAR-10-C's ``contrast``: ``(x - m_c) factor + m_c``).

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, clamped to its range.
    """
    values, _ = on_scale(x)
    if mean == "luma":
        reference = _grey(values, x).mean(dim=(1, 2, 3), keepdim=True)
    elif mean == "channel":
        reference = values.mean(dim=(2, 3), keepdim=True)
    else:
        raise ValueError(f"mean must be 'luma' or 'channel', got {mean!r}")
    return blend(x, reference, factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Saturation: blend with the image's luma; 0 gives grey, 1 the image, 2 doubles it.

    A 1-channel batch comes back unchanged (as torchvision and PIL do).

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W (C = 1 or 3): a working batch (float on [0, 1]) or uint8 levels
        (blended with the floored luma in float32, truncated to uint8, as torchvision).
    factor : torch.Tensor
        Shape N, >= 0.

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, clamped to its range.
    """
    if x.shape[1] == 1:
        return x.clone()
    return blend(x, _grey(on_scale(x)[0], x), factor)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """RGB to HSV (Pillow's algorithm, in torchvision's float operations).

    Parameters
    ----------
    x : torch.Tensor
        RGB, float N x 3 x H x W on [0, 1].

    Returns
    -------
    torch.Tensor
        N x 3 x H x W: hue on [0, 1) (in turns), saturation and value on [0, 1].
    """
    r, g, b = x.unbind(1)
    # Elementwise over the three planes: a reduction over dim 1 (aminmax) is 20x slower on CPU.
    maxc = torch.maximum(torch.maximum(r, g), b)
    minc = torch.minimum(torch.minimum(r, g), b)
    chroma = maxc - minc
    flat = chroma == 0
    # Where the pixel is grey, saturation and hue are 0; keep the divisions finite there.
    s = chroma / torch.where(flat, 1, maxc)
    c = torch.where(flat, 1, chroma)
    rc, gc, bc = (maxc - r) / c, (maxc - g) / c, (maxc - b) / c
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2 + rc - bc, 4 + gc - rc))
    # h / 6 as torchvision rounds it (times 1/6, plus one turn, modulo one), so that its levels
    # come out of hsv_to_rgb; frac is fmod(., 1) exactly, 8x faster on CPU.
    h = h.mul_(1 / 6).add_(1).frac_()
    return torch.stack((h, s, maxc), 1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """HSV to RGB, the inverse of :func:`rgb_to_hsv` (torchvision's float operations).

    Parameters
    ----------
    hsv : torch.Tensor
        N x 3 x H x W: hue on [0, 1), saturation and value on [0, 1].

    Returns
    -------
    torch.Tensor
        RGB N x 3 x H x W on [0, 1], ``hsv``'s dtype.
    """
    h, s, v = hsv.unbind(1)
    h6 = h * 6
    sector = torch.floor(h6)
    f = h6 - sector
    sector = sector.long().remainder_(6)
    sf, grey = s * f, 1 - s
    p = (grey * v).clamp_(0, 1)
    q = ((1 - sf) * v).clamp_(0, 1)
    t = ((sf + grey) * v).clamp_(0, 1)
    # Per hue sector, which of (v, p, q, t) each of r, g, b takes.
    table = torch.tensor([[0, 2, 1, 1, 3, 0], [3, 0, 0, 2, 1, 1], [1, 1, 3, 0, 0, 2]], device=hsv.device)
    index = table[:, sector].movedim(0, 1)  # N x 3 x H x W
    return torch.stack((v, p, q, t), 1).gather(1, index)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Hue: rotate each image's hue by ``shift_n`` turns; a 1-channel batch comes back unchanged.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W (C = 1 or 3): a working batch (float on [0, 1]) or uint8 levels (read
        as float32 ``x * (1/255)`` and written back as ``trunc(255.999 y)``, torchvision's
        ``to_dtype`` both ways).
    shift : torch.Tensor
        Shape N, in [-0.5, 0.5].

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, on [0, 1] or [0, 255].
    """
    if x.shape[1] == 1:
        return x.clone()
    values = x if x.is_floating_point() else x.to(torch.float32).mul_(1 / 255)
    hsv = rgb_to_hsv(values)
    hsv[:, 0].add_(per_sample(shift, values)[:, 0]).remainder_(1)
    rgb = hsv_to_rgb(hsv)
    return rgb if x.is_floating_point() else rgb.mul_(256 - 1e-3).to(x.dtype)


def adjust_value(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Add ``shift_n`` to the HSV value ``V = max_c x_c`` of every pixel, clipped to 1, keeping H and S.

    CIFAR-10-C's ``brightness`` (``rgb2hsv``, ``V + shift``, ``hsv2rgb``), without the
    conversions: RGB is proportional to V at fixed hue and saturation, so this is ``x V' / V``
    with ``V' = min(V + shift, 1)``; a black pixel (``V = 0``, no hue) becomes grey ``V'``.
    Not torchvision's brightness, which scales (:func:`adjust_brightness`).

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).
    shift : torch.Tensor
        Shape N, in [-1, 1].

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, on [0, 1].
    """
    value = x.amax(dim=1, keepdim=True)
    new_value = (value + per_sample(shift, x)).clamp_(max=1)
    scaled = x * (new_value / value.clamp(min=torch.finfo(x.dtype).tiny))
    return torch.where(value > 0, scaled, new_value.expand_as(x)).clamp_(0, 1)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """The luma in every channel (torchvision's ``rgb_to_grayscale(num_output_channels=3)``).

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x C x H x W on [0, 1] (C = 1 or 3).

    Returns
    -------
    torch.Tensor
        A new batch of ``x``'s shape and dtype, on [0, 1]: C channels, each the luma (see
        :func:`luma` for the one-channel luma).
    """
    return luma(x).expand_as(x).clone()


# ---------------------------------------------------------------- per-image affine colour maps
class ColorMap(NamedTuple):
    """A per-image affine colour map inside a fused run: ``v -> matrix_n v + offset_n`` per pixel.

    Parameters
    ----------
    matrix : torch.Tensor or None
        Float N x C x C, or None for the identity.
    offset : torch.Tensor
        Float N x C, on the [0, 1] scale.
    """

    matrix: torch.Tensor | None
    offset: torch.Tensor


def apply_color_map(v: torch.Tensor, color_map: ColorMap) -> torch.Tensor:
    """``color_map`` on every pixel, without clamping.

    Parameters
    ----------
    v : torch.Tensor
        Float N x C x ..., channels on dim 1; overwritten where it can be.
    color_map : ColorMap
        N maps.

    Returns
    -------
    torch.Tensor
        ``v``'s shape and dtype (``v`` itself when the map has no matrix).
    """
    shape = (*color_map.offset.shape, *([1] * (v.dim() - 2)))
    if color_map.matrix is not None:
        v = torch.einsum("nij,nj...->ni...", color_map.matrix.to(v.dtype), v)
    return v.add_(color_map.offset.to(v.dtype).view(shape))


# ---------------------------------------------------------------- PCA lighting (Krizhevsky et al. 2012, sec. 4.1)
# Layout (fb.resnet.torch's): ``eigvec`` is 3 x 3 and its COLUMNS are the eigenvectors of the RGB
# covariance, ``eigval`` holds the matching eigenvalues; the offset added to every pixel of image
# n is ``eigvec @ (alpha_n * eigval)`` with ``alpha_n ~ N(0, sigma^2 I)``.

#: The eigenvalues of ImageNet's RGB covariance on the [0, 1] scale, largest first
#: (fb.resnet.torch, ``datasets/imagenet.lua``).
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
#: The matching eigenvectors, as the columns of this 3 x 3 matrix (rows R, G, B).
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))


def pca_offset(alpha: torch.Tensor, eigval: torch.Tensor, eigvec: torch.Tensor) -> torch.Tensor:
    """AlexNet lighting offsets ``eigvec @ (alpha_n * eigval)``.

    Parameters
    ----------
    alpha : torch.Tensor
        float N x 3.
    eigval : torch.Tensor
        Shape 3.
    eigvec : torch.Tensor
        3 x 3 whose COLUMNS are the eigenvectors (fb.resnet.torch's layout).

    Returns
    -------
    torch.Tensor
        N x 3 in ``alpha``'s dtype and device.
    """
    return (alpha * eigval.to(alpha)) @ eigvec.to(alpha).T  # row n = V (a_n * l)


def pca_lighting(x: torch.Tensor, alpha: torch.Tensor, eigval: torch.Tensor,
                 eigvec: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """AlexNet lighting: add :func:`pca_offset` to every pixel of image n; clamp to [0, 1].

    Parameters
    ----------
    x : torch.Tensor
        Working batch, float N x 3 x H x W on [0, 1].
    alpha, eigval, eigvec : torch.Tensor
        As in :func:`pca_offset`.
    inplace : bool
        Write into ``x``.

    Returns
    -------
    torch.Tensor
        ``x``'s shape and dtype, on [0, 1].
    """
    offset = pca_offset(alpha.to(x.dtype), eigval, eigvec)
    out = x if inplace else None
    return torch.add(x, offset[:, :, None, None], out=out).clamp_(0, 1)


def _pixels(chunk: Any) -> torch.Tensor:
    """Rows of RGB pixels (P x 3, float64 on [0, 1]) from one image or a batch."""
    if isinstance(chunk, np.ndarray):
        # numpy images are channels-last: H x W x 3 or N x H x W x 3.
        if chunk.ndim not in (3, 4) or chunk.shape[-1] != 3:
            raise ValueError(f"numpy images must be H x W x 3 or N x H x W x 3, got shape {chunk.shape}")
        t = torch.from_numpy(np.ascontiguousarray(chunk)).reshape(-1, 3)
    elif isinstance(chunk, torch.Tensor):
        # tensors are channels-first: 3 x H x W or N x 3 x H x W.
        if chunk.dim() not in (3, 4) or chunk.shape[-3] != 3:
            raise ValueError(f"tensor images must be 3 x H x W or N x 3 x H x W, got shape {tuple(chunk.shape)}")
        t = chunk.movedim(-3, -1).reshape(-1, 3)
    else:
        raise TypeError(f"expected numpy arrays or torch tensors of images, got {type(chunk).__name__}")
    if t.dtype == torch.uint8:
        return t.double() / 255
    if not t.dtype.is_floating_point:
        raise TypeError(f"images must be uint8 or float on [0, 1], got dtype {t.dtype}")
    t = t.double()
    if t.numel() and not (bool(t.min() >= 0) and bool(t.max() <= 1)):
        raise ValueError("float images must have values in [0, 1] (no NaN)")
    return t


def fit_pca(images: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigendecomposition of the 3 x 3 covariance of the RGB pixels of a set of images.

    Parameters
    ----------
    images : numpy.ndarray, torch.Tensor or iterable of them
        A numpy array (N x H x W x 3, channels last) or a tensor (N x 3 x H x W), uint8 or
        float on [0, 1], or an iterable of such batches (streamed: only the pixel count, the 3
        channel sums and the 3 x 3 sum of outer products are kept, in float64, so a dataset
        larger than memory works).

    Returns
    -------
    tuple of torch.Tensor
        ``(eigval, eigvec)``: float64 of shape 3 (descending) and 3 x 3 whose columns are the
        eigenvectors, on the [0, 1] pixel scale.
    """
    if isinstance(images, (np.ndarray, torch.Tensor)):
        images = [images]
    count, total, outer = 0, torch.zeros(3, dtype=torch.float64), torch.zeros(3, 3, dtype=torch.float64)
    for chunk in images:
        pixels = _pixels(chunk).cpu()
        count += pixels.shape[0]
        total += pixels.sum(0)
        outer += pixels.T @ pixels
    if count < 2:
        raise ValueError(f"fit_pca needs at least 2 pixels, got {count}")
    mean = total / count
    cov = (outer - count * torch.outer(mean, mean)) / (count - 1)
    eigval, eigvec = torch.linalg.eigh(cov)  # ascending
    return eigval.flip(0).clamp_(min=0), eigvec.flip(1)
