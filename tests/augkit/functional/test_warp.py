"""augkit.functional.warp: per-sample resampling groups, footprint windows, rotate.

Each test pins one defect that silently changed pixels, against an independent reference: a sample
resampled alone, the whole-image grid, the float path, torch's rot90.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import augkit as A
from augkit import functional as F
from augkit.functional import geometry as G
from augkit.params import index_params
from tests._references import smooth_images


def mixed_pipeline():
    return A.Compose([A.Rotate(30, p=0.5), A.Stretch((0.3, 1.2), (0.3, 1.2), p=0.5), A.HorizontalFlip(),
                      A.Shear(20, p=0.5), A.LensDistortion(0.2, p=0.3)])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([torch.uint8, torch.float32]), st.integers(2, 9))
def test_a_sample_depends_only_on_its_own_parameters(seed, dtype, n):
    # Defect 3: k was chosen per batch, so an untouched sample was blurred (edges ~12.5% darker)
    # when a batch-mate shrank. Now each sample equals itself alone, and identity is exact.
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 20, 20), generator=g, dtype=torch.uint8)
    if dtype == torch.float32:
        x = x.float() / 255
    pipe = mixed_pipeline()
    out, params = pipe(x, generator=seed, return_params=True)
    for i in range(n):
        alone = pipe.replay(x[i:i + 1], index_params(params, torch.tensor([i])))
        assert torch.equal(out[i:i + 1], alone)
        applied = [p["apply"][i] for p in params["transforms"] if "apply" in p and "x_scale" not in p]
        untouched = not any(bool(a) for a in applied)
        if untouched and not params["transforms"][1]["apply"][i]:
            assert torch.equal(out[i], x[i])  # identity parameters: the input, bit for bit


def test_an_untouched_sample_beside_a_shrinking_one_comes_back_exactly():
    x = (smooth_images(2, 32, 32) * 255).round().to(torch.uint8)
    stretch = A.Stretch((0.25, 0.25), (0.25, 0.25))
    params = {"apply": torch.tensor([True, False]), "x_scale": torch.tensor([0.25, 1.0], dtype=torch.float64),
              "y_scale": torch.tensor([0.25, 1.0], dtype=torch.float64)}
    out = stretch.replay(x, params)
    assert torch.equal(out[1], x[1])
    assert torch.equal(out[:1], stretch.replay(x[:1], index_params(params, torch.tensor([0]))))
    # The shrunk sample is antialiased: 4 x 4 sub-samples, so a 1-px checkerboard becomes grey.
    board = ((torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2).float().expand(1, 1, 32, 32)
    shrunk = stretch.replay(board, index_params(params, torch.tensor([0])))
    assert math.isclose(shrunk[0, 0, 16, 16].item(), 0.5, abs_tol=1e-6)


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


def test_rotate_turns_each_sample_by_its_own_angle():
    x = torch.rand(2, 1, 6, 6, dtype=torch.float64)
    out = F.rotate(x, torch.tensor([90.0, -90.0]))
    torch.testing.assert_close(out[0], x[0].rot90(1, dims=(-2, -1)), atol=1e-9, rtol=0)  # counter-clockwise
    torch.testing.assert_close(out[1], x[1].rot90(-1, dims=(-2, -1)), atol=1e-9, rtol=0)


@pytest.mark.parametrize("size", [(8, 16), (4, 8)])
def test_nearest_zero_fill_equals_zero_padded_grid_sample_on_the_frame_edge(size):
    # Half-pixel moves put every sample point on a pixel edge, the frame's edges included:
    # grid_sample's nearest rounds those ties to the even index, and a point whose pixel falls
    # outside reads the zero fill. The warp (border-padded sampling times coverage) must agree.
    # Sizes are powers of two, so that the normalised coordinates of the ties are exact.
    h, w = size
    x = torch.rand(4, 2, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    move = torch.tensor([[0.5, 0.5], [-1.5, 2.5], [3.5, -0.5], [-0.5, -3.5]], dtype=torch.float64)
    m = G.translation_matrix(move[:, 0], move[:, 1])
    out = F.warp(x, [G.Step(m, size, "zeros")], size, "nearest")
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64) - h / 2 + 0.5,
                            torch.arange(w, dtype=torch.float64) - w / 2 + 0.5, indexing="ij")
    points = torch.stack([xs, ys, torch.ones_like(xs)], -1).view(-1, 3)
    source = (points @ m.transpose(1, 2))[..., :2] / torch.tensor([w / 2, h / 2], dtype=torch.float64)
    want = torch.nn.functional.grid_sample(x, source.view(4, h, w, 2), mode="nearest", padding_mode="zeros",
                                           align_corners=False)
    assert torch.equal(out, want)
