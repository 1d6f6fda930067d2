"""RandomResizedCrop and RandomErasing: torchvision's box rules, exact pixels, parity, fusion."""

import math

import pytest
import torch

import augkit as A
from augkit import boxes
from tests._references import random_batch


def image_batch(n=8, c=3, h=30, w=40, dtype=torch.uint8, seed=0):
    return random_batch(n, c, h, w, dtype, seed)


def test_first_valid_try_is_the_loop_torchvision_runs():
    g = torch.Generator().manual_seed(0)
    longs, shorts = boxes.area_aspect_tries(500, 30 * 40, (0.3, 1.5), (0.5, 2.0), g)
    valid = (longs <= 40) & (shorts <= 30)
    found, w, h = boxes.first_valid(valid, longs, shorts)
    for n in range(500):
        hit = next((k for k in range(boxes.TRIES) if valid[n, k]), None)
        assert bool(found[n]) == (hit is not None)
        if hit is not None:
            assert (w[n], h[n]) == (longs[n, hit], shorts[n, hit])
    assert 0 < found.float().mean() < 1  # both branches exercised


# ---------------------------------------------------------------- RandomResizedCrop
def test_resized_crop_windows_follow_the_rule():
    x = image_batch(n=2000, c=1, h=30, w=40)
    scale, ratio = (0.08, 1.0), (3 / 4, 4 / 3)
    _, params = A.RandomResizedCrop(16, scale, ratio)(x, generator=0, return_params=True)
    top, left, h, w = (params[k] for k in ("top", "left", "height", "width"))
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 30).all() and (left + w <= 40).all()
    assert (h > 0).all() and (w > 0).all()
    area, aspect = (h * w).double() / (30 * 40), w.double() / h
    # Rounding the sides to pixels moves area and aspect a little past the drawn ranges.
    assert area.min() >= 0.05 and area.max() <= 1 and area.min() < 0.12 and area.max() > 0.9
    assert aspect.min() > 0.6 and aspect.max() < 1.6
    assert top.max() > 10 and left.max() > 20  # offsets spread over the image


@pytest.mark.parametrize("size, ratio, window", [
    ((20, 20), (3 / 4, 4 / 3), (0, 0, 20, 20)),  # whole image
    ((20, 20), (2.0, 3.0), (5, 0, 10, 20)),  # wider than the image: full width, h = round(20 / 2)
    ((20, 10), (1.0, 1.5), (5, 0, 10, 10)),  # taller: full width, h = round(10 / 1)
    ((10, 30), (0.5, 2.0), (0, 5, 10, 20)),  # wide image: full height, w = round(10 * 2)
])
def test_resized_crop_falls_back_to_torchvisions_centre_crop(size, ratio, window):
    x = image_batch(n=5, c=1, h=size[0], w=size[1])
    # Areas larger than the image never fit, so every sample takes the fallback.
    _, params = A.RandomResizedCrop(8, scale=(1.5, 2.0), ratio=ratio)(x, generator=0, return_params=True)
    for key, value in zip(("top", "left", "height", "width"), window):
        assert (params[key] == value).all(), key


def test_resized_crop_of_a_constant_image_is_constant_up_to_the_image_edge():
    x = torch.full((64, 3, 21, 33), 0.7)
    crop = A.RandomResizedCrop((12, 14), scale=(0.5, 1.0))
    nearest = A.RandomResizedCrop((12, 14), scale=(0.5, 1.0), interpolation="nearest")
    for t in (crop, nearest, A.Compose([crop, A.Rotate(0)])):  # alone, and in a fused grid
        out = t(x, generator=1)
        torch.testing.assert_close(out, torch.full_like(out, 0.7), atol=1e-6, rtol=0)


