"""Image data: decoding rules, ImageFolder loading with an on-disk cache, streaming decode.

One module per idea, one set of decoding rules for every path:

* :mod:`~augkit.data.decoding`: one file -> uint8 RGB (JPEGs through libjpeg-turbo), or
  :class:`BadImageError`; :func:`dct_reduction`, the reduced-scale JPEG rule;
* :mod:`~augkit.data.folder`: an ImageFolder tree -> sorted classes and files;
* :mod:`~augkit.data.cache`: the ``.npy`` + JSON cache of decoded folders;
* :mod:`~augkit.data.loading`: :func:`load_image_folder`, a whole folder decoded on a thread
  pool into one uint8 N x H x W x 3 array (small datasets such as CIFAR-10);
* :mod:`~augkit.data.streaming`: :class:`ImageFolderStream`, one file per item on DataLoader
  workers, and :func:`decode_scale_crop`, a JPEG decoded at reduced DCT scale straight into a
  random scale-crop (large photo folders);
* :mod:`~augkit.data.datasets`: scikit-learn's digits and photos, CIFAR-10, splits;
* :mod:`~augkit.data.layout`: N x H x W x C arrays <-> N x C x H x W batches.
"""

from .datasets import cifar10_root, last_per_class_split, load_cifar10, load_digits_images, load_sample_photos
from .decoding import BadImageError, dct_reduction, decode_image
from .layout import to_batch, to_nhwc
from .loading import load_image_folder
from .streaming import ImageFolderStream, ScaleCropLoader, decode_scale_crop, item_seed

__all__ = [
    "BadImageError",
    "ImageFolderStream",
    "ScaleCropLoader",
    "cifar10_root",
    "dct_reduction",
    "decode_image",
    "decode_scale_crop",
    "item_seed",
    "last_per_class_split",
    "load_cifar10",
    "load_digits_images",
    "load_image_folder",
    "load_sample_photos",
    "to_batch",
    "to_nhwc",
]
