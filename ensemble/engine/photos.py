"""Photos of any size: the network's input size stated once, and what happens to one image.

**The input size.** A photo source's members see ``size = (h, w)`` crops. It is stated in
exactly one place (:func:`photo_geometry`):

- the leading :class:`augkit.RandomScaleCrop` of ``augment`` (its ``size``; its scale range
  ``(lo, hi)`` gives the evaluation resize S = lo), or a leading
  :class:`augkit.RandomResizedCrop` (its ``size``; S = round(side * 256 / 224), torchvision's
  evaluation resize for it);
- else the estimator's ``image_size`` s (default :data:`IMAGE_SIZE`): the per-image stage is
  then ResNet's scale augmentation scaled to s, ``RandomScaleCrop(s, (round(256 s / 224),
  round(480 s / 224)))`` (He et al. 2015 train 224 crops from shorter sides in [256, 480]),
  and S is its lo.

Both given and different is a ValueError.

**Training, per image** (:meth:`FileItems.train_crop`, :meth:`DatasetItems.train_crop`, on
DataLoader workers): the leading crop on uint8. From a file, a RandomScaleCrop is
:func:`augkit.data.decode_scale_crop` (a JPEG decoded at reduced DCT scale, only the crop
window resampled); a RandomResizedCrop is applied to the decoded photo. The rest of
``augment`` runs batched after collation, on uint8 as far as each op allows
(:func:`nets.batches.to_float_batch`).

**Evaluation, per image** (:func:`photo_views`): one decode (a file decoded at the shorter
side the largest view needs) serves every view of every mode:

- ``None``: the shorter side resized to S, then the centre ``size`` crop;
- ``"flip"``, ``"shift"``, ``"flip_shift"`` and a callable: :func:`augkit.tta.views` of that
  centre crop;
- ``"ten_crop"``: :func:`augkit.ten_crop` of the image resized to S;
- ``"multi_scale"``: ten crops at each of ResNet's test scales (shorter sides 224, 256, 384,
  480 and 640 for a 224 crop), scaled to the crop: 50 views.

Images that are grayscale, palette, CMYK, 16-bit or with transparency become RGB by
:mod:`augkit.data.decoding`'s rules (transparent pixels composited on black), for files and
for a Dataset's PIL images, numpy H x W x C arrays and C x H x W tensors alike.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

import augkit
from augkit import functional as F
from augkit.data import BadImageError, decode_image, decode_scale_crop
from augkit.tta import ten_crop, views
from augkit.validation import check_crop_fits_scale, check_size

__all__ = ["IMAGE_SIZE", "PhotoGeometry", "photo_geometry", "as_rgb", "FileItems", "DatasetItems", "photo_views",
           "decode_side", "BAD_ITEM_ERRORS"]

#: The default crop side of photo members: a quarter of ResNet's pixels, a CPU-feasible network input.
IMAGE_SIZE = 112
# ResNet's crop, its training range of shorter sides and its multi-scale test sides (He et al. 2015).
_RESNET_CROP, _RESNET_SCALE, _RESNET_TEST_SIDES = 224, (256, 480), (224, 256, 384, 480, 640)
# torchvision's evaluation of a RandomResizedCrop model: resize to 256, centre crop 224.
_RESIZED_CROP_RESIZE = 256 / 224
# What reading an image raises when the image is bad (Pillow raises several kinds); other errors propagate.
BAD_ITEM_ERRORS = (BadImageError, OSError, ValueError, SyntaxError, EOFError)


@dataclass(frozen=True)
class PhotoGeometry:
    """How photos become network inputs.

    ``size`` (h, w): the crops the members see; ``resize``: S, the shorter side of the
    evaluation views; ``crop``: the per-image training stage (a RandomScaleCrop or
    RandomResizedCrop; None for prediction); ``batched``: the rest of ``augment``, run on
    collated batches (None if nothing is left).
    """

    size: tuple[int, int]
    resize: int
    crop: augkit.Transform | None = None
    batched: augkit.Transform | None = None

    @property
    def test_sides(self) -> tuple[int, ...]:
        """The shorter sides of ``"multi_scale"``: ResNet's test scales relative to its 224 crop."""
        side = max(self.size)
        return tuple(round(side * s / _RESNET_CROP) for s in _RESNET_TEST_SIDES)