@pytest.mark.parametrize("fused", [False, True], ids=["alone", "fused"])
def test_resized_crop_of_a_linear_ramp_samples_the_window(fused):
    # Antialiased bilinear (a symmetric triangle) and the box of sub-samples both reproduce a
    # linear function exactly wherever their taps do not reach a clamped edge.
    h, w = 30, 40
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                indexing="ij")
    ramp = ((0.3 * rows + 0.7 * cols) / (0.3 * h + 0.7 * w)).expand(8, 1, h, w).contiguous()
    crop = A.RandomResizedCrop(16, scale=(0.3, 0.6))
    t = A.Compose([crop, A.Rotate(0)]) if fused else crop
    out, params = t(ramp, generator=2, return_params=True)
    params = params["transforms"][0] if fused else params
    for i in range(8):
        top, left, wh, ww = (params[k][i].item() for k in ("top", "left", "height", "width"))
        ys = top + (torch.arange(16, dtype=torch.float64) + 0.5) * wh / 16 - 0.5
        xs = left + (torch.arange(16, dtype=torch.float64) + 0.5) * ww / 16 - 0.5
        expected = (0.3 * ys[:, None] + 0.7 * xs[None, :]) / (0.3 * h + 0.7 * w)
        if fused:  # taps clamp at the image edge; half a sub-sample box each side
            ry, rx, lo_y, hi_y, lo_x, hi_x = max(wh / 16, 1) / 2, max(ww / 16, 1) / 2, 0, h - 1, 0, w - 1
        else:  # the window alone is resized: taps clamp at its edge; triangle radius
            ry, rx, lo_y, hi_y, lo_x, hi_x = max(wh / 16, 1), max(ww / 16, 1), top, top + wh - 1, left, left + ww - 1
        inside = (((ys - ry >= lo_y) & (ys + ry <= hi_y))[:, None]
                  & ((xs - rx >= lo_x) & (xs + rx <= hi_x))[None, :])
        assert inside.sum() > 20
        # interpolate cuts the triangle's support at whole source pixels, slightly asymmetric:
        # 3e-3 is a tenth of a pixel's step of this ramp, so a misplaced window still fails.
        torch.testing.assert_close(out[i, 0][inside], expected[inside], atol=1e-6 if fused else 3e-3, rtol=0)


def test_resized_crop_per_sample_windows_and_replay():
    x = image_batch(n=16)
    t = A.RandomResizedCrop(12)
    out, params = t(x, generator=5, return_params=True)
    assert len(torch.unique(torch.stack([params["height"], params["width"], params["top"]], 1), dim=0)) == 16
    assert len({tuple(o.flatten().tolist()) for o in out}) == 16
    assert torch.equal(t.replay(x, params), out)


def test_resized_crop_fuses_with_other_geometry_in_one_resampling(monkeypatch):
    calls = []
    real = torch.nn.functional.grid_sample
    # Record how many samples each call resamples: samples are grouped by supersampling factor.
    monkeypatch.setattr(torch.nn.functional, "grid_sample", lambda *a, **k: calls.append(len(a[0])) or real(*a, **k))
    x = image_batch(n=6, dtype=torch.float32)
    crop = A.RandomResizedCrop(16, scale=(0.3, 1.0))
    out, params = A.Compose([crop, A.HorizontalFlip(p=1.0)])(x, generator=0, return_params=True)
    assert not calls  # with flips only, the exact crop-then-resize kernel
    assert torch.equal(out, crop.replay(x, params["transforms"][0]).flip(-1))
    A.Compose([crop, A.Rotate(10, fill="reflect")])(x, generator=0)
    assert sum(calls) == 6  # one grid: each sample resampled once


def test_resized_crop_equals_torchvision_resized_crop():
    TF = pytest.importorskip("torchvision.transforms.v2.functional")
    for dtype in (torch.uint8, torch.float32):
        x = image_batch(n=6, h=60, w=80, dtype=dtype)
        t = A.RandomResizedCrop((24, 20))
        out, params = t(x, generator=3, return_params=True)
        for i in range(6):
            t_, l_, h_, w_ = (int(params[k][i]) for k in ("top", "left", "height", "width"))
            want = TF.resized_crop(x[i], t_, l_, h_, w_, [24, 20], antialias=True)
            torch.testing.assert_close(out[i], want, atol=1e-6 if dtype.is_floating_point else 0, rtol=0)


def test_resized_crop_window_rule_matches_torchvision_in_distribution():
    v2 = pytest.importorskip("torchvision.transforms.v2")
    torch.manual_seed(0)
    x = torch.zeros(1, 25, 50)
    tv = v2.RandomResizedCrop(8)
    theirs = torch.tensor([[p["height"], p["width"]] for p in (tv.make_params([x]) for _ in range(3000))]).double()
    _, params = A.RandomResizedCrop(8)(torch.zeros(3000, 1, 25, 50), generator=0, return_params=True)
    ours = torch.stack([params["height"], params["width"]], 1).double()
    # Same rule: the mean window sides and the fallback rate (whole-image windows) agree.
    torch.testing.assert_close(ours.mean(0), theirs.mean(0), rtol=0.04, atol=0)
    full = lambda hw: ((hw[:, 0] == 25) & (hw[:, 1] == 33)).double().mean()
    assert abs(full(ours) - full(theirs)) < 0.02


