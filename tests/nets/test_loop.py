"""nets.loop: epochs (fractional ones too), the time budget, divergence and the History record."""
import json
import math

import pytest
import torch

import nets
import nets.precision
from nets import MLP, DivergenceError, History, fit


def test_fractional_epochs_train_the_rounded_number_of_steps(digits_tabular):
    X, y = digits_tabular
    X, y = torch.as_tensor(X[:100]), torch.as_tensor(y[:100])
    seen = []
    model = nets.MLP((64,), 10, widths=(16,))
    original = nets.step.TrainStep.update

    def counting(self, loss):
        seen.append(self.steps_done)
        return original(self, loss)

    nets.step.TrainStep.update = counting
    try:
        history = nets.fit(model, (X, y), epochs=2.5, batch_size=32, verbose=0, generator=0)
    finally:
        nets.step.TrainStep.update = original
    assert len(seen) == round(2.5 * math.ceil(100 / 32)) == 10  # 4 + 4 + 2 steps
    assert len(history.loss) == 3  # the last epoch is cut short
    assert 0 <= history.acc[-1] <= 1


def test_divergence_error_names_the_epoch(digits):
    train, _ = digits
    with pytest.raises(DivergenceError, match="epoch 0") as info:
        fit(MLP((1, 8, 8), 10), train, lr=1e8, momentum=0.0, epochs=3, generator=0, verbose=0)
    assert info.value.epoch == 0 and isinstance(info.value, RuntimeError)


def test_history_round_trips_through_json(digits):
    train, val = digits
    seen = []
    history = fit(MLP((1, 8, 8), 10, widths=(16,)), (train[0][:200], train[1][:200]), (val[0][:100], val[1][:100]),
                  epochs=2, generator=0, verbose=0, on_epoch_end=lambda epoch, h: seen.append((epoch, len(h.loss))))
    assert seen == [(0, 1), (1, 2)]
    again = History.from_dict(json.loads(json.dumps(history.to_dict())))
    assert again == history


def test_time_budget_stops_after_the_epoch_that_exceeds_it(digits):
    train, _ = digits
    history = fit(MLP((1, 8, 8), 10, widths=(16,)), train, epochs=50, time_budget=1e-6, generator=0, verbose=0)
    assert len(history.loss) == 1 and history.stopped_epoch == 0
