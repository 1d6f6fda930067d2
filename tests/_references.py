"""Reference images, reference resampling and batches shared by the augkit tests."""

import math

import numpy as np
import torch
from hypothesis import strategies as st


def random_batch(n, c, h, w, dtype=torch.uint8, seed=0):
    """A seeded random N x C x H x W batch: uint8 uniform over 0..255, float uniform on [0, 1)."""
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        return torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g)
    return torch.rand(n, c, h, w, generator=g, dtype=dtype)


def photo_patches(n, size=32, seed=0):
    """Real texture: n random size x size crops of scikit-learn's two sample photos, uint8 n x 3 x size x size."""
    from sklearn.datasets import load_sample_images

    photos = torch.from_numpy(np.stack(load_sample_images().images)).permute(0, 3, 1, 2)
    g = torch.Generator().manual_seed(seed)
    which = torch.randint(0, len(photos), (n,), generator=g).tolist()
    top = torch.randint(0, photos.shape[2] - size + 1, (n,), generator=g).tolist()
    left = torch.randint(0, photos.shape[3] - size + 1, (n,), generator=g).tolist()
    return torch.stack([photos[k, :, i:i + size, j:j + size] for k, i, j in zip(which, top, left)]).contiguous()


def torchvision_policy(x, names, op, magnitude, interpolation="nearest"):
    """Each sample through torchvision's own policy ops, in order: the reference for augkit's policies.

    ``x``: N x C x H x W (uint8 or float); ``op`` and ``magnitude``: N or N x K parameters of
    TrivialAugmentWide / RandAugment (indices into ``names`` and signed magnitudes), replayed
    op by op into torchvision's ``_apply_image_or_video_transform`` (fill zeros).
    """
    from torchvision.transforms import v2

    tv = v2.TrivialAugmentWide(interpolation=v2.InterpolationMode(interpolation))
    out = []
    for img, ops, magnitudes in zip(x, op.view(len(x), -1).tolist(), magnitude.view(len(x), -1).tolist()):
        for o, m in zip(ops, magnitudes):
            img = tv._apply_image_or_video_transform(img, names[o], m, interpolation=tv.interpolation, fill=tv._fill)
        out.append(img)
    return torch.stack(out)


def torchvision_color_jitter(x, t, params):
    """Each sample through torchvision's ColorJitter with augkit's drawn factors and order.

    ``t``: an augkit ColorJitter; ``params``: its parameters for ``x`` (every sample applied).
    The parts ``t`` leaves out (a range of one neutral value) torchvision leaves out too.
    """
    from torchvision.transforms import v2

    tv = v2.ColorJitter(t.brightness, t.contrast, t.saturation, t.hue)
    names = ("brightness", "contrast", "saturation", "hue")
    return torch.stack([tv.transform(img, {"fn_idx": params["order"][i], **{
        f"{k}_factor": None if getattr(tv, k) is None else float(params[k][i]) for k in names}})
        for i, img in enumerate(x)])


def levels_apart(ours, want):
    """``(max |difference|, share of values more than one level apart)`` on the 0..255 scale."""
    scale = 255 if ours.is_floating_point() else 1
    diff = (ours.double() - want.double()).abs() * scale
    return diff.max().item(), (diff > 1 + 1e-6).double().mean().item()


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


def train_pipeline():
    """The README's training pipeline: scale-crop, flip, PCA lighting, rotation, noise (32 x 32 out)."""
    import augkit as A

    return A.Compose([A.RandomScaleCrop(32, (32, 40)), A.HorizontalFlip(), A.PCALighting.imagenet(),
                      A.Rotate(15), A.GaussianNoise(0.03)])


def synthetic_pixels(n_images=50, size=32, seed=0):
    """Images whose RGB pixels have a known covariance V diag(lam) V^T, mean 0.5, within [0, 1]."""
    rng = np.random.default_rng(seed)
    v, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    lam = np.array([0.02, 0.005, 0.001])
    half_width = np.sqrt(3 * lam)  # uniform on [-a, a] has variance a^2 / 3
    z = rng.uniform(-1, 1, size=(n_images * size * size, 3)) * half_width
    pixels = 0.5 + z @ v.T
    images = pixels.reshape(n_images, size, size, 3)  # channels last, like numpy image arrays
    return images, v, lam


# ---------------------------------------------------------------- an analytic warp reference
PATTERN_SIZE = 64  # H = W of the pattern images


def pattern(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A smooth function of centred pixel coordinates, values inside [0.1, 0.9]."""
    h = w = PATTERN_SIZE
    return 0.5 + 0.4 * torch.sin(2 * math.pi * 0.8 * x / w + 0.3) * torch.cos(2 * math.pi * 0.6 * y / h)


def centred_grid():
    """Centred pixel coordinates ``(xs, ys)`` of the pattern's pixel centres, float64 H x W each."""
    h = w = PATTERN_SIZE
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64) + 0.5 - h / 2,
                            torch.arange(w, dtype=torch.float64) + 0.5 - w / 2, indexing="ij")
    return xs, ys


