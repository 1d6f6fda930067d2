"""nets.step: the learning-rate schedules, decoupled weight decay, and the loss on (smoothed, mixed) targets."""

import dataclasses

import pytest
import torch

from nets import MLP, evaluate, fit
from nets.step import TRIANGLE, lr_factor


def test_triangular_schedule_is_airbench_triangle():
    total = 1000
    factors = [lr_factor("triangular", s, total) for s in range(total + 1)]
    assert factors[0] == pytest.approx(0.2) and factors[230] == pytest.approx(1.0) and factors[-1] == pytest.approx(0.07)
    assert max(factors) == pytest.approx(1.0)
    # linear pieces: equal steps change the factor by equal amounts on each side of the peak
    assert factors[100] - factors[99] == pytest.approx((1.0 - 0.2) / 230)
    assert factors[500] - factors[501] == pytest.approx((1.0 - 0.07) / 770)
    assert TRIANGLE[1] == (0.23, 1.0)


def test_lr_schedules():
    assert lr_factor("constant", 7, 10) == 1.0
    onecycle = [lr_factor("onecycle", s, 10) for s in range(10)]
    assert onecycle[0] == 0.0 and onecycle[2] == pytest.approx(1.0) and onecycle[1] == pytest.approx(0.5)
    assert onecycle[6] == pytest.approx(0.5) and onecycle[9] == pytest.approx(0.125)
    assert lr_factor("cosine", 0, 10) == 1.0 and lr_factor("cosine", 5, 10) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="lr_schedule"):
        lr_factor("step", 0, 10)


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


@pytest.mark.parametrize("decoupled", [False, True])
def test_decay_all_shrinks_every_trained_parameter_by_lr_wd_per_step(decoupled):
    # a zero loss leaves only the decay: W <- (1 - lr wd) W for weights, biases and BatchNorm
    # shifts alike (BatchNorm steps at 8 x lr, so its coupled decay is wd / 8), frozen ones stay
    from nets import FastCNN
    from nets.config import TrainConfig
    from nets.loop import SingleModel
    from nets.step import TrainStep

    torch.manual_seed(0)
    model = FastCNN((3, 9, 9), 2, widths=(4,), whiten=True, bn_scale=False)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # nonzero shifts and biases
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    lr, wd = 0.1, 0.01
    config = TrainConfig(lr=lr, momentum=0.0, weight_decay=wd, decay_all=True, norm_lr_scale=8.0,
                         decoupled_weight_decay=decoupled)
    members = SingleModel(model, torch.contiguous_format)
    step = TrainStep(config, members.forward, *members.parameter_groups(), 1, 2, 10, "float32",
                     torch.contiguous_format)
    step.update(sum(p.sum() for p in model.parameters() if p.requires_grad) * 0.0)
    for name, p in model.named_parameters():
        factor = 1 - lr * wd if p.requires_grad else 1.0  # the whitening filters and gammas are frozen
        torch.testing.assert_close(p.detach(), before[name] * factor, msg=name)
    shrunk = TrainStep(dataclasses.replace(config, decay_all=False), members.forward, *members.parameter_groups(),
                       1, 2, 10, "float32", torch.contiguous_format)
    shifts = [p for name, p in model.named_parameters() if name.endswith(("beta", "0.bias"))]
    kept = [p.detach().clone() for p in shifts]
    shrunk.update(sum(p.sum() for p in model.parameters() if p.requires_grad) * 0.0)
    assert all(torch.equal(p, q) for p, q in zip(shifts, kept))  # by default only weights decay


def _step(model, **options):
    from nets import TrainConfig
    from nets.loop import SingleModel
    from nets.step import TrainStep

    members = SingleModel(model, torch.contiguous_format)
    config = TrainConfig(verbose=0, **options)
    return TrainStep(config, members.forward, *members.parameter_groups(), 1, 3, 20, "float32",
                     torch.contiguous_format)


def test_weighted_step_loss_is_the_weighted_mean_and_integer_weights_repeat_rows():
    """sum w l / sum w: weight 2 on a row is that row twice, weight 0 leaves it out."""
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(6, 5, generator=g), torch.tensor([0, 1, 2, 0, 1, 2])
    w = torch.tensor([2.0, 0.0, 1.0, 1.0, 3.0, 0.0])
    torch.manual_seed(0)
    weighted = MLP((5,), 3, widths=(4,))
    torch.manual_seed(0)
    repeated = MLP((5,), 3, widths=(4,))
    loss, correct = _step(weighted, lr=0.1)(X, y[None], weights=w[None])
    rows = torch.repeat_interleave(torch.arange(6), w.long())
    reference, hits = _step(repeated, lr=0.1)(X[rows], y[rows][None])
    torch.testing.assert_close(loss, reference)
    torch.testing.assert_close(correct, hits.float())
    for a, b in zip(weighted.parameters(), repeated.parameters()):
        torch.testing.assert_close(a, b)


def test_step_state_resumes_training_exactly_and_skip_keeps_the_schedule():
    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(8, 5, generator=g), torch.arange(8) % 3
    torch.manual_seed(0)
    model = MLP((5,), 3, widths=(4,))
    step = _step(model, lr=0.1, lookahead=True, lr_schedule="cosine", optimizer="adam")
    for _ in range(8):
        step(X, y[None])
    step.skip()
    assert step.steps_done == 9
    again = MLP((5,), 3, widths=(4,))
    again.load_state_dict(model.state_dict())
    resumed = _step(again, lr=0.1, lookahead=True, lr_schedule="cosine", optimizer="adam")
    resumed.load_state_dict({k: v.clone() for k, v in step.state_dict().items()})
    for _ in range(5):
        step(X, y[None])
        resumed(X, y[None])
    for a, b in zip(model.parameters(), again.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
