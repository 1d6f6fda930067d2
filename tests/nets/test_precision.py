"""nets.precision: bfloat16 autocast where the device runs it natively, float32 with a warning elsewhere."""
import warnings

import pytest
import torch

import nets.precision
from nets import MLP, fit


def test_bfloat16_without_native_support_warns_once_and_trains_float32(monkeypatch):
    monkeypatch.setattr(nets.precision, "bfloat16_supported", lambda device: False)
    monkeypatch.setattr(nets.precision, "_warned", set())
    X, y = torch.rand(32, 6), torch.arange(32) % 3
    model = MLP((6,), 3, widths=(8,))
    seen = []
    model.layers[1].register_forward_hook(lambda m, i, out: seen.append(out.dtype) if m.training else None)
    with pytest.warns(UserWarning, match="precision='bfloat16' needs native bf16 on cpu.*runs in float32"):
        fit(model, (X, y), epochs=1, precision="bfloat16", verbose=0)
    assert seen and set(seen) == {torch.float32}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per device type: the second fit is silent
        fit(model, (X, y), epochs=1, precision="bfloat16", verbose=0)


def test_bfloat16_support_is_read_from_the_device():
    assert nets.precision.bfloat16_supported("cpu") == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert nets.precision.training_precision("float32", "cpu") == "float32"
    with pytest.raises(ValueError, match="precision must be one of"):
        nets.precision.training_precision("half", "cpu")


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
