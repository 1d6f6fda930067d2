"""Kernels: pure functions of a batch and explicit per-sample parameters; they draw nothing random.

The transform classes of :mod:`augkit.transforms` are thin shells over these, mirrored by family
(torchvision's ``transforms.v2.functional`` layout):

* :mod:`~augkit.functional.geometry`: the coordinate convention, per-sample 3x3 backward maps,
  radial lens maps and one sampling grid (kept as a namespace: ``functional.geometry.Step``);
* :mod:`~augkit.functional.warp`: warping through sampling grids (the fused ``warp``, flips,
  rotate); :mod:`~augkit.functional.resize`: axis-aligned antialiased resizing (exact
  scale-crops and resized crops, the shorter-side resize);
* :mod:`~augkit.functional.color`: colour (blends, HSV, luma, the per-image affine colour map,
  PCA lighting); :mod:`~augkit.functional.tone`: the operations on uint8 levels;
* :mod:`~augkit.functional.filter`: Gaussian blur, sharpness;
* :mod:`~augkit.functional.crop`: fixed windows, pad-and-crop;
* :mod:`~augkit.functional.misc`: the working batch, noise, normalisation, JPEG;
* :mod:`~augkit.functional.augment`: erasing and mixing;
* :mod:`~augkit.functional.policy`: the policies' op tables and per-op kernels.

Every public kernel is importable from here (``augkit.functional.hflip``). The functions
``crop`` and ``warp`` share their module's name: ``augkit.functional.crop`` is the function, and
``from augkit.functional.crop import fold_indices`` still reads the module.
"""

from conventions.normalization import normalize  # the one normaliser, shared with nets and ensemble

from . import geometry
from .augment import box_weights, cutmix, erase, mix_targets, mixup
from .color import (
    IMAGENET_EIGVAL,
    IMAGENET_EIGVEC,
    LUMA,
    ColorMap,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    adjust_value,
    apply_color_map,
    blend,
    fit_pca,
    grayscale,
    hsv_to_rgb,
    luma,
    pca_lighting,
    pca_offset,
    per_sample,
    rgb_to_hsv,
)
from .crop import PADDING_MODES, crop, fold_indices, shifted_crop
from .filter import adjust_sharpness, gaussian_blur, gaussian_weights
from .misc import back_to, from_working, gaussian_noise, jpeg, on_scale, shares_memory, to_working
from .policy import (
    COLOR_OPS,
    RAND_AUGMENT,
    SHIFT_OPS,
    SHIFT_PADDING,
    TRIVIAL_AUGMENT_WIDE,
    WARPED_OPS,
    Space,
    shift_ops,
    warp_ops,
    warped_op_matrices,
)
from .resize import resize_shorter, resized_crop_antialias, scale_crop_antialias, scale_crop_window
from .tone import autocontrast, equalize, levels, posterize, solarize
from .warp import FILLS, INTERPOLATIONS, hflip, rotate, vflip, warp

__all__ = [
    "geometry",
    # warp
    "FILLS", "INTERPOLATIONS", "warp", "hflip", "vflip", "rotate",
    # resize
    "scale_crop_antialias", "scale_crop_window", "resized_crop_antialias", "resize_shorter",
    # color
    "LUMA", "per_sample", "luma", "grayscale", "blend", "adjust_brightness", "adjust_contrast", "adjust_saturation",
    "adjust_hue", "adjust_value", "rgb_to_hsv", "hsv_to_rgb", "ColorMap", "apply_color_map",
    "IMAGENET_EIGVAL", "IMAGENET_EIGVEC", "pca_offset", "pca_lighting", "fit_pca",
    # tone
    "levels", "posterize", "solarize", "autocontrast", "equalize",
    # filter
    "gaussian_weights", "gaussian_blur", "adjust_sharpness",
    # crop
    "PADDING_MODES", "crop", "fold_indices", "shifted_crop",
    # misc
    "to_working", "from_working", "on_scale", "back_to", "shares_memory", "gaussian_noise", "normalize", "jpeg",
    # augment
    "box_weights", "erase", "mixup", "cutmix", "mix_targets",
    # policy
    "Space", "TRIVIAL_AUGMENT_WIDE", "RAND_AUGMENT", "WARPED_OPS", "SHIFT_OPS", "SHIFT_PADDING", "COLOR_OPS",
    "warped_op_matrices", "shift_ops", "warp_ops",
]
