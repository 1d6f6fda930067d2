"""Fuzz: valid batches of any size and dtype never raise and keep the documented dtype and shape;
each kind of invalid batch raises its documented error, whatever the transform."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import augkit as A

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
FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def call(t, x):
    if t.mixes_labels:
        return t(x, torch.zeros(len(x), dtype=torch.long), generator=0, num_classes=3)[0]
    return t(x, generator=0)


@st.composite
def valid_batches(draw, channels):
    n, c = draw(st.integers(0, 4)), draw(st.sampled_from(channels))
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    dtype = draw(st.sampled_from([torch.uint8, *FLOATS]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    if dtype == torch.uint8:
        return torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g)
    fill = draw(st.sampled_from([None, 0.0, 1.0]))  # the ends of the valid range too
    x = torch.rand(n, c, h, w, generator=g) if fill is None else torch.full((n, c, h, w), fill)
    return x.to(dtype)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(range(len(TRANSFORMS))))
def test_valid_batches_never_raise(data, which):
    t = TRANSFORMS[which]
    x = data.draw(valid_batches((3,) if isinstance(t, RGB_ONLY) else (1, 3)))
    out = call(t, x)
    assert out.dtype == (x.dtype if t.keeps_range or x.dtype.is_floating_point else torch.float32)
    assert tuple(out.shape) == t.output_shape(tuple(x.shape))
    if t.keeps_range and out.dtype.is_floating_point and out.numel():
        assert out.min() >= 0 and out.max() <= 1 and not out.isnan().any()


def _bad_rank(g):
    return torch.rand(3, 8, 8, generator=g), ValueError, "rank 4"


def _bad_channels(g):
    return torch.rand(2, 2, 8, 8, generator=g), ValueError, "channels"


def _bad_dtype(g):
    return torch.randint(0, 255, (2, 3, 8, 8), generator=g).to(torch.int16), TypeError, "dtype must be uint8 or floating"


def _out_of_range(g):
    return torch.rand(2, 3, 8, 8, generator=g) * 3 - 1, ValueError, r"values must be in \[0, 1\]"


def _nan(g):
    x = torch.rand(2, 3, 8, 8, generator=g)
    x[1, 2, 3, 4] = float("nan")
    return x, ValueError, r"values must be in \[0, 1\]"


def _empty_side(g):
    return torch.zeros(2, 3, 0, 8), ValueError, "height and width must be positive"


INVALID = [_bad_rank, _bad_channels, _bad_dtype, _out_of_range, _nan, _empty_side]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(INVALID), st.sampled_from(range(len(TRANSFORMS))), st.integers(0, 2**31 - 1))
def test_each_invalid_batch_raises_its_documented_error(make, which, seed):
    x, error, message = make(torch.Generator().manual_seed(seed))
    with pytest.raises(error, match=message):
        call(TRANSFORMS[which], x)


@pytest.mark.parametrize("which", [i for i, t in enumerate(TRANSFORMS) if isinstance(t, RGB_ONLY)])
def test_rgb_only_transforms_refuse_grey_batches(which):
    with pytest.raises(ValueError, match="RGB"):
        call(TRANSFORMS[which], torch.rand(2, 1, 8, 8))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_batches((1, 3)), st.sampled_from(["ten", "multi", "flip"]))
def test_views_of_valid_batches_never_raise(x, which):
    if which == "ten":
        out, shape = A.ten_crop(x, 6, resize=8), (10, 6, 6)
    elif which == "multi":
        out, shape = A.multi_scale_ten_crop(x, 6, (6, 9)), (20, 6, 6)
    else:
        out, shape = A.flip_views(x), (2, *x.shape[-2:])
    assert out.dtype == x.dtype
    assert tuple(out.shape) == (x.shape[0], shape[0], x.shape[1], *shape[1:])


@pytest.mark.parametrize("make", INVALID)
def test_views_of_invalid_batches_raise_their_documented_error(make):
    x, error, message = make(torch.Generator().manual_seed(0))
    for view in (lambda b: A.ten_crop(b, 6, resize=8), lambda b: A.multi_scale_ten_crop(b, 6, (6, 9)), A.flip_views):
        with pytest.raises(error, match=message):
            view(x)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_batches_work(dtype):
    x = torch.rand(3, 3, 16, 16).to(dtype)
    out = TRANSFORMS[20](x, generator=0)
    assert out.dtype == dtype and out.shape == (3, 3, 8, 8)
