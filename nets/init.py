"""Weight initialisation schemes and the lecture's activation-statistics experiment.

The variance rules, for a layer with ``fan_in`` inputs and ``fan_out`` outputs:

- ``"normal"``: W ~ N(0, std^2), a fixed scale that ignores the layer size;
- ``"xavier"``: Var(W) = 1 / fan_in keeps Var(output) = Var(input) for a linear/tanh unit
  (the lecture's derivation); ``mode="glorot"`` uses Glorot & Bengio's compromise
  Var(W) = 2 / (fan_in + fan_out) between the forward and backward passes;
- ``"he"``: Var(W) = 2 / fan_in compensates for ReLU zeroing half of its inputs.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from conventions import check_choice, check_int

InitSpec = str | tuple[str, dict[str, Any]] | None

SCHEMES = ("zero", "constant", "normal", "xavier", "he")
_ALLOWED_KWARGS = {
    "zero": set(),
    "constant": {"value"},
    "normal": {"std"},
    "xavier": {"mode", "distribution"},
    "he": {"distribution"},
}


def fan_in_and_out(weight: torch.Tensor) -> tuple[int, int]:
    """Return (fan_in, fan_out) of a Linear or Conv weight.

    For a convolution every output sees ``in_channels x kernel area`` inputs, so
    fan_in = in_channels * prod(kernel) and fan_out = out_channels * prod(kernel).

    Parameters
    ----------
    weight : torch.Tensor
        A Linear weight (out x in) or a Conv weight (out x in x k...).

    Returns
    -------
    (int, int)
        ``(fan_in, fan_out)``.
    """
    if weight.dim() < 2:
        raise ValueError(f"weight must have at least 2 dimensions, got shape {tuple(weight.shape)}")
    receptive_field = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive_field, weight.shape[0] * receptive_field


def _fill_with_variance(weight: torch.Tensor, var: float, distribution: str,
                        generator: torch.Generator | None) -> None:
    if distribution == "normal":
        weight.normal_(0.0, math.sqrt(var), generator=generator)
    elif distribution == "uniform":
        bound = math.sqrt(3.0 * var)  # Var(U[-a, a]) = a^2 / 3
        weight.uniform_(-bound, bound, generator=generator)
    else:
        raise ValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}")


def _init_weight(weight: torch.Tensor, scheme: str, kw: dict[str, Any],
                 generator: torch.Generator | None) -> None:
    fan_in, fan_out = fan_in_and_out(weight)
    if scheme == "zero":
        weight.zero_()
    elif scheme == "constant":
        weight.fill_(kw["value"])
    elif scheme == "normal":
        weight.normal_(0.0, kw.get("std", 0.01), generator=generator)
    elif scheme == "xavier":
        mode = kw.get("mode", "lecture")
        if mode == "lecture":
            var = 1.0 / fan_in  # Var(W) = 1 / fan_in
        elif mode == "glorot":
            var = 2.0 / (fan_in + fan_out)  # Var(W) = 2 / (fan_in + fan_out)
        else:
            raise ValueError(f"mode must be 'lecture' or 'glorot', got {mode!r}")
        _fill_with_variance(weight, var, kw.get("distribution", "normal"), generator)
    else:  # "he"
        _fill_with_variance(weight, 2.0 / fan_in, kw.get("distribution", "normal"), generator)  # Var(W) = 2 / fan_in


def _check_scheme(scheme: str, kw: dict[str, Any]) -> None:
    check_choice(scheme, "scheme", SCHEMES)
    unknown = set(kw) - _ALLOWED_KWARGS[scheme]
    if unknown:
        raise TypeError(f"init scheme {scheme!r} got unexpected keyword(s) {sorted(unknown)}; "
                        f"allowed: {sorted(_ALLOWED_KWARGS[scheme])}")
    if scheme == "constant" and "value" not in kw:
        raise TypeError("init scheme 'constant' needs value=<float>")
    if scheme == "normal" and kw.get("std", 0.01) < 0:
        raise ValueError(f"std must be >= 0, got {kw['std']!r}")


@torch.no_grad()
def init_weights(model: nn.Module, scheme: str, *, generator: torch.Generator | None = None,
                 **kw: Any) -> nn.Module:
    """Initialise every Linear and Conv weight of ``model`` in place; biases become zero.

    BatchNorm and other parameters are left untouched.

    Parameters
    ----------
    model : torch.nn.Module
        The module to initialise (its own weights and those of all sub-modules).
    scheme : {"zero", "constant", "normal", "xavier", "he"}
        "zero"; "constant" (``value``); "normal" (``std``, default 0.01); "xavier"
        (``mode="lecture"``: Var = 1/fan_in, or ``"glorot"``: Var = 2/(fan_in + fan_out);
        ``distribution="normal"`` or ``"uniform"``); "he" (Var = 2/fan_in; ``distribution``).
    generator : torch.Generator, optional
        For reproducible draws.
    **kw
        The scheme's options named above (``value``, ``std``, ``mode``, ``distribution``);
        any other is a TypeError.

    Returns
    -------
    torch.nn.Module
        ``model`` itself.
    """
    _check_scheme(scheme, kw)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
            _init_weight(module.weight, scheme, kw, generator)
            if module.bias is not None:
                module.bias.zero_()
    return model


def apply_init(model: nn.Module, init: InitSpec, generator: torch.Generator | None = None) -> nn.Module:
    """Apply an init spec: a scheme name, ``(name, kwargs)``, or None (keep torch's defaults)."""
    if init is None:
        return model
    if isinstance(init, str):
        return init_weights(model, init, generator=generator)
    if isinstance(init, tuple) and len(init) == 2 and isinstance(init[0], str) and isinstance(init[1], dict):
        return init_weights(model, init[0], generator=generator, **init[1])
    raise ValueError(f"init must be a scheme name, (name, kwargs) or None, got {init!r}")


_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}


