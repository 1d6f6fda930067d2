"""augkit.functional.policy: torchvision's op tables and bins, and shifts by gather equal to the warp."""

import pytest
import torch

import augkit as A
from augkit import functional as F
from augkit.functional import RAND_AUGMENT, TRIVIAL_AUGMENT_WIDE, shift_ops
from augkit.functional import geometry as G

TRIVIAL_AUGMENT_WIDE_NAMES = list(TRIVIAL_AUGMENT_WIDE)


def test_op_sets_and_order_are_torchvisions():
    assert list(TRIVIAL_AUGMENT_WIDE) == list(RAND_AUGMENT) == [
        "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
        "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize"]
    assert A.TrivialAugmentWide().ops == tuple(TRIVIAL_AUGMENT_WIDE)


@pytest.mark.parametrize("ours, name", [(TRIVIAL_AUGMENT_WIDE, "TrivialAugmentWide"), (RAND_AUGMENT, "RandAugment")])
def test_magnitude_bins_equal_torchvisions(ours, name):
    v2 = pytest.importorskip("torchvision.transforms.v2")
    theirs = getattr(v2, name)._AUGMENTATION_SPACE
    assert list(theirs) == list(ours)
    for op, (bins, signed) in theirs.items():
        assert ours[op][1] == signed, op
        for b, h, w in ((31, 32, 32), (11, 54, 80)):
            if bins(b, h, w) is None:
                assert ours[op][0] is None, op
            else:
                torch.testing.assert_close(ours[op][0](b, h, w).float(), bins(b, h, w).float(), atol=0, rtol=0)


@pytest.mark.parametrize("fill", ["zeros", "border", "reflect"])
@pytest.mark.parametrize("axis", ["TranslateX", "TranslateY"])
def test_shifts_by_gather_equal_the_warp_with_the_same_fill(fill, axis):
    x = torch.rand(6, 3, 9, 11, dtype=torch.float64)
    m = torch.tensor([-25.0, -3.7, 0.0, 2.2, 5.0, 8.9], dtype=torch.float64)
    op = torch.full((6,), TRIVIAL_AUGMENT_WIDE_NAMES.index(axis))
    shifted = shift_ops(x, TRIVIAL_AUGMENT_WIDE_NAMES, op, m, fill)
    d, zero = torch.trunc(m), torch.zeros(6, dtype=torch.float64)
    move = G.translation_matrix(d, zero) if axis == "TranslateX" else G.translation_matrix(zero, d)
    for interpolation in ("nearest", "bilinear"):
        warped = F.warp(x, [G.Step(move, (9, 11), fill)], (9, 11), interpolation)
        torch.testing.assert_close(shifted, warped, atol=1e-12, rtol=0)
