"""augkit.functional.misc: the working batch round trip and the JPEG kernel."""

import torch

from augkit import functional as F


def test_uint8_round_trips_through_the_working_dtype_exactly():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    working = F.to_working(x)
    assert working.dtype == torch.float32
    assert torch.equal(working, (x.double() / 255).float())  # correctly rounded x / 255
    assert torch.equal(F.from_working(working.clone(), torch.uint8, inplace=True), x)


def test_jpeg_is_a_pillow_round_trip_at_each_samples_quality():
    import io

    import numpy as np
    from PIL import Image

    x = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    quality = torch.tensor([90, 50, 10])
    out = F.jpeg(F.to_working(x), quality)
    assert out.dtype == torch.float32 and out.shape == x.shape
    for image, q, got in zip(x, quality.tolist(), out):
        buffer = io.BytesIO()
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="JPEG", quality=q)
        want = torch.from_numpy(np.asarray(Image.open(buffer)).copy()).permute(2, 0, 1)
        assert torch.equal(F.from_working(got[None], torch.uint8)[0], want)
