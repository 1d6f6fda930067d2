"""Ensemble members: MLP, SmallCNN, ResNet20 and FastCNN, built from nets' own BatchNorm and Dropout.

Every model takes ``input_shape`` (per-sample shape) and ``n_classes``, emits logits N x K,
and is vmap-safe: no in-place ops on activations, no data-dependent control flow.
``p_keep`` is None (no Dropout) or the probability of keeping a unit, the lecture's
convention as in :class:`nets.Dropout` (the old keyword ``dropout=`` raises a TypeError that
says so); ``init`` is a scheme name,
``(name, kwargs)`` or None (torch's defaults), see :func:`nets.init_weights`.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from conventions import check_choice, check_int
from nets.batchnorm import BatchNorm1d, BatchNorm2d
from nets.dropout import Dropout
from nets.init import InitSpec, apply_init
from nets.whitening import whitening_filters

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


def _refuse_unknown(model: str, kwargs: dict[str, Any]) -> None:
    """Python's TypeError for unexpected keywords, with directions for the renamed ``dropout``."""
    if "dropout" in kwargs:
        raise TypeError(f"{model}(dropout=...) was renamed: write p_keep={kwargs['dropout']!r} "
                        "(the probability of keeping a unit, as in nets.Dropout)")
    if kwargs:
        raise TypeError(f"{model}() got an unexpected keyword argument {next(iter(kwargs))!r}")


def _check_common(input_shape: Sequence[int], n_classes: int, p_keep: float | None) -> tuple[int, ...]:
    shape = tuple(input_shape)
    if not shape or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
    check_int(n_classes, "n_classes", minimum=2)
    if p_keep is not None and not 0.0 < p_keep <= 1.0:
        raise ValueError(f"p_keep must be None or in (0, 1], got {p_keep!r}")
    return shape


def _check_image_shape(shape: tuple[int, ...]) -> None:
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {shape!r}")


class MLP(nn.Module):
    """Fully connected classifier: flatten, then [Linear -> BatchNorm1d? -> activation -> Dropout?]
    per hidden width, then a Linear head.

    Input: float N x ``input_shape``; output: float logits N x ``n_classes``.

    Parameters
    ----------
    input_shape : sequence of int
        Per-sample shape (flattened first).
    n_classes : int
        K >= 2.
    widths : sequence of int
        Hidden layer widths.
    activation : {"relu", "tanh"}
        The hidden layers' nonlinearity.
    batch_norm : bool
        A :class:`nets.BatchNorm1d` after each hidden Linear (which then has no bias).
    p_keep : float or None
        Keep probability of the Dropout layer(s) (the lecture's convention, as
        :class:`nets.Dropout`); None for none. (``dropout=`` was this argument's old name.)
    init : str, (str, dict) or None
        Initialisation scheme (:func:`nets.init_weights`); None keeps torch's defaults.
    **removed
        Refused with a TypeError; ``dropout=``, this class's old name of ``p_keep``, is told
        its new name.
    """

    def __init__(self, input_shape: Sequence[int], n_classes: int, widths: Sequence[int] = (256,),
                 activation: str = "relu", batch_norm: bool = False, p_keep: float | None = None,
                 init: InitSpec = "he", **removed: Any) -> None:
        super().__init__()
        _refuse_unknown(type(self).__name__, removed)
        shape = _check_common(input_shape, n_classes, p_keep)
        check_choice(activation, "activation", tuple(_ACTIVATIONS))
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = math.prod(shape)
        for width in widths:
            layers.append(nn.Linear(fan_in, width, bias=not batch_norm))  # BN's beta replaces the bias
            if batch_norm:
                layers.append(BatchNorm1d(width))
            layers.append(_ACTIVATIONS[activation]())
            if p_keep is not None:
                layers.append(Dropout(p_keep))
            fan_in = width
        layers.append(nn.Linear(fan_in, n_classes))
        self.layers = nn.Sequential(*layers)
        apply_init(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


BN_POSITIONS = ("before", "after")


def _conv_block(c_in: int, c_out: int, batch_norm: bool, bn_position: str = "before") -> list[nn.Module]:
    if not batch_norm:
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
    if bn_position == "before":  # BN's beta replaces the conv bias
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), BatchNorm2d(c_out), nn.ReLU()]
    # after the ReLU the bias still shifts what the ReLU cuts off, so the conv keeps it
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), BatchNorm2d(c_out)]


