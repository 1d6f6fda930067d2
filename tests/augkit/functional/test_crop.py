"""augkit.functional.crop: the folding rule of the paddings."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from augkit import functional as F
from augkit.functional import fold_indices


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(-40, 40), st.sampled_from(["reflect", "symmetric", "edge"]))
def test_folded_positions_stay_inside_and_mirror(length, position, mode):
    index = fold_indices(torch.tensor([position]), length, mode).item()
    assert 0 <= index < length
    if 0 <= position < length:
        assert index == position


@pytest.mark.parametrize("size, radius", [(5, 2), (4, 7), (1, 3), (2, 2)])
def test_reflect_padding_index_matches_torch_pad_and_works_beyond_it(size, radius):
    index = F.fold_indices(torch.arange(-radius, size + radius), size, "reflect")
    row = torch.arange(size, dtype=torch.float64)[None, None]
    if radius < size:
        expected = torch.nn.functional.pad(row, (radius, radius), mode="reflect")[0, 0].long()
        assert torch.equal(index, expected)
    assert index.min() >= 0 and index.max() <= size - 1 and len(index) == size + 2 * radius
