"""TrivialAugmentWide and RandAugment: torchvision's op set and bins, per-sample ops, grouping, errors."""

import numpy as np
import pytest
import torch

import augkit as A
from augkit import functional as F
from augkit.functional import TRIVIAL_AUGMENT_WIDE


def photos(n=4):
    """Real texture (the sklearn photos, subsampled) plus random images, uint8 n x 3 x 54 x 80."""
    from sklearn.datasets import load_sample_images

    real = torch.from_numpy(np.stack(load_sample_images().images)).permute(0, 3, 1, 2)[:, :, ::8, ::8]
    noise = torch.randint(0, 256, (n - 2, 3, 54, 80), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return torch.cat([real, noise]).contiguous()


def one_op(policy, name, magnitude, n):
    """A policy restricted to op ``name`` and the params that apply it with ``magnitude`` to n samples."""
    t = policy(ops=(name,))
    return t, {"op": torch.zeros(n, dtype=torch.long), "magnitude": torch.full((n,), magnitude, dtype=torch.float64)}


@pytest.mark.parametrize("name", list(TRIVIAL_AUGMENT_WIDE))
def test_each_op_equals_torchvision_on_uint8_images(name):
    v2 = pytest.importorskip("torchvision.transforms.v2")
    tv = v2.TrivialAugmentWide()
    x = photos()
    bins, signed = TRIVIAL_AUGMENT_WIDE[name]
    magnitudes = [0.0] if bins is None else bins(31, 54, 80)[[0, 7, 20, 30]].tolist()
    for m in magnitudes + [-m for m in magnitudes if signed]:
        t, params = one_op(A.TrivialAugmentWide, name, m, len(x))
        ours = t.replay(x, params)
        want = torch.stack([tv._apply_image_or_video_transform(img, name, m, interpolation=tv.interpolation,
                                                               fill=tv._fill) for img in x])
        diff = (ours.int() - want.int()).abs()
        # Geometric and level ops are exact (the same nearest sampling, the same levels); blends
        # round once where torchvision truncates in uint8 after each step (and floors the grey
        # image of Color and Contrast): at most 2 levels apart.
        limit = 0 if name in ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Posterize", "Solarize",
                              "Equalize", "Identity") else 2
        assert diff.max() <= limit, (name, m, diff.max())


def test_geometric_ops_move_pixels_as_defined():
    x = torch.randint(1, 256, (2, 3, 10, 10), dtype=torch.uint8)
    t, params = one_op(A.TrivialAugmentWide, "TranslateX", -3.7, 2)  # int(-3.7) = -3 pixels: content left
    moved = t.replay(x, params)
    assert torch.equal(moved[..., :7], x[..., 3:]) and (moved[..., 7:] == 0).all()
    t, params = one_op(A.TrivialAugmentWide, "TranslateY", 2.9, 2)
    moved = t.replay(x, params)
    assert torch.equal(moved[:, :, 2:], x[:, :, :8]) and (moved[:, :, :2] == 0).all()
    t, params = one_op(A.TrivialAugmentWide, "Rotate", 90.0, 2)  # counter-clockwise as displayed
    assert torch.equal(t.replay(x, params), x.rot90(1, dims=(-2, -1)))


@pytest.mark.parametrize("name", ["Brightness", "Color", "Contrast", "Sharpness"])
def test_blend_ops_use_factor_one_plus_magnitude(name):
    x = torch.rand(3, 3, 9, 9)
    kernel = {"Brightness": F.adjust_brightness, "Color": F.adjust_saturation,
              "Contrast": F.adjust_contrast, "Sharpness": F.adjust_sharpness}[name]
    t, params = one_op(A.TrivialAugmentWide, name, -0.4, 3)
    torch.testing.assert_close(t.replay(x, params), kernel(x, torch.full((3,), 0.6)))


