"""The resampling is exact where it should be: scale-crop edges, shears, and per-sample independence.

Each test pins one defect that silently changed pixels, against an independent reference:
``interpolate(antialias=True)`` of the whole image then a crop (float64, main environment),
torchvision's ``resize(antialias=True)`` + ``crop`` (comparison environment only), and
``affine_grid`` + ``grid_sample`` built from the analytic map.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import augkit as A
from augkit import geometry as G
from augkit.base import index_params
from tests._references import resize_then_crop, smooth_images


def edge_and_interior(d: torch.Tensor) -> tuple[float, float]:
    """Largest |d| on the outer rows/columns and inside them (d: N x C x h x w)."""
    inner = d[..., 1:-1, 1:-1].abs().max().item()
    edges = torch.cat([d[..., 0, :], d[..., -1, :], d[..., :, 0], d[..., :, -1]], -1).abs().max().item()
    return edges, inner


@pytest.mark.parametrize("scale", [(50, 60), (90, 90), (95, 140)])
def test_scale_crop_edges_equal_resize_then_crop(scale):
    # Defect 1: zero padding leaked into crops touching the image edge. Alone (the exact kernel)
    # the crop equals resize-then-crop everywhere, edges included.
    x = smooth_images(12, 90, 130).double()
    crop = A.RandomScaleCrop(48, scale)
    _, params = crop(x, generator=0, return_params=True)
    room_y = params["length"] - 48
    room_x = torch.round(130 * params["length"].double() / 90).long() - 48
    # Windows at every edge and corner of the rescaled image.
    params["top"] = torch.stack([torch.zeros_like(room_y), room_y, room_y // 2])[torch.arange(12) % 3, torch.arange(12)]
    params["left"] = torch.stack([torch.zeros_like(room_x), room_x // 3, room_x])[(torch.arange(12) // 3) % 3,
                                                                                   torch.arange(12)]
    out = crop.replay(x, params)
    torch.testing.assert_close(out, resize_then_crop(x, params, crop).double(), atol=1e-6, rtol=0)


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


def test_scale_crop_equals_torchvision_resize_then_crop():
    v2f = pytest.importorskip("torchvision.transforms.v2.functional")
    x = (smooth_images(8, 90, 130) * 255).round().to(torch.uint8)
    crop = A.RandomScaleCrop(48, (50, 140))
    out, params = crop(x, generator=3, return_params=True)
    out_f = crop.replay(x.float() / 255, params)
    for i in range(8):
        length = params["length"][i].item()
        size = [length, round(130 * length / 90)]
        t, left = params["top"][i].item(), params["left"][i].item()
        ref = v2f.crop(v2f.resize(x[i], size, antialias=True), t, left, 48, 48)
        assert (out[i].int() - ref.int()).abs().max() <= 1  # uint8 kernels: fixed point
        ref_f = v2f.crop(v2f.resize(x[i].float() / 255, size, antialias=True), t, left, 48, 48)
        torch.testing.assert_close(out_f[i], ref_f, atol=1e-5, rtol=0)


def analytic_warp(x: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """Plain bilinear sampling, zero padding, of a square batch through N x 3 x 3 backward maps
    in centred pixel coordinates (for a square image these equal normalised coordinates)."""
    grid = torch.nn.functional.affine_grid(backward[:, :2].to(x.dtype), list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@pytest.mark.parametrize("angles", [(10, 0), (0, 25), (30, 20), (45, 0), (0, -60)])
def test_a_pure_shear_is_plain_bilinear(angles):
    # Defect 2: any shear used to get 2 x 2 supersampling (column norm > 1), blurring it.
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 40, 40, generator=g, dtype=torch.float64)  # texture: blur would show
    shear = A.Shear((angles[0], angles[0]), (angles[1], angles[1]))
    out, params = shear(x, generator=0, return_params=True)
    backward = G.shear_matrix(params["x_angle"], params["y_angle"])
    assert (G.supersample_factors(backward) == 1).all()
    torch.testing.assert_close(out, analytic_warp(x, backward), atol=1e-6, rtol=0)


def test_supersampling_follows_the_spacing_of_sample_rows_and_columns():
    deg = torch.tensor([0.0, 30.0, 60.0])
    assert (G.supersample_factors(G.rotation_matrix(deg)) == 1).all()  # rotations: none
    assert (G.supersample_factors(G.shear_matrix(deg, 0 * deg)) == 1).all()  # shears along x ...
    assert (G.supersample_factors(G.shear_matrix(0 * deg, -deg)) == 1).all()  # ... and along y: none
    # An x-shear then an opposite y-shear is no longer a pure shear: it spreads the rows apart.
    assert G.supersample_factors(G.shear_matrix(deg[1:2], -deg[1:2])).tolist() == [[2, 1]]
    stretch = G.supersample_factors(G.stretch_matrix(torch.tensor([0.5, 1.0, 0.3]), torch.tensor([1.0, 0.4, 2.0])))
    assert stretch.tolist() == [[1, 2], [3, 1], [1, 4]]  # (k_y, k_x): x shrunk by 2 -> k_x = 2
    rotated_shrink = G.rotation_matrix(torch.tensor([30.0])) @ G.stretch_matrix(torch.tensor([0.5]), torch.tensor([0.5]))
    assert G.supersample_factors(rotated_shrink).tolist() == [[2, 2]]


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


def test_the_uint8_fast_path_takes_any_layout_and_any_input_kind():
    # Large photos with default settings: the exact uint8 kernel, no opt-in, for channels-first
    # and channels-last batches (numpy / PIL images arrive channels-last) and single images.
    from PIL import Image

    from augkit.data import load_sample_photos

    photos = load_sample_photos()
    nchw = torch.from_numpy(photos).permute(0, 3, 1, 2).contiguous()
    pipe = A.Compose([A.RandomScaleCrop(224, (256, 480)), A.HorizontalFlip()])
    out, params = pipe(nchw, generator=4, return_params=True)
    assert out.dtype == torch.uint8
    assert torch.equal(pipe.replay(nchw.contiguous(memory_format=torch.channels_last), params), out)
    as_float = pipe.replay(nchw.float() / 255, params)
    assert (out.float() - as_float * 255).abs().max() <= 1.0 + 1e-4  # the float path, within 1/255
    one = index_params(params, torch.tensor([1]))
    for image in (photos[1], Image.fromarray(photos[1])):
        single = pipe.replay(image, one)
        assert torch.equal(torch.from_numpy(np.array(single)).permute(2, 0, 1), out[1])
