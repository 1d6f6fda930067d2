"""The transform base: call and replay, per-sample gating, declarative draws, JSON hooks.

A transform is a thin shell (torchvision's and kornia's design): it draws every sample's
parameters, then applies them with a pure kernel. What a subclass writes:

* ``__init__`` storing its checked arguments (and ``self.p`` when it applies per sample with a
  probability), and :meth:`Transform.get_config` returning them;
* ``draws``: the parameters drawn uniformly where applied and set to an identity value elsewhere,
  declared as ``(Uniform("angle", "degrees", 0.0),)`` (parameter, range attribute, neutral value);
* :meth:`Transform.sample` for any other draw (crop windows, seeds, op choices);
* :meth:`Transform.forward`, the one apply method: ``forward(x, params, inplace=False)``.

The base draws ``apply`` (bool N, True with probability ``p``) once for every transform with a
``p``, then the declared uniforms, then calls ``sample``. It gates in one place: the
``forward`` of a ``gated`` transform receives only the samples it applies to (gathered into
one sub-batch, the others are passed through untouched); a geometric transform gets identity
parameters where not applied, so that a fused run keeps one grid (those samples come back
exactly, see :func:`augkit.functional.warp`).

The draws are made by :mod:`augkit.sampling`, the parameters are the structures of
:mod:`augkit.params`, and every subclass registers itself by name in :mod:`augkit.registry`
(``to_json`` / ``from_json``).

Randomness. ``generator`` is a ``torch.Generator``, an int (a fresh CPU generator seeded with
it) or None: torch's global default generator (``torch.default_generator``), whose state
``torch.manual_seed`` sets and which DataLoader seeds per worker. Parameters are drawn on the
generator's device, then moved to the batch's device, so a CPU generator gives the same
parameters for a CPU and a CUDA batch (per-pixel noise fields aside: they are drawn on the
batch's device from a seed held in the parameters).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any, ClassVar

import torch

from conventions import as_generator

from .. import functional as F
from ..params import Params, Shape, check_params_batch, index_params, params_to
from ..registry import jsonable, register, transform_from_config
from ..sampling import Uniform, coin, uniform_where
from ..validation import as_batch, as_soft_targets


def apply_where(x: torch.Tensor, where: torch.Tensor, kernel: Callable[..., torch.Tensor],
                *per_sample: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """``x`` with the chosen samples replaced by ``kernel``'s output for them.

    The chosen samples go through ``kernel(x[chosen], *(p[chosen] for p in per_sample))`` as one
    gathered sub-batch; the others are copied as they are, or left in place when ``inplace``.

    Parameters
    ----------
    x : torch.Tensor
        N x ..., any dtype.
    where : torch.Tensor
        bool N: the chosen samples.
    kernel : callable
        ``kernel(sub_batch, *rows) -> tensor`` of the sub-batch's shape.
    *per_sample : torch.Tensor
        N x ... each; their chosen rows are passed to ``kernel``.
    inplace : bool
        Overwrite and return ``x`` instead of a copy.

    Returns
    -------
    torch.Tensor
        ``x``'s shape and dtype.
    """
    index = where.to(x.device).nonzero().squeeze(1)
    out = x if inplace else x.clone()
    if index.numel():
        rows = [p.to(x.device).index_select(0, index) for p in per_sample]
        out.index_copy_(0, index, kernel(x.index_select(0, index), *rows).to(out.dtype))
    return out


# ---------------------------------------------------------------- the base class
class Transform:
    """Base of every transform and container (see :mod:`augkit.transforms.base` for what a subclass writes).

    Call as ``t(batch, generator=None, return_params=False)``: ``batch`` is N x C x H x W
    (C = 1 or 3), uint8 [0, 255] or float [0, 1], CPU or CUDA, or a single PIL image / numpy
    H x W x C uint8 image (returned as the same kind). The output has the input's dtype and
    device (uint8 is rounded to nearest; ColorJitter and the policies quantise uint8 after each
    of their steps instead, as torchvision does) unless the transform says otherwise (Normalize).
    ``generator``: a torch.Generator, an int seed (a fresh CPU generator) or None (torch's global
    default generator); the same seed gives the same output. N = 0 returns an empty batch.
    With ``return_params=True`` the call returns ``(out, params)``, and ``t.replay(batch, params)``
    applies exactly those parameters again.

    Transforms with ``mixes_labels`` (MixUp, CutMix, a Compose holding one) take the labels too,
    ``t(x, y, generator=g, num_classes=K) -> (x, target)``, see :mod:`augkit.transforms.augment`; every other
    transform refuses labels.

    Class names are the JSON registry's keys: a subclass whose name is already registered by
    another class is refused (rename it) rather than silently replacing it for ``from_json``.

    Attributes
    ----------
    p : float or None
        Probability that a sample is transformed; None for transforms without one (no ``apply``
        is drawn).
    """

    geometric: ClassVar[bool] = False
    #: A per-image affine colour map (x -> A_n x + b_n per pixel, see :meth:`color_map`): it
    #: commutes with resampling, so a Compose keeps it inside a geometric run (one resampling).
    color_affine: ClassVar[bool] = False
    #: Called as ``t(x, y, num_classes=K) -> (x, target)``, applied by :meth:`mix` (see
    #: :mod:`augkit.transforms.augment`).
    mixes_labels: ClassVar[bool] = False
    #: Parameters drawn uniformly where applied, identity elsewhere (see :class:`Uniform`).
    draws: ClassVar[tuple[Uniform, ...]] = ()
    p: float | None = None  # see the class docstring: a None attribute has no docstring of its own
    #: Whether the base hands ``forward`` only the applied samples (the others pass through
    #: untouched). False where the not-applied samples still change (a centred crop), and where
    #: the parameters drawn for them are already the identity and one pass over the batch is
    #: cheaper than a gather: geometric transforms (a fused run keeps one grid), empty erasing boxes.
    gated: ClassVar[bool] = True
    _forward_takes_inplace: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_forward" in cls.__dict__:
            raise TypeError(f"{cls.__qualname__} defines _forward: a transform has one apply method, "
                            "forward(self, x, params, inplace=False)")
        # forward may leave out the inplace keyword; the base then never asks for it.
        cls._forward_takes_inplace = "inplace" in inspect.signature(cls.forward).parameters
        if not cls.__name__.startswith("_"):  # private bases (_Geometric, _Flip, ...) are not transforms to load
            register(cls)

    @property
    def keeps_range(self) -> bool:
        """Whether the output stays on [0, 1] (and so can go back to uint8)."""
        return True

    @property
    def _reads_uint8(self) -> bool:
        """Whether ``forward`` also takes the raw uint8 batch [0, 255]; it then returns a float
        working batch, or a uint8 batch, which is never converted: exact values (flips, the SIMD
        antialiased crop) or levels quantised after each step as the transform's definition does
        (ColorJitter, the policies). Resampling then converts only the pixels it reads."""
        return False

    # -- what subclasses define
    def output_shape(self, shape: Shape) -> Shape:
        """Validate an input batch shape and return the output shape.

        Parameters
        ----------
        shape : tuple of int
            ``(N, C, H, W)`` of the input batch.

        Returns
        -------
        tuple of int
            ``(N, C, H', W')`` of the output batch.
        """
        return shape

    def sample(self, batch_shape: Shape, apply: torch.Tensor, generator: torch.Generator) -> Params:
        """Draw the parameters beyond ``apply`` and ``draws``, on the generator's device.

        Parameters
        ----------
        batch_shape : tuple of int
            ``(N, C, H, W)`` of the batch.
        apply : torch.Tensor
            bool N: the samples the transform applies to (all True for transforms without ``p``).
        generator : torch.Generator
            The random stream.

        Returns
        -------
        dict
            Tensors whose leading dimension is N.
        """
        return {}

    def forward(self, x: torch.Tensor, params: Params, inplace: bool = False) -> torch.Tensor:
        """Apply ``params`` to a working batch.

        Parameters
        ----------
        x : torch.Tensor
            Float N x C x H x W on [0, 1] (geometric transforms may also get uint8, see
            ``_reads_uint8``).
        params : dict
            The parameters of these N samples.
        inplace : bool
            ``x`` is a pipeline's own intermediate (never the caller's batch), free to overwrite.

        Returns
        -------
        torch.Tensor
            The transformed batch, N x C x H' x W'.
        """
        raise NotImplementedError

    def mix(self, x: torch.Tensor, target: torch.Tensor, params: Params,
            inplace: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply ``params`` to a working batch and its soft targets (``mixes_labels`` transforms).

        Parameters
        ----------
        x : torch.Tensor
            Float N x C x H x W on [0, 1].
        target : torch.Tensor
            Float N x K soft targets.
        params : dict
            The parameters of these N samples.
        inplace : bool
            As for :meth:`forward`.

        Returns
        -------
        x, target : torch.Tensor
            The mixed batch and its mixed targets.
        """
        raise NotImplementedError

    def color_map(self, params: Params, channels: int) -> F.ColorMap:
        """The per-image map ``v -> A_n v + b_n`` of ``params`` (``color_affine`` transforms).

        Parameters
        ----------
        params : dict
            The parameters of N samples.
        channels : int
            C, the batch's channels.

        Returns
        -------
        augkit.functional.ColorMap
            ``matrix`` float N x C x C (or None), ``offset`` float N x C.
        """
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-safe."""
        raise NotImplementedError

    # -- shared machinery
    def make_params(self, batch_shape: Shape, generator: torch.Generator,
                    device: torch.device | str = "cpu") -> Params:
        """Draw per-sample parameters for a batch of ``batch_shape``.

        Parameters
        ----------
        batch_shape : tuple of int
            ``(N, C, H, W)`` of the batch.
        generator : torch.Generator
            The random stream; the draws are made on its device.
        device : torch.device or str
            Where the parameters are moved to.

        Returns
        -------
        dict
            Tensors of leading dimension N on ``device``: ``apply`` when the transform has a
            ``p``, then the declared ``draws``, then :meth:`sample`'s.
        """
        n = batch_shape[0]
        params: Params = {}
        if self.p is None:
            apply = torch.ones(n, dtype=torch.bool, device=generator.device)
        else:
            apply = params["apply"] = coin(n, self.p, generator)
        for draw in self.draws:
            params[draw.name] = uniform_where(apply, getattr(self, draw.attr), draw.neutral, generator)
        params.update(self.sample(batch_shape, apply, generator))
        return params_to(params, device)

    def __call__(self, batch: Any, labels: Any = None, *, generator: torch.Generator | int | None = None,
                 return_params: bool = False, num_classes: int | None = None) -> Any:
        x, restore = as_batch(batch)
        shape = tuple(x.shape)
        self.output_shape(shape)
        target = self._targets(labels, shape[0], num_classes, x.device)
        params = self.make_params(shape, as_generator(generator), x.device)
        out, target = self._run(x, params, target)
        out = restore(out) if target is None else (restore(out), target)
        return (out, params) if return_params else out

    def replay(self, batch: Any, params: Params, labels: Any = None, num_classes: int | None = None) -> Any:
        """Apply exactly ``params`` (from ``return_params=True``) again, e.g. to warp a mask identically.

        Parameters
        ----------
        batch : torch.Tensor, PIL image or numpy.ndarray
            As for a call, with the same N (and, for size-dependent transforms, the same H and W)
            as the batch the parameters were drawn for.
        params : dict
            The parameters a call returned.
        labels : array-like, optional
            Label-mixing transforms only: the N labels again.
        num_classes : int, optional
            Label-mixing transforms only: K.

        Returns
        -------
        out or (out, target)
            The transformed batch, of the input's kind; label-mixing transforms also return the
            float N x K targets.
        """
        x, restore = as_batch(batch)
        check_params_batch(params, x.shape[0])
        target = self._targets(labels, x.shape[0], num_classes, x.device)
        out, target = self._run(x, params_to(params, x.device), target)
        return restore(out) if target is None else (restore(out), target)

    def _targets(self, labels: Any, n: int, num_classes: int | None, device: torch.device) -> torch.Tensor | None:
        """Soft targets for a label-mixing transform (None otherwise), after checking labels were
        given exactly when they are used."""
        name = type(self).__name__
        if self.mixes_labels:
            if labels is None:
                raise TypeError(f"{name} mixes labels: call it with the labels, "
                                "x, target = t(x, y, generator=g, num_classes=K)")
            return as_soft_targets(labels, n, num_classes, device)
        if labels is not None or num_classes is not None:
            raise TypeError(f"{name} does not mix labels: call it as t(batch, generator=g); labels go only to "
                            f"MixUp, CutMix and pipelines holding one (got {type(labels).__name__})")
        return None

    def _run(self, x: torch.Tensor, params: Params,
             target: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        shape = self.output_shape(tuple(x.shape))
        out_dtype = x.dtype if self.keeps_range or x.dtype != torch.uint8 else torch.float32
        if x.shape[0] == 0:
            return x.new_empty(shape, dtype=out_dtype), target
        working = x if x.dtype == torch.uint8 and self._reads_uint8 else F.to_working(x)
        if target is None:
            y = self._apply(working, params, inplace=working is not x)
        else:
            y, target = self.mix(working, target, params, inplace=working is not x)
        if not self.keeps_range:
            return y.to(out_dtype), target
        if y.dtype == torch.uint8:  # exact values from a uint8-reading forward (x is uint8)
            return (y.clone() if F.shares_memory(y, x) else y), target
        return F.from_working(y, x.dtype, inplace=not F.shares_memory(y, x)), target

    def _apply(self, x: torch.Tensor, params: Params, inplace: bool) -> torch.Tensor:
        """:meth:`forward` behind the per-sample gate (see :mod:`augkit.transforms.base`): containers and
        :meth:`_run` call this, never ``forward`` directly."""
        apply = params.get("apply")
        if not self.gated or apply is None or bool(apply.all()):
            return self._forward_with(x, params, inplace)
        if not bool(apply.any()):
            return x
        index = apply.nonzero().squeeze(1)
        chosen = index_params(params, index)
        return apply_where(x, apply, lambda sub: self._forward_with(sub, chosen, True), inplace=inplace)

    def _forward_with(self, x: torch.Tensor, params: Params, inplace: bool) -> torch.Tensor:
        return self.forward(x, params, inplace=inplace) if self._forward_takes_inplace else self.forward(x, params)

    def to_json(self) -> str:
        """JSON text that :meth:`from_json` turns back into an equal transform."""
        return json.dumps(self.to_config())

    def to_config(self) -> dict[str, Any]:
        """``{"name": class name, **constructor arguments}``, JSON-safe."""
        return {"name": type(self).__name__, **{k: jsonable(v) for k, v in self.get_config().items()}}

    @classmethod
    def from_json(cls, text: str) -> Transform:
        """Rebuild a transform (any registered one, containers included) from :meth:`to_json` text.

        Parameters
        ----------
        text : str
            JSON written by :meth:`to_json`.

        Returns
        -------
        Transform
            An equal transform.

        Raises
        ------
        ValueError
            When the JSON describes a transform that is not a ``cls``.
        """
        obj = transform_from_config(json.loads(text))
        if not isinstance(obj, cls):
            raise ValueError(f"JSON describes a {type(obj).__name__}, not a {cls.__name__}")
        return obj

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Transform:
        """Build from :meth:`get_config`'s dict.

        Parameters
        ----------
        config : dict
            The constructor arguments (without ``"name"``).

        Returns
        -------
        Transform
            ``cls(**config)``.
        """
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_config() == other.to_config()

    __hash__ = None  # mutable configuration: unhashable, like a list
