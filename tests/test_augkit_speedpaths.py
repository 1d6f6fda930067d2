"""Speed paths (in-place intermediates, one-pass dtype conversion) give the documented results."""

import math

import pytest
import torch

import augkit as A
from augkit import functional as F
from augkit import geometry as G
from tests._references import resize_then_crop, smooth_images


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
    A.Compose([A.HorizontalFlip(), A.VerticalFlip(), A.PCALighting.imagenet(), A.HorizontalFlip()]),
    A.Compose([A.HorizontalFlip(), A.RandomScaleCrop(24, (30, 40), interpolation="antialias"),
               A.VerticalFlip()]),
    A.HorizontalFlip(),
], ids=["train", "colour-only", "pca", "random-apply", "nested", "flips", "antialias", "flip"])
def test_the_callers_batch_is_never_overwritten(pipe):
    for x in (torch.rand(6, 3, 36, 36), torch.randint(0, 256, (6, 3, 36, 36), dtype=torch.uint8)):
        before = x.clone()
        out, params = pipe(x, generator=0, return_params=True)
        assert torch.equal(x, before)
        assert torch.equal(pipe.replay(x, params), out)
        assert torch.equal(x, before)


def test_a_colour_map_inside_a_geometric_run_keeps_it_one_resampling(monkeypatch):
    calls = []
    real = torch.nn.functional.grid_sample
    monkeypatch.setattr(torch.nn.functional, "grid_sample", lambda *a, **k: calls.append(1) or real(*a, **k))
    train_pipe()(torch.rand(8, 3, 32, 32), generator=0)
    assert len(calls) == 1  # scale-crop, flip, PCA lighting and rotation: one grid_sample


def test_fused_colour_semantics_on_a_constant_image():
    # Rotation fills with 0, then lighting adds b, then an identity shear: the fill is lit (b),
    # the image is 0.5 + b, as one transform after another gives; the clamp comes once, at the end.
    x = torch.full((4, 3, 17, 17), 0.5, dtype=torch.float64)
    pipe = A.Compose([A.Rotate((45, 45)), A.PCALighting.imagenet(sigma=1.0), A.Shear(0, 0)])
    out, params = pipe(x, generator=1, return_params=True)
    b = F.pca_offset(params["transforms"][1]["alpha"], torch.tensor(A.pca.IMAGENET_EIGVAL),
                     torch.tensor(A.pca.IMAGENET_EIGVEC))[:, :, None, None]
    torch.testing.assert_close(out[..., 8, 8:9], (0.5 + b).clamp(0, 1)[..., 0], atol=1e-6, rtol=0)  # centre
    torch.testing.assert_close(out[..., 0, :1], b.clamp(0, 1)[..., 0], atol=1e-6, rtol=0)  # a filled corner
    # Lighting before the rotation: the fill stays 0 (the rotation fills the lit image).
    pipe = A.Compose([A.Shear(0, 0), A.PCALighting.imagenet(sigma=1.0), A.Rotate((45, 45))])
    out = pipe.replay(x, {"transforms": [pipe[0].make_params(x.shape, torch.Generator()), params["transforms"][1],
                                         params["transforms"][0]]})
    assert (out[..., 0, 0] == 0).all()
    torch.testing.assert_close(out[..., 8, 8:9], (0.5 + b).clamp(0, 1)[..., 0], atol=1e-6, rtol=0)


def test_fused_run_equals_one_transform_after_another_when_the_rotation_is_zero():
    # With no rotation the only difference of the fused run (one interpolation, one clamp) vanishes
    # for values that need no clamp: enlarging crops are bilinear in both.
    x = 0.3 + 0.4 * torch.rand(5, 3, 36, 36, dtype=torch.float64)
    pipe = A.Compose([A.RandomScaleCrop(32, (36, 44)), A.HorizontalFlip(), A.PCALighting.imagenet(0.05),
                      A.Rotate((0, 0))])
    out, params = pipe(x, generator=3, return_params=True)
    p = params["transforms"]
    y = x
    for t, tp in zip(pipe.transforms, p):
        y = t.replay(y, tp)
    torch.testing.assert_close(out, y, atol=1e-6, rtol=0)
    # uint8 is converted to float32 once at the start and rounded once at the end.
    xu = (x * 255).round().to(torch.uint8)
    ref_u = F.from_working(pipe.replay(xu.float() / 255, params), torch.uint8)
    assert torch.equal(pipe.replay(xu, params), ref_u)


