"""ensemble: bootstrap-bagged torch networks, trained in parallel, voting with test-time augmentation.

The public names load on first use (PEP 562), so that a joblib/dask worker unpickling a task
from :mod:`ensemble.engine.orchestration` imports torch and :mod:`nets` only, not scikit-learn and
the estimator: every worker process starts seconds sooner.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__all__ = ["BaggedNetClassifier", "FitInterrupted", "MemberFailedError", "ErrorDecomposition",
           "error_decomposition", "vote", "metrics", "apply_temperature", "ensemble_logits", "fit_temperature",
           "fit_temperature_law", "TemperatureLaw", "robustness_scores"]

_HOME = {"BaggedNetClassifier": "bagging", "FitInterrupted": "failures", "MemberFailedError": "failures",
         "ErrorDecomposition": "diagnostics", "error_decomposition": "diagnostics", "vote": "voting",
         "apply_temperature": "calibration", "ensemble_logits": "calibration", "fit_temperature": "calibration",
         "fit_temperature_law": "calibration", "TemperatureLaw": "calibration", "robustness_scores": "robustness"}
# Submodules that are part of the public API as a whole (``ensemble.metrics.nll``).
_SUBMODULES = ("metrics",)

if TYPE_CHECKING:  # pragma: no cover
    from . import metrics
    from .bagging import BaggedNetClassifier
    from .calibration import TemperatureLaw, apply_temperature, ensemble_logits, fit_temperature, fit_temperature_law
    from .diagnostics import ErrorDecomposition, error_decomposition
    from .failures import FitInterrupted, MemberFailedError
    from .robustness import robustness_scores
    from .voting import vote


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name not in _HOME:
        raise AttributeError(f"module 'ensemble' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
