"""The contract every registered transform keeps (torchvision's TestSmoke, kornia's CommonTests).

Each built-in in augkit's registry is enrolled: registering a new transform without an entry in
EXAMPLES fails ``test_every_registered_transform_is_enrolled``. The contract: uint8/float in,
same dtype out; PIL/numpy/tensor in, same kind out; an empty batch; p=0 is the identity and
p=1 always applies; exact replay; the JSON round trip; determinism under a seed (and
generator=None is torch's global generator); CPU and CUDA agree (by device substitution, on a
machine with CUDA). Then, over a list of transforms and pipelines: outputs in range, per-sample
draws, and the fuzz: valid batches of any size and dtype never raise and keep the documented
dtype and shape; each kind of invalid batch raises its documented error, whatever the transform.
"""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import augkit as A
from augkit.registry import registered
from tests._references import INVALID_BATCHES, batch_strategy, random_batch, valid_batches

N, C, H, W, K = 5, 3, 24, 28, 4


LABELS = torch.arange(N) % K


EXAMPLES = {
    "HorizontalFlip": lambda: A.HorizontalFlip(p=0.5),
    "VerticalFlip": lambda: A.VerticalFlip(p=0.5),
    "RandomScaleCrop": lambda: A.RandomScaleCrop(16, (24, 30), p=0.8),
    "RandomResizedCrop": lambda: A.RandomResizedCrop((16, 12)),
    "RandomCrop": lambda: A.RandomCrop((20, 24), padding=2, padding_mode="reflect", p=0.7),
    "Rotate": lambda: A.Rotate((5, 30), p=0.7),
    "Translate": lambda: A.Translate((0.05, 0.2), (0.05, 0.2), p=0.7),
    "Stretch": lambda: A.Stretch((1.1, 1.3), (0.7, 0.9), p=0.7),
    "Shear": lambda: A.Shear((5, 20), (5, 10), p=0.7),
    "LensDistortion": lambda: A.LensDistortion((0.1, 0.3), (0.01, 0.05), p=0.7),
    "GaussianNoise": lambda: A.GaussianNoise((0.05, 0.1), p=0.7),
    "PCALighting": lambda: A.PCALighting.imagenet(sigma=0.5, p=0.7),
    "Normalize": lambda: A.Normalize((0.5, 0.4, 0.3), (0.2, 0.2, 0.2)),
    "ColorJitter": lambda: A.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.7),
    "Grayscale": lambda: A.Grayscale(p=0.5),
    "GaussianBlur": lambda: A.GaussianBlur(5, (0.5, 2.0), p=0.7),
    "RandomErasing": lambda: A.RandomErasing(p=0.5, scale=(0.1, 0.3)),
    "MixUp": lambda: A.MixUp(alpha=0.5, p=0.8),
    "CutMix": lambda: A.CutMix(alpha=1.0, p=0.8),
    "TrivialAugmentWide": lambda: A.TrivialAugmentWide(),
    "RandAugment": lambda: A.RandAugment(num_ops=2, magnitude=9),
    "Compose": lambda: A.Compose([A.RandomResizedCrop(16), A.HorizontalFlip(), A.ColorJitter(0.2), A.Rotate(10)]),
    "RandomApply": lambda: A.RandomApply([A.Rotate((5, 10)), A.GaussianBlur(3)], p=0.5),
    "OneOf": lambda: A.OneOf([A.Rotate((5, 10)), A.Grayscale()]),
}


BUILT_INS = sorted(name for name, cls in registered().items() if cls.__module__.startswith("augkit."))


# Crops whose samples not drawn get the centred crop (the test view), not the input.
TEST_VIEW = {"RandomScaleCrop", "RandomCrop"}


# Per-pixel noise fields are drawn on the batch's device: CUDA draws other numbers than the CPU.
DEVICE_NOISE = {"GaussianNoise"}


