"""BaggedNetClassifier(method=...): ensembles from one training run (snapshot, FGE, SWA) as ordinary members."""
import functools

import numpy as np
import pytest
import torch

import nets
from ensemble import BaggedNetClassifier, error_decomposition, metrics
from ensemble.recipes import cifar10
from tests.ensemble.small_ensembles import small_ensemble

ONE_RUN = dict(bootstrap=False, early_stopping=False)


def one_run(method, **kw):
    """A small ensemble of ``method`` with 3 members from one run of 6 epochs, validation rows for calibration."""
    params = dict(method=method, n_members=3, validation_fraction=0.2, calibration="temperature", **ONE_RUN)
    params.update(kw)
    return small_ensemble(**params)


@pytest.mark.parametrize("method, members", [("snapshot", 3), ("fge", 3), ("swa", 1)])
def test_members_round_trip_save_load_and_calibrate(digits_tabular, tmp_path, method, members):
    X, y = digits_tabular
    clf = one_run(method).fit(X[:600], y[:600])
    assert len(clf.estimators_) == members and clf.member_indices_ == list(range(members))
    steps = clf.histories_[0]["snapshot_steps"]
    assert len(steps) == 3 and steps[-1] == 6 * 15  # 480 training rows in batches of 32, 6 epochs
    held_out = clf.oob_indices_[0]
    assert len(held_out) == 120 and all(np.array_equal(rows, held_out) for rows in clf.oob_indices_)
    assert not hasattr(clf, "oob_score_") and 0.1 < clf.temperature_ < 10
    clf.save(tmp_path / "model")
    loaded = BaggedNetClassifier.load(tmp_path / "model")
    assert loaded.method == method and loaded.temperature_ == clf.temperature_
    np.testing.assert_array_equal(loaded.predict_proba(X[600:700]), clf.predict_proba(X[600:700]))
    decomposition = error_decomposition(clf.member_probas(X[600:700]), y[600:700])
    assert decomposition.predicted == pytest.approx(decomposition.measured)


def test_snapshot_members_are_the_networks_of_the_run(digits_tabular):
    X, y = digits_tabular
    clf = one_run("snapshot", calibration=None, validation_fraction=0.0).fit(X[:320], y[:320])
    assert [h["snapshot_steps"] for h in clf.histories_] == [[20, 40, 60]] * 3  # 3 cycles of ceil(60 / 3) steps
    assert [len(rows) for rows in clf.bootstrap_indices_] == [320] * 3
    different = [not torch.equal(a, b) for a, b in zip(clf.estimators_[0].parameters(),
                                                        clf.estimators_[1].parameters())]
    assert any(different)


def test_image_members_choose_a_tta_on_the_validation_rows(digits_images):
    images, y = digits_images
    clf = BaggedNetClassifier(member=functools.partial(nets.SmallCNN, widths=(4,)), n_members=2, method="fge",
                              epochs=3, batch_size=32, tta="auto", calibration="temperature", validation_fraction=0.2,
                              random_state=0, verbose=0, **ONE_RUN).fit(images[:300], y[:300])
    assert len(clf.estimators_) == 2 and set(clf.tta_scores_) == {"None", "flip", "flip_shift", "ten_crop"}
    proba = clf.predict_proba(images[300:340])
    assert proba.shape == (40, 10) and np.allclose(proba.sum(1), 1)


def test_the_loop_and_the_stacked_engines_take_the_same_members(digits_tabular):
    X, y = digits_tabular
    loop = one_run("fge", engine="loop", calibration=None).fit(X[:400], y[:400])
    stacked = one_run("fge", engine="vmap", calibration=None).fit(X[:400], y[:400])
    for a, b in zip(loop.estimators_, stacked.estimators_):
        for p, q in zip(a.state_dict().values(), b.state_dict().values()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_a_time_budget_still_collects_n_members(digits_tabular):
    X, y = digits_tabular
    # a budget far above what 4 epochs take: the plan caps the epochs at 4 on any machine, so
    # the outcome never depends on this machine's speed; the budget path (probe, plan) runs all the same
    clf = one_run("fge", epochs=4, time_budget=600, n_members=4).fit(X[:600], y[:600])
    assert len(clf.estimators_) == 4 and len(clf.histories_[0]["snapshot_steps"]) == 4
    assert clf.budget_plan_["epochs"] == clf.epochs_ == 4
    # the cycles are laid over the steps the budget allowed: the last member ends the run
    assert clf.histories_[0]["snapshot_steps"][-1] == round(clf.epochs_ * 15)


def test_snapshots_of_digits_vote_better_than_their_last_alone(digits_tabular):
    """The method's point: the members of one run, averaged, beat its last member on held-out rows (NLL).
    Without weight decay every cycle ends more confident than the one before; the earlier snapshots
    temper the last one's over-confidence (digits' last 597 rows come from other writers)."""
    X, y = digits_tabular
    clf = small_ensemble(method="snapshot", n_members=3, epochs=30, lr=0.1, weight_decay=0.0,
                         **ONE_RUN).fit(X[:1200], y[:1200])
    probas = clf.member_probas(X[1200:]).numpy()
    ensemble_nll = metrics.nll(probas.mean(0), y[1200:])
    last_nll = metrics.nll(probas[-1], y[1200:])
    assert ensemble_nll < last_nll


def test_refusals(digits_tabular, tmp_path):
    X, y = digits_tabular
    with pytest.raises(ValueError, match=r"^method must be one of \('independent', 'snapshot', 'fge', 'swa'\), "
                                         r"got 'cyclic'$"):
        small_ensemble(method="cyclic").fit(X[:100], y[:100])
    with pytest.raises(ValueError) as error:
        small_ensemble(method="snapshot").fit(X[:100], y[:100])
    assert str(error.value) == ("method='snapshot' takes every member from one training run on the same rows, so "
                                "there is no bootstrap sample to draw: set bootstrap=False (held-out rows for "
                                "tta='auto' and calibration then come from validation_fraction)")
    with pytest.raises(ValueError, match=r"^method='fge' takes its members from a fixed lr schedule that early "
                                         r"stopping would cut short: set early_stopping=False$"):
        small_ensemble(method="fge", bootstrap=False).fit(X[:100], y[:100])
    with pytest.raises(ValueError, match=r"^method='swa' takes its members from the run's weights, which "
                                         "lookahead=True replaces"):
        small_ensemble(method="swa", lookahead=True, **ONE_RUN).fit(X[:100], y[:100])
    with pytest.raises(ValueError, match=r"^method='fge' with n_members=3 needs at least 25 training steps \(2 or "
                                         r"more per cycle\), but 1 epochs of batch_size=32 are 4: give it more "
                                         "epochs, fewer n_members or a smaller batch_size$"):
        one_run("fge", epochs=1, calibration=None).fit(X[:100], y[:100])
    with pytest.raises(ValueError, match=r"^method='snapshot' trains on in-memory arrays; photos"):
        small_ensemble(method="snapshot", **ONE_RUN).fit(str(tmp_path))


def test_the_recipe_passes_the_method_through():
    assert cifar10(60, widths=(32, 128, 128)).get_params()["method"] == "independent"
    assert cifar10(60, widths=(32, 128, 128)).get_params()["lookahead"]
    swa = cifar10(60, n_members=4, widths=(32, 128, 128), method="swa").get_params()
    assert (swa["method"], swa["n_members"], swa["lookahead"], swa["bootstrap"], swa["early_stopping"]) == \
        ("swa", 4, False, False, False)
