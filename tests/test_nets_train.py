"""fit, History, early stopping, schedules, decay options, evaluation helpers, bad input."""
import copy
import json
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import nets.precision
from nets import (
    MLP,
    DivergenceError,
    EarlyStopping,
    History,
    SmallCNN,
    evaluate,
    fit,
    predict_logits,
    set_dropout_seed,
    to_float_batch,
)
from nets.step import lr_factor


@pytest.fixture(scope="module")
def digits():
    """sklearn digits as uint8 images N x 1 x 8 x 8 (0..255), shuffled, split 1400 / 397."""
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = np.round(X[order] * 255 / 16).astype(np.uint8).reshape(-1, 1, 8, 8), y[order]
    return (X[:1400], y[:1400]), (X[1400:], y[1400:])


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
    snapshot = stopper._snapshot  # the best epoch's weights are back; BatchNorm's statistics were
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


def test_lr_schedules():
    assert lr_factor("constant", 7, 10) == 1.0
    onecycle = [lr_factor("onecycle", s, 10) for s in range(10)]
    assert onecycle[0] == 0.0 and onecycle[2] == pytest.approx(1.0) and onecycle[1] == pytest.approx(0.5)
    assert onecycle[6] == pytest.approx(0.5) and onecycle[9] == pytest.approx(0.125)
    assert lr_factor("cosine", 0, 10) == 1.0 and lr_factor("cosine", 5, 10) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="lr_schedule"):
        lr_factor("step", 0, 10)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_fit_with_schedules_and_adam(digits, schedule):
    train, val = digits
    history = fit(MLP((1, 8, 8), 10, widths=(64,)), train, val, epochs=3, optimizer="adam", lr=0.01,
                  lr_schedule=schedule, generator=0, verbose=0)
    assert history.val_acc[-1] > 0.85


def test_decoupled_weight_decay_is_w_minus_lr_wd_w():
    # zero inputs give the first layer a zero gradient: only the decay moves its weights
    X, y = torch.zeros(64, 5), torch.arange(64) % 3
    torch.manual_seed(0)
    decoupled = MLP((5,), 3, widths=(4,))
    w0 = decoupled.layers[1].weight.detach().clone()
    fit(decoupled, (X, y), epochs=2, batch_size=16, lr=0.1, momentum=0.9, weight_decay=0.01,
        decoupled_weight_decay=True, generator=0, verbose=0)
    torch.testing.assert_close(decoupled.layers[1].weight.detach(), w0 * (1 - 0.1 * 0.01) ** 8)
    torch.manual_seed(0)
    coupled = MLP((5,), 3, widths=(4,))
    fit(coupled, (X, y), epochs=2, batch_size=16, lr=0.1, momentum=0.9, weight_decay=0.01, generator=0, verbose=0)
    assert coupled.layers[1].weight.norm() < decoupled.layers[1].weight.norm()  # momentum accumulates lam W


def test_l1_and_weight_decay_shrink_weights(digits):
    train, _ = digits
    norms = {}
    for name, kw in {"none": {}, "l2": {"weight_decay": 0.01}, "l1": {"l1": 1e-3}}.items():
        torch.manual_seed(0)
        model = MLP((1, 8, 8), 10, widths=(32,))
        fit(model, train, epochs=2, generator=0, verbose=0, **kw)
        norms[name] = model.layers[1].weight.abs().sum().item()
    assert norms["l2"] < norms["none"] and norms["l1"] < norms["none"]


def test_to_float_batch():
    x = torch.tensor([[[[0, 255], [51, 102]]]], dtype=torch.uint8)
    torch.testing.assert_close(to_float_batch(x), torch.tensor([[[[0.0, 1.0], [0.2, 0.4]]]]))
    f = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    assert to_float_batch(f).dtype == torch.float32
    out = to_float_batch(f, normalize=((0.1, 0.2, 0.3), (0.5, 0.5, 2.0)))
    torch.testing.assert_close(out[:, 2], ((f[:, 2] - 0.3) / 2.0).float())
    calls = []

    def augment(batch, generator=None):
        calls.append((batch.dtype, float(batch.max()), generator))
        return batch.flip(-1)

    images = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    stats = ((0.1, 0.2, 0.3), (0.5, 0.25, 2.0))
    fused = to_float_batch(images, normalize=stats, memory_format=torch.channels_last)  # one pass from uint8
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in stats)
    torch.testing.assert_close(fused, (images.float() / 255 - mean) / std)
    assert fused.is_contiguous(memory_format=torch.channels_last) and not fused.is_contiguous()
    g = torch.Generator()
    out = to_float_batch(x, augment=augment, generator=g, normalize=(0.5, 0.5))
    assert calls == [(torch.float32, 1.0, g)]  # augment sees floats in [0, 1], before normalising
    torch.testing.assert_close(out, torch.tensor([[[[1.0, -1.0], [-0.2, -0.6]]]]))


