"""augkit.sampling: the box tries are the loop torchvision runs."""

import torch

from augkit import sampling


def test_first_valid_try_is_the_loop_torchvision_runs():
    g = torch.Generator().manual_seed(0)
    longs, shorts = sampling.area_aspect_tries(500, 30 * 40, (0.3, 1.5), (0.5, 2.0), g)
    valid = (longs <= 40) & (shorts <= 30)
    found, w, h = sampling.first_valid(valid, longs, shorts)
    for n in range(500):
        hit = next((k for k in range(sampling.TRIES) if valid[n, k]), None)
        assert bool(found[n]) == (hit is not None)
        if hit is not None:
            assert (w[n], h[n]) == (longs[n, hit], shorts[n, hit])
    assert 0 < found.float().mean() < 1  # both branches exercised
