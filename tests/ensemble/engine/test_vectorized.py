"""ensemble.engine.vectorized: the vectorised engine trains each member exactly as it would train alone."""
import dataclasses
import functools

import numpy as np
import pytest
import torch

import nets
import nets.batches
import nets.precision
from ensemble import BaggedNetClassifier
from ensemble.engine.members import TrainSetup, build_member
from ensemble.engine.plans import MemberPlan
from ensemble.engine.vectorized import train_vectorized

cnn = functools.partial(nets.SmallCNN, widths=(4, 8), p_keep=0.7)  # BatchNorm and Dropout both inside


def _setup(early_stopping, strategy="vmap", **options):
    config = nets.TrainConfig(**{**dict(epochs=3, batch_size=32, lr=0.05, momentum=0.9, optimizer="sgd",
                                        weight_decay=5e-4, lr_schedule="onecycle", normalize=((0.3,), (0.4,)),
                                        verbose=0), **options})
    return TrainSetup(factory=cnn, input_shape=(1, 8, 8), n_classes=10, early_stopping=early_stopping, patience=2,
                      strategy=strategy, config=config)


def _plans(n, k, bag):
    rng = np.random.default_rng(0)
    plans = []
    for i in range(k):
        train = np.sort(rng.integers(0, n, size=bag))
        plans.append(MemberPlan(index=i, seed=1000 + i, train_indices=train,
                                val_indices=np.setdiff1d(np.arange(n), train)))
    return plans


class ReversedPartnerMix:
    """A label-mixing stub (MixUp's arithmetic at a fixed lambda): row i mixed with row N-1-i."""

    mixes_labels = True

    def __init__(self, lam=0.7):
        self.lam = lam

    def __call__(self, x, y, generator=None, num_classes=None):
        onehot = torch.nn.functional.one_hot(y, num_classes).float()
        return self.lam * x + (1 - self.lam) * x.flip(0), self.lam * onehot + (1 - self.lam) * onehot.flip(0)


OPTIONS = {  # every training option the estimator exposes, beside the defaults
    "defaults": {},
    "l1_decoupled_adam": dict(l1=1e-3, decoupled_weight_decay=True, optimizer="adam", lr=0.01, nesterov=False),
    "mixing_smoothing_contiguous": dict(augment=ReversedPartnerMix(), label_smoothing=0.1, channels_last=False,
                                        lr_schedule="cosine"),
    "airbench_lookahead_fractional": dict(lookahead=True, norm_lr_scale=8.0, lr_schedule="triangular", epochs=2.6),
}


def _train_alone(setup, plan, X, y, early_stopping):
    alone = build_member(setup, plan.seed)
    val = (X[plan.val_indices], y[plan.val_indices]) if early_stopping else None
    stopper = nets.EarlyStopping(patience=2) if early_stopping else None
    history = nets.fit(alone, (X[plan.train_indices], y[plan.train_indices]), val=val, early_stopping=stopper,
                       generator=torch.Generator().manual_seed(plan.seed), config=setup.config)
    return alone, history


def _assert_same_member(record, alone, history, early_stopping):
    for name, value in alone.state_dict().items():
        assert torch.allclose(record.state[name].float(), value.float(), atol=2e-5, rtol=1e-4), name
    assert np.allclose(record.history["loss"], history.loss, rtol=1e-4)
    assert np.allclose(record.history["acc"], history.acc)
    if early_stopping:
        assert record.history["best_epoch"] == history.best_epoch
        assert np.allclose(record.history["val_loss"], history.val_loss, rtol=1e-4)


