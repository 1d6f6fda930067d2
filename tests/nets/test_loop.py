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


def test_drop_last_trains_full_batches_only_and_each_epoch_leaves_out_other_rows():
    X, y = torch.arange(100, dtype=torch.float32)[:, None], torch.arange(100) % 2
    batches = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(1, 2)

        def forward(self, x):
            if self.training:
                batches.append(x[:, 0].long().tolist())
            return self.linear(x)

    fit(Recorder(), (X, y), epochs=3, batch_size=32, drop_last=True, verbose=0, generator=0)
    assert [len(b) for b in batches] == [32] * 9  # 100 // 32 = 3 steps per epoch, no batch of 4
    epochs = [sorted(row for batch in batches[3 * e:3 * e + 3] for row in batch) for e in range(3)]
    assert all(len(set(rows)) == 96 for rows in epochs) and len({tuple(rows) for rows in epochs}) > 1
    batches.clear()
    fit(Recorder(), (X[:20], y[:20]), epochs=1, batch_size=32, drop_last=True, verbose=0, generator=0)
    assert [len(b) for b in batches] == [20]  # fewer rows than a batch: the one short batch
