"""ensemble.recipes.cifar10: airbench94's settings in the toolkit's units, and a fit within its budget."""
import functools

import numpy as np
import pytest
import torch

import augkit as A
import nets
from ensemble import BaggedNetClassifier
from ensemble.recipes import cifar10


def test_cifar10_is_airbench94_in_our_units():
    clf = cifar10(time_budget=900, widths=(64, 256, 256))
    assert isinstance(clf, BaggedNetClassifier) and not hasattr(clf, "estimators_")
    # airbench: lr 11.5 per 1024 examples and wd 0.0153 per 1024, in units decoupled from the
    # momentum 0.85 (its "kilostep" scale 1024 (1 + 1 / (1 - 0.85))); our lr multiplies a mean
    # loss of batch 512, our coupled decay is per unit of lr.
    assert clf.lr == pytest.approx(11.5 * 512 / (1024 * (1 + 1 / 0.15)))
    assert clf.weight_decay == pytest.approx(0.0153 / 11.5)
    assert (clf.momentum, clf.nesterov, clf.batch_size, clf.label_smoothing) == (0.85, True, 512, 0.2)
    assert (clf.lr_schedule, clf.norm_lr_scale, clf.lookahead) == ("triangular", 64.0, True)
    assert (clf.tta, clf.calibration, clf.time_budget, clf.bootstrap) == ("auto", "temperature", 900, False)
    member = clf.member(input_shape=(3, 32, 32), n_classes=10)
    assert isinstance(member, nets.FastCNN) and member.whiten
    assert [type(t) for t in clf.augment.transforms] == [A.HorizontalFlip, A.RandomCrop]
    assert clf.augment.transforms[1].padding == 2 and clf.augment.transforms[1].padding_mode == "reflect"
    assert cifar10(60, n_members=3, weight_decay=0.0, widths=(8, 8, 8)).weight_decay == 0.0
    with pytest.raises(TypeError, match=r"unknown BaggedNetClassifier parameters \['width'\]"):
        cifar10(60, width=(1, 2))


def test_the_width_is_airbench94s_when_a_member_sees_enough_images(monkeypatch):
    import ensemble.recipes as R


    def fake_probe(setup, X, y, threads, steps, warmup):
        widths = setup.factory.keywords["widths"]
        return type("Probe", (), {"step_seconds": 512 / {64: 100, 48: 200}[widths[0]]})()

    monkeypatch.setattr(R, "probe_speed", fake_probe)
    # 100 images/s at 64/256/256: 4,000 s per member see 400,000 images -> airbench94's widths
    assert R.choose_widths(4000, dict(batch_size=512), 512)[0] == (64, 256, 256)
    # 2,000 s: 64 sees 200,000, 48 (200 images/s) 400,000 -> 48/192/192
    assert R.choose_widths(2000, dict(batch_size=512), 512)[0] == (48, 192, 192)
    # 100 s: neither -> the narrowest, unprobed
    widths, measured = R.choose_widths(100, dict(batch_size=512), 512)
    assert widths == (32, 128, 128) and set(measured) == {"(64, 256, 256)", "(48, 192, 192)"}
    member = R.cifar10(100, n_members=2, device="cpu").member(input_shape=(3, 32, 32), n_classes=10)
    assert [m.out_channels for m in member.modules() if isinstance(m, torch.nn.Conv2d)][1] == 32


def test_batch_norm_false_removes_every_batchnorm_and_probes_that_network(monkeypatch):
    import ensemble.recipes as R

    probed = []

    def fake_probe(setup, X, y, threads, steps, warmup):
        probed.append(setup.factory(input_shape=(3, 32, 32), n_classes=10))
        return type("Probe", (), {"step_seconds": 1e9})()  # too slow for the wide ones: the narrowest

    monkeypatch.setattr(R, "probe_speed", fake_probe)
    member = R.cifar10(100, batch_norm=False).member(input_shape=(3, 32, 32), n_classes=10)
    norms = (torch.nn.BatchNorm2d, nets.BatchNorm2d)
    assert probed and not any(isinstance(m, norms) for net in [*probed, member] for m in net.modules())
    assert [m.out_channels for m in member.modules() if isinstance(m, torch.nn.Conv2d)][1] == 32
    assert any(isinstance(m, norms) for m in R.cifar10(100).member(input_shape=(3, 32, 32), n_classes=10).modules())
    with pytest.raises(TypeError, match="batch_norm=False builds the recipe's own network"):
        R.cifar10(100, batch_norm=False, member=nets.FastCNN)


def test_a_tiny_recipe_fits_and_learns_its_tta_temperature_and_epochs():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 200)
    images = rng.integers(0, 60, (800, 32, 32, 3), dtype=np.uint8)
    images[np.arange(800), :, :, y % 3] += 150  # a class-dependent colour: learnable in a few steps
    clf = cifar10(time_budget=15, n_members=2, batch_size=64, verbose=0,
                  member=functools.partial(nets.FastCNN, widths=(8, 16, 16), whiten=True, dirac=True, bn_scale=False))
    clf.fit(images, y)
    assert len(clf.estimators_) == 2 and 0 < clf.epochs_ <= 200
    assert clf.tta_ in (None, "flip", "flip_shift", "ten_crop") and clf.temperature_ > 0
    assert all(len(rows) == round(0.02 * 800) for rows in clf.oob_indices_)  # 2% held out per member
    assert (clf.predict(images[::10]) == y[::10]).mean() > 0.5


def test_mirror_translate_views_weigh_airbenchs_tta_level_2():
    from ensemble.recipes import mirror_translate_views

    x = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8)
    views = mirror_translate_views(x)
    assert views.shape == (3, 8, 3, 8, 8) and views.dtype == torch.uint8
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    expected = [x, x, padded[..., :8, :8], padded[..., 2:, 2:]]  # image twice, down-right, up-left
    expected += [v.flip(-1) for v in expected]
    for view, want in zip(views.unbind(1), expected):
        assert torch.equal(view, want)
    assert torch.equal(views[:, 2, :, 1:, 1:], x[..., :-1, :-1])  # moved one pixel down-right


def test_mirror_translate_views_average_to_airbenchs_own_tta():
    airbench_utils = pytest.importorskip("airbench.utils")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)).eval()
    x = torch.randn(5, 3, 32, 32)  # airbench's TTA crops 32 x 32
    loader = type("Loader", (), {"images": x, "normalize": staticmethod(lambda images: images)})()
    theirs = airbench_utils.infer(model, loader, tta_level=2)  # the average of its views' logits
    from ensemble.recipes import mirror_translate_views
    with torch.no_grad():
        ours = model(mirror_translate_views(x).flatten(0, 1)).unflatten(0, (5, 8)).mean(1)
    torch.testing.assert_close(ours, theirs)
