"""augkit: batched image augmentation with per-sample parameters, fused geometry and TTA views.

Batches are N x C x H x W torch tensors (C = 1 or 3), uint8 [0, 255] or float [0, 1], on CPU
or CUDA; every transform returns the input's dtype and device. The transform classes live in
:mod:`augkit.transforms`, the kernels they apply in :mod:`augkit.functional`.
"""

from . import data, functional, transforms
from .audit import AuditReport, audit
from .functional import fit_pca
from .transforms import (
    ColorJitter,
    Compose,
    CutMix,
    GaussianBlur,
    GaussianNoise,
    Grayscale,
    HorizontalFlip,
    LensDistortion,
    MixUp,
    Normalize,
    OneOf,
    PCALighting,
    RandAugment,
    RandomApply,
    RandomCrop,
    RandomErasing,
    RandomResizedCrop,
    RandomScaleCrop,
    Rotate,
    Shear,
    Stretch,
    Transform,
    Translate,
    TrivialAugmentWide,
    VerticalFlip,
)
from .tta import average_views, flip_views, multi_scale_ten_crop, shift_views, ten_crop

__all__ = [
    "data", "functional", "transforms", "audit", "AuditReport",
    "Compose", "OneOf", "RandomApply",
    "GaussianNoise", "HorizontalFlip", "LensDistortion", "Normalize", "PCALighting",
    "RandomCrop", "RandomScaleCrop", "Rotate", "Shear", "Stretch", "Transform", "Translate", "VerticalFlip",
    "ColorJitter", "CutMix", "GaussianBlur", "Grayscale", "MixUp", "RandAugment", "RandomErasing",
    "RandomResizedCrop", "TrivialAugmentWide",
    "average_views", "fit_pca", "flip_views", "multi_scale_ten_crop", "shift_views", "ten_crop",
]