@pytest.mark.parametrize("fill", ["zeros", "border", "reflect"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_windowed_resampling_equals_the_full_image_grid(monkeypatch, fill, interpolation):
    x = torch.rand(6, 3, 90, 120)
    pipe = A.Compose([A.RandomScaleCrop(24, (30, 140), interpolation=interpolation),
                      A.HorizontalFlip(), A.Rotate(10, fill=fill, interpolation=interpolation),
                      A.VerticalFlip()])
    seen = []
    real = torch.nn.functional.grid_sample
    monkeypatch.setattr(torch.nn.functional, "grid_sample",
                        lambda inp, *a, **k: seen.append(tuple(inp.shape[-2:])) or real(inp, *a, **k))
    out, params = pipe(x, generator=1, return_params=True)
    if fill == "zeros":
        assert all(4 * h * w <= 3 * 90 * 120 for h, w in seen)  # the windows were used
    monkeypatch.setattr(G, "footprint", lambda *a, **k: None)  # the reference: whole images
    torch.testing.assert_close(out, pipe.replay(x, params), atol=1e-5, rtol=0)


def test_uint8_is_converted_only_inside_the_windows_and_matches_float():
    x = torch.randint(0, 256, (4, 3, 200, 300), dtype=torch.uint8)
    pipe = A.Compose([A.RandomScaleCrop(64, (100, 200)), A.HorizontalFlip(), A.Rotate(10)])
    out, params = pipe(x, generator=5, return_params=True)
    reference = F.from_working(pipe.replay(x.float() / 255, params), torch.uint8)
    assert torch.equal(out, reference)


def test_windows_follow_the_crop_of_a_marked_image():
    # A bright pixel lands exactly where each sample's crop offset puts it (1:1 scale, nearest).
    x = torch.zeros(3, 1, 300, 400)
    x[:, :, 150, 200] = 1.0
    crop = A.RandomScaleCrop(100, (300, 300), interpolation="nearest")
    params = {"apply": torch.ones(3, dtype=torch.bool), "length": torch.full((3,), 300),
              "top": torch.tensor([100, 60, 120]), "left": torch.tensor([150, 110, 190])}
    out = crop.replay(x, params)
    for i in range(3):
        row, col = 150 - params["top"][i].item(), 200 - params["left"][i].item()
        assert out[i, 0, row, col] == 1.0 and out[i].sum() == 1.0


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


def test_the_fused_box_filter_is_close_to_the_exact_triangle_filter():
    # The bound RandomScaleCrop's docstring states: fused with a rotation (here of 0 degrees),
    # the scale-crop's antialiasing is a box filter; alone, the triangle of resize(antialias=True).
    from augkit.data import load_sample_photos

    photos = torch.from_numpy(load_sample_photos()).permute(0, 3, 1, 2).contiguous()
    for x, size, scale, mean_bound in ((photos[torch.tensor([0, 1, 0, 1])].float() / 255, 224, (230, 480), 0.005),
                                       (smooth_images(6, 90, 130), 48, (50, 120), 0.001)):
        exact = A.RandomScaleCrop(size, scale)
        out, params = A.Compose([exact, A.Rotate(0)])(x, generator=0, return_params=True)
        difference = (out - exact.replay(x, params["transforms"][0])).abs()
        assert difference.mean() < mean_bound
        assert 10 * math.log10(1 / (difference ** 2).mean().item()) > 40  # PSNR in dB


def test_antialias_is_the_former_name_of_bilinear():
    crop = A.RandomScaleCrop(224, (256, 480), interpolation="antialias")
    assert crop == A.RandomScaleCrop(224, (256, 480)) and crop.interpolation == "bilinear"
    assert A.Compose.from_json(A.Compose([crop]).to_json()) == A.Compose([crop])
    with pytest.raises(ValueError, match="interpolation must be one of"):
        A.Rotate(5, interpolation="antialias")