def example(name, **changes):
    if name not in EXAMPLES:
        pytest.fail(f"{name} is a registered transform without an entry in EXAMPLES: add one")
    t = EXAMPLES[name]()
    return type(t).from_config({**t.get_config(), **changes}) if changes else t


def batch(dtype=torch.uint8, n=N, device="cpu"):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (n, C, H, W), dtype=torch.uint8, generator=g)
    return (x if dtype == torch.uint8 else (x / 255).to(dtype)).to(device)


def call(t, x, **kwargs):
    """``t(x, ...)`` with the labels when ``t`` mixes them; returns (images, params or None)."""
    n, device = (len(x), x.device) if isinstance(x, torch.Tensor) else (1, "cpu")  # a PIL/numpy image is one sample
    labels = dict(labels=LABELS[:n].to(device), num_classes=K) if t.mixes_labels else {}
    out = t(x, **labels, **kwargs)
    if kwargs.get("return_params"):
        out, params = out
    else:
        params = None
    return (out[0] if t.mixes_labels else out), params


def replay(t, x, params):
    labels = (LABELS[:len(x)].to(x.device),) if t.mixes_labels else ()
    out = t.replay(x, params, *labels, **({"num_classes": K} if t.mixes_labels else {}))
    return out[0] if t.mixes_labels else out


def out_dtype(t, dtype):
    return dtype if t.keeps_range or dtype.is_floating_point else torch.float32


def test_every_registered_transform_is_enrolled():
    assert set(BUILT_INS) == set(EXAMPLES)


