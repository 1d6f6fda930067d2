"""The vectorised engine trains each member exactly as it would train alone."""
import functools

import numpy as np
import pytest
import torch

import nets
from ensemble import BaggedNetClassifier
from ensemble.members import MemberPlan, TrainSetup, build_member
from ensemble.vectorized import train_vectorized

cnn = functools.partial(nets.SmallCNN, widths=(4, 8), dropout=0.7)  # BatchNorm and Dropout both inside


def _setup(early_stopping, vectorize="vmap"):
    return TrainSetup(factory=cnn, input_shape=(1, 8, 8), n_classes=10, early_stopping=early_stopping, patience=2,
                      vectorize=vectorize,
                      fit_kwargs=dict(epochs=3, batch_size=32, lr=0.05, momentum=0.9, optimizer="sgd",
                                      weight_decay=5e-4, lr_schedule="onecycle", augment=None,
                                      normalize=((0.3,), (0.4,)), device="cpu", verbose=0))


def _plans(n, k, bag):
    rng = np.random.default_rng(0)
    plans = []
    for i in range(k):
        train = np.sort(rng.integers(0, n, size=bag))
        plans.append(MemberPlan(index=i, seed=1000 + i, train_indices=train,
                                val_indices=np.setdiff1d(np.arange(n), train)))
    return plans


@pytest.mark.parametrize("vectorize", ["vmap", "grouped"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_vectorised_member_equals_member_trained_alone(digits_images, early_stopping, vectorize):
    images, y = digits_images
    X = np.ascontiguousarray(images[:300].transpose(0, 3, 1, 2))
    y = y[:300].astype(np.int64)
    setup = _setup(early_stopping, vectorize)
    plans = _plans(len(X), 3, 300)
    together = train_vectorized(plans, X, y, setup)
    for plan in plans:
        alone = build_member(setup, plan.seed)
        val = (X[plan.val_indices], y[plan.val_indices]) if early_stopping else None
        stopper = nets.EarlyStopping(patience=2) if early_stopping else None
        history = nets.fit(alone, (X[plan.train_indices], y[plan.train_indices]), val=val, early_stopping=stopper,
                           generator=torch.Generator().manual_seed(plan.seed), **setup.fit_kwargs)
        record = together[plan.index].record
        for name, value in alone.state_dict().items():
            assert torch.allclose(record.state[name].float(), value.float(), atol=2e-5, rtol=1e-4), name
        assert np.allclose(record.history["loss"], history.loss, rtol=1e-4)
        if early_stopping:
            assert record.history["best_epoch"] == history.best_epoch


@pytest.mark.parametrize("vectorize", ["vmap", "grouped"])
def test_dropout_masks_differ_between_members_but_not_between_engines(digits_images, vectorize):
    images, y = digits_images
    X = np.ascontiguousarray(images[:64].transpose(0, 3, 1, 2))
    setup = _setup(False, vectorize)
    setup.fit_kwargs["epochs"] = 1
    plans = [MemberPlan(index=i, seed=7, train_indices=np.arange(64), val_indices=np.arange(0)) for i in range(2)]
    same_seed = train_vectorized(plans, X, y[:64].astype(np.int64), setup)
    a, b = same_seed[0].record.state, same_seed[1].record.state
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed -> same member, also inside vmap


def test_estimator_engines_agree_without_augmentation(digits_images):
    images, y = digits_images
    kw = dict(member=cnn, n_members=3, epochs=2, random_state=0, verbose=0, label_smoothing=0.1)
    joblib_clf = BaggedNetClassifier(engine="joblib", **kw).fit(images[:300], y[:300])
    for vectorize in ("vmap", "grouped"):
        vector_clf = BaggedNetClassifier(engine="vectorized", members_per_chunk=2, vectorize=vectorize,
                                         **kw).fit(images[:300], y[:300])
        assert np.allclose(joblib_clf.predict_proba(images[300:400]), vector_clf.predict_proba(images[300:400]),
                           atol=1e-4), vectorize
        assert joblib_clf.oob_score_ == pytest.approx(vector_clf.oob_score_, abs=0.01)


def test_auto_engine_is_joblib_on_cpu_and_vectorised_on_cuda():
    assert BaggedNetClassifier(device="cpu")._engine() == "joblib"
    assert BaggedNetClassifier(device="cuda")._engine() == "vectorized"
    assert BaggedNetClassifier(device="cuda:1", engine="joblib")._engine() == "joblib"


def test_one_worker_process_per_device_trains_the_same_members(digits_images):
    images, y = digits_images
    kw = dict(member=cnn, n_members=3, epochs=1, random_state=0, verbose=0, engine="vectorized")
    one_device = BaggedNetClassifier(device="cpu", **kw).fit(images[:200], y[:200])
    two_devices = BaggedNetClassifier(device=["cpu", "cpu"], **kw).fit(images[:200], y[:200])
    assert two_devices._devices() == ["cpu", "cpu"]
    assert np.allclose(one_device.predict_proba(images[200:300]), two_devices.predict_proba(images[200:300]), atol=1e-4)


@pytest.mark.parametrize("vectorize", ["vmap", "grouped"])
def test_bfloat16_training_in_the_vectorised_engine(digits_images, vectorize):
    images, y = digits_images
    kw = dict(member=functools.partial(nets.SmallCNN, widths=(16, 32)), n_members=2, epochs=5, lr=0.1,
              early_stopping=False, random_state=0, verbose=0, engine="vectorized", vectorize=vectorize)
    f32 = BaggedNetClassifier(**kw).fit(images[:600], y[:600])
    bf16 = BaggedNetClassifier(precision="bfloat16", **kw).fit(images[:600], y[:600])
    p32, p16 = f32.predict_proba(images[600:900]), bf16.predict_proba(images[600:900])
    assert not np.allclose(p32, p16, atol=1e-4)  # the training forward really ran in bf16
    assert np.abs(p32 - p16).mean() < 0.1  # ... and trained nearly the same members
    assert bf16.score(images[600:900], y[600:900]) > 0.8


def test_chunk_that_runs_out_of_memory_is_retried_in_halves(digits_images, monkeypatch):
    import ensemble.vectorized as engine

    images, y = digits_images
    X = np.ascontiguousarray(images[:120].transpose(0, 3, 1, 2))
    y = y[:120].astype(np.int64)
    setup = _setup(False)
    setup.fit_kwargs["epochs"] = 1
    plans = _plans(len(X), 4, 120)
    reference = train_vectorized(plans, X, y, setup, members_per_chunk=2)
    original, sizes = engine._train_chunk, []

    def small_memory(chunk, *args):
        sizes.append(len(chunk))
        if len(chunk) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return original(chunk, *args)

    monkeypatch.setattr(engine, "_train_chunk", small_memory)
    with pytest.warns(UserWarning, match="4 members did not fit in cpu's memory together; training them 2 at a time"):
        retried = train_vectorized(plans, X, y, setup)
    assert sizes == [4, 2, 2]
    for i, outcome in reference.items():
        for name, value in outcome.record.state.items():
            assert torch.equal(retried[i].record.state[name], value), name
    with pytest.raises(torch.OutOfMemoryError):  # a chunk size the caller chose is not second-guessed
        train_vectorized(plans, X, y, setup, members_per_chunk=4)
