"""ensemble.heldout: what the ensemble learns after training from held-out rows (tta="auto")."""
import numpy as np
import pytest

import nets
from ensemble import BaggedNetClassifier
from ensemble.engine.heldout import AUTO_TTA


def tiny_cnn(input_shape, n_classes):
    return nets.SmallCNN(input_shape=input_shape, n_classes=n_classes, widths=(8, 16))


def heldout_scores(clf, X, y, tta):
    """Held-out accuracy and NLL recomputed from their definition: each row's decision is the
    mean of the probabilities of the members that held it out."""
    total, counts = np.zeros((len(X), len(clf.classes_))), np.zeros(len(X))
    for member, rows in enumerate(clf.oob_indices_):
        total[rows] += clf.member_probas(X[rows], tta)[member].numpy()
        counts[rows] += 1
    seen = counts > 0
    p = total[seen] / counts[seen, None]
    labels = np.searchsorted(clf.classes_, y)[seen]
    return (p.argmax(1) == labels).mean(), -np.log(np.maximum(p[np.arange(len(p)), labels], 1e-12)).mean()


@pytest.mark.parametrize("bootstrap", [False, True])
def test_auto_tta_is_the_best_candidate_on_held_out_rows(digits_images, bootstrap, tmp_path):
    images, y = digits_images
    X, y = images[:600], y[:600]
    clf = BaggedNetClassifier(member=tiny_cnn, n_members=2, epochs=3, bootstrap=bootstrap, validation_fraction=0.25,
                              early_stopping=False, tta="auto", random_state=0, verbose=0, n_jobs=1).fit(X, y)
    assert set(clf.tta_scores_) == {str(t) for t in AUTO_TTA} and clf.tta_ in AUTO_TTA
    for tta in AUTO_TTA:
        accuracy, nll = heldout_scores(clf, X, y, tta)
        assert clf.tta_scores_[str(tta)]["accuracy"] == pytest.approx(accuracy)
        assert clf.tta_scores_[str(tta)]["nll"] == pytest.approx(nll, rel=1e-5)
    best = max(AUTO_TTA, key=lambda t: (clf.tta_scores_[str(t)]["accuracy"], -clf.tta_scores_[str(t)]["nll"]))
    assert clf.tta_ == best
    assert clf.tta_scores_[str(clf.tta_)]["accuracy"] >= clf.tta_scores_["None"]["accuracy"]  # never hurts there
    np.testing.assert_allclose(clf.predict_proba(images[600:700]), clf.predict_proba(images[600:700], tta=clf.tta_))
    if bootstrap:  # the out-of-bag decision uses the chosen views
        accuracy, _ = heldout_scores(clf, X, y, clf.tta_)
        assert clf.oob_score_ == pytest.approx(accuracy)
    clf.save(tmp_path / "model")
    again = BaggedNetClassifier.load(tmp_path / "model", member=tiny_cnn)
    assert again.tta_ == clf.tta_ and again.tta_scores_ == clf.tta_scores_
    np.testing.assert_allclose(again.predict_proba(images[600:700]), clf.predict_proba(images[600:700]), atol=1e-6)


def test_auto_tta_needs_held_out_rows(digits_images):
    images, y = digits_images
    clf = BaggedNetClassifier(member=tiny_cnn, n_members=1, epochs=1, bootstrap=False, validation_fraction=0.0,
                              tta="auto", verbose=0)
    with pytest.raises(ValueError, match=r"tta='auto' learn from the rows the members hold out"):
        clf.fit(images[:100], y[:100])
