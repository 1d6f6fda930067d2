"""The crops: RandomScaleCrop (resize then crop), RandomResizedCrop (crop then resize), RandomCrop (pad and crop).

Exact kernels against independent references (``interpolate(antialias=True)`` of the whole image
then a crop; ``F.pad`` then a crop), torchvision's sampling rules and parity (comparison
environment only), and errors.
"""

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import augkit as A
from tests._references import random_batch, resize_then_crop, smooth_images


def image_batch(n=8, c=3, h=30, w=40, dtype=torch.uint8, seed=0):
    return random_batch(n, c, h, w, dtype, seed)


def test_identity_scale_crop_returns_the_input():
    x = random_batch(3, 3, 10, 14, torch.uint8, 0)
    assert torch.equal(A.RandomScaleCrop((10, 14), (10, 10))(x, generator=1), x)


def test_scale_crop_params_respect_the_length_range_and_the_image():
    x = torch.rand(400, 1, 20, 30)
    _, params = A.RandomScaleCrop((16, 12), (20, 25))(x, generator=0, return_params=True)
    length = params["length"]
    assert length.min() == 20 and length.max() == 25  # inclusive bounds are both reached
    scaled_h, scaled_w = length, torch.round(30 * length.double() / 20).long()
    assert (params["top"] >= 0).all() and (params["top"] <= scaled_h - 16).all()
    assert (params["left"] >= 0).all() and (params["left"] <= scaled_w - 12).all()
    assert params["top"].max() == (scaled_h - 16).max()  # the last offset is reachable


def test_scale_crop_of_a_constant_image_is_constant():
    x = torch.full((6, 3, 40, 50), 0.25)
    out = A.RandomScaleCrop(24, (24, 60))(x, generator=0)
    torch.testing.assert_close(out, torch.full((6, 3, 24, 24), 0.25), atol=1e-6, rtol=0)


def test_scale_crop_of_a_linear_ramp_matches_the_crop_window():
    # When enlarging, the scale-crop is plain bilinear, which reproduces a linear function exactly
    # away from the edges: the output must equal the ramp at each output pixel's source position.
    # (Shrinking, the sampled triangle filter of Pillow / torchvision is not exactly linear-
    # preserving; test_antialias_scale_crop_is_resize_then_crop compares that case with interpolate itself.)
    h, w = 30, 40
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                indexing="ij")
    ramp = (0.3 * rows + 0.7 * cols) / (0.3 * h + 0.7 * w)
    x = ramp.expand(8, 1, h, w).contiguous()
    out, params = A.RandomScaleCrop(16, (30, 45))(x, generator=4, return_params=True)
    for i in range(8):
        L = params["length"][i].item()
        sh, sw = L, round(w * L / h)
        ys = (torch.arange(16, dtype=torch.float64) + 0.5 + params["top"][i]) * h / sh - 0.5
        xs = (torch.arange(16, dtype=torch.float64) + 0.5 + params["left"][i]) * w / sw - 0.5
        expected = (0.3 * ys[:, None] + 0.7 * xs[None, :]) / (0.3 * h + 0.7 * w)
        # Pixels whose two taps lie between the edge centres.
        my, mx = 0.5, 0.5
        inside = ((ys >= my) & (ys <= h - 1 - my))[:, None] & ((xs >= mx) & (xs <= w - 1 - mx))[None, :]
        assert inside.sum() > 100
        torch.testing.assert_close(out[i, 0][inside], expected[inside], atol=1e-9, rtol=0)


