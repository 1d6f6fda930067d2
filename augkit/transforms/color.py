"""The colour transforms: ColorJitter, Grayscale and PCALighting.

Thin shells over :mod:`augkit.functional.color`: each sample's factors are drawn where applied,
and the base's gate hands ``forward`` only the samples it applies to. Grayscale and PCALighting
are per-image affine colour maps (``color_affine``): inside a Compose they stay in the geometric
run around them (one resampling, see :mod:`augkit.fusion`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from conventions import check_probability, check_range

from .. import functional as F
from ..params import Params, Shape
from ..sampling import Uniform
from .base import Transform, apply_where


def _factor_range(value: float | tuple[float, float] | None, name: str) -> tuple[float, float]:
    """torchvision's ColorJitter factor: v means [max(0, 1 - v), 1 + v]; a pair must be >= 0."""
    if value is None:
        return (1.0, 1.0)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        lo, hi = check_range(value, name, symmetric_about=1.0)
        return (max(0.0, lo), hi)
    return check_range(value, name, minimum=0.0)


class ColorJitter(Transform):
    """Random brightness, contrast, saturation and hue, in a random order per sample (torchvision's).

    Each applied sample draws its four factors and its own order of the four operations (as
    torchvision draws ``randperm(4)`` per call); the parts are
    :func:`augkit.functional.adjust_brightness`, ``adjust_contrast``, ``adjust_saturation`` and
    ``adjust_hue``. Saturation and hue leave 1-channel images unchanged. Not an affine colour
    map (contrast uses the image mean, hue is non-linear), so it ends a fused geometric run.

    A uint8 batch (called on one, or reaching it in a Compose through transforms that keep
    uint8, such as flips and crops) stays uint8 between the four steps: each writes uint8 levels
    as torchvision's uint8 kernel does (truncating), and the next reads them. A float batch
    stays float. Measured against torchvision 0.29.1's ``ColorJitter`` on the CPU with the same
    factors and order (1024 images, 32 x 32 photo crops and noise, at ranges (0.4, 0.4, 0.4,
    0.1), (0.9, 0.9, 0.9, 0.5) and the fixed factors 0.7 / 0.7 / 0.7 / -0.05): max absolute difference
    0 levels on uint8 and 0 on float32 (share of values more than one level apart: 0%).
    Command: ``python benchmarks/torchvision_fidelity.py``; the test
    ``tests/augkit/transforms/test_color.py`` asserts equality on uint8 and 1e-6 on float.

    Parameters
    ----------
    brightness, contrast, saturation : float or (float, float) or None
        A number v means a factor ~ U[max(0, 1 - v), 1 + v]; a pair (lo, hi) >= 0 the factor
        range; 0 or None leaves the part out.
    hue : float or (float, float) or None
        A number v means a hue shift ~ U[-v, v] turns; a pair a range; within [-0.5, 0.5].
    p : float
        Probability that a sample is jittered.

    Notes
    -----
    Params: ``apply`` (bool N), ``brightness``, ``contrast``, ``saturation`` (float64 N, 1 where
    not applied), ``hue`` (float64 N, 0 where not applied), ``order`` (int64 N x 4: the
    operations 0 = brightness, 1 = contrast, 2 = saturation, 3 = hue, in the order applied).
    """

    _KERNELS: ClassVar[tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], ...]] = (
        F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue)
    draws = (Uniform("brightness", "brightness", 1.0), Uniform("contrast", "contrast", 1.0),
             Uniform("saturation", "saturation", 1.0), Uniform("hue", "hue", 0.0))

    def __init__(self, brightness: float | tuple[float, float] | None = 0,
                 contrast: float | tuple[float, float] | None = 0,
                 saturation: float | tuple[float, float] | None = 0,
                 hue: float | tuple[float, float] | None = 0, p: float = 1.0) -> None:
        self.brightness = _factor_range(brightness, "brightness")
        self.contrast = _factor_range(contrast, "contrast")
        self.saturation = _factor_range(saturation, "saturation")
        self.hue = check_range(0 if hue is None else hue, "hue", minimum=-0.5, maximum=0.5)
        self.p = check_probability(p)

    @property
    def _reads_uint8(self) -> bool:
        return True  # uint8 in, each step quantised as torchvision's uint8 kernel, uint8 out

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        order = torch.rand(batch_shape[0], 4, generator=generator, device=generator.device).argsort(1)
        return {"order": order}

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        order = params["order"]
        for step in range(4):
            for op, (draw, kernel) in enumerate(zip(self.draws, self._KERNELS)):
                if getattr(self, draw.attr) == (draw.neutral, draw.neutral):
                    continue  # a part left out
                x = apply_where(x, order[:, step] == op, kernel, params[draw.name], inplace=inplace)
                inplace = True  # x is now this call's own copy
        return x

    def get_config(self) -> dict[str, Any]:
        return {"brightness": self.brightness, "contrast": self.contrast, "saturation": self.saturation,
                "hue": self.hue, "p": self.p}


