"""PCA colour lighting of Krizhevsky, Sutskever & Hinton (2012, sec. 4.1).

Layout convention (fb.resnet.torch's): ``eigvec`` is 3 x 3 and its COLUMNS are the
eigenvectors of the RGB covariance, ``eigval`` holds the matching eigenvalues, and the offset
added to every pixel of image n is ``eigvec @ (alpha_n * eigval)`` with ``alpha_n ~ N(0, sigma^2 I)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from . import functional as F
from ._checks import check_probability, check_range
from .base import Params, Shape, Transform

# fb.resnet.torch (datasets/imagenet.lua) PCA of ImageNet RGB on the [0, 1] scale.
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))


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

    ``images``: a numpy array (N x H x W x 3, channels last), a tensor (N x 3 x H x W),
    uint8 or float on [0, 1], or an iterable of such batches (streamed: only the pixel count,
    the 3 channel sums and the 3 x 3 sum of outer products are kept, in float64, so a dataset
    larger than memory works). Returns ``(eigval, eigvec)``: float64 tensors of shape 3
    (descending) and 3 x 3 whose columns are the eigenvectors, on the [0, 1] pixel scale.
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


class PCALighting(Transform):
    """AlexNet PCA lighting: add ``eigvec @ (alpha * eigval)`` to every pixel, clamp to [0, 1].

    Per sample, ``alpha ~ N(0, sigma^2)`` (3 values, 0 where not applied with prob. 1 - p).
    ``eigval``: 3 eigenvalues; ``eigvec``: 3 x 3, columns are eigenvectors (see
    :mod:`augkit.pca`), both on the [0, 1] pixel scale. RGB batches only (C = 3); grayscale
    raises ValueError. Params: ``apply`` (bool N), ``alpha`` (float64 N x 3).

    The offset is a per-image colour map, so inside a Compose it stays in the geometric run
    around it (one resampling; see :func:`augkit.functional.warp` for the fused semantics).
    """

    colour_affine = True

    def __init__(self, eigval: Any, eigvec: Any, sigma: float = 0.1, p: float = 1.0) -> None:
        self.eigval = torch.as_tensor(np.asarray(eigval, dtype=np.float64))
        self.eigvec = torch.as_tensor(np.asarray(eigvec, dtype=np.float64))
        if self.eigval.shape != (3,) or self.eigvec.shape != (3, 3):
            raise ValueError(f"eigval must have shape (3,) and eigvec (3, 3), got "
                             f"{tuple(self.eigval.shape)} and {tuple(self.eigvec.shape)}")
        if not (torch.isfinite(self.eigval).all() and torch.isfinite(self.eigvec).all()):
            raise ValueError("eigval and eigvec must be finite")
        if isinstance(sigma, (tuple, list)):
            raise TypeError(f"sigma must be one number (alpha ~ N(0, sigma^2)), got {sigma!r}")
        self.sigma = check_range(sigma, "sigma", symmetric_about=None, minimum=0.0)[0]
        self.p = check_probability(p)

    @classmethod
    def fit(cls, images: Any, sigma: float = 0.1, p: float = 1.0) -> PCALighting:
        """Lighting from the RGB eigenpairs of ``images`` (see :func:`fit_pca`)."""
        eigval, eigvec = fit_pca(images)
        return cls(eigval, eigvec, sigma=sigma, p=p)

    @classmethod
    def imagenet(cls, sigma: float = 0.1, p: float = 1.0) -> PCALighting:
        """fb.resnet.torch's ImageNet eigenpairs (eigval (0.2175, 0.0188, 0.0045))."""
        return cls(IMAGENET_EIGVAL, IMAGENET_EIGVEC, sigma=sigma, p=p)

    def output_shape(self, shape: Shape) -> Shape:
        if shape[1] != 3:
            raise ValueError(f"PCALighting needs RGB batches (C=3), got C={shape[1]}; "
                             "grayscale images have no colour covariance")
        return shape

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        alpha = torch.randn(batch_shape[0], 3, generator=generator, dtype=torch.float64, device=generator.device)
        return {"alpha": alpha * self.sigma * apply[:, None]}

    def colour_map(self, params: Params, channels: int) -> F.Colour:
        """The lighting as a colour map: no matrix, offset N x 3 (float64)."""
        return F.Colour(None, F.pca_offset(params["alpha"], self.eigval.to(params["alpha"].device),
                                           self.eigvec.to(params["alpha"].device)))

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        return F.pca_lighting(x, params["alpha"], self.eigval.to(x.device), self.eigvec.to(x.device),
                              inplace=inplace)

    def get_config(self) -> dict[str, Any]:
        return {"eigval": self.eigval.tolist(), "eigvec": self.eigvec.tolist(),
                "sigma": self.sigma, "p": self.p}
