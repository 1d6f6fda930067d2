"""Speed paths (in-place intermediates, one-pass dtype conversion) give the documented results."""

import pytest
import torch

import augkit as A
from augkit import functional as F


def train_pipe():
    return A.Compose([A.RandomScaleCrop(32, (32, 40)), A.HorizontalFlip(), A.PCALighting.imagenet(),
                      A.Rotate(15), A.GaussianNoise(0.03)])


def test_uint8_round_trips_through_the_working_dtype_exactly():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    working = F.to_working(x)
    assert working.dtype == torch.float32
    assert torch.equal(working, (x.double() / 255).float())  # correctly rounded x / 255
    assert torch.equal(F.from_working(working.clone(), torch.uint8, inplace=True), x)


@pytest.mark.parametrize("pipe", [
    train_pipe(),
    A.Compose([A.PCALighting.imagenet(), A.GaussianNoise(0.1)]),
    A.PCALighting.imagenet(),
    A.RandomApply([A.PCALighting.imagenet(), A.GaussianNoise(0.1)], p=0.5),
    A.Compose([A.RandomApply([A.PCALighting.imagenet()], p=0.5), A.HorizontalFlip()]),
], ids=["train", "colour-only", "pca", "random-apply", "nested"])
def test_the_callers_batch_is_never_overwritten(pipe):
    for x in (torch.rand(6, 3, 36, 36), torch.randint(0, 256, (6, 3, 36, 36), dtype=torch.uint8)):
        before = x.clone()
        out, params = pipe(x, generator=0, return_params=True)
        assert torch.equal(x, before)
        assert torch.equal(pipe.replay(x, params), out)
        assert torch.equal(x, before)


def test_compose_equals_the_transform_by_transform_reference():
    # The documented semantics: the geometric run (scale-crop, flip) is one resampling, then
    # each following transform is applied to the previous output.
    x = torch.rand(5, 3, 36, 36, dtype=torch.float64)
    pipe = train_pipe()
    out, params = pipe(x, generator=3, return_params=True)
    crop, flip, pca, rotate, noise = pipe.transforms
    p = params["transforms"]
    y = A.Compose([crop, flip]).replay(x, {"transforms": p[:2]})
    for t, tp in ((pca, p[2]), (rotate, p[3]), (noise, p[4])):
        y = t.replay(y, tp)
    torch.testing.assert_close(out, y, atol=1e-12, rtol=0)
    # uint8 is converted to float32 once at the start and rounded once at the end.
    xu = (x * 255).round().to(torch.uint8)
    ref_u = F.from_working(pipe.replay(xu.float() / 255, params), torch.uint8)
    assert torch.equal(pipe.replay(xu, params), ref_u)