def test_scale_crop_antialiases_when_downscaling():
    # A 1-pixel checkerboard shrunk by 2 must become flat grey, not aliased 0/1: the triangle
    # filter of support 2 weighs the four taps 1/8, 3/8, 3/8, 1/8. At the edges the clamped
    # taps renormalise the weights, so the border pixels may differ by a little.
    board = ((torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2).double()
    out = A.RandomScaleCrop(32, (32, 32))(board.expand(2, 1, 64, 64), generator=0)
    torch.testing.assert_close(out[..., 1:-1, 1:-1], torch.full((2, 1, 30, 30), 0.5, dtype=out.dtype),
                               atol=1e-9, rtol=0)
    assert (out - 0.5).abs().max() < 0.02
    # The fused path (box supersampling, 2 x 2 here) averages the same board to 0.5 everywhere.
    fused = A.Compose([A.RandomScaleCrop(32, (32, 32)), A.Rotate(0)])(board.expand(2, 1, 64, 64), generator=0)
    torch.testing.assert_close(fused, torch.full_like(fused, 0.5), atol=1e-9, rtol=0)


@pytest.mark.parametrize("scale", [(50, 60), (90, 90), (95, 140)])
def test_scale_crop_edges_equal_resize_then_crop(scale):
    # Defect 1: zero padding leaked into crops touching the image edge. Alone (the exact kernel)
    # the crop equals resize-then-crop everywhere, edges included.
    x = smooth_images(12, 90, 130).double()
    crop = A.RandomScaleCrop(48, scale)
    _, params = crop(x, generator=0, return_params=True)
    room_y = params["length"] - 48
    room_x = torch.round(130 * params["length"].double() / 90).long() - 48
    # Windows at every edge and corner of the rescaled image.
    params["top"] = torch.stack([torch.zeros_like(room_y), room_y, room_y // 2])[torch.arange(12) % 3, torch.arange(12)]
    params["left"] = torch.stack([torch.zeros_like(room_x), room_x // 3, room_x])[(torch.arange(12) // 3) % 3,
                                                                                   torch.arange(12)]
    out = crop.replay(x, params)
    torch.testing.assert_close(out, resize_then_crop(x, params, crop).double(), atol=1e-6, rtol=0)


def test_scale_crop_equals_torchvision_resize_then_crop():
    v2f = pytest.importorskip("torchvision.transforms.v2.functional")
    x = (smooth_images(8, 90, 130) * 255).round().to(torch.uint8)
    crop = A.RandomScaleCrop(48, (50, 140))
    out, params = crop(x, generator=3, return_params=True)
    out_f = crop.replay(x.float() / 255, params)
    for i in range(8):
        length = params["length"][i].item()
        size = [length, round(130 * length / 90)]
        t, left = params["top"][i].item(), params["left"][i].item()
        ref = v2f.crop(v2f.resize(x[i], size, antialias=True), t, left, 48, 48)
        assert (out[i].int() - ref.int()).abs().max() <= 1  # uint8 kernels: fixed point
        ref_f = v2f.crop(v2f.resize(x[i].float() / 255, size, antialias=True), t, left, 48, 48)
        torch.testing.assert_close(out_f[i], ref_f, atol=1e-5, rtol=0)


@pytest.mark.parametrize("shape, size, scale", [((90, 130), 48, (50, 120)), ((100, 100), 100, (100, 101)),
                                                ((120, 80), (40, 30), (40, 100))])
def test_antialias_scale_crop_is_resize_then_crop(shape, size, scale):
    x = smooth_images(10, *shape)
    crop = A.RandomScaleCrop(size, scale, p=0.8, interpolation="antialias")
    out, params = crop(x, generator=2, return_params=True)
    torch.testing.assert_close(out, resize_then_crop(x, params, crop), atol=1e-5, rtol=0)
    xu = (x * 255).round().to(torch.uint8)
    for batch in (xu, xu[:, :1]):  # RGB and grayscale
        out_u = crop.replay(batch, params)  # SIMD uint8 kernel: fixed point, within one level
        assert out_u.dtype == torch.uint8
        assert (out_u.float() - resize_then_crop(batch, params, crop)).abs().max() < 1.001


def test_antialias_is_the_former_name_of_bilinear():
    crop = A.RandomScaleCrop(224, (256, 480), interpolation="antialias")
    assert crop == A.RandomScaleCrop(224, (256, 480)) and crop.interpolation == "bilinear"
    assert A.Compose.from_json(A.Compose([crop]).to_json()) == A.Compose([crop])
    with pytest.raises(ValueError, match="interpolation must be one of"):
        A.Rotate(5, interpolation="antialias")


def test_crop_larger_than_the_image_is_refused():
    with pytest.raises(ValueError, match="larger than the image"):
        A.RandomScaleCrop(32, (20, 24))(torch.zeros(1, 3, 40, 40))


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


TORCH_MODES = {"reflect": "reflect", "edge": "replicate", "constant": "constant"}


def reference(x, params, size, padding, mode, fill=0.0):
    """F.pad (numpy.pad for 'symmetric') of the whole batch, then the crop of each sample."""
    if mode == "symmetric":
        padded = torch.from_numpy(np.pad(x.numpy(), ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2), mode="symmetric"))
    else:
        padded = torch.nn.functional.pad(x, (padding,) * 4, mode=TORCH_MODES[mode],
                                         **({"value": fill} if mode == "constant" else {}))
    return torch.stack([padded[i, :, t:t + size[0], s:s + size[1]]
                        for i, (t, s) in enumerate(zip(params["top"].tolist(), params["left"].tolist()))])


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "edge", "constant"])
@pytest.mark.parametrize("size, padding", [((32, 32), 2), ((30, 28), 4), ((32, 32), 0)])
def test_equals_pad_then_crop(mode, size, padding):
    x = torch.rand(16, 3, 32, 32, dtype=torch.float64)
    crop = A.RandomCrop(size, padding=padding, padding_mode=mode, fill=0.25 if mode == "constant" else 0.0)
    out, params = crop(x, generator=0, return_params=True)
    assert torch.equal(out, reference(x, params, size, padding, mode, crop.fill))
    xu = (x * 255).round().to(torch.uint8)
    out_u = crop.replay(xu, params)
    assert out_u.dtype == torch.uint8
    expected = reference(xu.double(), params, size, padding, mode, round(255 * crop.fill)).to(torch.uint8)
    assert torch.equal(out_u, expected)  # exact: every output pixel is an input pixel or the fill


def test_equals_torchvision_pad_and_crop():
    v2f = pytest.importorskip("torchvision.transforms.v2.functional")
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    for mode in ("reflect", "symmetric", "edge", "constant"):
        crop = A.RandomCrop(32, padding=4, padding_mode=mode)
        out, params = crop(x, generator=1, return_params=True)
        for i in range(8):
            padded = v2f.pad(x[i], [4], padding_mode=mode)
            t, s = params["top"][i].item(), params["left"][i].item()
            assert torch.equal(out[i], padded[:, t:t + 32, s:s + 32])


def test_draws_cover_every_shift_and_p0_is_the_centred_crop():
    x = torch.rand(2000, 1, 8, 8)
    _, params = A.RandomCrop(8, padding=2)(x, generator=0, return_params=True)
    assert set(params["top"].tolist()) == set(range(5)) == set(params["left"].tolist())
    y = torch.rand(3, 3, 8, 8)
    assert torch.equal(A.RandomCrop(8, padding=2, p=0)(y, generator=0), y)  # centred = no shift
    assert A.Compose.from_json(A.Compose([A.RandomCrop((6, 7), 3, "symmetric", p=0.5)]).to_json()) == \
        A.Compose([A.RandomCrop((6, 7), 3, "symmetric", p=0.5)])


@pytest.mark.parametrize("make, error, message", [
    (lambda: A.RandomScaleCrop(32, (40, 32)), ValueError, "reversed"),
    (lambda: A.RandomScaleCrop(0, (40, 42)), ValueError, "size must be positive"),
    (lambda: A.RandomResizedCrop(0), ValueError, "size must be positive"),
    (lambda: A.RandomResizedCrop(8, scale=(0.5, 0.1)), ValueError, "reversed"),
    (lambda: A.RandomResizedCrop(8, interpolation="antialias"), ValueError, "interpolation"),
    (lambda: A.RandomCrop(32, padding=-1), ValueError, "padding must be an int"),
    (lambda: A.RandomCrop(32, padding=2, padding_mode="wrap"), ValueError, "padding_mode must be one of"),
    (lambda: A.RandomCrop(32, fill=2.0), ValueError, "fill must be <= 1"),
])
def test_bad_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_crop_larger_than_the_padded_image_is_refused():
    with pytest.raises(ValueError, match="larger than the image"):
        A.RandomCrop(40, padding=2)(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="reflect padding"):
        A.RandomCrop(4, padding=4, padding_mode="reflect")(torch.zeros(1, 3, 4, 4))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**63 - 1), st.integers(8, 900), st.integers(8, 900), st.integers(8, 64), st.integers(0, 40),
       st.sampled_from([1.0, 0.5, 0.1, 0.0, 0.3]))
