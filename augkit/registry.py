"""The JSON registry: every transform class by its name, so that a config turns back into a transform.

A transform's JSON is ``{"name": class name, **constructor arguments}``; :func:`transform_from_config`
looks the name up here. Every subclass of :class:`augkit.Transform` whose name does not start
with ``_`` registers itself when its class is defined (built-in and user-defined alike).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from .transforms.base import Transform

_REGISTRY: dict[str, type[Transform]] = {}


def register(cls: type[Transform]) -> None:
    """Register ``cls`` under its class name.

    A name already held by another class is refused (rename the new one) rather than silently
    replacing it for ``from_json``; the same class defined again (a module re-imported: the same
    module and qualified name) replaces its former self.

    Raises
    ------
    TypeError
        The name is registered by another class.
    """
    known = _REGISTRY.get(cls.__name__)
    if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
        raise TypeError(f"a transform named {cls.__name__!r} is already registered by "
                        f"{known.__module__}.{known.__qualname__}; from_json finds transforms by class "
                        f"name, so rename {cls.__module__}.{cls.__qualname__}")
    _REGISTRY[cls.__name__] = cls


def registered() -> dict[str, type[Transform]]:
    """Every registered transform (built-in and user-defined).

    Returns
    -------
    dict
        Class name -> class, the names ``from_json`` resolves.
    """
    return dict(_REGISTRY)


def transform_from_config(config: dict[str, Any]) -> Transform:
    """Build any registered transform from its configuration.

    Parameters
    ----------
    config : dict
        ``{"name": class name, **constructor arguments}`` (:meth:`augkit.Transform.to_config`).

    Returns
    -------
    Transform
        The transform.

    Raises
    ------
    ValueError
        When ``config`` has no ``"name"`` or names no registered transform.
    """
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"a transform config must be a dict with a 'name', got {config!r}")
    config = dict(config)
    name = config.pop("name")
    if name not in _REGISTRY:
        raise ValueError(f"unknown transform name {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name].from_config(config)


def jsonable(value: Any) -> Any:
    """A constructor argument as JSON data.

    Parameters
    ----------
    value : object
        A constructor argument.

    Returns
    -------
    object
        ``value``, with tuples and tensors turned into (nested) lists.
    """
    if isinstance(value, tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return value
