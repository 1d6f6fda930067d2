"""augkit.functional.geometry: supersampling follows the spacing of the sample rows and columns."""

import torch

from augkit.functional import geometry as G


def test_supersampling_follows_the_spacing_of_sample_rows_and_columns():
    deg = torch.tensor([0.0, 30.0, 60.0])
    assert (G.supersample_factors(G.rotation_matrix(deg)) == 1).all()  # rotations: none
    assert (G.supersample_factors(G.shear_matrix(deg, 0 * deg)) == 1).all()  # shears along x ...
    assert (G.supersample_factors(G.shear_matrix(0 * deg, -deg)) == 1).all()  # ... and along y: none
    # An x-shear then an opposite y-shear is no longer a pure shear: it spreads the rows apart.
    assert G.supersample_factors(G.shear_matrix(deg[1:2], -deg[1:2])).tolist() == [[2, 1]]
    stretch = G.supersample_factors(G.stretch_matrix(torch.tensor([0.5, 1.0, 0.3]), torch.tensor([1.0, 0.4, 2.0])))
    assert stretch.tolist() == [[1, 2], [3, 1], [1, 4]]  # (k_y, k_x): x shrunk by 2 -> k_x = 2
    rotated_shrink = G.rotation_matrix(torch.tensor([30.0])) @ G.stretch_matrix(torch.tensor([0.5]), torch.tensor([0.5]))
    assert G.supersample_factors(rotated_shrink).tolist() == [[2, 2]]
