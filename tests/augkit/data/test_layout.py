"""augkit.data.layout: N x H x W x C arrays and N x C x H x W batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import augkit.data as D


def test_batch_layout_round_trip() -> None:
    images = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    batch = D.to_batch(images)
    assert batch.shape == (2, 3, 3, 4) and batch.is_contiguous() and batch.dtype == torch.uint8
    assert batch[1, 2, 0, 3] == images[1, 0, 3, 2]
    np.testing.assert_array_equal(D.to_nhwc(batch), images)
    with pytest.raises(ValueError, match="rank 4"):
        D.to_batch(images[0])
