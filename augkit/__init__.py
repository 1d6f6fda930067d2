"""augkit: batched image augmentation with per-sample parameters, fused geometry and TTA views.

Batches are N x C x H x W torch tensors (C = 1 or 3), uint8 [0, 255] or float [0, 1], on CPU
or CUDA; every transform returns the input's dtype and device.
"""

from . import data
from .audit import AuditReport, audit
from .base import Transform
from .containers import Compose, OneOf, RandomApply
from .crop import RandomCrop
from .erasing import RandomErasing
from .mixing import CutMix, MixUp
from .pca import PCALighting, fit_pca
from .photometric import ColorJitter, GaussianBlur, Grayscale
from .policies import RandAugment, TrivialAugmentWide
from .resized_crop import RandomResizedCrop
from .transforms import (
    GaussianNoise,
    HorizontalFlip,
    LensDistortion,
    Normalize,
    RandomScaleCrop,
    Rotate,
    Shear,
    Stretch,
    Translate,
    VerticalFlip,
)
from .tta import average_views, flip_views, multi_scale_ten_crop, shift_views, ten_crop

__all__ = [
    "data", "audit", "AuditReport",
    "Compose", "OneOf", "RandomApply",
    "GaussianNoise", "HorizontalFlip", "LensDistortion", "Normalize", "PCALighting",
    "RandomCrop", "RandomScaleCrop", "Rotate", "Shear", "Stretch", "Transform", "Translate", "VerticalFlip",
    "ColorJitter", "CutMix", "GaussianBlur", "Grayscale", "MixUp", "RandAugment", "RandomErasing",
    "RandomResizedCrop", "TrivialAugmentWide",
    "average_views", "fit_pca", "flip_views", "multi_scale_ten_crop", "shift_views", "ten_crop",
]
