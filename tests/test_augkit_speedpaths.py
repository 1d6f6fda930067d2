"""Speed paths (in-place intermediates, one-pass dtype conversion) give the documented results."""

import math

import pytest
import torch

import augkit as A
from augkit import functional as F
from augkit import geometry as G


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


def full_image_warp(x, stages, out_size, interpolation, fill):
    """The resampling without windows: one grid over the whole image (the reference)."""
    k = G.supersample_factor(stages)
    grid = G.sampling_grid(stages, x.shape[0], out_size, tuple(x.shape[-2:]), k, x.dtype, x.device)
    out = torch.nn.functional.grid_sample(x, grid, mode=interpolation, align_corners=False,
                                          padding_mode={"reflect": "reflection"}.get(fill, fill))
    return out.view(x.shape[0], x.shape[1], k * k, *out_size).mean(2)


@pytest.mark.parametrize("fill", ["zeros", "border", "reflect"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_windowed_resampling_equals_the_full_image_grid(monkeypatch, fill, interpolation):
    x = torch.rand(6, 3, 90, 120)
    pipe = A.Compose([A.RandomScaleCrop(24, (30, 140), fill=fill, interpolation=interpolation),
                      A.HorizontalFlip(), A.Rotate(10, fill=fill, interpolation=interpolation),
                      A.VerticalFlip()])
    seen = []
    real = torch.nn.functional.grid_sample
    monkeypatch.setattr(torch.nn.functional, "grid_sample",
                        lambda inp, *a, **k: seen.append(tuple(inp.shape[-2:])) or real(inp, *a, **k))
    out, params = pipe(x, generator=1, return_params=True)
    p = params["transforms"]
    stages = [t.stage(tp, (90, 120) if i == 0 else (24, 24)) for i, (t, tp) in
              enumerate(zip(pipe.transforms, p))]
    expected = full_image_warp(x, stages, (24, 24), interpolation, fill)
    torch.testing.assert_close(out, expected.clamp(0, 1), atol=1e-5, rtol=0)
    if fill != "reflect":  # reflect is windowed only when no tap leaves the image
        assert 4 * seen[0][0] * seen[0][1] <= 3 * 90 * 120  # the windows were used


def test_uint8_is_converted_only_inside_the_windows_and_matches_float():
    x = torch.randint(0, 256, (4, 3, 200, 300), dtype=torch.uint8)
    pipe = A.Compose([A.RandomScaleCrop(64, (100, 200)), A.HorizontalFlip()])
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


def smooth_images(n, h, w, seed=0):
    """Photo-like float images: a few random low-frequency sinusoids per channel, on [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    f = torch.rand(n, 3, 4, generator=g) * 12
    img = 0.5 + 0.25 * torch.sin(f[..., 0, None, None] * xs + f[..., 1, None, None] * ys)
    img = img + 0.2 * torch.cos(f[..., 2, None, None] * xs * ys + f[..., 3, None, None])
    return img.clamp(0, 1)


def resize_then_crop(x, params, scale_crop):
    """Reference: the whole image resized with interpolate(antialias=True), then cropped."""
    h, w = x.shape[-2:]
    out = []
    for i in range(x.shape[0]):
        length = params["length"][i].item()
        size = (round(h * length / min(h, w)), round(w * length / min(h, w)))
        full = torch.nn.functional.interpolate(x[i:i + 1].float(), size=size, mode="bilinear",
                                               antialias=True, align_corners=False)
        t, lc = params["top"][i].item(), params["left"][i].item()
        out.append(full[0, :, t:t + scale_crop.size[0], lc:lc + scale_crop.size[1]])
    return torch.stack(out)


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


def test_antialias_is_close_to_the_box_filter_and_fuses_with_flips_only():
    from augkit.data import load_sample_photos

    photos = torch.from_numpy(load_sample_photos()).permute(0, 3, 1, 2).contiguous()
    x = photos[torch.tensor([0, 1, 0, 1])]
    box = A.Compose([A.RandomScaleCrop(224, (256, 480)), A.HorizontalFlip()])
    smooth = A.Compose([A.RandomScaleCrop(224, (256, 480), interpolation="antialias"), A.HorizontalFlip()])
    out, params = smooth(x, generator=0, return_params=True)
    reference = box.replay(x, params)
    mse = ((out.double() - reference.double()) ** 2).mean().item()
    assert 10 * math.log10(255 ** 2 / mse) > 35  # PSNR in dB
    assert torch.equal(smooth.replay(x, params), out)
    assert A.Compose.from_json(smooth.to_json()) == smooth
    with pytest.raises(ValueError, match="share interpolation"):
        A.Compose([A.RandomScaleCrop(224, (256, 480), interpolation="antialias"), A.Rotate(5)])
    with pytest.raises(ValueError, match="interpolation must be one of"):
        A.Rotate(5, interpolation="antialias")