def test_predict_logits_matches_eval_forward_and_restores_mode():
    model = MLP((1, 4, 4), 3, widths=(8,), batch_norm=True, p_keep=0.5)
    model.train()
    model(torch.rand(8, 1, 4, 4))
    X = np.random.default_rng(0).integers(0, 256, (10, 1, 4, 4), dtype=np.uint8)
    logits = predict_logits(model, X, batch_size=3, normalize=(0.5, 0.25))
    assert model.training and logits.shape == (10, 3) and logits.dtype == torch.float32
    expected = model.eval()((torch.from_numpy(X).float() / 255 - 0.5) / 0.25)
    torch.testing.assert_close(logits, expected.detach())


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


def test_label_smoothing_loss_is_the_smoothed_cross_entropy():
    """loss = -sum_k q_k log p_k with q = (1 - eps) one-hot + eps / K (Szegedy et al. 2016)."""
    X, y = torch.rand(32, 6), torch.arange(32) % 4
    model = MLP((6,), 4, widths=(8,))
    with torch.no_grad():
        log_p = torch.log_softmax(model(X), dim=1)
    eps = 0.2
    q = torch.full((32, 4), eps / 4)
    q[torch.arange(32), y] += 1 - eps
    expected = -(q * log_p).sum(1).mean().item()
    history = fit(model, (X, y), epochs=1, batch_size=32, lr=0.0, label_smoothing=eps, verbose=0)
    assert history.loss[0] == pytest.approx(expected, rel=1e-5)


@pytest.fixture
def native_bf16(monkeypatch):
    """Pretend the CPU has native bf16, so that the bf16 path runs here (emulated if need be)."""
    monkeypatch.setattr(nets.precision, "bfloat16_supported", lambda device: True)


def test_bfloat16_precision_runs_the_forward_in_bf16_and_learns(digits, native_bf16):
    train, val = digits
    model = MLP((1, 8, 8), 10, widths=(128,))
    seen = []
    model.layers[1].register_forward_hook(lambda m, i, out: seen.append((m.training, out.dtype)))
    history = fit(model, train, val, epochs=5, batch_size=64, lr=0.05, precision="bfloat16", generator=0, verbose=0)
    assert (True, torch.bfloat16) in seen and (False, torch.float32) in seen  # train bf16, evaluate float32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert history.val_acc[-1] > 0.9


# ---------------------------------------------------------------- memory format
def _color_digits(digits):
    """The digits as 3-channel images (each channel scaled differently), N x 3 x 8 x 8 uint8."""
    (X, y), _ = digits
    X3 = np.concatenate([X, (X * 0.7).astype(np.uint8), 255 - X], axis=1)
    return X3[:512], y[:512]


def test_channels_last_and_contiguous_training_give_the_same_member(digits):
    X, y = _color_digits(digits)
    models, layouts = {}, {}
    for channels_last in (True, False):
        torch.manual_seed(0)
        model = SmallCNN((3, 8, 8), 10, widths=(8, 16), p_keep=0.8)
        set_dropout_seed(model, 1)
        seen = layouts[channels_last] = []
        model.layers[0].register_forward_hook(lambda m, inputs, out, seen=seen: seen.append(
            (m.training, inputs[0].is_contiguous(memory_format=torch.channels_last) and not inputs[0].is_contiguous())))
        fit(model, (X, y), (X[:100], y[:100]), epochs=2, batch_size=64, lr=0.05, weight_decay=5e-4,
            normalize=((0.3, 0.2, 0.7), (0.4, 0.3, 0.4)), channels_last=channels_last, generator=3, verbose=0)
        models[channels_last] = model
    assert {flag for _, flag in layouts[True]} == {True}  # training, validation and recomputation batches
    assert {training for training, _ in layouts[True]} == {True, False}
    assert {flag for _, flag in layouts[False]} == {False}
    conv = models[True].layers[4].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    for name, value in models[False].state_dict().items():
        torch.testing.assert_close(models[True].state_dict()[name], value, atol=1e-4, rtol=1e-4, msg=name)
    logits = predict_logits(models[True], X[:50])  # prediction feeds the model's layout
    torch.testing.assert_close(logits, predict_logits(models[False], X[:50]), atol=1e-4, rtol=1e-4)


