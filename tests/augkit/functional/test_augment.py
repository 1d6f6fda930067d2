"""augkit.functional.augment: box weights are exact lerp weights."""

import math

import torch

from augkit import functional as F


def test_box_weights_are_exact_lerp_weights():
    x = torch.rand(4, 3, 9, 9)
    weights = F.box_weights(torch.tensor([0, 2, 8, 3]), torch.tensor([0, 1, 8, 3]), torch.tensor([9, 3, 1, 0]),
                                torch.tensor([9, 4, 1, 5]), (9, 9), torch.float32, torch.device("cpu"))
    out = torch.lerp(x, torch.full_like(x, 0.25), weights)
    assert torch.equal(out[0], torch.full_like(x[0], 0.25)) and torch.equal(out[3], x[3])
    assert out[2, :, 8, 8].eq(0.25).all() and torch.equal(out[2, :, :8], x[2, :, :8])
    assert weights.sum().item() == 81 + 12 + 1 + 0 and math.isclose(weights.max().item(), 1.0)
