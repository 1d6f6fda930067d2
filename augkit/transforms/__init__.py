"""Transforms: thin shells that draw per-sample parameters and apply a kernel of :mod:`augkit.functional`.

Mirrored by family with :mod:`augkit.functional`: :mod:`~augkit.transforms.geometry`,
:mod:`~augkit.transforms.crop`, :mod:`~augkit.transforms.color`, :mod:`~augkit.transforms.filter`,
:mod:`~augkit.transforms.misc`, :mod:`~augkit.transforms.augment` and
:mod:`~augkit.transforms.policy`; the base class in :mod:`~augkit.transforms.base` and the
containers in :mod:`~augkit.transforms.containers`.
"""

from .augment import CutMix, MixUp, RandomErasing
from .base import Transform
from .color import ColorJitter, Grayscale, PCALighting
from .containers import Compose, OneOf, RandomApply
from .crop import RandomCrop, RandomResizedCrop, RandomScaleCrop
from .filter import GaussianBlur
from .geometry import HorizontalFlip, LensDistortion, Rotate, Shear, Stretch, Translate, VerticalFlip
from .misc import GaussianNoise, Normalize
from .policy import RandAugment, TrivialAugmentWide

__all__ = [
    "Transform",
    "Compose", "OneOf", "RandomApply",
    "HorizontalFlip", "VerticalFlip", "Rotate", "Translate", "Stretch", "Shear", "LensDistortion",
    "RandomScaleCrop", "RandomResizedCrop", "RandomCrop",
    "ColorJitter", "Grayscale", "PCALighting",
    "GaussianBlur",
    "GaussianNoise", "Normalize",
    "RandomErasing", "MixUp", "CutMix",
    "TrivialAugmentWide", "RandAugment",
]
