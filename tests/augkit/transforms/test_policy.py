"""TrivialAugmentWide and RandAugment: torchvision's op set and bins, per-sample ops, grouping, uint8 chains, errors.

The comparisons with torchvision (0.29.1, in the comparison venv; they skip without it) replay
augkit's drawn ops and magnitudes into torchvision's own op kernels, sample by sample. The
measured figures quoted in :mod:`augkit.transforms.policy` come from
``python benchmarks/torchvision_fidelity.py``.
"""

import numpy as np
import pytest
import torch

import augkit as A
from augkit import functional as F
from augkit.functional import RAND_AUGMENT, TRIVIAL_AUGMENT_WIDE
from tests._references import levels_apart, photo_patches, random_batch, torchvision_policy

NAMES = list(TRIVIAL_AUGMENT_WIDE)
LEVEL_OPS = ("Posterize", "Solarize", "Equalize")


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


def stacked(params):
    """``(op, magnitude)`` N x K of a policy's params, or of a Compose of policies."""
    parts = params["transforms"] if "transforms" in params else [params]
    return (torch.stack([p["op"].view(len(p["op"]), -1) for p in parts], 1).flatten(1),
            torch.stack([p["magnitude"].view(len(p["op"]), -1) for p in parts], 1).flatten(1))


@pytest.mark.parametrize("name", NAMES)
def test_each_op_equals_torchvision(name):
    """uint8: torchvision's levels exactly. Float (levels k / 255): torchvision's float kernel
    to 1e-6, Posterize within one level (torchvision floors on 2^bits steps)."""
    pytest.importorskip("torchvision.transforms.v2")
    x = photos()
    bins, signed = TRIVIAL_AUGMENT_WIDE[name]
    magnitudes = [0.0] if bins is None else bins(31, 54, 80)[[0, 7, 20, 30]].tolist()
    for m in magnitudes + [-m for m in magnitudes if signed]:
        t, params = one_op(A.TrivialAugmentWide, name, m, len(x))
        assert torch.equal(t.replay(x, params), torchvision_policy(x, t.ops, params["op"], params["magnitude"])), m
        xf = x / 255
        want = torchvision_policy(xf, t.ops, params["op"], params["magnitude"])
        torch.testing.assert_close(t.replay(xf, params), want, atol=1 / 255 if name == "Posterize" else 1e-6, rtol=0)


@pytest.mark.parametrize("name", ["ShearX", "ShearY", "Rotate", "TranslateX", "TranslateY"])
def test_bilinear_geometric_ops_on_uint8_are_within_one_level_of_torchvision(name):
    """Both round the resampled values to levels; augkit's come from [0, 1] floats, so a value
    next to a half level may round the other way."""
    pytest.importorskip("torchvision.transforms.v2")
    x = photo_patches(32, 24)
    t = A.TrivialAugmentWide(ops=(name,), interpolation="bilinear")
    out, params = t(x, generator=0, return_params=True)
    largest, _ = levels_apart(out, torchvision_policy(x, t.ops, params["op"], params["magnitude"], "bilinear"))
    assert largest <= 1


def test_brightness_then_solarize_reads_the_level_brightness_wrote():
    """RandAugment's bin 9: Brightness -0.27 takes level 245 to 245 x 0.73 = 178.85, which uint8
    truncates to 178, under Solarize's threshold 255 x 0.7 = 178.5: the pixel stays 178. Kept in
    float, 178.85 is above the threshold and would turn into 76."""
    pytest.importorskip("torchvision.transforms.v2")
    t = A.RandAugment(num_ops=2, magnitude=9)
    brightness, solarize = (RAND_AUGMENT[name][0](31, 4, 4)[9].item() for name in ("Brightness", "Solarize"))
    x = torch.full((1, 3, 4, 4), 245, dtype=torch.uint8)
    params = {"op": torch.tensor([[NAMES.index("Brightness"), NAMES.index("Solarize")]]),
              "magnitude": torch.tensor([[-brightness, solarize]], dtype=torch.float64)}
    out = t.replay(x, params)
    assert (out == 178).all()
    assert torch.equal(out, torchvision_policy(x, t.ops, params["op"], params["magnitude"]))
    # A float batch stays float between ops (documented): 178.85 / 255 is solarized.
    torch.testing.assert_close(t.replay(x / 255, params), torch.full((1, 3, 4, 4), 1 - 245 * 0.73 / 255))


def test_contrast_then_equalize_on_textured_patches_equals_torchvision():
    pytest.importorskip("torchvision.transforms.v2")
    x = photo_patches(64)
    t = A.RandAugment(num_ops=2, magnitude=9)
    contrast = RAND_AUGMENT["Contrast"][0](31, 32, 32)[9].item()
    params = {"op": torch.tensor([[NAMES.index("Contrast"), NAMES.index("Equalize")]]).expand(64, 2),
              "magnitude": torch.tensor([[-contrast, 0.0]], dtype=torch.float64).expand(64, 2)}
    assert torch.equal(t.replay(x, params), torchvision_policy(x, t.ops, params["op"], params["magnitude"]))


