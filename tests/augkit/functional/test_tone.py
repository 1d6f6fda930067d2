"""augkit.functional.tone: the operations on uint8 levels."""

import torch

from augkit import functional as F


def test_level_operations_on_uint8_levels():
    levels = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    x = levels.float() / 255
    for bits in range(9):
        mask = (0xFF << (8 - bits)) & 0xFF
        assert torch.equal(F.levels(F.posterize(x, torch.tensor([bits]))), levels & mask)
    out = F.levels(F.solarize(x, torch.tensor([128 / 255])))
    assert torch.equal(out, torch.where(levels >= 128, 255 - levels, levels))
    flat = torch.full((1, 3, 4, 4), 0.3)
    assert torch.equal(F.autocontrast(flat), flat) and torch.equal(F.equalize(flat), F.levels(flat).float() / 255)
    ramp = torch.linspace(0.2, 0.6, 16).view(1, 1, 4, 4)
    stretched = F.autocontrast(ramp)
    assert stretched.min() == 0 and stretched.max() == 1
