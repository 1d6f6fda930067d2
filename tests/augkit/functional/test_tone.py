"""augkit.functional.tone: the operations on uint8 levels, on uint8 and on float batches."""

import pytest
import torch

from augkit import functional as F
from tests._references import photo_patches, random_batch


def test_level_operations_on_uint8_levels():
    levels = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    x = levels.float() / 255
    for bits in range(9):
        mask = (0xFF << (8 - bits)) & 0xFF
        assert torch.equal(F.levels(F.posterize(x, torch.tensor([bits]))), levels & mask)
        assert torch.equal(F.posterize(levels, torch.tensor([bits])), levels & mask)
    out = F.levels(F.solarize(x, torch.tensor([128 / 255])))
    assert torch.equal(out, torch.where(levels >= 128, 255 - levels, levels))
    assert torch.equal(F.solarize(levels, torch.tensor([128 / 255])), out)
    flat = torch.full((1, 3, 4, 4), 0.3)
    assert torch.equal(F.autocontrast(flat), flat) and torch.equal(F.equalize(flat), F.levels(flat).float() / 255)
    assert torch.equal(F.autocontrast(F.levels(flat)), F.levels(flat))
    assert torch.equal(F.equalize(F.levels(flat)), F.levels(flat))
    ramp = torch.linspace(0.2, 0.6, 16).view(1, 1, 4, 4)
    stretched = F.autocontrast(ramp)
    assert stretched.min() == 0 and stretched.max() == 1
    # On uint8, torchvision's float32 stretch truncated: the top can land on 254 (here it does).
    stretched = F.autocontrast(F.levels(ramp))
    assert stretched.min() == 0 and stretched.max() == 254


@pytest.mark.parametrize("c", [3, 1])
def test_tone_operations_equal_torchvision(c):
    """uint8: torchvision's levels exactly. Float batches of levels k / 255: equal (solarize,
    equalize), to 1e-6 (autocontrast), within one level (posterize, which torchvision floors on
    2^bits steps: measured at most 1/256 apart, bits = 8 turning 1.0 into 255/256)."""
    TF = pytest.importorskip("torchvision.transforms.v2.functional")
    x8 = torch.cat([random_batch(6, c, 13, 17, torch.uint8), photo_patches(6, 13)[:, :c, :, :13].repeat(1, 1, 1, 2)[..., :17]])
    xf = x8 / 255
    n = len(x8)
    threshold = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    bits = torch.arange(n) % 9
    for x, top in ((x8, 255), (xf, 1.0)):
        cases = [
            (F.posterize(x, bits), [TF.posterize(img, int(b)) for img, b in zip(x, bits)], 1 / 255),
            (F.solarize(x, threshold), [TF.solarize(img, top * float(t)) for img, t in zip(x, threshold)], 0),
            (F.autocontrast(x), [TF.autocontrast(img) for img in x], 1e-6),
            (F.equalize(x), [TF.equalize(img) for img in x], 1e-6),
        ]
        for ours, theirs, tolerance in cases:
            if x.dtype == torch.uint8:
                assert torch.equal(ours, torch.stack(theirs))
            else:
                torch.testing.assert_close(ours, torch.stack(theirs), atol=tolerance, rtol=0)
