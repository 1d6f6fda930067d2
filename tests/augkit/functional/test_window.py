"""augkit.functional.window: the window-only antialiased kernel is torch's uint8 kernel, bit for bit.

The reference is the definition itself: ``interpolate(mode="bilinear", antialias=True)`` of the
whole uint8 image to its scaled size (torch's CPU fixed-point kernel), then the crop, then the
flips. Every input layout, windows at every corner and in between, enlarging and shrinking (by
up to 5x: beyond about 3x the float32 horizontal pass hands over to the int32 one).
"""

import numpy as np
import pytest
import torch

import augkit as A
from augkit.functional import scale_crop_antialias, scale_crop_window

window = pytest.importorskip("augkit.functional.window", reason="the window kernel needs numba")


def definition(images: torch.Tensor, scaled: tuple[int, int], corner: tuple[int, int], size: tuple[int, int],
               flip: tuple[bool, bool]) -> torch.Tensor:
    """N x C x h x w: torch's resize of the whole images, the window, then the flips."""
    resized = torch.nn.functional.interpolate(images.contiguous(), size=scaled, mode="bilinear", antialias=True)
    out = resized[:, :, corner[0]:corner[0] + size[0], corner[1]:corner[1] + size[1]]
    dims = [d for d, f in zip((-2, -1), flip) if f]
    return out.flip(dims) if dims else out


def layouts(images: torch.Tensor) -> dict[str, np.ndarray]:
    """The N x H x W x C views the kernel reads, from channels-last and channels-first memory."""
    channels_last = images.permute(0, 2, 3, 1).contiguous().numpy()
    channels_first = images.contiguous().numpy().transpose(0, 2, 3, 1)
    return {"channels-last": channels_last, "channels-first": channels_first,
            "strided": np.ascontiguousarray(channels_last[:, :, ::-1])[:, :, ::-1]}


@pytest.mark.parametrize("shape, scaled, size", [
    ((61, 93), (40, 61), (32, 24)),    # shrink ~1.5x
    ((61, 93), (28, 43), (20, 40)),    # shrink ~2.2x
    ((61, 93), (13, 20), (9, 17)),     # shrink ~4.7x: the int32 horizontal pass
    ((37, 30), (90, 73), (64, 50)),    # enlarge ~2.4x
    ((40, 50), (40, 50), (33, 17)),    # identity scale
    ((17, 200), (20, 235), (20, 40)),  # enlarge rows, a wide image
])
@pytest.mark.parametrize("channels", [1, 3])
def test_windows_equal_torch_resize_then_crop_in_every_layout_corner_and_flip(shape, scaled, size, channels):
    g = torch.Generator().manual_seed(sum(shape) + channels)
    images = torch.randint(0, 256, (2, channels, *shape), generator=g, dtype=torch.uint8)
    room = (scaled[0] - size[0], scaled[1] - size[1])
    corners = [(0, 0), (0, room[1]), (room[0], 0), room, (room[0] // 3, room[1] // 2)]
    ratios = np.array([[shape[0] / scaled[0], shape[1] / scaled[1]]] * 2)
    for corner in corners:
        for flip in [(False, False), (True, False), (False, True), (True, True)]:
            want = definition(images, scaled, corner, size, flip)
            for name, view in layouts(images).items():
                out = np.zeros((2, channels, *size), dtype=np.uint8)
                window.resample_windows(view, ratios, np.array([corner] * 2, dtype=np.int64),
                                        np.array([flip] * 2), out)
                assert torch.equal(torch.from_numpy(out), want), (name, corner, flip)


def test_each_image_of_a_batch_has_its_own_scale_window_and_flips():
    g = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (4, 3, 50, 70), generator=g, dtype=torch.uint8)
    scaled = [(40, 56), (64, 90), (30, 42), (50, 70)]
    corners = [(3, 30), (20, 0), (0, 10), (18, 46)]
    flips = [(False, True), (True, True), (False, False), (True, False)]
    out = np.zeros((4, 3, 24, 24), dtype=np.uint8)
    window.resample_windows(images.permute(0, 2, 3, 1).numpy(), np.array([[50 / h, 70 / w] for h, w in scaled]),
                            np.array(corners, dtype=np.int64), np.array(flips), out)
    for i in range(4):
        assert torch.equal(torch.from_numpy(out[i:i + 1]), definition(images[i:i + 1], scaled[i], corners[i], (24, 24),
                                                                      flips[i]))


def test_the_kernel_reads_the_image_in_place_and_writes_only_out():
    images = torch.randint(0, 256, (1, 3, 30, 40), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    view = images.permute(0, 2, 3, 1).numpy()
    view.flags.writeable = False  # a read-only array is read as it is (PIL and np.asarray give these)
    before = images.clone()
    out = np.zeros((1, 3, 10, 12), dtype=np.uint8)
    window.resample_windows(view, np.array([[30 / 20, 40 / 27]]), np.array([[4, 9]], dtype=np.int64),
                            np.zeros((1, 2), dtype=bool), out)
    assert torch.equal(images, before)
    assert torch.equal(torch.from_numpy(out), definition(images, (20, 27), (4, 9), (10, 12), (False, False)))


def test_scale_crop_transform_is_exactly_torch_resize_then_crop_on_uint8():
    # Through the transform and its kernels: the pixels of the definition on uint8, exactly,
    # for a channels-last view, a channels-first batch and single images.
    from augkit.data import load_sample_photos

    photos = load_sample_photos()[:, ::2, ::2].copy()  # 2 x 214 x 320 x 3
    pipe = A.Compose([A.RandomScaleCrop(96, (100, 180)), A.HorizontalFlip()])
    view = torch.from_numpy(photos[np.arange(6) % 2]).permute(0, 3, 1, 2)
    out, params = pipe(view, generator=1, return_params=True)
    crop, flip = params["transforms"]
    h, w = A.RandomScaleCrop._scaled((214, 320), crop["length"])
    for i in range(6):
        want = definition(view[i:i + 1], (int(h[i]), int(w[i])), (int(crop["top"][i]), int(crop["left"][i])),
                          (96, 96), (False, bool(flip["apply"][i])))
        assert torch.equal(out[i:i + 1], want)
    assert torch.equal(pipe.replay(view.contiguous(), params), out)
    assert out.is_contiguous()


def test_functional_window_and_batch_kernels_agree_with_the_definition():
    images = torch.randint(0, 256, (3, 3, 45, 60), generator=torch.Generator().manual_seed(5), dtype=torch.uint8)
    scaled = torch.tensor([[30, 40], [60, 80], [45, 60]])
    top, left = torch.tensor([2, 30, 0]), torch.tensor([11, 50, 36])
    flips = torch.tensor([[False, True], [True, False], [False, False]])
    batch = scale_crop_antialias(images, scaled, top, left, (24, 24), flips)
    for i in range(3):
        size, corner, flip = tuple(scaled[i].tolist()), (int(top[i]), int(left[i])), tuple(flips[i].tolist())
        want = definition(images[i:i + 1], size, corner, (24, 24), flip)
        assert torch.equal(batch[i:i + 1], want)
        one = scale_crop_window(images[i:i + 1], (45 / size[0], 60 / size[1]), corner, (24, 24), flip)
        assert torch.equal(one[None], want)
