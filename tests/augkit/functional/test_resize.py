"""augkit.functional.resize: the exact scale-crop in every layout, input kind and window position.

Each test pins one defect that silently changed pixels, against an independent reference: the
float path, and the definition (the whole image resized, then cropped, then flipped).
"""

import numpy as np
import torch

import augkit as A
from augkit.params import index_params


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


def test_scale_crop_is_the_same_in_every_layout_and_at_every_corner():
    # One fast path for every layout: a channels-last view (numpy batches), a contiguous
    # channels-first batch, and single numpy / PIL / tensor images give the same pixels, within
    # one level of resize-then-crop, for windows at each corner (mirrored kernels) and flipped.
    from PIL import Image

    from augkit.data import load_sample_photos

    photos = load_sample_photos()[:, ::3, ::3].copy()  # 2 x 143 x 214 x 3, real photo content
    crop = A.RandomScaleCrop(64, (70, 120))
    pipe = A.Compose([crop, A.HorizontalFlip(), A.VerticalFlip()])
    view = torch.from_numpy(photos[np.arange(8) % 2]).permute(0, 3, 1, 2)
    _, params = pipe(view, generator=0, return_params=True)
    steps = params["transforms"]
    h, w = crop._scaled((143, 214), steps[0]["length"])
    corner = torch.arange(8) % 4  # top-left, top-right, bottom-left, bottom-right
    steps[0]["top"] = torch.where(corner >= 2, h - 64, 0)
    steps[0]["left"] = torch.where(corner % 2 == 1, w - 64, 0)
    reference = pipe.replay(view, params)
    torch.testing.assert_close(pipe.replay(view.contiguous(), params), reference, rtol=0, atol=0)
    for i in range(8):
        one = {"transforms": [{k: v[i:i + 1] for k, v in p.items()} for p in steps]}
        image = photos[i % 2]
        as_tensor = torch.from_numpy(image).permute(2, 0, 1)[None]  # batch stride 3, as unsqueeze gives
        for single in (pipe.replay(image, one), np.asarray(pipe.replay(Image.fromarray(image), one)),
                       pipe.replay(as_tensor, one)[0].permute(1, 2, 0).numpy(),
                       pipe.replay(as_tensor.contiguous(), one)[0].permute(1, 2, 0).numpy()):
            np.testing.assert_array_equal(single, reference[i].permute(1, 2, 0).numpy())
    # The definition: the whole image resized (float, antialiased), cropped, then flipped.
    full = view.float()
    for i in range(8):
        size = (int(h[i]), int(w[i]))
        resized = torch.nn.functional.interpolate(full[i:i + 1], size=size, mode="bilinear", antialias=True)[0]
        t, lc = int(steps[0]["top"][i]), int(steps[0]["left"][i])
        window = resized[:, t:t + 64, lc:lc + 64]
        dims = [d for d, p in zip((-1, -2), steps[1:]) if bool(p["apply"][i])]
        window = window.flip(dims) if dims else window
        assert (reference[i].float() - window).abs().max() <= 1.0 + 1e-4
