"""conventions.seeding: the one meaning of generator=None, an int and a generator."""
import re

import numpy as np
import pytest
import torch

from conventions import as_generator


def test_none_is_torch_global_default_generator():
    assert as_generator(None) is torch.default_generator
    torch.manual_seed(7)
    expected = torch.rand(5)
    torch.manual_seed(7)
    assert torch.equal(torch.rand(5, generator=as_generator(None)), expected)  # what torch.manual_seed sets


def test_an_int_seeds_a_fresh_cpu_generator():
    for seed in (3, np.int64(3)):
        g = as_generator(seed)
        assert g is not torch.default_generator and g.device.type == "cpu"
        assert torch.equal(torch.rand(5, generator=g), torch.rand(5, generator=torch.Generator().manual_seed(3)))
    assert as_generator(3) is not as_generator(3)  # fresh each time: two calls draw the same numbers


def test_a_generator_is_returned_as_given():
    g = torch.Generator().manual_seed(1)
    assert as_generator(g) is g


@pytest.mark.parametrize("bad", [True, 1.5, "0", np.float64(2.0), [0]])
def test_anything_else_is_a_type_error_naming_the_value(bad):
    with pytest.raises(TypeError, match=re.escape(f"generator must be a torch.Generator, an int seed or None, got {bad!r}")):
        as_generator(bad)
