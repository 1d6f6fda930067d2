"""nets.train: fit, predict_logits and evaluate; generators; bad data."""
import math

import numpy as np
import pytest
import torch

from nets import MLP, evaluate, fit, predict_logits, set_dropout_seed


def test_mlp_learns_digits_from_uint8_images(digits):
    train, val = digits
    model = MLP((1, 8, 8), 10, widths=(128,))
    history = fit(model, train, val, epochs=5, batch_size=64, lr=0.05, generator=0, verbose=0)
    assert history.val_acc[-1] > 0.9
    assert len(history.loss) == len(history.val_loss) == len(history.seconds) == 5
    assert history.loss[-1] < history.loss[0]
    assert history.best_epoch == int(np.argmin(history.val_loss)) and history.stopped_epoch is None
    assert not model.training
    loss, acc = evaluate(model, *val)
    assert loss == pytest.approx(history.val_loss[-1], rel=1e-5) and acc == pytest.approx(history.val_acc[-1])


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.is_floating_point()])


def test_same_generator_gives_identical_weights(digits):
    train, _ = digits
    runs = []
    for seed in (3, 3, 4):
        torch.manual_seed(0)  # same initial weights: only the generator differs between runs
        model = MLP((1, 8, 8), 10, widths=(32,), batch_norm=True, p_keep=0.8)
        fit(model, train, epochs=2, batch_size=64, generator=seed, augment=lambda x, generator: x
            + 0.05 * torch.randn(x.shape, generator=generator), verbose=0)
        runs.append(_weights(model))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_counter_dropout_fit_is_deterministic(digits):
    train, _ = digits
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = set_dropout_seed(MLP((1, 8, 8), 10, widths=(32,), p_keep=0.5), 1)
        fit(model, train, epochs=1, generator=torch.Generator().manual_seed(5), verbose=0)
        runs.append(_weights(model))
    assert torch.equal(runs[0], runs[1])


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_fit_with_schedules_and_adam(digits, schedule):
    train, val = digits
    history = fit(MLP((1, 8, 8), 10, widths=(64,)), train, val, epochs=3, optimizer="adam", lr=0.01,
                  lr_schedule=schedule, generator=0, verbose=0)
    assert history.val_acc[-1] > 0.85


def test_predict_logits_matches_eval_forward_and_restores_mode():
    model = MLP((1, 4, 4), 3, widths=(8,), batch_norm=True, p_keep=0.5)
    model.train()
    model(torch.rand(8, 1, 4, 4))
    X = np.random.default_rng(0).integers(0, 256, (10, 1, 4, 4), dtype=np.uint8)
    logits = predict_logits(model, X, batch_size=3, normalize=(0.5, 0.25))
    assert model.training and logits.shape == (10, 3) and logits.dtype == torch.float32
    expected = model.eval()((torch.from_numpy(X).float() / 255 - 0.5) / 0.25)
    torch.testing.assert_close(logits, expected.detach())


def test_bad_data():
    model = MLP((4,), 2)
    X, y = torch.rand(8, 4), torch.arange(8) % 2
    with pytest.raises(ValueError, match="one label per row"):
        fit(model, (X, y[:7]), verbose=0)
    with pytest.raises(ValueError, match="val: y must be 1-d"):
        fit(model, (X, y), (X, y[:5]), verbose=0)
    bad = X.clone()
    bad[3, 1] = math.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        fit(model, (bad, y), verbose=0)
    bad[3, 1] = math.inf
    with pytest.raises(ValueError, match="val: X contains NaN or Inf"):
        fit(model, (X, y), (bad, y), verbose=0)
    with pytest.raises(ValueError, match="data is empty"):
        fit(model, (X[:0], y[:0]), verbose=0)
    with pytest.raises(ValueError, match="integer class labels"):
        fit(model, (X, y.float()), verbose=0)
    with pytest.raises(TypeError, match="generator"):
        fit(model, (X, y), generator="seed", verbose=0)


# ---------------------------------------------------------------- generators
def test_generator_none_is_torch_global_generator(digits):
    train, _ = digits
    runs, after = [], []
    for _ in range(2):
        torch.manual_seed(0)
        model = MLP((1, 8, 8), 10, widths=(16,), p_keep=0.7)
        fit(model, train, epochs=1, verbose=0)
        runs.append(_weights(model))
        after.append(torch.rand(1))
    assert torch.equal(runs[0], runs[1])  # torch.manual_seed makes the run reproducible
    torch.manual_seed(0)
    MLP((1, 8, 8), 10, widths=(16,), p_keep=0.7)
    assert not torch.equal(after[0], torch.rand(1))  # ... and the run drew from (advanced) the global stream


def test_an_explicit_generator_leaves_the_global_stream_alone(digits):
    train, _ = digits
    torch.manual_seed(0)
    model = MLP((1, 8, 8), 10, widths=(16,), p_keep=0.7)
    state = torch.get_rng_state()
    fit(model, train, epochs=1, generator=5, verbose=0)
    assert torch.equal(torch.get_rng_state(), state)


def test_the_global_generator_passed_explicitly_is_generator_none(digits):
    """One meaning of None (conventions.as_generator): torch.default_generator, not a generator of one's own."""
    train, _ = digits
    runs = []
    for generator in (None, torch.default_generator):
        torch.manual_seed(0)
        model = MLP((1, 8, 8), 10, widths=(16,), p_keep=0.7)
        fit(model, train, epochs=1, generator=generator, verbose=0)
        runs.append((_weights(model), torch.rand(1)))
    assert torch.equal(runs[0][0], runs[1][0])  # the same run ...
    assert torch.equal(runs[0][1], runs[1][1])  # ... which advanced the global stream alike (nothing was forked)