@pytest.mark.parametrize("name", BUILT_INS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_dtype_in_is_dtype_out_with_the_documented_shape(name, dtype):
    t = example(name)
    x = batch(dtype)
    out, _ = call(t, x, generator=0)
    assert out.dtype == out_dtype(t, dtype)
    assert tuple(out.shape) == t.output_shape(tuple(x.shape))
    if t.keeps_range and dtype.is_floating_point:
        assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", BUILT_INS)
def test_pil_numpy_and_tensor_in_same_kind_out(name):
    t = example(name)
    image = batch(n=1)[0].permute(1, 2, 0).numpy()
    if not t.keeps_range:  # float values outside [0, 1] have no uint8 image
        with pytest.raises(TypeError, match="call it on a tensor batch"):
            call(t, image, generator=0)
        return
    expected = call(t, batch(n=1), generator=0)[0][0].permute(1, 2, 0).numpy()
    out, _ = call(t, image, generator=0)
    assert isinstance(out, np.ndarray) and np.array_equal(out, expected)
    out, _ = call(t, Image.fromarray(image), generator=0)
    assert isinstance(out, Image.Image) and out.mode == "RGB" and np.array_equal(np.asarray(out), expected)


@pytest.mark.parametrize("name", BUILT_INS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_empty_batch(name, dtype):
    t = example(name)
    x = batch(dtype, n=0)
    out, params = call(t, x, generator=0, return_params=True)
    assert out.shape == (0, *t.output_shape(tuple(x.shape))[1:]) and out.dtype == out_dtype(t, dtype)
    assert replay(t, x, params).shape == out.shape


WITH_P = [name for name in BUILT_INS if example(name).p is not None]


@pytest.mark.parametrize("name", WITH_P)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_p_zero_is_the_identity(name, dtype):
    x = batch(dtype)
    t = example(name, p=0.0)
    out, params = call(t, x, generator=0, return_params=True)
    assert not params["apply"].any()
    if name in TEST_VIEW:  # their p=0 is the documented test view: the centred crop
        assert torch.equal(out, call(t, x, generator=1)[0])
        return
    assert torch.equal(out, x)


@pytest.mark.parametrize("name", WITH_P)
def test_p_one_always_applies(name):
    x = batch(torch.float32)
    t = example(name, p=1.0)
    out, params = call(t, x, generator=0, return_params=True)
    assert params["apply"].all()
    if out.shape == x.shape and not t.mixes_labels:  # a sample may draw itself as MixUp's partner
        changed = (out != x).flatten(1).any(1)
        assert changed.all()


@pytest.mark.parametrize("name", BUILT_INS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_replay_is_exact(name, dtype):
    t = example(name)
    x = batch(dtype)
    out, params = call(t, x, generator=3, return_params=True)
    assert torch.equal(replay(t, x, params), out)


@pytest.mark.parametrize("name", BUILT_INS)
def test_json_round_trip(name):
    t = example(name)
    text = t.to_json()
    back = A.Transform.from_json(text)
    assert type(back) is type(t) and back == t and back.to_json() == text
    x = batch()
    assert torch.equal(call(back, x, generator=5)[0], call(t, x, generator=5)[0])


@pytest.mark.parametrize("name", BUILT_INS)
def test_same_seed_same_output_and_none_is_the_global_generator(name):
    t = example(name)
    x = batch()
    first = call(t, x, generator=7)[0]
    assert torch.equal(first, call(t, x, generator=torch.Generator().manual_seed(7))[0])
    torch.manual_seed(11)
    a = call(t, x)[0]
    torch.manual_seed(11)
    assert torch.equal(call(t, x)[0], a)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", BUILT_INS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_a_cuda_batch_gives_the_cpu_images(name, dtype):
    t = example(name)
    want, params = call(t, batch(dtype), generator=0, return_params=True)
    moved = batch(dtype, device="cuda")
    out, _ = call(t, moved, generator=0)  # a CPU generator: the same parameters
    assert out.device.type == "cuda" and out.dtype == want.dtype and out.shape == want.shape
    if name in DEVICE_NOISE:
        return
    tolerance = dict(atol=1, rtol=0) if dtype == torch.uint8 else dict(atol=2e-4, rtol=1e-3)
    torch.testing.assert_close(out.cpu().float(), want.float(), **tolerance)
    torch.testing.assert_close(replay(t, moved, params).cpu().float(), want.float(), **tolerance)


# ---------------------------------------------------------------- small random batches (hypothesis)
SETTINGS = settings(max_examples=25, deadline=None)


RANDOM_TRANSFORMS = [
    A.Rotate(30), A.Translate(0.2, 0.2), A.Stretch(0.3, 0.3), A.Shear(20, 20),
    A.LensDistortion(0.3, 0.1), A.GaussianNoise((0.0, 0.5)), A.HorizontalFlip(), A.VerticalFlip(),
    A.RandomScaleCrop(6, (6, 14)), A.Rotate(40, fill="reflect"), A.Shear(30, fill="border"),
    A.Rotate(20, interpolation="nearest"),
]


@SETTINGS
@given(batch_strategy(), st.sampled_from(range(len(RANDOM_TRANSFORMS))))
def test_outputs_stay_in_range_with_input_dtype(spec, which):
    n, c, h, w, dtype, seed = spec
    x = random_batch(n, c, max(h, 6), max(w, 6), dtype, seed)
    t = RANDOM_TRANSFORMS[which]
    out = t(x, generator=seed)
    assert out.dtype == dtype
    if dtype.is_floating_point:
        assert out.min() >= 0 and out.max() <= 1 and not out.isnan().any()


@pytest.mark.parametrize("transform, key", [
    (A.Rotate(30), "angle"), (A.Translate(0.2, 0.2), "dx"), (A.Stretch(0.3, 0.3), "x_scale"),
    (A.Shear(20, 20), "x_angle"), (A.LensDistortion(0.3), "k1"), (A.GaussianNoise((0, 0.3)), "sigma"),
    (A.RandomScaleCrop(8, (8, 40)), "length"), (A.PCALighting.imagenet(), "alpha"),
])
def test_each_sample_draws_its_own_parameters(transform, key):
    x = torch.rand(16, 3, 12, 12)
    out, params = transform(x, generator=0, return_params=True)
    values = params[key]
    assert values.shape[0] == 16
    assert len(torch.unique(values, dim=0)) > 8
    # ... and the outputs differ per sample as well (not one draw broadcast over the batch).
    assert len({tuple(o.flatten().tolist()) for o in out}) == 16


@pytest.mark.parametrize("transform", RANDOM_TRANSFORMS + [A.PCALighting.imagenet()])
def test_same_seed_same_output_and_replay_is_exact(transform):
    x = random_batch(5, 3, 14, 14, torch.uint8, 3)
    out, params = transform(x, generator=7, return_params=True)
    assert torch.equal(out, transform(x, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(out, transform.replay(x, params))


# ---------------------------------------------------------------- fuzz: any valid batch works, each invalid one raises its error
TRANSFORMS = [
    A.HorizontalFlip(), A.VerticalFlip(), A.RandomScaleCrop(8, (8, 12)), A.PCALighting.imagenet(),
    A.Rotate(30), A.Translate(0.2, 0.2), A.Stretch(0.3, 0.3), A.Shear(20, 10),
    A.LensDistortion(0.3, 0.1), A.GaussianNoise((0, 0.2)), A.Normalize(0.5, 0.25),
    A.RandomResizedCrop(8), A.ColorJitter(0.4, 0.4, 0.4, 0.2), A.Grayscale(0.5), A.GaussianBlur(5),
    A.RandomErasing(p=0.7, value="random"), A.TrivialAugmentWide(), A.RandAugment(2, 15),
    A.MixUp(0.4), A.CutMix(),
    A.Compose([A.RandomScaleCrop(8, (8, 12)), A.HorizontalFlip(), A.Rotate(10), A.GaussianNoise(0.1)]),
    A.Compose([A.RandomResizedCrop(8), A.TrivialAugmentWide(), A.RandomErasing(), A.MixUp()]),
    A.RandomApply([A.Shear(10), A.GaussianNoise(0.1)], p=0.5),
    A.OneOf([A.Rotate(10), A.LensDistortion(0.2), A.GaussianBlur(3)]),
]


RGB_ONLY = (A.PCALighting,)


def call_any(t, x):
    """``t(x)`` with labels when ``t`` mixes them; returns the images."""
    if t.mixes_labels:
        return t(x, torch.zeros(len(x), dtype=torch.long), generator=0, num_classes=3)[0]
    return t(x, generator=0)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(range(len(TRANSFORMS))))
def test_valid_batches_never_raise(data, which):
    t = TRANSFORMS[which]
    x = data.draw(valid_batches((3,) if isinstance(t, RGB_ONLY) else (1, 3)))
    out = call_any(t, x)
    assert out.dtype == (x.dtype if t.keeps_range or x.dtype.is_floating_point else torch.float32)
    assert tuple(out.shape) == t.output_shape(tuple(x.shape))
    if t.keeps_range and out.dtype.is_floating_point and out.numel():
        assert out.min() >= 0 and out.max() <= 1 and not out.isnan().any()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(INVALID_BATCHES), st.sampled_from(range(len(TRANSFORMS))), st.integers(0, 2**31 - 1))
def test_each_invalid_batch_raises_its_documented_error(make, which, seed):
    x, error, message = make(torch.Generator().manual_seed(seed))
    with pytest.raises(error, match=message):
        call_any(TRANSFORMS[which], x)


@pytest.mark.parametrize("which", [i for i, t in enumerate(TRANSFORMS) if isinstance(t, RGB_ONLY)])
def test_rgb_only_transforms_refuse_grey_batches(which):
    with pytest.raises(ValueError, match="RGB"):
        call_any(TRANSFORMS[which], torch.rand(2, 1, 8, 8))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_batches_work(dtype):
    x = torch.rand(3, 3, 16, 16).to(dtype)
    out = TRANSFORMS[20](x, generator=0)
    assert out.dtype == dtype and out.shape == (3, 3, 8, 8)
