"""BaggedNetClassifier passes scikit-learn's estimator checks (tabular data, MLP members)."""
import functools

from sklearn.utils.estimator_checks import parametrize_with_checks

import nets
from ensemble import BaggedNetClassifier

# Small and quick, yet accurate enough for check_classifiers_train (> 83 % on blobs).
_small_mlp = functools.partial(nets.MLP, widths=(32,))


@parametrize_with_checks([BaggedNetClassifier(member=_small_mlp, n_members=2, epochs=10, batch_size=32, lr=0.1,
                                              random_state=0, verbose=0)])
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)
