"""nets.pacing: a run keeps its deadline by re-planning its steps, on a fake clock that the model
advances (a set number of seconds per training step and per image predicted), so nothing here
depends on the speed of the machine running the tests."""
import itertools
import math

import pytest
import torch

import nets
from nets import MLP, Deadline
from nets.step import TRIANGLE, TrainStep, lr_factor
from tests._references import FakeClock, TimedMember

STEP_SECONDS = 1.0
IMAGE_SECONDS = 0.01
ROWS, BATCH = 320, 32  # 10 steps per epoch
BUDGET = 1000.0
STATISTICS = IMAGE_SECONDS * ROWS  # BatchNorm's population statistics: one pass over the rows


def data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(ROWS, 5, generator=g), torch.arange(ROWS) % 3


def budgeted_fit(clock: FakeClock, runs_left: int = 1, epochs: float = 20, **options):
    """fit towards a deadline BUDGET seconds from now whose probe was right at the start; returns
    the model, its TrainStep and the progress before every step."""
    steps, progress = [], []
    original = TrainStep.update

    def recording(self, loss):
        if not steps:
            steps.append(self)
        progress.append(self.progress())
        return original(self, loss)

    deadline = Deadline(end=clock() + BUDGET, run_after=STATISTICS, runs_left=runs_left, step_seconds=STEP_SECONDS,
                        clock=clock)
    model = TimedMember(clock, step_seconds=STEP_SECONDS, image_seconds=IMAGE_SECONDS)
    TrainStep.update = recording
    try:
        nets.fit(model, data(), epochs=epochs, batch_size=BATCH, lr=0.1, verbose=0, generator=0, pace=deadline,
                 **options)
    finally:
        TrainStep.update = original
    return model, steps[0], progress


def test_at_a_constant_speed_the_run_ends_on_its_deadline_with_the_planned_steps():
    clock = FakeClock()
    _, step, _ = budgeted_fit(clock, epochs=20)  # a first plan of 200 steps: far too few
    planned = math.floor((BUDGET - STATISTICS) / STEP_SECONDS)
    assert clock.steps == step.steps_done == step.total_steps == planned
    assert abs(clock() - BUDGET) <= 0.03 * BUDGET and clock() <= BUDGET


@pytest.mark.parametrize("speed", [2.0, 0.5])
def test_a_machine_that_slows_down_or_speeds_up_mid_run_still_ends_on_time(speed):
    clock = FakeClock(change_at=300, speed=speed)
    _, step, _ = budgeted_fit(clock, epochs=100)  # a first plan of 1000 steps
    at_constant_speed = math.floor((BUDGET - STATISTICS) / STEP_SECONDS)
    expected = 300 + (BUDGET - 300 - speed * STATISTICS) / (speed * STEP_SECONDS)
    assert abs(clock() - BUDGET) <= 0.03 * BUDGET
    assert (step.steps_done < at_constant_speed) if speed > 1 else (step.steps_done > at_constant_speed)
    assert step.steps_done == pytest.approx(expected, abs=2 * speed)


def test_max_epochs_caps_a_fast_machine():
    clock = FakeClock()
    deadline = Deadline(end=BUDGET, step_seconds=STEP_SECONDS, max_epochs=30, clock=clock)
    nets.fit(TimedMember(clock), data(), epochs=10, batch_size=BATCH, verbose=0, generator=0, pace=deadline)
    assert clock.steps == 300


def test_runs_one_after_another_share_the_deadline_equally():
    clock = FakeClock()
    _, first, _ = budgeted_fit(clock, runs_left=2)
    end = BUDGET  # the second run's deadline is the first one's: the same end of the whole job
    deadline = Deadline(end=end, run_after=STATISTICS, runs_left=1, step_seconds=STEP_SECONDS, clock=clock)
    nets.fit(TimedMember(clock), data(), epochs=20, batch_size=BATCH, verbose=0, generator=0, pace=deadline)
    assert abs(clock() - BUDGET) <= 0.03 * BUDGET
    assert abs(first.steps_done - (clock.steps - first.steps_done)) <= 2


@pytest.mark.parametrize("speed", [2.0, 0.5])
def test_the_lr_schedule_stays_continuous_across_re_plans_and_ends_at_its_final_value(speed):
    clock = FakeClock(change_at=300, speed=speed)
    _, step, progress = budgeted_fit(clock, epochs=100, lr_schedule="triangular", lookahead=True)
    lrs = [lr_factor("triangular", p, 1) for p in progress]
    (_, f0), (t1, f1), (_, f2) = TRIANGLE
    slope = max((f1 - f0) / t1, (f1 - f2) / (1 - t1))  # the schedule's steepest change per unit of progress
    increments = [b - a for a, b in itertools.pairwise(progress)]
    assert min(increments) > 0 and max(increments) <= 2 / len(progress)  # no jump: one step's progress at most
    assert all(abs(b - a) <= slope * d + 1e-12 for a, b, d in zip(lrs, lrs[1:], increments))
    assert step.progress() == pytest.approx(1.0)
    assert lrs[-1] == pytest.approx(f2, abs=slope * increments[-1] + 1e-9)
    for weight, average in zip(step.lookahead.tensors, step.lookahead.average):  # the look-ahead settled
        torch.testing.assert_close(weight, average, rtol=0, atol=0)


def test_resume_after_a_re_plan_continues_the_same_horizon():
    X, y = data()
    torch.manual_seed(0)
    model = MLP((5,), 3, widths=(4,))
    again = MLP((5,), 3, widths=(4,))

    def new_step(net):
        config = nets.TrainConfig(lr=0.1, lr_schedule="cosine", lookahead=True, verbose=0)
        groups = nets.loop.SingleModel(net, torch.contiguous_format).parameter_groups()
        return TrainStep(config, lambda x: net(x).unsqueeze(0), *groups, 1, 3, 100, "float32", torch.contiguous_format)

    step = new_step(model)
    for _ in range(40):
        step(X[:32], y[None, :32])
    step.replan(70)
    for _ in range(5):
        step(X[:32], y[None, :32])
    again.load_state_dict(model.state_dict())
    resumed = new_step(again)  # built with the first horizon, as a resumed run builds it
    resumed.load_state_dict({k: v.clone() for k, v in step.state_dict().items()})
    assert (resumed.total_steps, resumed.replanned_at, resumed.progress()) == (70, step.replanned_at, step.progress())
    for _ in range(25):
        step(X[:32], y[None, :32])
        resumed(X[:32], y[None, :32])
    assert resumed.progress() == step.progress() == pytest.approx(1.0)
    for a, b in zip(model.parameters(), again.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_replan_refuses_a_horizon_already_reached():
    model = MLP((5,), 3, widths=(4,))
    groups = nets.loop.SingleModel(model, torch.contiguous_format).parameter_groups()
    step = TrainStep(nets.TrainConfig(verbose=0), lambda x: model(x).unsqueeze(0), *groups, 1, 3, 10, "float32",
                     torch.contiguous_format)
    step.skip()
    with pytest.raises(ValueError, match="total_steps must exceed the 1 steps done"):
        step.replan(1)
