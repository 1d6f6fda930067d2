"""Reference images and reference resampling shared by the transform tests."""

import torch


def random_batch(n, c, h, w, dtype=torch.uint8, seed=0):
    """A seeded random N x C x H x W batch: uint8 uniform over 0..255, float uniform on [0, 1)."""
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        return torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g)
    return torch.rand(n, c, h, w, generator=g, dtype=dtype)


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