# ---------------------------------------------------------------- RandomErasing
def test_erasing_boxes_follow_the_rule_and_only_the_box_changes():
    x = image_batch(n=400, h=30, w=40)
    t = A.RandomErasing(p=1.0, value=(0.0, 0.5, 1.0))
    out, params = t(x, generator=0, return_params=True)
    top, left, h, w, apply = (params[k] for k in ("top", "left", "height", "width", "apply"))
    assert apply.all() and (h > 0).float().mean() > 0.95
    assert ((h < 30) & (w < 40)).all() and (top + h <= 30).all() and (left + w <= 40).all()
    area = (h * w).double()[h > 0] / 1200
    assert area.min() >= 0.015 and area.max() <= 0.36
    mask = boxes.box_weights(top, left, h, w, (30, 40), torch.float32, torch.device("cpu")).bool().expand_as(x)
    fill = torch.tensor([0, 128, 255], dtype=torch.uint8).view(1, 3, 1, 1).expand_as(x)
    assert torch.equal(out[mask], fill[mask]) and torch.equal(out[~mask], x[~mask])


def test_erasing_leaves_the_sample_when_no_try_fits_and_p_gates():
    x = image_batch(n=50, h=10, w=10)
    out, params = A.RandomErasing(p=1.0, scale=(0.99, 1.0), ratio=(1, 1))(x, generator=0, return_params=True)
    assert (params["height"] == 0).all() and torch.equal(out, x)  # h = w = 10 is never < 10
    out, params = A.RandomErasing(p=0.3)(image_batch(n=1000, h=32, w=32), generator=0, return_params=True)
    assert 0.24 < params["apply"].float().mean() < 0.36


def test_erasing_random_values_lie_in_the_unit_range_and_replay():
    x = image_batch(n=20, dtype=torch.float32)
    t = A.RandomErasing(p=1.0, value="random")
    out, params = t(x, generator=1, return_params=True)
    changed = out != x
    assert changed.any() and out.min() >= 0 and out.max() <= 1
    assert len(torch.unique(out[changed])) > 100
    assert torch.equal(t.replay(x, params), out)


def test_erasing_equals_torchvision_erase():
    TF = pytest.importorskip("torchvision.transforms.v2.functional")
    x = image_batch(n=10, dtype=torch.float32)
    out, params = A.RandomErasing(p=1.0, value=(0.2, 0.4, 0.6))(x, generator=2, return_params=True)
    for i in range(10):
        t_, l_, h_, w_ = (int(params[k][i]) for k in ("top", "left", "height", "width"))
        want = TF.erase(x[i], t_, l_, h_, w_, torch.tensor([0.2, 0.4, 0.6])[:, None, None])
        torch.testing.assert_close(out[i], want, atol=0, rtol=0)


@pytest.mark.parametrize("make, error, message", [
    (lambda: A.RandomErasing(value=2.0), ValueError, r"numbers in \[0, 1\]"),
    (lambda: A.RandomErasing(value=(0.1, 0.2)), ValueError, "1 or 3 numbers"),
    (lambda: A.RandomErasing(value="noise"), TypeError, "'random'"),
    (lambda: A.RandomErasing(scale=(0.1, 1.5)), ValueError, "scale must be <= 1"),
    (lambda: A.RandomErasing(ratio=(0, 1)), ValueError, "ratio must be > 0"),
    (lambda: A.RandomResizedCrop(0), ValueError, "size must be positive"),
    (lambda: A.RandomResizedCrop(8, scale=(0.5, 0.1)), ValueError, "reversed"),
    (lambda: A.RandomResizedCrop(8, interpolation="antialias"), ValueError, "interpolation"),
])
def test_bad_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_erasing_channel_values_must_match_the_batch():
    with pytest.raises(ValueError, match="3 channel values but the batch has C=1"):
        A.RandomErasing(value=(0.1, 0.2, 0.3))(torch.zeros(2, 1, 8, 8))


def test_box_weights_are_exact_lerp_weights():
    x = torch.rand(4, 3, 9, 9)
    weights = boxes.box_weights(torch.tensor([0, 2, 8, 3]), torch.tensor([0, 1, 8, 3]), torch.tensor([9, 3, 1, 0]),
                                torch.tensor([9, 4, 1, 5]), (9, 9), torch.float32, torch.device("cpu"))
    out = torch.lerp(x, torch.full_like(x, 0.25), weights)
    assert torch.equal(out[0], torch.full_like(x[0], 0.25)) and torch.equal(out[3], x[3])
    assert out[2, :, 8, 8].eq(0.25).all() and torch.equal(out[2, :, :8], x[2, :, :8])
    assert weights.sum().item() == 81 + 12 + 1 + 0 and math.isclose(weights.max().item(), 1.0)
