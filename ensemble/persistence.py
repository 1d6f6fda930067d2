"""Saving and loading a fitted ensemble as plain data: JSON + safetensors, no pickle anywhere.

The folder holds ``ensemble.json`` (settings, classes, input statistics, the member factory,
the augmentation pipeline as augkit JSON, the list of member files) and one
``member_NNN.safetensors`` / ``member_NNN.json`` pair per member (:mod:`ensemble.engine.storage`).
Loading parses JSON and safetensors only; member files are named, never given as paths, and
must lie in the folder, so a saved file cannot make the loader run code.

Any member factory saves. A ``nets`` model (or a ``functools.partial`` of one with JSON keyword
arguments) is saved by name and looked up in :mod:`nets` again on loading. Any other factory
is saved by its qualified name for information only, never imported from the file: loading
it needs the factory itself, ``load(path, member=my_factory)``, and says so, naming it.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

import augkit
import nets

from .engine.storage import (
    MemberRecord,
    UnsafeFileError,
    checked_file,
    load_member,
    member_stem,
    qualified_name,
    read_json,
    save_member,
    write_json_atomic,
)
from .inputs import InputSpec
from .settings import set_members

__all__ = ["save_ensemble", "load_ensemble"]

FORMAT = "augkit-ensemble"
VERSION = 1
_CONFIG = "ensemble.json"
# What fit learns beyond the members, saved as JSON values: the TTA chosen by tta="auto" and its
# held-out scores, the temperature of calibration and its law, the epochs sized by time_budget.
_LEARNED = ("tta_", "tta_scores_", "temperature_", "temperature_law_", "epochs_", "budget_plan_")
# The member factory and the augmentation are stored separately; every other setting as JSON.
_SEPARATE = ("member", "augment")


def _plain_params(cls) -> list[str]:
    return [name for name in cls().get_params(deep=False) if name not in _SEPARATE]


def _factory_spec(member) -> dict | None:
    """How the member factory is saved: a nets model by name and JSON keyword arguments
    (loadable), anything else by its qualified name (information only)."""
    if member is None:
        return None
    func, kwargs = member, {}
    if isinstance(member, functools.partial) and not member.args:
        func, kwargs = member.func, dict(member.keywords)
    name = getattr(func, "__name__", None)
    if name is not None and getattr(nets, name, None) is func:
        try:
            json.dumps(kwargs)
            return {"name": name, "kwargs": kwargs}
        except TypeError:  # arguments that are not JSON values: not rebuildable from the file
            pass
    return {"name": None, "qualified_name": qualified_name(member)}


def _factory_from_spec(spec: dict | None):
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise UnsafeFileError(f"the member factory in {_CONFIG} must be a JSON object")
    name = spec.get("name")
    if name is None:
        qualified = spec.get("qualified_name")
        if not isinstance(qualified, str):
            raise UnsafeFileError(f"the member factory in {_CONFIG} has neither a nets name nor a qualified name")
        raise ValueError(f"this ensemble's members were built by {qualified}, which is not a nets model, so the "
                         "folder cannot rebuild them on its own: pass that factory, "
                         "BaggedNetClassifier.load(path, member=...)")
    if name not in getattr(nets, "__all__", ()) or not isinstance(getattr(nets, name), type):
        raise UnsafeFileError(f"member factory {name!r} in {_CONFIG} is not a nets model; pass member=... to load()")
    kwargs = spec.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise UnsafeFileError(f"member factory arguments in {_CONFIG} must be a JSON object")
    factory = getattr(nets, name)
    return functools.partial(factory, **kwargs) if kwargs else factory


def save_ensemble(estimator, folder: Path) -> None:
    """Write ``estimator`` (fitted) into ``folder``; existing files of the same names are replaced.

    Every parameter but the member factory and the augmentation is saved as JSON (so new
    parameters are saved without a change here); the factory as :func:`_factory_spec` says.
    """
    check_is_fitted(estimator, "estimators_")
    if callable(estimator.tta):
        raise ValueError("cannot save an ensemble whose tta is a callable; set tta to a named mode first")
    folder.mkdir(parents=True, exist_ok=True)
    augment = estimator.augment
    if augment is not None and not hasattr(augment, "to_json"):
        raise ValueError(f"cannot save augment={augment!r}: it has no to_json()")
    names = []
    for model, index, seed, train, val, history in zip(
            estimator.estimators_, estimator.member_indices_, estimator.member_seeds_,
            estimator.bootstrap_indices_, estimator.oob_indices_, estimator.histories_):
        save_member(folder, MemberRecord(index=index, seed=seed, state=model.state_dict(), train_indices=train,
                                         val_indices=val, history=history))
        names.append(f"{member_stem(index)}.json")
    params = {k: getattr(estimator, k) for k in _plain_params(type(estimator))}
    if not isinstance(params["random_state"], (int, type(None))):
        params["random_state"] = None
    classes = estimator.classes_
    config = {
        "format": FORMAT,
        "version": VERSION,
        "params": params,
        "member": _factory_spec(estimator.member),
        "augment": augment.to_json() if augment is not None else None,
        "classes": classes.tolist(),
        "classes_dtype": classes.dtype.str,
        "input_spec": estimator.input_spec_.to_dict(),
        "input_mean": np.asarray(estimator.input_mean_).tolist(),
        "input_scale": np.asarray(estimator.input_scale_).tolist(),
        "n_features_in": int(estimator.n_features_in_),
        "oob_score": getattr(estimator, "oob_score_", None),
        "learned": {name: getattr(estimator, name) for name in _LEARNED if hasattr(estimator, name)},
        "members": names,
    }
    write_json_atomic(folder / _CONFIG, config)


def load_ensemble(cls, folder: Path, member=None, device: str | None = None):
    """Read an ensemble written by :func:`save_ensemble`.

    Parameters
    ----------
    folder : Path
        The saved folder.
    member : callable, optional
        The member factory: required when the saved one is not a nets model (the error names
        it); when given, it is used instead of the saved one.
    device : str, optional
        Put the members on this device instead of the saved one.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"no saved ensemble at {folder}")
    config = read_json(checked_file(folder, _CONFIG))
    if config.get("format") != FORMAT or config.get("version") != VERSION:
        raise UnsafeFileError(f"{folder / _CONFIG} is not an augkit ensemble (format {config.get('format')!r}, "
                              f"version {config.get('version')!r})")
    params = config.get("params")
    if isinstance(params, dict) and "vectorize" in params:  # saved before engine= took vectorize='s values
        strategy = params.pop("vectorize")
        if params.get("engine") == "vectorized":
            params["engine"] = strategy
    unexpected = sorted(set(params) - set(_plain_params(cls))) if isinstance(params, dict) else ["(not an object)"]
    if unexpected:
        raise UnsafeFileError(f"{folder / _CONFIG} has unexpected settings: {unexpected}")
    if device is not None:
        params["device"] = device
    factory = member if member is not None else _factory_from_spec(config.get("member"))
    augment = augkit.Transform.from_json(config["augment"]) if config.get("augment") else None  # any transform
    estimator = cls(member=factory, augment=augment, **params)
    estimator.classes_ = np.asarray(config["classes"], dtype=np.dtype(config["classes_dtype"]))
    estimator.input_spec_ = InputSpec.from_dict(config["input_spec"])
    estimator.input_mean_ = np.asarray(config["input_mean"], dtype=np.float64)
    estimator.input_scale_ = np.asarray(config["input_scale"], dtype=np.float64)
    estimator.n_features_in_ = int(config["n_features_in"])
    if config.get("oob_score") is not None:
        estimator.oob_score_ = float(config["oob_score"])
    learned = config.get("learned", {})
    if not isinstance(learned, dict) or set(learned) - set(_LEARNED):
        raise UnsafeFileError(f"{folder / _CONFIG} has unexpected learned attributes: {learned!r}")
    for name, value in learned.items():
        setattr(estimator, name, value)
    names = config.get("members")
    if not isinstance(names, list) or not names:
        raise UnsafeFileError(f"{folder / _CONFIG} lists no member files")
    records = [load_member(folder, name) for name in names]
    set_members(estimator, records)
    return estimator