@pytest.mark.parametrize("vectorize", ["vmap", "grouped"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_vectorised_member_equals_member_trained_alone(digits_images, early_stopping, vectorize):
    images, y = digits_images
    X = np.ascontiguousarray(images[:300].transpose(0, 3, 1, 2))
    y = y[:300].astype(np.int64)
    setup = _setup(early_stopping, vectorize, channels_last=False)  # float32 and contiguous
    plans = _plans(len(X), 3, 300)
    together = train_vectorized(plans, X, y, setup)
    for plan in plans:
        _assert_same_member(together[plan.index].record, *_train_alone(setup, plan, X, y, early_stopping),
                            early_stopping)


@pytest.mark.parametrize("vectorize", ["vmap", "grouped"])
@pytest.mark.parametrize("options", list(OPTIONS), ids=list(OPTIONS))
def test_every_training_option_trains_the_same_member_in_both_engines(digits_images, vectorize, options):
    """Channels-last (default), L1, decoupled decay, Adam, soft targets from a label-mixing
    augmentation (mixed within each member's own batch), label smoothing, schedules."""
    images, y = digits_images
    X = np.ascontiguousarray(images[:256].transpose(0, 3, 1, 2))
    y = y[:256].astype(np.int64)
    setup = _setup(False, vectorize, **{"epochs": 2, **OPTIONS[options]})
    plans = _plans(len(X), 2, 256)
    together = train_vectorized(plans, X, y, setup)
    for plan in plans:
        _assert_same_member(together[plan.index].record, *_train_alone(setup, plan, X, y, False), False)


@pytest.mark.parametrize("vectorize", ["vmap", "grouped"])
def test_channels_last_and_contiguous_stacked_training_give_the_same_members(digits_images, vectorize):
    images, y = digits_images
    X = np.ascontiguousarray(np.repeat(images[:256].transpose(0, 3, 1, 2), 3, axis=1))  # 3 channels
    y = y[:256].astype(np.int64)
    plans = _plans(len(X), 2, 256)
    factory = functools.partial(nets.SmallCNN, widths=(4, 8), p_keep=0.7)
    runs = {}
    for channels_last in (True, False):
        setup = dataclasses.replace(_setup(True, vectorize, epochs=2, channels_last=channels_last, normalize=None),
                                    factory=factory, input_shape=(3, 8, 8))
        runs[channels_last] = train_vectorized(plans, X, y, setup)
    for plan in plans:
        a, b = runs[True][plan.index].record, runs[False][plan.index].record
        for name, value in b.state.items():
            torch.testing.assert_close(a.state[name], value, atol=1e-4, rtol=1e-4, msg=name)
        assert a.history["best_epoch"] == b.history["best_epoch"]
    conv = runs[True][0].record.state["layers.4.weight"]  # the member's own weights come back channels-last
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()


def test_stacked_convolution_weights_are_channels_last_per_member_and_packed():
    from ensemble.engine.vectorized import StackedMembers

    models = [nets.SmallCNN((3, 8, 8), 4, widths=(4, 8)) for _ in range(3)]
    for model in models:
        nets.batches.set_memory_format(model, True)
    probe = torch.rand(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    members = StackedMembers(models, "grouped", torch.channels_last, probe)
    weight = members.params["layers.4.weight"]  # 3 x 8 x 4 x 3 x 3
    assert weight.is_leaf and weight.requires_grad
    assert all(weight[m].is_contiguous(memory_format=torch.channels_last) for m in range(3))
    assert weight.view(24, 4, 3, 3).is_contiguous(memory_format=torch.channels_last)  # the grouped conv's weight
    torch.testing.assert_close(weight[1], models[1].layers[4].weight)


@pytest.mark.parametrize("vectorize", ["vmap", "grouped"])
def test_dropout_masks_differ_between_members_but_not_between_engines(digits_images, vectorize):
    images, y = digits_images
    X = np.ascontiguousarray(images[:64].transpose(0, 3, 1, 2))
    setup = _setup(False, vectorize, epochs=1)
    plans = [MemberPlan(index=i, seed=7, train_indices=np.arange(64), val_indices=np.arange(0)) for i in range(2)]
    same_seed = train_vectorized(plans, X, y[:64].astype(np.int64), setup)
    a, b = same_seed[0].record.state, same_seed[1].record.state
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed -> same member, also inside vmap


@pytest.mark.parametrize("options", [dict(label_smoothing=0.1),
                                     dict(l1=1e-4, decoupled_weight_decay=True, augment=ReversedPartnerMix())],
                         ids=["smoothing", "l1-decoupled-mixing"])
def test_estimator_engines_agree(digits_images, options):
    images, y = digits_images
    kw = dict(member=cnn, n_members=3, epochs=2, random_state=0, verbose=0, **options)
    joblib_clf = BaggedNetClassifier(engine="joblib", **kw).fit(images[:300], y[:300])
    for vectorize in ("vmap", "grouped"):
        vector_clf = BaggedNetClassifier(engine=vectorize, members_per_chunk=2,
                                         **kw).fit(images[:300], y[:300])
        assert np.allclose(joblib_clf.predict_proba(images[300:400]), vector_clf.predict_proba(images[300:400]),
                           atol=1e-4), vectorize
        assert joblib_clf.oob_score_ == pytest.approx(vector_clf.oob_score_, abs=0.01)


@pytest.mark.parametrize("vectorize", ["vmap", "grouped"])
def test_bfloat16_training_in_the_vectorised_engine(digits_images, vectorize, monkeypatch):
    monkeypatch.setattr(nets.precision, "bfloat16_supported", lambda device: True)  # bf16 path, emulated if need be
    images, y = digits_images
    kw = dict(member=functools.partial(nets.SmallCNN, widths=(16, 32)), n_members=2, epochs=5, lr=0.1,
              early_stopping=False, random_state=0, verbose=0, engine=vectorize)
    f32 = BaggedNetClassifier(**kw).fit(images[:600], y[:600])
    bf16 = BaggedNetClassifier(precision="bfloat16", **kw).fit(images[:600], y[:600])
    p32, p16 = f32.predict_proba(images[600:900]), bf16.predict_proba(images[600:900])
    assert not np.allclose(p32, p16, atol=1e-4)  # the training forward really ran in bf16
    assert np.abs(p32 - p16).mean() < 0.1  # ... and trained nearly the same members
    assert bf16.score(images[600:900], y[600:900]) > 0.8


def test_chunk_that_runs_out_of_memory_is_retried_in_halves(digits_images, monkeypatch):
    import ensemble.engine.vectorized as engine

    images, y = digits_images
    X = np.ascontiguousarray(images[:120].transpose(0, 3, 1, 2))
    y = y[:120].astype(np.int64)
    setup = _setup(False, epochs=1)
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


@pytest.mark.parametrize("vectorize", ["vmap", "grouped"])
def test_airbench_members_with_a_whitened_frozen_stem_equal_solo_training(digits_images, vectorize):
    images, y = digits_images
    X = np.ascontiguousarray(images[:256].transpose(0, 3, 1, 2))
    y = y[:256].astype(np.int64)
    setup = _setup(False, vectorize, epochs=2, lookahead=True, norm_lr_scale=16.0, lr_schedule="triangular")
    setup = dataclasses.replace(setup, factory=functools.partial(
        nets.FastCNN, widths=(8, 16), stem=8, whiten=True, dirac=True, bn_scale=False))
    plans = _plans(len(X), 2, 256)
    together = train_vectorized(plans, X, y, setup)
    for plan in plans:
        _assert_same_member(together[plan.index].record, *_train_alone(setup, plan, X, y, False), False)