class SmallCNN(nn.Module):
    """conv3x3-BN-ReLU blocks with 2x2 max-pooling between them, global average pooling,
    optional Dropout, and a Linear head.

    Input: float N x C x H x W (``input_shape`` = (C, H, W)); output: float logits N x ``n_classes``.

    Parameters
    ----------
    input_shape : (int, int, int)
        ``(C, H, W)`` of the images.
    n_classes : int
        K >= 2.
    widths : sequence of int
        Channels of each block.
    batch_norm : bool
        A :class:`nets.BatchNorm2d` in each block.
    p_keep : float or None
        Keep probability of the Dropout layer(s) (the lecture's convention, as
        :class:`nets.Dropout`); None for none. (``dropout=`` was this argument's old name.)
    init : str, (str, dict) or None
        Initialisation scheme (:func:`nets.init_weights`); None keeps torch's defaults.
    bn_position : {"before", "after"}
        Where the block's BatchNorm goes: "before" the ReLU, normalising the convolution's
        output (Ioffe & Szegedy's placement, the lecture's recommendation; the convolution then
        has no bias), or "after" it (conv3x3 -> ReLU -> BN; the convolution keeps its bias).
    **removed
        Refused with a TypeError; ``dropout=``, this class's old name of ``p_keep``, is told
        its new name.
    """

    def __init__(self, input_shape: Sequence[int] = (3, 32, 32), n_classes: int = 10,
                 widths: Sequence[int] = (32, 64, 128), batch_norm: bool = True,
                 p_keep: float | None = None, init: InitSpec = "he", bn_position: str = "before",
                 **removed: Any) -> None:
        super().__init__()
        _refuse_unknown(type(self).__name__, removed)
        shape = _check_common(input_shape, n_classes, p_keep)
        _check_image_shape(shape)
        if not widths:
            raise ValueError(f"widths must name at least one block, got {widths!r}")
        check_choice(bn_position, "bn_position", BN_POSITIONS)
        layers: list[nn.Module] = []
        c_in = shape[0]
        for k, width in enumerate(widths):
            if k > 0:
                layers.append(nn.MaxPool2d(2))
            layers += _conv_block(c_in, width, batch_norm, bn_position)
            c_in = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if p_keep is not None:
            layers.append(Dropout(p_keep))
        layers.append(nn.Linear(c_in, n_classes))
        self.layers = nn.Sequential(*layers)
        apply_init(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ShortcutA(nn.Module):
    """He et al.'s option A: subsample by ``stride`` and zero-pad the new channels (no parameters).

    Maps N x ``c_in`` x H x W to N x ``c_out`` x ceil(H / stride) x ceil(W / stride), same dtype;
    the ``c_out - c_in`` new channels (split evenly before and after) are zeros.
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, c_out - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


class BasicBlock(nn.Module):
    """Two conv3x3 layers with a residual connection: y = ReLU(F(x) + shortcut(x))."""

    def __init__(self, c_in: int, c_out: int, stride: int, batch_norm: bool, shortcut: str) -> None:
        super().__init__()
        norm = (lambda c: BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batch_norm)
        self.bn1 = norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=not batch_norm)
        self.bn2 = norm(c_out)
        if stride == 1 and c_in == c_out:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "A":
            self.shortcut = ShortcutA(c_in, c_out, stride)
        else:  # "B": 1x1 projection
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=not batch_norm),
                                          norm(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """He et al. (2016) CIFAR ResNet-20: conv3x3, 3 stages x 3 basic blocks (width, 2 width, 4 width
    channels; stride 2 at stages 2 and 3), global average pooling, optional Dropout, Linear head.

    Input: float N x C x H x W; output: float logits N x ``n_classes``.

    Parameters
    ----------
    input_shape : (int, int, int)
        ``(C, H, W)`` of the images.
    n_classes : int
        K >= 2.
    width : int
        Channels of the first stage.
    batch_norm : bool
        :class:`nets.BatchNorm2d` after each convolution.
    p_keep : float or None
        Keep probability of the Dropout layer(s) (the lecture's convention, as
        :class:`nets.Dropout`); None for none. (``dropout=`` was this argument's old name.)
    init : str, (str, dict) or None
        Initialisation scheme (:func:`nets.init_weights`); None keeps torch's defaults.
    shortcut : {"A", "B"}
        Zero-padding identity (the paper's CIFAR choice) or 1x1 projection.
    **removed
        Refused with a TypeError; ``dropout=``, this class's old name of ``p_keep``, is told
        its new name.
    """

    def __init__(self, input_shape: Sequence[int] = (3, 32, 32), n_classes: int = 10, width: int = 16,
                 batch_norm: bool = True, p_keep: float | None = None, init: InitSpec = "he",
                 shortcut: str = "A", **removed: Any) -> None:
        super().__init__()
        _refuse_unknown(type(self).__name__, removed)
        shape = _check_common(input_shape, n_classes, p_keep)
        _check_image_shape(shape)
        check_int(width, "width", minimum=1)
        if shortcut not in ("A", "B"):
            raise ValueError(f"shortcut must be 'A' or 'B', got {shortcut!r}")
        self.stem = nn.Sequential(*_conv_block(shape[0], width, batch_norm))
        blocks: list[nn.Module] = []
        c_in = width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for k in range(3):
                stride = 2 if stage > 0 and k == 0 else 1
                blocks.append(BasicBlock(c_in, c_out, stride, batch_norm, shortcut))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        head: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if p_keep is not None:
            head.append(Dropout(p_keep))
        head.append(nn.Linear(c_in, n_classes))
        self.head = nn.Sequential(*head)
        apply_init(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


class FastCNN(nn.Module):
    """The network of Keller Jordan's airbench94 CIFAR-10 speed runs (2024), with our layers.

    A 2x2 convolution stem (no padding) and GELU, then per width a block conv3x3 -> max-pool 2
    -> BatchNorm -> GELU -> conv3x3 -> BatchNorm -> GELU, global max-pooling, optional Dropout,
    and a bias-free Linear head whose logits are multiplied by ``scale`` (1/9: small initial
    logits). On 32 x 32 inputs the spatial size runs 31 -> 15 -> 7 -> 3 -> 1.

    airbench's initialisation is available as options: ``whiten=True`` makes the stem a fixed
    whitening layer (:mod:`nets.whitening`) set from the training images by
    :meth:`init_from_data`, which :func:`nets.fit` and the ensemble engines call before training;
    ``dirac=True`` starts every 3x3 convolution as the identity on its first input channels
    (an implicit residual: ``dirac_`` over the ``init`` scheme); ``bn_scale=False`` freezes the
    BatchNorm scales at 1 (their shifts stay trained, airbench steps them at 64 times the lr:
    ``norm_lr_scale``); ``bn_eps=1e-12`` is its BatchNorm epsilon. airbench keeps torch's default
    initialisation (``init=None``: uniform weights of variance 1 / (3 fan_in), a sixth of He's;
    with ``dirac`` only the widening convolutions and the head keep random weights, and their
    scale sets how fast those layers move). Its look-ahead is :class:`nets.average.Lookahead`
    (``lookahead=True``).

    Input: float N x C x H x W; output: float logits N x ``n_classes``.

    Parameters
    ----------
    input_shape : (int, int, int)
        ``(C, H, W)`` of the images; the side must be at least 2 ** len(widths) + 1.
    n_classes : int
        K >= 2.
    widths : sequence of int
        Channels of each block.
    stem : int
        Channels of the 2x2 stem (with ``whiten``: ``2 C 4``, 24 for RGB).
    p_keep : float or None
        Keep probability of the Dropout layer(s) (the lecture's convention, as
        :class:`nets.Dropout`); None for none. (``dropout=`` was this argument's old name.)
    init : str, (str, dict) or None
        Initialisation scheme (:func:`nets.init_weights`); None keeps torch's defaults.
    scale : float
        Multiplier of the logits.
    whiten, dirac, bn_scale : bool
        airbench's initialisation (see above); off by default.
    bn_eps : float
        The BatchNorms' epsilon, added to the batch variance (> 0; airbench: 1e-12).
    batch_norm : bool
        False drops every BatchNorm (the blocks become conv -> pool -> GELU -> conv -> GELU, the
        convolutions with biases): the ablation of batch normalisation.
    **removed
        Refused with a TypeError; ``dropout=``, this class's old name of ``p_keep``, is told
        its new name.
    """

    def __init__(self, input_shape: Sequence[int] = (3, 32, 32), n_classes: int = 10,
                 widths: Sequence[int] = (64, 256, 256), stem: int = 24, p_keep: float | None = None,
                 init: InitSpec = "he", scale: float = 1 / 9, whiten: bool = False, dirac: bool = False,
                 bn_scale: bool = True, bn_eps: float = 1e-5, batch_norm: bool = True, **removed: Any) -> None:
        super().__init__()
        _refuse_unknown(type(self).__name__, removed)
        shape = _check_common(input_shape, n_classes, p_keep)
        _check_image_shape(shape)
        if not widths or not all(isinstance(w, int) and w > 0 for w in widths):
            raise ValueError(f"widths must be positive ints, at least one, got {widths!r}")
        check_int(stem, "stem", minimum=1)
        if whiten and stem != 2 * shape[0] * 4:
            raise ValueError(f"a whitened 2x2 stem has 2 C 4 = {2 * shape[0] * 4} channels, got stem={stem}")
        side = min(shape[1:]) - 1
        for _ in widths:
            side //= 2
        if side < 1:
            raise ValueError(f"input_shape {shape} is too small for {len(widths)} blocks: each halves the "
                             f"side after a 2x2 stem; need a side >= {2 ** len(widths) + 1}")
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        layers: list[nn.Module] = [nn.Conv2d(shape[0], stem, 2), nn.GELU()]
        c_in = stem
        norm = functools.partial(BatchNorm2d, eps=bn_eps) if batch_norm else (lambda width: nn.Identity())
        for width in widths:
            layers += [nn.Conv2d(c_in, width, 3, padding=1, bias=not batch_norm), nn.MaxPool2d(2), norm(width),
                       nn.GELU(), nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm), norm(width), nn.GELU()]
            c_in = width
        layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten()]
        if p_keep is not None:
            layers.append(Dropout(p_keep))
        layers.append(nn.Linear(c_in, n_classes, bias=False))
        self.layers = nn.Sequential(*layers)
        self.scale = float(scale)
        self.whiten = bool(whiten)
        apply_init(self, init)
        with torch.no_grad():
            if dirac:
                for conv in self.layers[2:]:
                    if isinstance(conv, nn.Conv2d):
                        nn.init.dirac_(conv.weight[:conv.in_channels])
            if whiten:
                self.layers[0].bias.zero_()
        self.layers[0].weight.requires_grad_(not whiten)  # the whitening filters stay fixed
        for module in self.layers:
            if isinstance(module, BatchNorm2d):
                module.gamma.requires_grad_(bool(bn_scale))

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor) -> None:
        """With ``whiten``, set the stem to the whitening filters of ``images``; else do nothing.

        Parameters
        ----------
        images : torch.Tensor
            Float N x C x H x W as the network sees them: normalised, un-augmented.
        """
        if self.whiten:
            stem = self.layers[0]
            stem.weight.copy_(whitening_filters(images.to(stem.weight), kernel_size=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x) * self.scale