@torch.no_grad()
def activation_stats(depth: int = 10, width: int = 500, activation: str = "tanh",
                     init: InitSpec = "xavier", n: int = 1000, seed: int = 0,
                     bins: int = 50, hist_range: tuple[float, float] | None = None) -> dict[str, Any]:
    """Run the lecture's experiment: unit-Gaussian inputs through ``depth`` bias-free Linear layers.

    X ~ N(0, 1) of shape n x width feeds ``depth`` layers ``a_l = f(W_l a_{l-1})`` with
    W_l of shape width x width initialised by ``init``.

    Parameters
    ----------
    depth : int
        The layers, >= 1.
    width : int
        Units per layer (and input features), >= 1.
    activation : {"tanh", "relu"}
        The nonlinearity f.
    init : str, (str, dict) or None
        The weights' scheme (:func:`init_weights`); None keeps torch's defaults.
    n : int
        The input rows, >= 1.
    seed : int
        Seeds the weights and the inputs.
    bins : int
        Histogram bins, >= 1.
    hist_range : (float, float), optional
        One range for all layers' histograms, as on the lecture's slides, so a collapse to 0
        shows as a single spike; default (-1, 1) for tanh and (0, largest activation) for ReLU.

    Returns
    -------
    dict
        Per-layer lists (index 0 = first hidden layer): ``"mean"``, ``"std"``: the float mean
        and standard deviation of the activations a_l; ``"counts"``, ``"edges"``:
        ``np.histogram(a_l, bins, hist_range)`` (int64 ``bins``, float64 ``bins + 1``);
        ``"saturated"``: the fraction of activations with ``|a| > 0.99`` (tanh saturation).
    """
    check_choice(activation, "activation", tuple(_ACTIVATIONS))
    for name, value in (("depth", depth), ("width", width), ("n", n), ("bins", bins)):
        check_int(value, name, minimum=1)
    generator = torch.Generator().manual_seed(seed)
    layers = nn.Sequential(*[nn.Linear(width, width, bias=False) for _ in range(depth)])
    apply_init(layers, init, generator=generator)
    f = _ACTIVATIONS[activation]
    a = torch.randn(n, width, generator=generator)
    activations = []
    for layer in layers:
        a = f(layer(a))  # a_l = f(W_l a_{l-1})
        activations.append(a.double().numpy().ravel())
    if hist_range is None:
        hist_range = (-1.0, 1.0) if activation == "tanh" else (0.0, max(float(v.max()) for v in activations) or 1.0)
    stats: dict[str, list] = {"mean": [], "std": [], "counts": [], "edges": [], "saturated": []}
    for values in activations:
        counts, edges = np.histogram(values, bins=bins, range=hist_range)
        stats["mean"].append(float(values.mean()))
        stats["std"].append(float(values.std()))
        stats["counts"].append(counts)
        stats["edges"].append(edges)
        stats["saturated"].append(float(np.mean(np.abs(values) > 0.99)))
    return stats
