"""Containers: Compose, RandomApply and OneOf.

Thin shells: a Compose asks :mod:`augkit.fusion` to plan its runs of geometric transforms once,
at construction, and to run its children by that plan at every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from conventions import check_probability

from .. import fusion
from ..params import Params, Shape, index_params
from ..registry import transform_from_config
from ..sampling import coin
from .base import Transform


def _check_transforms(transforms: Sequence[Transform], name: str) -> list[Transform]:
    transforms = list(transforms)
    for t in transforms:
        if not isinstance(t, Transform):
            raise TypeError(f"{name} must contain augkit transforms, got {type(t).__name__}")
    return transforms


def _refuse_label_mixing(transforms: Sequence[Transform], container: str) -> None:
    # A sub-batch would pair samples only among themselves, and the labels of the others would
    # have to be passed around it: MixUp and CutMix gate samples with their own p instead.
    for t in transforms:
        if t.mixes_labels:
            raise ValueError(f"{container} cannot contain {type(t).__name__}, which mixes the batch's samples "
                             "and labels: give it p instead")


class Compose(Transform):
    """Apply ``transforms`` in order, each sample with its own random parameters.

    Input/output as for every transform: N x C x H x W uint8 [0, 255] or float [0, 1] (CPU or
    CUDA), a PIL image or a numpy H x W x C uint8 image; the output has the input's dtype and
    device. A uint8 batch stays uint8 through the transforms that read it (flips, crops,
    ColorJitter and the policies, which quantise after each step as torchvision does), is
    converted to float once, where the first transform needs it, and rounded back once at the end.

    Parameters
    ----------
    transforms : sequence of Transform
        The transforms, in order; ``Normalize`` may only be last.

    Notes
    -----
    Fusion: every maximal run of consecutive geometric transforms (RandomScaleCrop,
    RandomResizedCrop, flips, Rotate, Translate, Stretch, Shear, LensDistortion), together with
    the per-image colour maps between them (PCALighting, Grayscale), is applied as ONE sampling
    grid per sample and ONE ``grid_sample`` call for the batch: the per-sample 3x3 backward matrices are multiplied, lens
    distortions are applied to the grid coordinates in between, each transform's fill is handled
    in its own input frame and the colour maps are applied to the sampled values (see
    :func:`augkit.functional.warp` for the fused semantics: the same as one transform after
    another except for one interpolation and one clamp at the end). Any other transform (or a
    container) ends the run. A run whose only resampling transform has an exact kernel of its own
    (``RandomScaleCrop`` with bilinear interpolation: resize, then crop; ``RandomResizedCrop``:
    crop, then resize) and otherwise holds
    flips and colour maps is applied transform by transform, exactly; a run of flips only is done
    by exact index flips. The resampling transforms of a run must share ``interpolation``; each
    keeps its own ``fill``. Geometric transforms inside RandomApply / OneOf / a nested Compose
    are fused among themselves only.

    Randomness and replay: ``pipe(batch, generator=g, return_params=True)`` returns
    ``(out, params)`` with ``params = {"transforms": [params of each transform]}``;
    ``pipe.replay(other, params)`` applies exactly those to another batch of the same N, H, W.
    Parameters are drawn on the generator's device (CPU for None and int seeds), then moved
    to the batch's device, so results do not depend on the batch's device except for
    GaussianNoise's noise field (drawn on the batch's device from a drawn seed).

    Independent streams:

    * DataLoader workers: torch seeds each worker's default generator with
      ``base_seed + worker_id``, so calling ``pipe(batch)`` (generator=None) inside a worker is
      already independent per worker; to be explicit, build
      ``torch.Generator().manual_seed(torch.utils.data.get_worker_info().seed)`` in
      ``worker_init_fn`` and pass it.
    * Ensemble members: spawn one child per member from
      ``numpy.random.SeedSequence(seed).spawn(n_members)`` and give member i
      ``torch.Generator().manual_seed(int(children[i].generate_state(1)[0]))``.

    Labels: a pipeline holding MixUp or CutMix has ``mixes_labels`` and is called with the
    labels, ``x, target = pipe(x, y, generator=g, num_classes=K)`` (see :mod:`augkit.transforms.augment`);
    the transforms before and after the mixing one see the images only.

    Serialisation: ``pipe.to_json()`` and ``Compose.from_json(text)`` round-trip every built-in
    transform (PCALighting keeps its eigenpairs).
    """

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = _check_transforms(transforms, "transforms")
        for t in self.transforms[:-1]:
            if not t.keeps_range:
                raise ValueError(f"{type(t).__name__} leaves [0, 1] and must be the last transform")
        self._runs = fusion.plan_runs(self.transforms)

    @property
    def keeps_range(self) -> bool:
        return not self.transforms or self.transforms[-1].keeps_range

    @property
    def mixes_labels(self) -> bool:
        """Whether a child mixes labels: then the pipeline is called as ``pipe(x, y, num_classes=K)``
        and returns ``(x, target)`` (see :mod:`augkit.transforms.augment`)."""
        return any(t.mixes_labels for t in self.transforms)

    @property
    def _reads_uint8(self) -> bool:
        return bool(self.transforms) and self.transforms[0]._reads_uint8

    def output_shape(self, shape: Shape) -> Shape:
        for t in self.transforms:
            shape = t.output_shape(shape)
        return shape

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        """Draw every child's parameters, each for the batch shape that reaches it.

        Parameters
        ----------
        batch_shape : tuple of int
            ``(N, C, H, W)`` of the input batch.
        generator : torch.Generator
            The random stream; the draws are made on its device.
        device : torch.device or str
            Where the parameters are moved to.

        Returns
        -------
        dict
            ``{"transforms": [t.make_params(shape at t) for t in transforms]}``.
        """
        params = []
        for t in self.transforms:
            params.append(t.make_params(batch_shape, generator, device))
            batch_shape = t.output_shape(batch_shape)
        return {"transforms": params}

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        return self._run_children(x, params, inplace, None)[0]

    def mix(self, x: torch.Tensor, target: torch.Tensor, params: Params,
            inplace: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply the pipeline to a working batch and its soft targets.

        The label-mixing children (MixUp, CutMix) mix the targets along with the images.

        Parameters
        ----------
        x : torch.Tensor
            Float N x C x H x W on [0, 1].
        target : torch.Tensor
            Float N x K soft targets.
        params : dict
            The pipeline's parameters (:meth:`make_params`).
        inplace : bool
            ``x`` is a pipeline's own intermediate, free to overwrite.

        Returns
        -------
        x, target : torch.Tensor
            The transformed batch and its mixed targets.
        """
        return self._run_children(x, params, inplace, target)

    def _run_children(self, x: torch.Tensor, params: Params, inplace: bool,
                      target: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        plist = params["transforms"]
        if len(plist) != len(self.transforms):
            raise ValueError(f"params hold {len(plist)} transforms but the pipeline has {len(self.transforms)}")
        return fusion.run(self.transforms, self._runs, x, plist, inplace, target)

    def get_config(self) -> dict[str, Any]:
        return {"transforms": [t.to_config() for t in self.transforms]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Compose:
        config = dict(config)
        children = [transform_from_config(c) for c in config.pop("transforms")]
        return cls(children, **config)

    def __len__(self) -> int:
        return len(self.transforms)

    def __getitem__(self, index: int) -> Transform:
        return self.transforms[index]


class RandomApply(Compose):
    """Apply the whole pipeline ``transforms`` to each sample with probability ``p``.

    The children must keep the image shape (no RandomScaleCrop, no Normalize). The chosen
    samples are gathered by the base's per-sample gate, run through the children as one
    sub-batch (fused among themselves, not with the surrounding Compose), and scattered back.
    Params: ``{"apply": bool N, "transforms": [children's params, drawn for all N]}``.

    Parameters
    ----------
    transforms : sequence of Transform
        The pipeline, which must keep the image shape.
    p : float
        Probability that a sample goes through the pipeline.
    """

    def __init__(self, transforms: Sequence[Transform], p: float = 0.5) -> None:
        super().__init__(transforms)
        self.p = check_probability(p)
        if not self.keeps_range:
            raise ValueError("RandomApply cannot contain Normalize")
        _refuse_label_mixing(self.transforms, "RandomApply")

    def output_shape(self, shape: Shape) -> Shape:
        out = super().output_shape(shape)
        if out != shape:
            raise ValueError(f"RandomApply children must keep the image shape, {shape} -> {out}")
        return shape

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        apply = coin(batch_shape[0], self.p, generator).to(device)
        return {"apply": apply, **super().make_params(batch_shape, generator, device)}

    @property
    def _reads_uint8(self) -> bool:
        return False  # the untouched samples are copied as they are, so x must be float

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "p": self.p}


class OneOf(Transform):
    """Apply exactly one of ``transforms`` per sample, chosen with probabilities ``weights``.

    ``weights`` (default uniform) are normalised; children must give equal output shapes and
    cannot be Normalize. Each child runs once on the sub-batch that chose it (unfused with the
    surrounding Compose). Params: ``{"choice": int64 N, "transforms": [each child's params,
    drawn for all N]}``.

    Parameters
    ----------
    transforms : sequence of Transform
        The candidates, at least one.
    weights : sequence of float, optional
        Their relative probabilities, finite, >= 0 and not all 0; uniform by default.
    """

    def __init__(self, transforms: Sequence[Transform], weights: Sequence[float] | None = None) -> None:
        self.transforms = _check_transforms(transforms, "transforms")
        if not self.transforms:
            raise ValueError("OneOf needs at least one transform")
        if any(not t.keeps_range for t in self.transforms):
            raise ValueError("OneOf cannot contain Normalize")
        _refuse_label_mixing(self.transforms, "OneOf")
        if weights is None:
            weights = [1.0] * len(self.transforms)
        weights = [float(w) for w in weights]
        if len(weights) != len(self.transforms):
            raise ValueError(f"weights must have one entry per transform ({len(self.transforms)}), "
                             f"got {len(weights)}")
        if min(weights) < 0 or sum(weights) <= 0 or not all(w < float("inf") for w in weights):
            raise ValueError(f"weights must be finite, >= 0 and not all 0, got {weights}")
        self.weights = tuple(w / sum(weights) for w in weights)

    def output_shape(self, shape: Shape) -> Shape:
        shapes = {t.output_shape(shape) for t in self.transforms}
        if len(shapes) > 1:
            raise ValueError(f"OneOf children must give the same output shape, got {sorted(shapes)}")
        return shapes.pop()

    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        weights = torch.tensor(self.weights, dtype=torch.float64, device=generator.device)
        n = batch_shape[0]
        choice = (torch.multinomial(weights, n, replacement=True, generator=generator) if n
                  else torch.zeros(0, dtype=torch.long, device=generator.device))
        children = [t.make_params(batch_shape, generator, device) for t in self.transforms]
        return {"choice": choice.to(device), "transforms": children}

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        out = None
        for i, (t, p) in enumerate(zip(self.transforms, params["transforms"])):
            chosen = params["choice"] == i
            if not bool(chosen.any()):
                continue
            # x[chosen] is a fresh gathered copy, so the child may overwrite it.
            y = t._apply(x[chosen], index_params(p, chosen), inplace=True)
            if out is None:
                out = x.new_empty((x.shape[0], *y.shape[1:]))
            out[chosen] = y.to(x.dtype)
        return out

    def get_config(self) -> dict[str, Any]:
        return {"transforms": [t.to_config() for t in self.transforms], "weights": self.weights}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> OneOf:
        config = dict(config)
        children = [transform_from_config(c) for c in config.pop("transforms")]
        return cls(children, **config)
