"""RandomCrop(size, padding, padding_mode): pad-and-crop translation, exact in every dtype."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import augkit as A
from augkit.functional import fold_indices

TORCH_MODES = {"reflect": "reflect", "edge": "replicate", "constant": "constant"}


def reference(x, params, size, padding, mode, fill=0.0):
    """F.pad (numpy.pad for 'symmetric') of the whole batch, then the crop of each sample."""
    if mode == "symmetric":
        padded = torch.from_numpy(np.pad(x.numpy(), ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2), mode="symmetric"))
    else:
        padded = torch.nn.functional.pad(x, (padding,) * 4, mode=TORCH_MODES[mode],
                                         **({"value": fill} if mode == "constant" else {}))
    return torch.stack([padded[i, :, t:t + size[0], s:s + size[1]]
                        for i, (t, s) in enumerate(zip(params["top"].tolist(), params["left"].tolist()))])


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "edge", "constant"])
@pytest.mark.parametrize("size, padding", [((32, 32), 2), ((30, 28), 4), ((32, 32), 0)])
def test_equals_pad_then_crop(mode, size, padding):
    x = torch.rand(16, 3, 32, 32, dtype=torch.float64)
    crop = A.RandomCrop(size, padding=padding, padding_mode=mode, fill=0.25 if mode == "constant" else 0.0)
    out, params = crop(x, generator=0, return_params=True)
    assert torch.equal(out, reference(x, params, size, padding, mode, crop.fill))
    xu = (x * 255).round().to(torch.uint8)
    out_u = crop.replay(xu, params)
    assert out_u.dtype == torch.uint8
    expected = reference(xu.double(), params, size, padding, mode, round(255 * crop.fill)).to(torch.uint8)
    assert torch.equal(out_u, expected)  # exact: every output pixel is an input pixel or the fill


def test_equals_torchvision_pad_and_crop():
    v2f = pytest.importorskip("torchvision.transforms.v2.functional")
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    for mode in ("reflect", "symmetric", "edge", "constant"):
        crop = A.RandomCrop(32, padding=4, padding_mode=mode)
        out, params = crop(x, generator=1, return_params=True)
        for i in range(8):
            padded = v2f.pad(x[i], [4], padding_mode=mode)
            t, s = params["top"][i].item(), params["left"][i].item()
            assert torch.equal(out[i], padded[:, t:t + 32, s:s + 32])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(-40, 40), st.sampled_from(["reflect", "symmetric", "edge"]))
def test_folded_positions_stay_inside_and_mirror(length, position, mode):
    index = fold_indices(torch.tensor([position]), length, mode).item()
    assert 0 <= index < length
    if 0 <= position < length:
        assert index == position


def test_draws_cover_every_shift_and_p0_is_the_centred_crop():
    x = torch.rand(2000, 1, 8, 8)
    _, params = A.RandomCrop(8, padding=2)(x, generator=0, return_params=True)
    assert set(params["top"].tolist()) == set(range(5)) == set(params["left"].tolist())
    y = torch.rand(3, 3, 8, 8)
    assert torch.equal(A.RandomCrop(8, padding=2, p=0)(y, generator=0), y)  # centred = no shift
    assert A.Compose.from_json(A.Compose([A.RandomCrop((6, 7), 3, "symmetric", p=0.5)]).to_json()) == \
        A.Compose([A.RandomCrop((6, 7), 3, "symmetric", p=0.5)])


@pytest.mark.parametrize("make, message", [
    (lambda: A.RandomCrop(32, padding=-1), "padding must be an int"),
    (lambda: A.RandomCrop(32, padding=2, padding_mode="wrap"), "padding_mode must be one of"),
    (lambda: A.RandomCrop(32, fill=2.0), "fill must be <= 1"),
])
def test_bad_arguments_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_crop_larger_than_the_padded_image_is_refused():
    with pytest.raises(ValueError, match="larger than the image"):
        A.RandomCrop(40, padding=2)(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="reflect padding"):
        A.RandomCrop(4, padding=4, padding_mode="reflect")(torch.zeros(1, 3, 4, 4))
