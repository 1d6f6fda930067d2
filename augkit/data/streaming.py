"""Streaming: decode one file per item on DataLoader workers, straight into a random scale-crop.

For large photo folders that do not fit in memory. :class:`ImageFolderStream` is a torch
Dataset over an ImageFolder tree; with a :class:`ScaleCropLoader` each item is one draw of
:class:`augkit.RandomScaleCrop` (shorter side L ~ U{lo..hi}, random crop) computed without
materialising the rescaled photo: :func:`decode_scale_crop` decodes a JPEG (libjpeg-turbo through
simplejpeg, see :mod:`augkit.data.decoding`) at a reduced DCT scale while it stays at least
twice the L-scaled size, and resamples only the crop window, with the kernel of the in-memory
transform (:func:`augkit.functional.scale_crop_window`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from conventions import as_generator, check_choice, check_int

from ..functional import scale_crop_window
from ..transforms import RandomScaleCrop
from ..validation import check_crop_fits_scale
from .decoding import (
    BadImageError,
    PathLike,
    _decode_reduced,
    _quiet_bomb_warnings,
    _read_checked,
    dct_reduction,
    decode_image,
)
from .folder import ON_ERROR_CHOICES, OnError, _report_empty_classes, _scan_folder

__all__ = ["ImageFolderStream", "ScaleCropLoader", "decode_scale_crop", "item_seed"]

GeneratorLike = torch.Generator | int | None

# A JPEG is decoded at 1/k scale only while the decoded image stays at least this many times the
# L-scaled size on both sides (dct_reduction of gap x the scaled size), so the antialiased
# resample of the window still does most of the reduction. Measured on the flower photos
# (benchmarks/decode_gap.py, crop 24 of L in [28, 64], 300 windows): with 2, the worst window is
# within mean 1.95 levels and PSNR 39.4 dB of the full decode; with 1 the DCT downscale does it
# all and the worst window is 5.8 levels and 29 dB off (crop 112 of L in [128, 240]: 9.4 levels,
# 27 dB), for a decode about 5-20% cheaper on the photos it reduces.
_WINDOW_GAP = 2


def _checked_crop(size: int | tuple[int, int], scale: tuple[int, int]) -> RandomScaleCrop:
    """The RandomScaleCrop whose draws the stream reproduces; its crop must fit any image."""
    crop = RandomScaleCrop(size, scale)
    check_crop_fits_scale(crop.size, crop.scale)
    return crop


def _decode_window(
    path: PathLike, crop: RandomScaleCrop, generator: torch.Generator, max_pixels: int | None
) -> tuple[np.ndarray, dict]:
    """One draw of ``crop`` on the file at ``path``, resampling only the crop window.

    The item path of a DataLoader worker, kept lean: the draws are :meth:`RandomScaleCrop.draw_one`
    (Python numbers, no tensor ops), and the window is written channels-first into its own buffer,
    returned as an h x w x 3 view of it (what ``torch.from_numpy(...).permute(2, 0, 1)`` turns back
    into a contiguous 3 x h x w tensor without a copy).
    """
    with _quiet_bomb_warnings():
        encoded = _read_checked(path, max_pixels)
        try:
            height, width = encoded.size
            length, top, left, (scaled_h, scaled_w) = crop.draw_one((height, width), generator)
            k = dct_reduction(encoded.size, (_WINDOW_GAP * scaled_h, _WINDOW_GAP * scaled_w))
            rgb, k = _decode_reduced(encoded, k)
        finally:
            encoded.close()
    image = torch.from_numpy(rgb).view(1, *rgb.shape).permute(0, 3, 1, 2)  # a channels-last view
    # Decoded pixel y covers source pixels [k y, k (y + 1)): the ratio of source to scaled size,
    # over k, samples the source's positions. At full size this is the in-memory transform's
    # kernel call, so the window equals RandomScaleCrop on the decoded image.
    ratio = (height / scaled_h / k, width / scaled_w / k)
    exact = (scaled_h, scaled_w) if k == 1 else None
    window = scale_crop_window(image, ratio, (top, left), crop.size, scaled_size=exact)
    params = {
        "L": length,
        "scaled_size": (scaled_h, scaled_w),
        "top": top,
        "left": left,
        "decoded_size": tuple(rgb.shape[:2]),
    }
    return window.permute(1, 2, 0).numpy(), params


def decode_scale_crop(
    path: PathLike,
    size: int | tuple[int, int],
    scale: tuple[int, int],
    generator: GeneratorLike = None,
    *,
    max_pixels: int | None = None,
    return_params: bool = False,
) -> np.ndarray | tuple[np.ndarray, dict]:
    """Decode one file straight into a random scale-crop, resampling only the crop window.

    The definition is :class:`augkit.RandomScaleCrop`'s on the fully decoded file: the shorter
    side is resized to an integer L drawn uniformly from ``scale = (lo, hi)`` (inclusive), with
    antialiased bilinear, then a ``size`` crop is taken at a uniformly random offset (the draws
    are ``RandomScaleCrop(size, scale).make_params``'s). Instead of resizing the whole image it
    reads the header, decodes a JPEG at the lowest DCT scale that keeps it at least twice the
    L-scaled size on both sides (:func:`augkit.data.dct_reduction` of ``2 x scaled_size``: 1/2,
    1/4 or 1/8 of each side, libjpeg-turbo's scaled IDCT), and resamples only the crop window
    with the kernel of the in-memory transform (:func:`augkit.functional.scale_crop_window`:
    antialiased bilinear, the same sample positions in source pixels and the same edge
    clamping as the full resize). Other formats, and JPEGs without that much room, are decoded
    at full size, always with the accurate IDCT.

    Bound against the definition computed on the full decode (resize with
    ``torch.nn.functional.interpolate(mode="bilinear", antialias=True)``, then crop; tested on
    real photos):

    * decoded at full size (``decoded_size`` is the file's size): every pixel within 1 level
      (of 255): the window is the in-memory transform's output on the decoded image, whose
      fixed-point kernel rounds within one level of the float filter;
    * decoded at 1/k scale: per window, mean absolute difference at most 2.5 levels and PSNR
      at least 38 dB (the DCT downscale is not the triangle filter: single pixels at sharp
      edges differ by up to about 12 levels; pooled over many windows the mean is about 0.4).

    Parameters
    ----------
    path : str or os.PathLike
        Image file.
    size : int or (int, int)
        Crop ``(height, width)`` (an int for a square).
    scale : (int, int)
        ``(lo, hi)`` with ``max(size) <= lo <= hi``: the range of the shorter side L.
    generator : torch.Generator, int or None
        An int seeds a new generator; None uses torch's global one. The draws are those of
        ``RandomScaleCrop(size, scale).make_params`` for a batch of one image.
    max_pixels : int, optional
        As in :func:`decode_image`.
    return_params : bool
        Also return ``{"L", "scaled_size": (h, w), "top", "left", "decoded_size": (h, w)}``;
        ``decoded_size`` is the size the file was actually decoded at.

    Returns
    -------
    numpy.ndarray
        uint8, h x w x 3 (and the parameter dict if ``return_params``).

    Raises
    ------
    BadImageError
        A ValueError naming the file and the reason, for a file that cannot be decoded.
    ValueError, TypeError
        For bad arguments (e.g. a crop larger than an image rescaled to ``scale[0]``).
    """
    crop = _checked_crop(size, scale)
    out, params = _decode_window(path, crop, as_generator(generator), max_pixels)
    return (out, params) if return_params else out


class ScaleCropLoader:
    """Picklable loader for :class:`ImageFolderStream`: one :func:`decode_scale_crop` per call.

    ``loader(path, generator)`` -> uint8 numpy h x w x 3, the draw of ``loader.crop`` (the
    :class:`augkit.RandomScaleCrop` it reproduces) on that file (a view of a channels-first
    buffer, which :class:`ImageFolderStream` turns into a contiguous 3 x h x w tensor without a
    copy). Building a loader readies the window kernel in this process (compiled, or loaded from
    numba's cache), so DataLoader workers forked afterwards inherit it.

    Parameters
    ----------
    size : int or (int, int)
        Crop ``(height, width)`` (an int for a square).
    scale : (int, int)
        ``(lo, hi)`` with ``max(size) <= lo <= hi``: the range of the shorter side L.
    max_pixels : int, optional
        As in :func:`decode_image`.
    """

    def __init__(self, size: int | tuple[int, int], scale: tuple[int, int], max_pixels: int | None = None) -> None:
        self.crop = _checked_crop(size, scale)
        self.max_pixels = None if max_pixels is None else check_int(max_pixels, "max_pixels", minimum=1)
        # Resample one tiny window now: the window kernel is compiled (or loaded from numba's
        # cache) in this process, and DataLoader workers forked from it inherit it ready.
        scale_crop_window(torch.zeros((1, 3, 2, 2), dtype=torch.uint8), (1.0, 1.0), (0, 0), (1, 1))

    def __repr__(self) -> str:
        return f"ScaleCropLoader(size={self.crop.size}, scale={self.crop.scale}, max_pixels={self.max_pixels})"

    def __call__(self, path: PathLike, generator: GeneratorLike = None) -> np.ndarray:
        return _decode_window(path, self.crop, as_generator(generator), self.max_pixels)[0]


def _full_image_loader(path: PathLike, generator: GeneratorLike = None) -> np.ndarray:
    return decode_image(path)


def item_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of item ``index`` in ``epoch`` for base ``seed``.

    Parameters
    ----------
    seed : int
        The stream's base seed.
    epoch : int
        The epoch.
    index : int
        The item.

    Returns
    -------
    int
        A 63-bit seed: a ``numpy.random.SeedSequence`` hash of ``(seed, epoch, index)``.
    """
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0] >> 1)


class ImageFolderStream(torch.utils.data.Dataset):
    """A torch Dataset over an ImageFolder tree that decodes one file per item (for large folders).

    ``dataset[i] -> (image, label)``: image a uint8 tensor C x H x W (C = 3), label an int.
    Classes and file order are those of :func:`load_image_folder`.

    Parameters
    ----------
    root : str or os.PathLike
        Folder whose sub-folders are the classes.
    transform : callable, optional
        Applied to the uint8 C x H x W tensor of each item.
    loader : callable, optional
        ``loader(path, generator) -> uint8 H x W x 3 numpy``; default: full decode
        (:func:`decode_image`). Use :class:`ScaleCropLoader` for mixed-size photos.
    on_error : {"warn", "raise"}
        A bad file met while loading: "warn" warns (naming the file and reason) and returns the
        next decodable file in order instead (with its own label); "raise" raises
        :class:`BadImageError`. Bad files are only found when read.
    seed : int, optional
        Randomness of ``loader``. An int makes item ``i`` of epoch ``e`` use a generator seeded
        with :func:`item_seed` ``(seed, e, i)``: workers get independent streams and the output
        depends only on (seed, epoch, index), not on ``num_workers`` or which worker loads the
        item. Call :meth:`set_epoch` before each epoch (with ``persistent_workers`` the workers
        keep the epoch they were started with). None draws each item's seed from torch's global
        generator, which DataLoader seeds per worker (``base_seed + worker_id``, base_seed drawn
        from the DataLoader's ``generator``): independent across workers and reproducible for a
        fixed ``num_workers`` and ``DataLoader(generator=...)``.
    """

    def __init__(
        self,
        root: PathLike,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        *,
        loader: Callable[[PathLike, GeneratorLike], np.ndarray] | None = None,
        on_error: OnError = "warn",
        seed: int | None = None,
    ) -> None:
        self.on_error = check_choice(on_error, "on_error", ON_ERROR_CHOICES)
        self.seed = None if seed is None else check_int(seed, "seed")
        self.root = Path(root)
        self.transform = transform
        self.loader = _full_image_loader if loader is None else loader
        self.epoch = 0
        self.classes, files = _scan_folder(self.root)
        self.samples = [(str(self.root / f.relpath), f.label) for f in files]
        self.targets = np.array([f.label for f in files], dtype=np.int64)
        _report_empty_classes(self.root, self.classes, self.targets, "warn")

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random stream the next items use (only matters with an int seed).

        Parameters
        ----------
        epoch : int
            The epoch, as passed to :func:`item_seed`.
        """
        self.epoch = int(epoch)

    def _generator(self, index: int) -> torch.Generator:
        if self.seed is None:
            seed = int(torch.randint(0, 2**63 - 1, ()))
        else:
            seed = item_seed(self.seed, self.epoch, index)
        return torch.Generator().manual_seed(seed)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index %= len(self)
        generator = self._generator(index)
        for offset in range(len(self)):
            path, label = self.samples[(index + offset) % len(self)]
            try:
                image = self.loader(path, generator)
            except BadImageError as err:
                if self.on_error == "raise":
                    raise
                warnings.warn(f"skipping bad image file {err.path!r}: {err.reason}", stacklevel=2)
                continue
            # A C x H x W view of the H x W x C array (contiguous when the loader wrote it
            # channels-first, as ScaleCropLoader does: collation is then one plain copy).
            tensor = torch.from_numpy(image if min(image.strides) >= 0 else image.copy()).permute(2, 0, 1)
            if self.transform is not None:
                tensor = self.transform(tensor)
            return tensor, label
        raise ValueError(f"root={str(self.root)!r} contains no decodable images")
