"""ensemble.inputs: the image layouts accepted and the standardisation of tabular features."""
import functools

import numpy as np
import pytest

import nets
import nets.batches
from ensemble import BaggedNetClassifier
from ensemble.inputs import standardise

tiny_cnn = functools.partial(nets.SmallCNN, widths=(8, 16), p_keep=0.8)


def test_channels_first_uint8_images_are_accepted(digits_images):
    images, y = digits_images
    nchw = np.ascontiguousarray(images[:200].transpose(0, 3, 1, 2))
    clf = BaggedNetClassifier(member=tiny_cnn, n_members=1, epochs=1, random_state=0, verbose=0).fit(nchw, y[:200])
    assert clf.input_spec_.layout == "NCHW"
    assert clf.predict(nchw[:5]).shape == (5,)


def test_nearly_constant_features_are_not_blown_up_by_standardisation():
    """A feature with one non-zero value in 500 gets its std floored at a tenth of the median std."""
    rng = np.random.default_rng(0)
    X = rng.normal(0, 2.0, size=(500, 4))
    X[:, 3] = 0.0
    X[7, 3] = 16.0  # std 0.72: rare but above the floor (0.1 * median std = 0.136), kept
    X[:, 2] = 0.0
    X[9, 2] = 0.01  # std 4.5e-4: far below the floor
    y = np.arange(500) % 2
    clf = BaggedNetClassifier(n_members=1, epochs=1, verbose=0, random_state=0).fit(X, y)
    std = X.std(axis=0)
    floor = 0.1 * np.median(std)
    np.testing.assert_allclose(clf.input_scale_, np.maximum(std, floor))
    assert clf.input_scale_[2] == pytest.approx(floor) and clf.input_scale_[3] == pytest.approx(std[3])
    assert np.abs(standardise(clf, X)[:, 2]).max() < 0.1  # not 0.01 / 4.5e-4 = 22 standard units
    constant = BaggedNetClassifier(n_members=1, epochs=1, verbose=0).fit(np.ones((20, 2)), np.arange(20) % 2)
    np.testing.assert_array_equal(constant.input_scale_, [1.0, 1.0])