class Grayscale(Transform):
    """Replace each sample, with probability ``p``, by its luma in every channel.

    Equal to torchvision's ``rgb_to_grayscale(num_output_channels=3)``: ``0.2989 r + 0.587 g
    + 0.114 b``; the output keeps C channels (a 1-channel image is unchanged). A per-image
    linear colour map, so it declares ``color_affine`` and :meth:`color_map`: inside a
    Compose it stays in the geometric run around it.

    Parameters
    ----------
    p : float
        Probability that a sample is turned grey.

    Notes
    -----
    Params: ``apply`` (bool N).
    """

    color_affine: ClassVar[bool] = True

    def __init__(self, p: float = 1.0) -> None:
        self.p = check_probability(p)

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        return F.grayscale(x)

    def color_map(self, params: Params, channels: int) -> F.ColorMap:
        """The luma as a colour map.

        Parameters
        ----------
        params : dict
            This transform's parameters (``apply``: bool N).
        channels : int
            C of the batch (1 or 3).

        Returns
        -------
        augkit.functional.ColorMap
            Matrix float64 N x 3 x 3 (every row the luma weights where applied, the identity
            elsewhere; None for C = 1) and a zero offset N x C.
        """
        apply = params["apply"]
        offset = torch.zeros(len(apply), channels, dtype=torch.float64, device=apply.device)
        if channels == 1:
            return F.ColorMap(None, offset)
        eye = torch.eye(3, dtype=torch.float64, device=apply.device)
        luma = torch.tensor(F.LUMA, dtype=torch.float64, device=apply.device).expand(3, 3)
        return F.ColorMap(torch.where(apply[:, None, None], luma, eye), offset)

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p}


class PCALighting(Transform):
    """AlexNet PCA lighting: add ``eigvec @ (alpha * eigval)`` to every pixel, clamp to [0, 1].

    Per sample, ``alpha ~ N(0, sigma^2)`` (3 values, 0 where not applied with prob. 1 - p).
    RGB batches only (C = 3); grayscale raises ValueError. Params: ``apply`` (bool N), ``alpha``
    (float64 N x 3).

    The offset is a per-image colour map, so inside a Compose it stays in the geometric run
    around it (one resampling; see :func:`augkit.functional.warp` for the fused semantics).

    Parameters
    ----------
    eigval : array-like
        The 3 eigenvalues of the RGB covariance, on the [0, 1] pixel scale.
    eigvec : array-like
        3 x 3, the matching eigenvectors as columns (fb.resnet.torch's layout, see
        :func:`augkit.functional.pca_offset`).
    sigma : float
        Standard deviation of ``alpha``, >= 0.
    p : float
        Probability that a sample is lit.
    """

    color_affine = True

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
        """Lighting from the RGB eigenpairs of ``images``.

        Parameters
        ----------
        images : numpy.ndarray, torch.Tensor or iterable of them
            N x H x W x 3 arrays or N x 3 x H x W tensors, uint8 or float on [0, 1], or an
            iterable of such batches (see :func:`augkit.functional.fit_pca`).
        sigma : float
            Standard deviation of ``alpha``, >= 0.
        p : float
            Probability that a sample is lit.

        Returns
        -------
        PCALighting
            The transform, with the eigenpairs of the images' RGB covariance.
        """
        eigval, eigvec = F.fit_pca(images)
        return cls(eigval, eigvec, sigma=sigma, p=p)

    @classmethod
    def imagenet(cls, sigma: float = 0.1, p: float = 1.0) -> PCALighting:
        """Lighting with fb.resnet.torch's ImageNet eigenpairs (eigval (0.2175, 0.0188, 0.0045)).

        Parameters
        ----------
        sigma : float
            Standard deviation of ``alpha``, >= 0.
        p : float
            Probability that a sample is lit.

        Returns
        -------
        PCALighting
            The transform, with :data:`augkit.functional.IMAGENET_EIGVAL` and
            :data:`augkit.functional.IMAGENET_EIGVEC`.
        """
        return cls(F.IMAGENET_EIGVAL, F.IMAGENET_EIGVEC, sigma=sigma, p=p)

    def output_shape(self, shape: Shape) -> Shape:
        if shape[1] != 3:
            raise ValueError(f"PCALighting needs RGB batches (C=3), got C={shape[1]}; "
                             "grayscale images have no colour covariance")
        return shape

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        alpha = torch.randn(batch_shape[0], 3, generator=generator, dtype=torch.float64, device=generator.device)
        return {"alpha": alpha * self.sigma * apply[:, None]}

    def color_map(self, params: Params, channels: int) -> F.ColorMap:
        """The lighting as a colour map.

        Parameters
        ----------
        params : dict
            This transform's parameters (``alpha``: float64 N x 3).
        channels : int
            C of the batch (3).

        Returns
        -------
        augkit.functional.ColorMap
            No matrix, and the offsets float64 N x 3.
        """
        return F.ColorMap(None, F.pca_offset(params["alpha"], self.eigval.to(params["alpha"].device),
                                             self.eigvec.to(params["alpha"].device)))

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        return F.pca_lighting(x, params["alpha"], self.eigval.to(x.device), self.eigvec.to(x.device),
                              inplace=inplace)

    def get_config(self) -> dict[str, Any]:
        return {"eigval": self.eigval.tolist(), "eigvec": self.eigvec.tolist(),
                "sigma": self.sigma, "p": self.p}