def test_draw_one_equals_make_params_for_one_image(seed, h, w, size, extra, p):
    # The per-item draws of a DataLoader worker: Python numbers, the same values as the batched
    # make_params for a batch of one, and the generator left in the same state.
    crop = A.RandomScaleCrop(size, (max(size, 8), max(size, 8) + extra), p=p)
    scaled_lo = [round(side * crop.scale[0] / min(h, w)) for side in (h, w)]
    assume(scaled_lo[0] >= size and scaled_lo[1] >= size)
    g1, g2 = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    params = crop.make_params((1, 3, h, w), g1)
    length, top, left, scaled = crop.draw_one((h, w), g2)
    want_h, want_w = crop._scaled((h, w), params["length"])
    assert (length, top, left, scaled) == (int(params["length"][0]), int(params["top"][0]), int(params["left"][0]),
                                           (int(want_h[0]), int(want_w[0])))
    assert torch.equal(g1.get_state(), g2.get_state())


def test_one_image_make_params_equals_the_batched_draws():
    # make_params for one image takes a path without tensor ops around the draws: same values,
    # dtypes and generator state as the batched path (Transform.make_params).
    from augkit.transforms.base import Transform

    for p in (1.0, 0.5, 0.1):
        crop = A.RandomScaleCrop(24, (30, 60), p=p)
        for seed in range(40):
            g1, g2 = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
            fast, batched = crop.make_params((1, 3, 37, 50), g1), Transform.make_params(crop, (1, 3, 37, 50), g2)
            assert fast.keys() == batched.keys()
            for key in fast:
                assert fast[key].dtype == batched[key].dtype and torch.equal(fast[key], batched[key])
            assert torch.equal(g1.get_state(), g2.get_state())


def test_scaled_sizes_follow_the_rule_in_tensors_and_in_python():
    # round(side * L / shorter) in float64, half to even: the tensor form and the one-image form.
    length = torch.arange(1, 2000)
    for size in [(427, 640), (640, 427), (3, 1001), (37, 37), (999, 1000)]:
        short = min(size)
        want = torch.stack([torch.round(side * length.double() / short).long() for side in size], 1)
        assert torch.equal(A.RandomScaleCrop._scaled_sizes(size, length), want)
        assert [A.RandomScaleCrop._scaled_one(size, int(n)) for n in length] == [tuple(r) for r in want.tolist()]