@pytest.mark.parametrize("make", [
    lambda: A.TrivialAugmentWide(),
    lambda: A.RandAugment(num_ops=2, magnitude=9),
    lambda: A.RandAugment(num_ops=3, magnitude=17),
    lambda: A.Compose([A.TrivialAugmentWide(), A.HorizontalFlip(p=0.0), A.TrivialAugmentWide()]),
], ids=["TrivialAugmentWide", "RandAugment(2, 9)", "RandAugment(3, 17)", "TrivialAugmentWide twice"])
def test_drawn_uint8_chains_equal_torchvision(make):
    """Every op writes uint8 levels as torchvision's uint8 kernel does, so a chain of ops on uint8
    equals torchvision's chain, value for value (nearest interpolation, its default)."""
    pytest.importorskip("torchvision.transforms.v2")
    x = torch.cat([photo_patches(96, seed=1), random_batch(32, 3, 32, 32)])
    t = make()
    out, params = t(x, generator=0, return_params=True)
    if "transforms" in params:
        params = {"transforms": [params["transforms"][0], params["transforms"][2]]}
    op, magnitude = stacked(params)
    assert out.dtype == torch.uint8
    assert torch.equal(out, torchvision_policy(x, NAMES, op, magnitude))


def test_a_shear_sample_halfway_between_two_pixels_may_take_the_other_one():
    """RandAugment's shear 0.2 (bin 20 of 31) moves row r of a 32-pixel image by 0.2 (r + 1/2)
    pixels, a whole pixel and a half on rows 2, 7, 12, ...: there nearest sampling is a tie,
    which augkit's float64 maps and torchvision's float32 grid may break differently (on the
    frame's edge both follow grid_sample's rounding)."""
    pytest.importorskip("torchvision.transforms.v2")
    x = photo_patches(64, seed=1)
    for name in ("ShearX", "ShearY"):
        t = A.RandAugment(num_ops=1, magnitude=20, ops=(name,))
        out, params = t(x, generator=0, return_params=True)
        want = torchvision_policy(x, t.ops, params["op"], params["magnitude"])
        assert 0 < (out != want).double().mean() < 0.005


def test_float_chains_stay_float_and_agree_with_torchvision_where_no_level_op_follows_another():
    """A float batch is not rounded between ops. Where Posterize, Solarize and Equalize come
    first (they read the levels k / 255 of the input) the chain stays within two levels of
    torchvision's float path (one level from a Posterize, times the next op's gain); after
    another op they read values between levels, where augkit reads ``round(255 x)`` and
    torchvision floors, and may land in another bin."""
    pytest.importorskip("torchvision.transforms.v2")
    x = photo_patches(128, seed=2) / 255
    t = A.RandAugment(num_ops=2, magnitude=9)
    out, params = t(x, generator=1, return_params=True)
    want = torchvision_policy(x, t.ops, params["op"], params["magnitude"])
    level_op_later = torch.isin(params["op"][:, 1], torch.tensor([NAMES.index(n) for n in LEVEL_OPS]))
    largest, _ = levels_apart(out[~level_op_later], want[~level_op_later])
    assert largest <= 2
    # What a level op after another reads: the rounded level of the float value.
    single = A.RandAugment(num_ops=1, magnitude=9)
    later = level_op_later.nonzero()[0, 0].item()
    first = single.replay(x[later:later + 1], {k: v[later:later + 1, :1] for k, v in params.items()})
    second = {k: v[later:later + 1, 1:] for k, v in params.items()}
    assert torch.equal(single.replay(first, second), single.replay(F.levels(first).float() / 255, second))


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
    for x in (torch.rand(60, 3, 12, 12), random_batch(60, 3, 12, 12)):
        t = A.TrivialAugmentWide(ops=ops, interpolation="bilinear")
        out, params = t(x, generator=1, return_params=True)
        for n in range(60):
            alone = t.replay(x[n:n + 1], {k: v[n:n + 1] for k, v in params.items()})
            torch.testing.assert_close(out[n:n + 1], alone, atol=1e-6 if x.is_floating_point() else 0, rtol=0)


def test_rand_augment_applies_its_ops_in_sequence():
    x = photos()
    t = A.RandAugment(num_ops=2, magnitude=12)
    out, params = t(x, generator=2, return_params=True)
    single = A.RandAugment(num_ops=1, magnitude=12)
    first = single.replay(x, {k: v[:, :1] for k, v in params.items()})
    assert first.dtype == torch.uint8
    assert torch.equal(out, single.replay(first, {k: v[:, 1:] for k, v in params.items()}))
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
