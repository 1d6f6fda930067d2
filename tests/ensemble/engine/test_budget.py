"""ensemble.engine.budget: the timing probe and the epochs that fit a time budget."""
import dataclasses
import math
import time

import numpy as np
import pytest
import torch

import nets
from ensemble import BaggedNetClassifier
from ensemble.engine import budget as B
from ensemble.engine.members import TrainSetup
from ensemble.engine.orchestration import Run, train
from ensemble.engine.plans import MemberPlan
from ensemble.engine.sources import ArraySource
from ensemble.inputs import as_image_array
from tests._references import FakeClock, TimedMember


def tiny_cnn(input_shape, n_classes):
    return nets.SmallCNN(input_shape=input_shape, n_classes=n_classes, widths=(8, 16))


def test_size_epochs_fills_the_budget_after_the_fixed_costs():
    probe = B.Probe(step_seconds=0.5, inference_seconds_per_image=0.001, init_seconds=2.0)
    plan = B.size_epochs(1000.0, probe, train_rows=1000, batch_size=100, members=4, workers=2,
                         validation_rows=200, heldout_views=5000, max_epochs=100)
    statistics = 0.001 * min(1000, 32 * 100)  # BatchNorm statistics over at most 32 batches of rows
    after = 0.001 * 5000 * 4  # every member's held-out views, once all are trained
    per_member = (1000 - after) / 2 - 2.0 - statistics  # two waves of two members
    per_epoch = 0.5 * 10 + 0.001 * 200
    assert plan["epochs"] == pytest.approx(per_member / per_epoch, abs=0.01)
    assert (plan["waves"], plan["statistics_seconds"], plan["after_seconds"]) == (2, statistics, after)
    assert B.size_epochs(1e6, probe, train_rows=1000, batch_size=100, members=1, workers=1, validation_rows=0,
                         heldout_views=0, max_epochs=7)["epochs"] == 7  # capped by epochs
    with pytest.raises(ValueError, match="does not cover a tenth of an epoch"):
        B.size_epochs(5.0, probe, train_rows=1000, batch_size=100, members=4, workers=1, validation_rows=0,
                      heldout_views=0, max_epochs=10)


def test_time_budget_gives_the_members_a_first_plan_and_the_fits_deadline(digits_images, monkeypatch):
    images, y = digits_images
    probe = B.Probe(step_seconds=0.01, inference_seconds_per_image=1e-5, init_seconds=0.0)
    seen = {}

    def fake_probe(setup, X, y, threads, clock):
        seen["threads"], seen["batch_size"] = threads, setup.config.batch_size
        return probe

    def without_deadline(todo, source, setup, run):  # trains the first plan: nothing depends on the clock
        seen["deadline"] = setup.deadline
        return train(todo, source, dataclasses.replace(setup, deadline=None), run)

    monkeypatch.setattr("ensemble.engine.budget.probe_speed", fake_probe)
    monkeypatch.setattr("ensemble.bagging.train", without_deadline)
    clf = BaggedNetClassifier(member=tiny_cnn, n_members=2, epochs=50, batch_size=64, bootstrap=False,
                              early_stopping=False, time_budget=1.0, random_state=0, verbose=0, n_jobs=1)
    before = time.perf_counter()
    clf.fit(images[:640], y[:640])
    steps = math.ceil(640 / 64)
    assert 0 < clf.epochs_ < 50 and seen["batch_size"] == 64
    # two members one after another: each gets under half of the budget
    assert clf.epochs_ * steps * probe.step_seconds < 1.0 / 2
    for history in clf.histories_:
        assert len(history["loss"]) == math.ceil(clf.epochs_ - 1e-9)
    deadline = seen["deadline"]
    assert before <= deadline.end - 1.0 <= time.perf_counter()  # fit's start + time_budget
    assert (deadline.runs_left, deadline.max_epochs, deadline.step_seconds) == (2, 50, 0.01)
    assert deadline.run_after == clf.budget_plan_["statistics_seconds"] > 0


@pytest.mark.parametrize("engine", ["loop", "vmap"])
@pytest.mark.parametrize("speed", [1.0, 2.0, 0.5])
def test_members_keep_the_fits_budget_whatever_the_speed(engine, speed):
    """Two members on the fake clock (1 s per step, 0.01 s per image predicted), which changes
    speed after 300 steps: one after another (loop) or stacked (vmap), their training and the
    held-out predictions after it end within 3% of the budget."""
    clock, budget, rows = FakeClock(change_at=300, speed=speed), 2000.0, 320
    probe = B.Probe(step_seconds=1.0, inference_seconds_per_image=0.01, init_seconds=0.0)
    plan = B.size_epochs(budget, probe, train_rows=rows, batch_size=32, members=2,
                         workers=2 if engine == "vmap" else 1, validation_rows=0, heldout_views=100, max_epochs=1000)
    made = []

    def member(input_shape, n_classes):
        made.append(TimedMember(clock, input_shape, n_classes))
        return made[-1]

    setup = TrainSetup(factory=member, input_shape=(5,), n_classes=3, early_stopping=False, patience=1,
                       config=nets.TrainConfig(epochs=plan["epochs"], batch_size=32, verbose=0),
                       deadline=B.deadline(plan, budget, max_epochs=1000, clock=clock))
    g = np.random.default_rng(0)
    X, y = g.normal(size=(rows, 5)).astype(np.float32), np.arange(rows) % 3
    plans = [MemberPlan(i, i, np.arange(rows), np.arange(0)) for i in range(2)]
    outcomes = train(plans, ArraySource(X, y), setup, Run(engine=engine, devices=("cpu",), n_jobs=1, n_members=2))
    clock.spend(plan["after_seconds"])  # the held-out predictions
    assert abs(clock() - budget) <= 0.03 * budget
    assert sorted(outcomes) == [0, 1] and all(o.record is not None for o in outcomes.values())
    if engine == "loop" and speed == 1.0:  # one after another, the two members share the time equally
        assert abs(made[0].trained - made[1].trained) <= 0.02 * made[0].trained


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
