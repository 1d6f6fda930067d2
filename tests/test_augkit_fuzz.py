"""Fuzz: arbitrary shapes, dtypes and values only ever raise ValueError/TypeError, and any
output has the input's dtype and the documented shape."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import augkit as A

TRANSFORMS = [
    A.HorizontalFlip(), A.VerticalFlip(), A.RandomScaleCrop(8, (8, 12)), A.PCALighting.imagenet(),
    A.Rotate(30), A.Translate(0.2, 0.2), A.Stretch(0.3, 0.3), A.Shear(20, 10),
    A.LensDistortion(0.3, 0.1), A.GaussianNoise((0, 0.2)), A.Normalize(0.5, 0.25),
    A.Compose([A.RandomScaleCrop(8, (8, 12)), A.HorizontalFlip(), A.Rotate(10), A.GaussianNoise(0.1)]),
    A.RandomApply([A.Shear(10), A.GaussianNoise(0.1)], p=0.5),
    A.OneOf([A.Rotate(10), A.LensDistortion(0.2)]),
]
DTYPES = [torch.uint8, torch.int16, torch.float16, torch.float32, torch.float64, torch.bool]


@st.composite
def arbitrary_tensors(draw):
    # Weighted toward valid-looking batches so the transforms' own paths get exercised too.
    rank = draw(st.sampled_from([2, 3, 4, 4, 4, 4, 4, 5]))
    dims = [draw(st.integers(0, 4))] if rank >= 4 else []
    if rank >= 3:
        dims.append(draw(st.sampled_from([1, 2, 3, 3, 4])))
    dims += [draw(st.integers(0, 40)), draw(st.integers(0, 40))]
    shape = dims[-rank:] if rank < 4 else dims + [draw(st.integers(1, 3))] * (rank - 4)
    dtype = draw(st.sampled_from(DTYPES + [torch.uint8, torch.float32]))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    kind = draw(st.sampled_from(["in_range", "in_range", "out_of_range", "nan"]))
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if not dtype.is_floating_point:
        high = 256 if dtype == torch.uint8 else 1000
        return torch.randint(0, high, shape, generator=g).to(dtype)
    x = torch.rand(shape, generator=g, dtype=torch.float64)
    if kind == "out_of_range":
        x = x * 3 - 1
    elif kind == "nan" and x.numel():
        x.view(-1)[0] = float("nan")
    return x.to(dtype)


def documented_shape(transform, x):
    n, c, _h, _w = x.shape
    if isinstance(transform, A.RandomScaleCrop) or (isinstance(transform, A.Compose)
                                                     and not isinstance(transform, A.RandomApply)):
        return (n, c, 8, 8)
    return tuple(x.shape)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arbitrary_tensors(), st.sampled_from(range(len(TRANSFORMS))))
def test_transforms_raise_only_value_or_type_errors(x, which):
    transform = TRANSFORMS[which]
    try:
        out = transform(x, generator=0)
    except (ValueError, TypeError):
        return
    if isinstance(transform, A.Normalize):
        assert out.dtype == (x.dtype if x.dtype.is_floating_point else torch.float32)
    else:
        assert out.dtype == x.dtype
    assert tuple(out.shape) == documented_shape(transform, x)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arbitrary_tensors(), st.sampled_from(["ten", "multi", "flip"]))
def test_views_raise_only_value_or_type_errors(x, which):
    try:
        if which == "ten":
            out, shape = A.ten_crop(x, 6, resize=8), (10, 6, 6)
        elif which == "multi":
            out, shape = A.multi_scale_ten_crop(x, 6, (6, 9)), (20, 6, 6)
        else:
            out, shape = A.flip_views(x), (2, *x.shape[-2:])
    except (ValueError, TypeError):
        return
    assert out.dtype == x.dtype
    assert tuple(out.shape) == (x.shape[0], shape[0], x.shape[1], *shape[1:])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_batches_work(dtype):
    x = torch.rand(3, 3, 16, 16).to(dtype)
    out = TRANSFORMS[11](x, generator=0)
    assert out.dtype == dtype and out.shape == (3, 3, 8, 8)