def source_image(n: int) -> torch.Tensor:
    """N copies of the pattern, float64 N x 1 x H x W."""
    xs, ys = centred_grid()
    return pattern(xs, ys).expand(n, 1, PATTERN_SIZE, PATTERN_SIZE).contiguous()


def forward_matrices(rows):
    """N x 3 x 3 forward maps from N rows ``[[a, b, tx], [c, d, ty]]``."""
    m = torch.eye(3, dtype=torch.float64).repeat(len(rows), 1, 1)
    for i, r in enumerate(rows):
        m[i, :2, :] = torch.tensor(r, dtype=torch.float64)
    return m


def rotation_forward(deg):
    # Counter-clockwise as displayed, with y pointing down.
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return [[c, s, 0], [-s, c, 0]]


def shear_forward(ax, ay):
    tx, ty = math.tan(math.radians(ax)), math.tan(math.radians(ay))
    return [[1, tx, 0], [ty, 1 + ty * tx, 0]]  # y-shear after x-shear


# ---------------------------------------------------------------- batches for fuzzing: valid and invalid
def batch_strategy():
    """(N, C, H, W, dtype, seed) for small random batches (see :func:`random_batch`)."""
    return st.tuples(st.integers(1, 4), st.sampled_from([1, 3]), st.integers(1, 12),
                     st.integers(1, 12), st.sampled_from([torch.uint8, torch.float32]),
                     st.integers(0, 2**31 - 1))


FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


@st.composite
def valid_batches(draw, channels):
    """Hypothesis batches of any size (N 0..4, H and W 1..40), dtype and value, ends of [0, 1] included."""
    n, c = draw(st.integers(0, 4)), draw(st.sampled_from(channels))
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    dtype = draw(st.sampled_from([torch.uint8, *FLOATS]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    if dtype == torch.uint8:
        return torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g)
    fill = draw(st.sampled_from([None, 0.0, 1.0]))  # the ends of the valid range too
    x = torch.rand(n, c, h, w, generator=g) if fill is None else torch.full((n, c, h, w), fill)
    return x.to(dtype)


def _bad_rank(g):
    return torch.rand(3, 8, 8, generator=g), ValueError, "rank 4"


def _bad_channels(g):
    return torch.rand(2, 2, 8, 8, generator=g), ValueError, "channels"


def _bad_dtype(g):
    return torch.randint(0, 255, (2, 3, 8, 8), generator=g).to(torch.int16), TypeError, "dtype must be uint8 or floating"


def _out_of_range(g):
    return torch.rand(2, 3, 8, 8, generator=g) * 3 - 1, ValueError, r"values must be in \[0, 1\]"


def _nan(g):
    x = torch.rand(2, 3, 8, 8, generator=g)
    x[1, 2, 3, 4] = float("nan")
    return x, ValueError, r"values must be in \[0, 1\]"


def _empty_side(g):
    return torch.zeros(2, 3, 0, 8), ValueError, "height and width must be positive"


#: Each kind of invalid batch: ``make(generator) -> (batch, error type, message pattern)``.
INVALID_BATCHES = [_bad_rank, _bad_channels, _bad_dtype, _out_of_range, _nan, _empty_side]


class FakeClock:
    """Seconds that pass only when a :class:`TimedMember` computes, all costs times ``speed`` from
    training step ``change_at`` on: a machine that slows down or speeds up mid-run. The budget
    tests read it instead of the wall clock, so nothing they assert depends on this machine."""

    def __init__(self, change_at: int | None = None, speed: float = 1.0) -> None:
        self.now, self.steps, self.change_at, self.speed = 0.0, 0, change_at, speed

    def __call__(self) -> float:
        return self.now

    def __deepcopy__(self, memo):  # a stacked engine's copies of a member keep this one clock
        return self

    def spend(self, seconds: float) -> None:
        changed = self.change_at is not None and self.steps >= self.change_at
        self.now += seconds * (self.speed if changed else 1.0)


class TimedMember(torch.nn.Module):
    """An MLP with BatchNorm whose forward spends ``step_seconds`` of ``clock`` per training
    step and ``image_seconds`` per row it predicts (eval mode); ``trained`` counts its steps."""

    def __init__(self, clock: FakeClock, input_shape=(5,), n_classes=3, step_seconds=1.0, image_seconds=0.01) -> None:
        import nets

        super().__init__()
        self.clock, self.step_seconds, self.image_seconds = clock, step_seconds, image_seconds
        self.trained = 0
        self.net = nets.MLP(input_shape, n_classes, widths=(8,), batch_norm=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.clock.spend(self.step_seconds)
            self.clock.steps += 1
            self.trained += 1
        else:
            self.clock.spend(self.image_seconds * len(x))
        return self.net(x)