def _leading_crop(augment) -> tuple[augkit.Transform | None, augkit.Transform | None]:
    """(the leading scale-crop of ``augment``, the rest of it) or (None, ``augment``)."""
    crops = (augkit.RandomScaleCrop, augkit.RandomResizedCrop)
    if isinstance(augment, crops):
        return augment, None
    if isinstance(augment, augkit.Compose) and type(augment) is augkit.Compose and len(augment) \
            and isinstance(augment[0], crops):
        rest = augment.transforms[1:]
        return augment[0], (augkit.Compose(rest) if rest else None)
    return None, augment


def photo_geometry(augment, image_size: int | None) -> PhotoGeometry:
    """The input size of a photo source, from ``augment``'s leading crop or ``image_size`` (see
    the module docstring).

    Parameters
    ----------
    augment : augkit transform, callable or None
        The estimator's ``augment``.
    image_size : int or None
        The estimator's ``image_size``.

    Raises
    ------
    ValueError
        Both state a size and they differ; a crop later in ``augment`` than first; a crop that
        does not fit the evaluation resize.
    """
    crop, rest = _leading_crop(augment)
    if crop is None:
        side = image_size if image_size is not None else IMAGE_SIZE
        scale = tuple(round(side * s / _RESNET_CROP) for s in _RESNET_SCALE)
        crop = augkit.RandomScaleCrop(side, scale)
    elif image_size is not None and tuple(check_size(image_size)) != tuple(crop.size):
        raise ValueError(f"image_size={image_size} but augment starts with {type(crop).__name__} of size "
                         f"{tuple(crop.size)}: state the input size once (drop image_size, or change the crop)")
    if isinstance(rest, augkit.Compose) and any(isinstance(t, (augkit.RandomScaleCrop, augkit.RandomResizedCrop))
                                                 for t in rest.transforms):
        raise ValueError("for photos of any size the scale-crop must be augment's first transform (it runs per "
                         "image, before the images can be batched); move it to the front")
    size = tuple(crop.size)
    if isinstance(crop, augkit.RandomScaleCrop):
        resize = crop.scale[0]
        check_crop_fits_scale(size, crop.scale)
    else:
        resize = round(max(size) * _RESIZED_CROP_RESIZE)
    return PhotoGeometry(size=size, resize=resize, crop=crop, batched=rest)


