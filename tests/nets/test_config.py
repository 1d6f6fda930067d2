"""nets.config.TrainConfig: every option, its default and its check in one place."""
import dataclasses
import math

import pytest
import torch

from nets import MLP, TrainConfig, fit


def test_defaults_and_replace():
    config = TrainConfig()
    assert (config.epochs, config.batch_size, config.lr, config.momentum, config.optimizer) == (10, 128, 0.05, 0.9, "sgd")
    assert config.channels_last and config.precision == "float32" and config.device == torch.device("cpu")
    other = dataclasses.replace(config, lr=0.1, normalize=([0.5, 0.4, 0.3], 0.25))
    assert other.lr == 0.1 and config.lr == 0.05
    assert other.normalize == ((0.5, 0.4, 0.3), (0.25,))  # stored as tuples of floats
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0


@pytest.mark.parametrize("option, value, error, message", [
    ("epochs", 0, ValueError, "epochs must be a finite number > 0, got 0"),
    ("norm_lr_scale", 0.0, ValueError, "norm_lr_scale must be a finite number > 0, got 0.0"),
    ("lookahead", 2, ValueError, "lookahead must be True or False, got 2"),
    ("drop_last", 2, ValueError, "drop_last must be True or False, got 2"),
    ("decay_all", "yes", ValueError, "decay_all must be True or False, got 'yes'"),
    ("lr_schedule", "triangle", ValueError, "lr_schedule must be one of"),
    ("batch_size", 2.5, ValueError, "batch_size must be an int, got 2.5"),
    ("lr", float("nan"), ValueError, "lr must be a finite number >= 0, got nan"),
    ("momentum", -0.5, ValueError, "momentum must be a finite number >= 0"),
    ("weight_decay", "0.1", ValueError, "weight_decay must be a finite number >= 0"),
    ("l1", -1e-3, ValueError, "l1 must be a finite number >= 0"),
    ("label_smoothing", 1.0, ValueError, r"label_smoothing must be a number in \[0, 1\), got 1.0"),
    ("optimizer", "rmsprop", ValueError, "optimizer must be one of"),
    ("lr_schedule", "step", ValueError, "lr_schedule must be one of"),
    ("precision", "float16", ValueError, "precision must be one of"),
    ("channels_last", "no", ValueError, "channels_last must be True or False, got 'no'"),
    ("time_budget", 0, ValueError, "time_budget must be a finite number > 0, got 0"),
    ("normalize", (0.5, 0.0), ValueError, "normalize needs finite means and finite stds > 0"),
    ("normalize", "red", ValueError, "normalize must be None or"),
    ("augment", 3, TypeError, "augment must be a callable or None"),
    ("device", "gpu9", ValueError, "device must name a torch device"),
    ("verbose", -1, ValueError, "verbose must be an int >= 0"),
])
def test_bad_options_are_named(option, value, error, message):
    with pytest.raises(error, match=message):
        TrainConfig(**{option: value})


def test_fit_builds_its_config_from_keywords():
    X, y = torch.rand(16, 4), torch.arange(16) % 2
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['learning_rate'\].*fields of nets.TrainConfig"):
        fit(MLP((4,), 2), (X, y), learning_rate=0.1)
    base = TrainConfig(epochs=2, lr=0.0, verbose=0)
    history = fit(MLP((4,), 2), (X, y), config=base, epochs=3)  # keywords override the config's fields
    assert len(history.loss) == 3
    with pytest.raises(TypeError, match=r"config must be a nets\.TrainConfig"):
        fit(MLP((4,), 2), (X, y), config={"epochs": 1})


@pytest.mark.parametrize("kwargs,match", [
    ({"lr": -0.1}, "lr"),
    ({"weight_decay": -1.0}, "weight_decay"),
    ({"l1": -1e-3}, "l1"),
    ({"lr": math.nan}, "lr"),
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"lr_schedule": "step"}, "lr_schedule"),
    ({"time_budget": 0}, "time_budget"),
    ({"label_smoothing": 1.0}, "label_smoothing"),
    ({"label_smoothing": -0.1}, "label_smoothing"),
    ({"precision": "float16"}, "precision"),
])
def test_bad_hyperparameters(kwargs, match):
    X, y = torch.rand(8, 4), torch.arange(8) % 2
    with pytest.raises(ValueError, match=match):
        fit(MLP((4,), 2), (X, y), verbose=0, **kwargs)