def test_each_sample_draws_its_own_op_bin_and_sign():
    x = torch.randint(0, 256, (700, 3, 8, 8), dtype=torch.uint8)
    _, params = A.TrivialAugmentWide()(x, generator=0, return_params=True)
    op, m = params["op"], params["magnitude"]
    counts = torch.bincount(op, minlength=14)
    assert (counts > 25).all()  # about 50 each
    rotate = op == 5
    assert (m[rotate] > 0).any() and (m[rotate] < 0).any() and m[rotate].abs().max() <= 135
    assert len(torch.unique(m[rotate].abs())) > 20  # bins drawn per sample
    assert (m[op == 0] == 0).all() and (m[op == 11] >= 0).all()  # Identity, Solarize (unsigned)
    _, params = A.RandAugment(num_ops=3)(x, generator=0, return_params=True)
    assert params["op"].shape == (700, 3) and len(torch.unique(params["op"], dim=0)) > 500
    assert set(params["magnitude"][params["op"] == 5].abs().tolist()) == {9 / 30 * 30}  # bin 9 of 0..30


@pytest.mark.parametrize("ops", [None, ("Rotate", "TranslateX", "Brightness", "Equalize", "Posterize")],
                         ids=["all", "some"])
def test_grouping_per_op_equals_applying_each_sample_alone(ops):
    x = torch.rand(60, 3, 12, 12)
    t = A.TrivialAugmentWide(ops=ops, interpolation="bilinear")
    out, params = t(x, generator=1, return_params=True)
    for n in range(60):
        alone = t.replay(x[n:n + 1], {k: v[n:n + 1] for k, v in params.items()})
        torch.testing.assert_close(out[n:n + 1], alone, atol=1e-6, rtol=0)


def test_rand_augment_applies_its_ops_in_sequence():
    x = photos()
    t = A.RandAugment(num_ops=2, magnitude=12)
    out, params = t(x, generator=2, return_params=True)
    single = A.RandAugment(num_ops=1, magnitude=12)
    first = single.replay(x.float() / 255, {k: v[:, :1] for k, v in params.items()})
    both = single.replay(first, {k: v[:, 1:] for k, v in params.items()})
    assert (out.int() - (both * 255).round().int()).abs().max() == 0
    assert torch.equal(A.RandAugment(num_ops=0)(x, generator=0), x)


def test_policies_replay_round_trip_and_keep_dtype():
    for t in (A.TrivialAugmentWide(num_magnitude_bins=11, fill="reflect"),
              A.RandAugment(3, 5, ops=("Rotate", "Solarize", "AutoContrast"), interpolation="bilinear")):
        for x in (photos(), torch.rand(4, 1, 9, 13)):
            out, params = t(x, generator=3, return_params=True)
            assert out.dtype == x.dtype and out.shape == x.shape
            assert torch.equal(t.replay(x, params), out)
        back = A.Compose.from_json(A.Compose([t]).to_json())
        assert back == A.Compose([t])


@pytest.mark.parametrize("make, error, message", [
    (lambda: A.TrivialAugmentWide(ops=("Rotate", "Invert")), ValueError, r"unknown: \['Invert'\]"),
    (lambda: A.TrivialAugmentWide(ops="Rotate"), ValueError, "sequence of TrivialAugmentWide op names"),
    (lambda: A.RandAugment(ops=()), ValueError, "non-empty"),
    (lambda: A.RandAugment(magnitude=31), ValueError, r"magnitude must be an int in \[0, 30\]"),
    (lambda: A.RandAugment(num_ops=-1), ValueError, "num_ops must be an int >= 0"),
    (lambda: A.RandAugment(num_ops=1.5), TypeError, "num_ops must be an int"),
    (lambda: A.TrivialAugmentWide(num_magnitude_bins=1), ValueError, "num_magnitude_bins must be an int >= 2"),
    (lambda: A.TrivialAugmentWide(interpolation="bicubic"), ValueError, "interpolation"),
])
def test_bad_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()
