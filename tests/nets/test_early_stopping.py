"""nets.early_stopping: the best snapshot, patience, min_delta, and fit's use of them."""
import copy

import numpy as np
import pytest
import torch

from nets import MLP, EarlyStopping, evaluate, fit


def test_early_stopping_restores_best_epoch(digits):
    (X, y), (Xv, yv) = digits
    torch.manual_seed(0)
    model = MLP((1, 8, 8), 10, widths=(256,), batch_norm=True)
    stopper = EarlyStopping(monitor="val_loss", patience=3)
    # 60 training images, no regularisation, Adam: fits the training set and overfits quickly
    history = fit(model, (X[:60], y[:60]), (Xv, yv), epochs=60, batch_size=20, optimizer="adam", lr=0.01,
                  early_stopping=stopper, generator=0, verbose=0)
    assert history.stopped_epoch is not None and history.stopped_epoch < 59
    assert history.best_epoch == stopper.best_epoch_ == int(np.argmin(history.val_loss))
    assert history.stopped_epoch == history.best_epoch + 3
    assert min(history.val_loss) < history.val_loss[-1]
    snapshot = stopper.best_state_  # the best epoch's weights are back; BatchNorm's statistics were
    for name, value in model.state_dict().items():  # then recomputed for them (Algorithm 2)
        if "running" not in name and "num_batches" not in name:
            torch.testing.assert_close(value, snapshot[name])
    as_recorded = copy.deepcopy(model)
    as_recorded.load_state_dict(snapshot)
    loss, acc = evaluate(as_recorded, Xv, yv)  # the snapshot alone reproduces the recorded figures
    assert loss == pytest.approx(history.val_loss[history.best_epoch], rel=1e-6)
    assert acc == pytest.approx(history.val_acc[history.best_epoch])


def test_early_stopping_on_accuracy_and_min_delta():
    stopper = EarlyStopping(monitor="val_acc", patience=2, min_delta=0.05)
    model = MLP((2,), 2)
    assert stopper.step(0, 0.50, model) is False and stopper.best_epoch_ == 0
    assert stopper.step(1, 0.53, model) is False  # +0.03 is not an improvement of more than min_delta
    assert stopper.step(2, 0.60, model) is False and stopper.best_epoch_ == 2 and stopper.wait_ == 0
    assert stopper.step(3, 0.55, model) is False
    assert stopper.step(4, 0.60, model) is True


def test_early_stopping_requires_val(digits):
    with pytest.raises(ValueError, match=r"early_stopping.*val"):
        fit(MLP((1, 8, 8), 10), digits[0], early_stopping=EarlyStopping(), verbose=0)
