"""ensemble.engine.budget: the timing probe and the epochs that fit a time budget."""
import math

import numpy as np
import pytest
import torch

import nets
from ensemble import BaggedNetClassifier
from ensemble.engine import budget as B
from ensemble.engine.members import TrainSetup
from ensemble.inputs import as_image_array


def tiny_cnn(input_shape, n_classes):
    return nets.SmallCNN(input_shape=input_shape, n_classes=n_classes, widths=(8, 16))


def test_size_epochs_fills_the_budget_after_the_fixed_costs():
    probe = B.Probe(step_seconds=0.5, inference_seconds_per_image=0.001, init_seconds=2.0)
    epochs = B.size_epochs(1000.0, probe, train_rows=1000, batch_size=100, members=4, workers=2,
                           validation_rows=200, heldout_views=5000, max_epochs=100)["epochs"]
    per_member = 1000 * B.SAFETY / 2  # two waves of two members
    fixed = 2.0 + 0.001 * (min(1000, 32 * 100) + 5000)  # BatchNorm statistics over at most every row
    per_epoch = 0.5 * 10 + 0.001 * 200
    assert epochs == pytest.approx((per_member - fixed) / per_epoch, abs=0.01)
    assert B.size_epochs(1e6, probe, train_rows=1000, batch_size=100, members=1, workers=1, validation_rows=0,
                         heldout_views=0, max_epochs=7)["epochs"] == 7  # capped by epochs
    with pytest.raises(ValueError, match="does not cover a tenth of an epoch"):
        B.size_epochs(5.0, probe, train_rows=1000, batch_size=100, members=4, workers=1, validation_rows=0,
                      heldout_views=0, max_epochs=10)


def test_time_budget_sizes_the_members_epochs(digits_images, monkeypatch):
    images, y = digits_images
    probe = B.Probe(step_seconds=0.01, inference_seconds_per_image=1e-5, init_seconds=0.0)
    seen = {}

    def fake_probe(setup, X, y, threads):
        seen["threads"], seen["batch_size"] = threads, setup.config.batch_size
        return probe

    monkeypatch.setattr("ensemble.engine.budget.probe_speed", fake_probe)
    clf = BaggedNetClassifier(member=tiny_cnn, n_members=2, epochs=50, batch_size=64, bootstrap=False,
                              early_stopping=False, time_budget=1.0, random_state=0, verbose=0, n_jobs=1)
    clf.fit(images[:640], y[:640])
    steps = math.ceil(640 / 64)
    assert 0 < clf.epochs_ < 50 and seen["batch_size"] == 64
    # two members one after another: each gets under half of the (safety-discounted) budget
    assert clf.epochs_ * steps * probe.step_seconds < B.SAFETY * 1.0 / 2
    for history in clf.histories_:
        assert len(history["loss"]) == math.ceil(clf.epochs_ - 1e-9)


def test_a_real_timing_probe_measures_positive_costs(digits_images):
    images, y = digits_images
    X, _ = as_image_array(images[:256])
    setup = TrainSetup(factory=tiny_cnn, input_shape=X.shape[1:], n_classes=10, early_stopping=True, patience=5,
                       config=nets.TrainConfig(epochs=1, normalize=((0.5,), (0.25,)), verbose=0))
    probe = B.probe_speed(setup, X, y[:256].astype(np.int64), threads=1, steps=2, warmup=1)
    assert probe.step_seconds > 0 and probe.inference_seconds_per_image > 0 and probe.init_seconds >= 0
    assert torch.get_num_threads() >= 1
    with pytest.raises(ValueError, match="resume=True cannot be combined with time_budget"):
        BaggedNetClassifier(time_budget=10.0).fit(images[:50], y[:50], checkpoint_dir="x", resume=True)
