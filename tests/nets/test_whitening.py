"""nets.whitening: the fixed whitened 2x2 stem's filters."""
import torch


def test_whitening_filters_decorrelate_patches():
    from nets.whitening import whitening_filters

    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[1.0, 0.8, 0.2], [0.0, 0.6, 0.5], [0.0, 0.0, 0.3]])
    images = torch.einsum("ij,njhw->nihw", mix, torch.randn(200, 3, 12, 12, generator=g))  # correlated channels
    filters = whitening_filters(images, kernel_size=2, eps=0.0)
    assert filters.shape == (24, 3, 2, 2)
    torch.testing.assert_close(filters[12:], -filters[:12])
    out = torch.nn.functional.conv2d(images.double(), filters[:12].double()).permute(1, 0, 2, 3).reshape(12, -1)
    torch.testing.assert_close(out @ out.T / out.shape[1], torch.eye(12, dtype=torch.float64), atol=1e-6, rtol=0)
