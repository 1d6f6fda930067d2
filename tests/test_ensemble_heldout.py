"""What the ensemble learns after training from held-out rows (tta="auto") and the time budget."""

import math

import numpy as np
import pytest
import torch

import nets
from ensemble import BaggedNetClassifier
from ensemble import budget as B
from ensemble.heldout import AUTO_TTA
from ensemble.inputs import as_image_array
from ensemble.members import TrainSetup


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


def test_size_epochs_fills_the_budget_after_the_fixed_costs():
    probe = B.Probe(step_seconds=0.5, inference_seconds_per_image=0.001, init_seconds=2.0)
    epochs = B.size_epochs(1000.0, probe, train_rows=1000, batch_size=100, members=4, workers=2,
                           validation_rows=200, heldout_views=5000, max_epochs=100)["epochs"]
    per_member = 1000 * B.SAFETY / 2  # two waves of two members
    fixed = 2.0 + 0.001 * (min(1000, 32 * 100) + 5000)  # BatchNorm statistics over at most every row
    per_epoch = 0.5 * 10 + 0.001 * 200
    assert epochs == pytest.approx((per_member - fixed) / per_epoch, abs=0.01)
    assert B.size_epochs(1e6, probe, train_rows=1000, batch_size=100, members=1, workers=1, validation_rows=0,
                         heldout_views=0, max_epochs=7)["epochs"] == 7  # capped by epochs
    with pytest.raises(ValueError, match="does not cover a tenth of an epoch"):
        B.size_epochs(5.0, probe, train_rows=1000, batch_size=100, members=4, workers=1, validation_rows=0,
                      heldout_views=0, max_epochs=10)


def test_time_budget_sizes_the_members_epochs(digits_images, monkeypatch):
    images, y = digits_images
    probe = B.Probe(step_seconds=0.01, inference_seconds_per_image=1e-5, init_seconds=0.0)
    seen = {}

    def fake_probe(setup, X, y, threads):
        seen["threads"], seen["batch_size"] = threads, setup.config.batch_size
        return probe

    monkeypatch.setattr("ensemble.bagging.probe_speed", fake_probe)
    clf = BaggedNetClassifier(member=tiny_cnn, n_members=2, epochs=50, batch_size=64, bootstrap=False,
                              early_stopping=False, time_budget=1.0, random_state=0, verbose=0, n_jobs=1)
    clf.fit(images[:640], y[:640])
    steps = math.ceil(640 / 64)
    assert 0 < clf.epochs_ < 50 and seen["batch_size"] == 64
    # two members one after another: each gets under half of the (safety-discounted) budget
    assert clf.epochs_ * steps * probe.step_seconds < B.SAFETY * 1.0 / 2
    for history in clf.histories_:
        assert len(history["loss"]) == math.ceil(clf.epochs_ - 1e-9)


def test_a_real_timing_probe_measures_positive_costs(digits_images):
    images, y = digits_images
    X, _ = as_image_array(images[:256])
    setup = TrainSetup(factory=tiny_cnn, input_shape=X.shape[1:], n_classes=10, early_stopping=True, patience=5,
                       config=nets.TrainConfig(epochs=1, normalize=((0.5,), (0.25,)), verbose=0))
    probe = B.probe_speed(setup, X, y[:256].astype(np.int64), threads=1, steps=2, warmup=1)
    assert probe.step_seconds > 0 and probe.inference_seconds_per_image > 0 and probe.init_seconds >= 0
    assert torch.get_num_threads() >= 1
    with pytest.raises(ValueError, match="resume=True cannot be combined with time_budget"):
        BaggedNetClassifier(time_budget=10.0).fit(images[:50], y[:50], checkpoint_dir="x", resume=True)