# ----------------------------------------------------------------------------- one image to RGB
def _composite_on_black(rgba: np.ndarray) -> np.ndarray:
    """H x W x 4 uint8 -> H x W x 3: ``round(rgb * alpha / 255)`` (transparent pixels become black)."""
    wide = rgba.astype(np.uint16)
    return ((wide[..., :3] * wide[..., 3:] + 127) // 255).astype(np.uint8)


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    """H x W, H x W x 1/3/4 uint8 -> H x W x 3 uint8."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"an image must be H x W x C with C = 1, 3 or 4; got shape {array.shape}")
    if array.shape[2] == 4:
        return _composite_on_black(array)
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array


def as_rgb(image) -> torch.Tensor:
    """One image as a uint8 RGB tensor 3 x H x W.

    Parameters
    ----------
    image : PIL.Image, numpy.ndarray or torch.Tensor
        A PIL image of any mode; a uint8 numpy H x W x C (or H x W) array; a uint8 tensor
        C x H x W (or H x W); C = 1, 3 or 4 (alpha).

    Raises
    ------
    TypeError
        Another type, or another dtype.
    ValueError
        Another shape.
    """
    if isinstance(image, Image.Image):
        if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):  # 16-bit: keep the high byte
            image = Image.fromarray((np.clip(np.asarray(image, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8))
        has_alpha = "A" in image.mode or "a" in image.mode or "transparency" in image.info
        array = np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
    elif isinstance(image, torch.Tensor):
        if image.dtype != torch.uint8:
            raise TypeError(f"image tensors must be uint8 C x H x W; got dtype {image.dtype}")
        array = (image if image.dim() == 2 else image.permute(1, 2, 0)).cpu().numpy()
    elif isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise TypeError(f"numpy images must be uint8 H x W x C; got dtype {image.dtype}")
        array = image
    else:
        raise TypeError(f"an image must be a PIL image, a numpy H x W x C uint8 array or a C x H x W uint8 tensor; "
                        f"got {type(image).__name__}")
    return torch.from_numpy(np.array(_array_to_rgb(array), order="C")).permute(2, 0, 1)  # a writable copy


def _shorter_to(image: torch.Tensor, side: int) -> torch.Tensor:
    """uint8 N x 3 x H x W with its shorter side resized to ``side`` (antialiased bilinear)."""
    if min(image.shape[-2:]) == side:
        return image
    return F.from_working(F.resize_shorter(F.to_working(image), side), torch.uint8)


# ----------------------------------------------------------------------------- item readers
class FileItems:
    """Images read from files by :mod:`augkit.data.decoding`'s rules. Picklable (paths only)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = [str(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, i: int) -> str:
        return self.paths[i]

    def train_crop(self, i: int, crop: augkit.Transform, generator: torch.Generator) -> torch.Tensor:
        """The per-image training stage of file ``i``: uint8 3 x h x w."""
        if isinstance(crop, augkit.RandomScaleCrop):
            array = decode_scale_crop(self.paths[i], crop.size, crop.scale, generator)
            return torch.from_numpy(array).permute(2, 0, 1)
        image = torch.from_numpy(decode_image(self.paths[i])).permute(2, 0, 1)
        return crop(image[None], generator=generator)[0]

    def image(self, i: int, side: int) -> torch.Tensor:
        """File ``i`` decoded with its shorter side resized to ``side``: uint8 1 x 3 x H x W."""
        with Image.open(self.paths[i]) as header:  # the size, from the header only
            width, height = header.size
        scale = side / min(width, height)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        return torch.from_numpy(decode_image(self.paths[i], size=size)).permute(2, 0, 1)[None]


class DatasetItems:
    """Images of a map-style ``(image, label)`` Dataset (images as :func:`as_rgb` takes them)."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def name(self, i: int) -> str:
        return f"item {i} of the dataset"

    def label(self, i: int):
        return self.dataset[i][1]

    def _rgb(self, i: int) -> torch.Tensor:
        return as_rgb(self.dataset[i][0])

    def train_crop(self, i: int, crop: augkit.Transform, generator: torch.Generator) -> torch.Tensor:
        """The per-image training stage of item ``i``: uint8 3 x h x w."""
        return crop(self._rgb(i)[None], generator=generator)[0]

    def image(self, i: int, side: int) -> torch.Tensor:
        """Item ``i`` with its shorter side resized to ``side``: uint8 1 x 3 x H x W."""
        return _shorter_to(self._rgb(i)[None], side)


# ----------------------------------------------------------------------------- evaluation views
def decode_side(geometry: PhotoGeometry, modes: Sequence) -> int:
    """The shorter side an image is decoded at to make every view of ``modes``."""
    return max(geometry.test_sides) if "multi_scale" in modes else geometry.resize


def _centre(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The centre ``size`` crop (offsets rounded as torchvision's CenterCrop)."""
    height, width = image.shape[-2:]
    if size[0] > height or size[1] > width:
        raise ValueError(f"crop size {size} is larger than the resized image {(height, width)}")
    top, left = round((height - size[0]) / 2), round((width - size[1]) / 2)
    return image[..., top:top + size[0], left:left + size[1]]


def photo_views(image: torch.Tensor, geometry: PhotoGeometry, modes: Sequence[str | Callable | None]) -> list[torch.Tensor]:
    """The test views of one decoded image for each of ``modes`` (see the module docstring).

    Parameters
    ----------
    image : torch.Tensor
        uint8 1 x 3 x H x W, its shorter side at least :func:`decode_side` (or any size: it
        is resized).
    geometry : PhotoGeometry
    modes : sequence
        Members of :data:`augkit.tta.TTA_MODES` or callables.

    Returns
    -------
    list of torch.Tensor
        Per mode, uint8 V x 3 x h x w.
    """
    resized = _shorter_to(image, geometry.resize)
    centre = _centre(resized, geometry.size)
    out = []
    for mode in modes:
        if mode == "ten_crop":
            out.append(ten_crop(resized, geometry.size)[0])
        elif mode == "multi_scale":
            out.append(torch.cat([ten_crop(_shorter_to(image, side), geometry.size)[0]
                                  for side in geometry.test_sides]))
        else:
            out.append(views(centre.contiguous(), mode)[0])
    return out