def test_channels_last_leaves_models_without_convolutions_alone(digits):
    train, _ = digits
    model = MLP((1, 8, 8), 10, widths=(16,))
    seen = []
    model.layers[1].register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].is_contiguous()))
    fit(model, train, epochs=1, channels_last=True, generator=0, verbose=0)
    assert seen and all(seen)


# ---------------------------------------------------------------- soft targets
class _MixWithBatchMean:
    """A label-mixing stub: x' = lam x + (1 - lam) mean(x), q = lam onehot(y) + (1 - lam) mean(onehot).

    Mixing with the batch mean makes a full batch's loss independent of the row order."""

    mixes_labels = True

    def __init__(self, lam):
        self.lam = lam
        self.calls = []

    def __call__(self, x, y, generator=None, num_classes=None):
        self.calls.append((x.dtype, float(x.min()), float(x.max()), y.dtype, num_classes, len(x)))
        onehot = torch.nn.functional.one_hot(y, num_classes).float()
        lam = self.lam
        return lam * x + (1 - lam) * x.mean(0, keepdim=True), lam * onehot + (1 - lam) * onehot.mean(0, keepdim=True)


def test_label_mixing_augment_trains_on_smoothed_soft_targets():
    """loss = -sum_k q'_k log p_k with q' = (1 - eps) q + eps / K, q the mixed target; accuracy
    against argmax q. The augment sees [0, 1] floats, int64 labels and num_classes=K."""
    g = torch.Generator().manual_seed(0)
    X, y = torch.rand(40, 1, 4, 4, generator=g), torch.arange(40) % 4
    model = MLP((1, 4, 4), 4, widths=(8,))
    mix, eps, lam = _MixWithBatchMean(0.3), 0.1, 0.3
    with torch.no_grad():
        logits = model(((lam * X + (1 - lam) * X.mean(0, keepdim=True)) - 0.5) / 0.25)
    onehot = torch.nn.functional.one_hot(y, 4).float()
    q = lam * onehot + (1 - lam) * onehot.mean(0, keepdim=True)
    expected_loss = -(((1 - eps) * q + eps / 4) * torch.log_softmax(logits, 1)).sum(1).mean().item()
    expected_acc = (logits.argmax(1) == q.argmax(1)).float().mean().item()
    history = fit(model, (X, y), (X, y), epochs=2, batch_size=40, lr=0.0, label_smoothing=eps, augment=mix,
                  normalize=(0.5, 0.25), generator=0, verbose=0)
    assert history.loss[0] == pytest.approx(expected_loss, rel=1e-5)
    assert history.acc[0] == pytest.approx(expected_acc)
    assert len(mix.calls) == 2  # one per training step: validation and BatchNorm recomputation never mix
    dtype, low, high, label_dtype, k, n = mix.calls[0]
    assert dtype == torch.float32 and 0 <= low and high <= 1 and label_dtype == torch.int64 and k == 4 and n == 40
    _, val_acc = evaluate(model, X, y, normalize=(0.5, 0.25))
    assert history.val_acc[-1] == pytest.approx(val_acc)  # validated on the plain rows


@pytest.mark.parametrize("returned, message", [
    (lambda x, y: x, "must return \\(x, soft_targets\\)"),
    (lambda x, y: (x, torch.ones(len(x), 3)), r"soft targets of shape \(40, 4\)"),
])
def test_a_label_mixing_augment_with_the_wrong_output_is_refused(returned, message):
    class Bad:
        mixes_labels = True

        def __call__(self, x, y, generator=None, num_classes=None):
            return returned(x, y)

    X, y = torch.rand(40, 1, 4, 4), torch.arange(40) % 4
    with pytest.raises((TypeError, ValueError), match=message):
        fit(MLP((1, 4, 4), 4), (X, y), epochs=1, batch_size=40, augment=Bad(), verbose=0)


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
