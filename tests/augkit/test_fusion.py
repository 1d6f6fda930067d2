"""augkit.fusion: one resampling per run of geometric transforms and colour maps, exact where it can be.

The fused result is checked against the composed analytic warp, against one transform after another,
and against each transform's exact kernel; the planner splits runs at other transforms and refuses
mixed resampling modes; intermediates are overwritten, the caller's batch never.
"""

import math

import pytest
import torch

import augkit as A
from augkit import functional as F
from augkit.functional import geometry as G
from tests._references import (
    PATTERN_SIZE,
    centred_grid,
    forward_matrices,
    pattern,
    resize_then_crop,
    rotation_forward,
    shear_forward,
    smooth_images,
    source_image,
    train_pipeline,
)

H = W = PATTERN_SIZE


def test_fused_pipeline_is_one_resampling_call_matching_the_composed_warp(monkeypatch):
    calls = []
    real = torch.nn.functional.grid_sample
    monkeypatch.setattr(torch.nn.functional, "grid_sample",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    pipe = A.Compose([A.Rotate(30), A.HorizontalFlip(), A.Shear(15, 10), A.Stretch(0.2, 0.2),
                      A.Translate(0.1, 0.1), A.LensDistortion(0.2)])
    out, params = pipe(source_image(6), generator=5, return_params=True)
    steps = [t.step(p, (H, W)) for t, p in zip(pipe.transforms, params["transforms"])]
    factors = {tuple(k) for k in G.supersample_factors(G.affine_total(steps)).tolist()}
    assert len(calls) == len(factors) < 6  # one call per group of equal supersampling, not per sample
    rot, flip, shear, stretch, shift, lens = params["transforms"]
    # Forward map of each transform per sample, in pipeline order (the lens is handled apart).
    chain = [forward_matrices([rotation_forward(a) for a in rot["angle"].tolist()]),
             forward_matrices([[[-1.0 if f else 1.0, 0, 0], [0, 1, 0]] for f in flip["apply"].tolist()]),
             forward_matrices([shear_forward(a, b) for a, b in
                               zip(shear["x_angle"].tolist(), shear["y_angle"].tolist())]),
             forward_matrices([[[a, 0, 0], [0, b, 0]] for a, b in
                               zip(stretch["x_scale"].tolist(), stretch["y_scale"].tolist())]),
             forward_matrices([[[1, 0, dx * W], [0, 1, dy * H]] for dx, dy in
                               zip(shift["dx"].tolist(), shift["dy"].tolist())])]
    # Output point -> undo the lens (last transform, so applied first), then each affine map
    # backwards; a point is filled when it leaves any transform's input frame on the way.
    xs, ys = centred_grid()
    u, v = xs / (W / 2), ys / (H / 2)
    factor = 1 + lens["k1"][:, None, None] * (u * u + v * v)
    sx, sy = u * factor * W / 2, v * factor * H / 2
    frames_ok = (sx.abs() <= W / 2 - 1.5) & (sy.abs() <= H / 2 - 1.5)
    for forward in reversed(chain):
        back = torch.linalg.inv(forward)
        sx, sy = (back[:, 0, 0, None, None] * sx + back[:, 0, 1, None, None] * sy + back[:, 0, 2, None, None],
                  back[:, 1, 0, None, None] * sx + back[:, 1, 1, None, None] * sy + back[:, 1, 2, None, None])
        frames_ok &= (sx.abs() <= W / 2 - 1.5) & (sy.abs() <= H / 2 - 1.5)
    assert frames_ok.float().mean() > 0.3
    # Bilinear error of the pattern < 1e-3; a box-supersampled sample adds its average over the pixel.
    torch.testing.assert_close(out[:, 0][frames_ok], pattern(sx, sy)[frames_ok], atol=3e-3, rtol=0)
    assert (out[:, 0][(sx.abs() > W / 2 + 1.5) | (sy.abs() > H / 2 + 1.5)] == 0).all()  # outside the source: fill


def test_a_non_geometric_transform_splits_the_fused_run(monkeypatch):
    calls = []
    real = torch.nn.functional.grid_sample
    monkeypatch.setattr(torch.nn.functional, "grid_sample",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    pipe = A.Compose([A.RandomScaleCrop(24, (24, 30)), A.Rotate(5), A.GaussianNoise(0.01),
                      A.Shear(5), A.HorizontalFlip()])
    pipe(torch.rand(3, 3, 32, 32), generator=0)
    assert len(calls) == 2


def test_flip_only_runs_are_exact_without_resampling(monkeypatch):
    monkeypatch.setattr(torch.nn.functional, "grid_sample", None)
    x = torch.rand(4, 3, 7, 9)
    out, _params = A.Compose([A.HorizontalFlip(p=1), A.VerticalFlip(p=1)])(x, return_params=True)
    assert torch.equal(out, x.flip(-1).flip(-2))


def test_fusion_rejects_mixed_resampling_modes():
    with pytest.raises(ValueError, match="share interpolation"):
        A.Compose([A.Rotate(5), A.Shear(5, interpolation="nearest")])
    A.Compose([A.Rotate(5), A.GaussianNoise(0.1), A.Shear(5, interpolation="nearest")])


def test_a_color_map_inside_a_geometric_run_keeps_it_one_resampling(monkeypatch):
    calls = []
    real = torch.nn.functional.grid_sample
    monkeypatch.setattr(torch.nn.functional, "grid_sample", lambda *a, **k: calls.append(1) or real(*a, **k))
    train_pipeline()(torch.rand(8, 3, 32, 32), generator=0)
    assert len(calls) == 1  # scale-crop, flip, PCA lighting and rotation: one grid_sample


def test_fused_color_semantics_on_a_constant_image():
    # Rotation fills with 0, then lighting adds b, then an identity shear: the fill is lit (b),
    # the image is 0.5 + b, as one transform after another gives; the clamp comes once, at the end.
    x = torch.full((4, 3, 17, 17), 0.5, dtype=torch.float64)
    pipe = A.Compose([A.Rotate((45, 45)), A.PCALighting.imagenet(sigma=1.0), A.Shear(0, 0)])
    out, params = pipe(x, generator=1, return_params=True)
    b = F.pca_offset(params["transforms"][1]["alpha"], torch.tensor(F.IMAGENET_EIGVAL),
                     torch.tensor(F.IMAGENET_EIGVEC))[:, :, None, None]
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


@pytest.mark.parametrize("pipe", [
    train_pipeline(),
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


def edge_and_interior(d: torch.Tensor) -> tuple[float, float]:
    """Largest |d| on the outer rows/columns and inside them (d: N x C x h x w)."""
    inner = d[..., 1:-1, 1:-1].abs().max().item()
    edges = torch.cat([d[..., 0, :], d[..., -1, :], d[..., :, 0], d[..., :, -1]], -1).abs().max().item()
    return edges, inner


def test_fused_scale_crop_clamps_its_edge_taps():
    # Defect 1 in the fused path (the README's CIFAR recipe: enlarging crops, then a rotation):
    # with the rotation at 0 the result is resize-then-crop, edges included, to float rounding.
    x = smooth_images(16, 32, 32)
    pipe = A.Compose([A.RandomScaleCrop(32, (32, 40)), A.HorizontalFlip(p=0), A.Rotate((0, 0))])
    out, params = pipe(x, generator=1, return_params=True)
    crop_params = params["transforms"][0]
    reference = resize_then_crop(x, crop_params, pipe[0])
    edges, inner = edge_and_interior(out - reference)
    assert edges < 1e-5 and inner < 1e-5
    # Shrinking crops are box-filtered when fused: the edges are no worse than the interior.
    x = smooth_images(16, 90, 130)
    pipe = A.Compose([A.RandomScaleCrop(48, (50, 70)), A.Rotate((0, 0))])
    out, params = pipe(x, generator=2, return_params=True)
    edges, inner = edge_and_interior(out - resize_then_crop(x, params["transforms"][0], pipe[0]))
    assert edges < 2 * inner + 1e-3 and inner < 0.01


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
