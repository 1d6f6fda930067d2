"""augkit.tta: exact crop coordinates and order, resizing, the views of each named mode, view averaging, fuzzed batches."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import augkit as A
from tests._references import INVALID_BATCHES, valid_batches

H, W = 10, 13


def index_image():
    """1 x 1 x H x W float64 image whose pixel value encodes its position: row * W + col."""
    return (torch.arange(H * W, dtype=torch.float64).reshape(1, 1, H, W)) / (H * W)


def positions(view):
    """(row, col) of the top-left pixel and whether the view is mirrored."""
    idx = torch.round(view[0] * H * W).long()
    first, second = idx[0, 0].item(), idx[0, 1].item()
    return divmod(first, W), second == first - 1


def test_ten_crop_exact_coordinates_and_order():
    x = index_image()
    views = A.ten_crop(x, (4, 6))
    assert views.shape == (1, 10, 1, 4, 6)
    centre = (round((H - 4) / 2), round((W - 6) / 2))
    expected = [(0, 0), (0, W - 6), (H - 4, 0), (H - 4, W - 6), centre]
    for v in range(5):
        top, left = expected[v]
        assert torch.equal(views[0, v], x[0, :, top:top + 4, left:left + 6])
        # Views 5..9 are the same five taken from the mirrored image.
        mirrored = x.flip(-1)[0, :, top:top + 4, left:left + 6]
        assert torch.equal(views[0, 5 + v], mirrored)
    (row, col), flipped = positions(views[0, 6])  # mirrored top-right = mirror of original top-left
    assert (row, col, flipped) == (0, 5, True)


def test_ten_crop_matches_torchvision_when_available():
    v2 = pytest.importorskip("torchvision.transforms.v2")
    x = torch.randint(0, 256, (2, 3, 17, 20), dtype=torch.uint8)
    ours = A.ten_crop(x, 9)
    theirs = torch.stack(v2.TenCrop(9)(x), dim=1)
    assert torch.equal(ours, theirs)


def test_ten_crop_resize_and_multi_scale():
    x = torch.full((2, 3, 40, 60), 0.3)
    views = A.ten_crop(x, 16, resize=20)
    assert views.shape == (2, 10, 3, 16, 16)
    torch.testing.assert_close(views, torch.full_like(views, 0.3))
    multi = A.multi_scale_ten_crop(torch.rand(2, 3, 40, 60), size=16, scales=(16, 24, 40))
    assert multi.shape == (2, 30, 3, 16, 16)
    y = torch.rand(2, 3, 40, 60)
    multi = A.multi_scale_ten_crop(y, size=16, scales=(16, 40))
    assert torch.equal(multi[:, 10:], A.ten_crop(y, 16))  # scale 40 = no resize, second block
    with pytest.raises(ValueError, match="larger than the image"):
        A.ten_crop(torch.rand(1, 3, 8, 8), 10)


def test_ten_crop_antialiases_when_shrinking():
    board = ((torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2).float().expand(1, 1, 64, 64)
    views = A.ten_crop(board, 8, resize=16)
    assert (views - 0.5).abs().max() < 0.05


def test_uint8_views_keep_dtype():
    x = torch.randint(0, 256, (3, 3, 24, 24), dtype=torch.uint8)
    assert A.ten_crop(x, 16, resize=20).dtype == torch.uint8
    assert A.multi_scale_ten_crop(x, 16, (16, 32)).dtype == torch.uint8


def test_flip_views():
    x = torch.rand(2, 3, 5, 7)
    views = A.flip_views(x)
    assert views.shape == (2, 2, 3, 5, 7)
    assert torch.equal(views[:, 0], x) and torch.equal(views[:, 1], x.flip(-1))


def test_average_views():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 4.0]]])  # N=1, V=2, K=2
    proba = A.average_views(logits)
    expected = (logits.softmax(-1)[0, 0] + logits.softmax(-1)[0, 1]) / 2
    torch.testing.assert_close(proba[0], expected)
    torch.testing.assert_close(A.average_views(logits, "logits"), torch.tensor([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="average must be one of"):
        A.average_views(logits, "vote")
    with pytest.raises(ValueError, match="N x V x K"):
        A.average_views(logits[0])


def test_shift_views_are_exact_whole_pixel_shifts():
    from augkit import shift_views

    x = torch.arange(1, 17, dtype=torch.uint8).reshape(1, 1, 4, 4)
    views = shift_views(x, pixels=1)
    assert views.shape == (1, 5, 1, 4, 4)
    assert torch.equal(views[0, 0], x[0])
    assert torch.equal(views[0, 1, 0, :, 1:], x[0, 0, :, :3]) and (views[0, 1, 0, :, 0] == 0).all()  # right
    assert torch.equal(views[0, 2, 0, :, :3], x[0, 0, :, 1:]) and (views[0, 2, 0, :, 3] == 0).all()  # left
    assert torch.equal(views[0, 3, 0, 1:], x[0, 0, :3]) and (views[0, 3, 0, 0] == 0).all()  # down
    assert torch.equal(views[0, 4, 0, :3], x[0, 0, 1:]) and (views[0, 4, 0, 3] == 0).all()  # up
    with pytest.raises(ValueError, match="pixels must be a positive int"):
        shift_views(x, pixels=0)


@pytest.mark.parametrize("mode, count", [(None, 1), ("flip", 2), ("shift", 5), ("flip_shift", 10), ("ten_crop", 10),
                                         ("multi_scale", 50)])
def test_views_of_each_named_mode(mode, count):
    from augkit.tta import TTA_MODES, views

    assert mode in TTA_MODES
    x = torch.randint(0, 256, (2, 3, 32, 40), dtype=torch.uint8)
    out = views(x, mode)
    crops = mode in ("ten_crop", "multi_scale")
    assert out.shape == (2, count, 3, *((32, 32) if crops else (32, 40))) and out.dtype == torch.uint8
    shifts = A.shift_views(x, pixels=2)  # max(1, 32 // 16)
    expected = {None: x[:, None], "flip": A.flip_views(x), "shift": shifts,
                "flip_shift": torch.cat([shifts, shifts.flip(-1)], 1), "ten_crop": A.ten_crop(x, 32, resize=36),
                "multi_scale": A.multi_scale_ten_crop(x, 32, (32, 34, 36, 38, 40))}[mode]
    assert torch.equal(out, expected)


def test_views_call_a_callable_and_refuse_other_names():
    from augkit.tta import TTA_MODE_NAMES, TTA_MODES, mode_from_name, views

    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(views(x, lambda b: b[:, None].expand(-1, 3, -1, -1, -1)), x[:, None].expand(-1, 3, -1, -1, -1))
    with pytest.raises(ValueError, match="tta must be one of"):
        views(x, "five_crop")
    assert [mode_from_name(name) for name in TTA_MODE_NAMES] == list(TTA_MODES) and TTA_MODE_NAMES[0] == "none"
    with pytest.raises(ValueError, match="TTA mode name must be one of"):
        mode_from_name("None")


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


@pytest.mark.parametrize("make", INVALID_BATCHES)
def test_views_of_invalid_batches_raise_their_documented_error(make):
    x, error, message = make(torch.Generator().manual_seed(0))
    for view in (lambda b: A.ten_crop(b, 6, resize=8), lambda b: A.multi_scale_ten_crop(b, 6, (6, 9)), A.flip_views):
        with pytest.raises(error, match=message):
            view(x)
