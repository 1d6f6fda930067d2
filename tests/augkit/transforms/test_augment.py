"""RandomErasing, MixUp and CutMix: torchvision's box rules, label weights equal pixel weights, the call protocol."""

import functools

import numpy as np
import pytest
import torch

import augkit as A
import nets
from augkit import functional as F
from augkit.data import load_digits_images
from ensemble import BaggedNetClassifier
from tests._references import random_batch


def image_batch(n=8, c=3, h=30, w=40, dtype=torch.uint8, seed=0):
    return random_batch(n, c, h, w, dtype, seed)


def test_erasing_boxes_follow_the_rule_and_only_the_box_changes():
    x = image_batch(n=400, h=30, w=40)
    t = A.RandomErasing(p=1.0, value=(0.0, 0.5, 1.0))
    out, params = t(x, generator=0, return_params=True)
    top, left, h, w, apply = (params[k] for k in ("top", "left", "height", "width", "apply"))
    assert apply.all() and (h > 0).float().mean() > 0.95
    assert ((h < 30) & (w < 40)).all() and (top + h <= 30).all() and (left + w <= 40).all()
    area = (h * w).double()[h > 0] / 1200
    assert area.min() >= 0.015 and area.max() <= 0.36
    mask = F.box_weights(top, left, h, w, (30, 40), torch.float32, torch.device("cpu")).bool().expand_as(x)
    fill = torch.tensor([0, 128, 255], dtype=torch.uint8).view(1, 3, 1, 1).expand_as(x)
    assert torch.equal(out[mask], fill[mask]) and torch.equal(out[~mask], x[~mask])


def test_erasing_leaves_the_sample_when_no_try_fits_and_p_gates():
    x = image_batch(n=50, h=10, w=10)
    out, params = A.RandomErasing(p=1.0, scale=(0.99, 1.0), ratio=(1, 1))(x, generator=0, return_params=True)
    assert (params["height"] == 0).all() and torch.equal(out, x)  # h = w = 10 is never < 10
    out, params = A.RandomErasing(p=0.3)(image_batch(n=1000, h=32, w=32), generator=0, return_params=True)
    assert 0.24 < params["apply"].float().mean() < 0.36


def test_erasing_random_values_lie_in_the_unit_range_and_replay():
    x = image_batch(n=20, dtype=torch.float32)
    t = A.RandomErasing(p=1.0, value="random")
    out, params = t(x, generator=1, return_params=True)
    changed = out != x
    assert changed.any() and out.min() >= 0 and out.max() <= 1
    assert len(torch.unique(out[changed])) > 100
    assert torch.equal(t.replay(x, params), out)


def test_erasing_equals_torchvision_erase():
    TF = pytest.importorskip("torchvision.transforms.v2.functional")
    x = image_batch(n=10, dtype=torch.float32)
    out, params = A.RandomErasing(p=1.0, value=(0.2, 0.4, 0.6))(x, generator=2, return_params=True)
    for i in range(10):
        t_, l_, h_, w_ = (int(params[k][i]) for k in ("top", "left", "height", "width"))
        want = TF.erase(x[i], t_, l_, h_, w_, torch.tensor([0.2, 0.4, 0.6])[:, None, None])
        torch.testing.assert_close(out[i], want, atol=0, rtol=0)


@pytest.mark.parametrize("make, error, message", [
    (lambda: A.RandomErasing(value=2.0), ValueError, r"numbers in \[0, 1\]"),
    (lambda: A.RandomErasing(value=(0.1, 0.2)), ValueError, "1 or 3 numbers"),
    (lambda: A.RandomErasing(value="noise"), TypeError, "'random'"),
    (lambda: A.RandomErasing(scale=(0.1, 1.5)), ValueError, "scale must be <= 1"),
    (lambda: A.RandomErasing(ratio=(0, 1)), ValueError, "ratio must be > 0"),
])
def test_bad_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_erasing_channel_values_must_match_the_batch():
    with pytest.raises(ValueError, match="3 channel values but the batch has C=1"):
        A.RandomErasing(value=(0.1, 0.2, 0.3))(torch.zeros(2, 1, 8, 8))


N = 12


def constant_images(n=N, c=3, h=10, w=14):
    """Sample k is the constant image k / (n - 1): a pixel's value says which samples it came from."""
    values = torch.arange(n, dtype=torch.float64) / (n - 1)
    return values.view(n, 1, 1, 1).expand(n, c, h, w).contiguous(), values


@pytest.mark.parametrize("mix", [A.MixUp(alpha=0.7), A.CutMix(alpha=1.5)], ids=["MixUp", "CutMix"])
def test_mixed_pixels_equal_the_label_weights(mix):
    x, values = constant_images()
    (out, target), params = mix(x, torch.arange(N), generator=0, num_classes=N, return_params=True)
    assert target.shape == (N, N) and target.dtype == torch.float32
    torch.testing.assert_close(target.sum(1), torch.ones(N))
    # Each pixel is a convex mix of the constants, so the image mean is target @ values exactly.
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), target.double() @ values, atol=1e-6, rtol=0)
    partner = params["partner"]
    moved = partner != torch.arange(N)
    assert moved.sum() >= N // 2
    if isinstance(mix, A.MixUp):  # every pixel carries the weights
        torch.testing.assert_close(out, (target.double() @ values).view(N, 1, 1, 1).expand_as(out), atol=1e-6, rtol=0)
    else:  # CutMix: a pixel is one image or the other; the pasted share is the partner's weight
        own = (out == x).double().mean(dim=(1, 2, 3))
        kept = 1 - params["height"] * params["width"] / (10 * 14)
        torch.testing.assert_close(own[moved], kept[moved].double())
        torch.testing.assert_close(target[moved, moved.nonzero()[:, 0]], kept[moved].float())


def test_each_sample_draws_its_own_weight_and_partner():
    x = torch.rand(64, 3, 8, 8)
    for mix in (A.MixUp(), A.CutMix()):
        _, params = mix(x, torch.zeros(64, dtype=torch.long), generator=1, num_classes=3, return_params=True)
        assert len(torch.unique(params["lam"])) == 64
        assert torch.equal(params["partner"].sort().values, torch.arange(64))
    _, params = A.CutMix()(x, torch.zeros(64, dtype=torch.long), generator=1, num_classes=3, return_params=True)
    assert len(torch.unique(params["height"] * params["width"])) > 10


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_mixing_weights_are_beta_alpha_alpha(alpha):
    _, params = A.MixUp(alpha)(torch.rand(4000, 1, 1, 1), torch.zeros(4000, dtype=torch.long), generator=2,
                               num_classes=2, return_params=True)
    lam = params["lam"]
    assert abs(lam.mean() - 0.5) < 0.02
    assert abs(lam.var() - 1 / (4 * (2 * alpha + 1))) < 0.01  # Beta(a, a): variance 1 / (4 (2a + 1))


def test_cutmix_box_follows_torchvisions_rule_clipped_to_the_image():
    x = torch.rand(2000, 1, 20, 30)
    _, params = A.CutMix()(x, torch.zeros(2000, dtype=torch.long), generator=3, num_classes=2, return_params=True)
    top, left, h, w, lam = (params[k] for k in ("top", "left", "height", "width", "lam"))
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 20).all() and (left + w <= 30).all()
    r = torch.sqrt(1 - lam) / 2
    assert (h <= 2 * (r * 20).long()).all() and (w <= 2 * (r * 30).long()).all()
    clipped = h < 2 * (r * 20).long()
    assert 0.2 < clipped.float().mean() < 0.95  # boxes near the edges are clipped, the label weight follows


def test_soft_labels_mix_and_probability_gates():
    x = torch.rand(N, 3, 6, 6)
    soft = torch.softmax(torch.randn(N, 5), 1)
    (out, target), params = A.MixUp(p=0.5)(x, soft, generator=4, return_params=True)
    lam = params["lam"].float()[:, None]
    torch.testing.assert_close(target, lam * soft + (1 - lam) * soft[params["partner"]])
    kept = ~params["apply"]
    assert kept.any() and (params["lam"][kept] == 1).all() and torch.allclose(out[kept], x[kept])
    out, target = A.CutMix(p=0.0)(x, torch.arange(N) % 5, generator=4, num_classes=5)
    assert torch.equal(out, x) and torch.equal(target, torch.nn.functional.one_hot(torch.arange(N) % 5, 5).float())


def test_pipeline_with_mixup_follows_the_training_protocol():
    x = torch.randint(0, 256, (N, 3, 16, 16), dtype=torch.uint8)
    y = torch.arange(N) % 4
    pipe = A.Compose([A.RandomResizedCrop(12), A.HorizontalFlip(), A.TrivialAugmentWide(), A.RandomErasing(),
                      A.CutMix(alpha=1.0)])
    assert pipe.mixes_labels and not A.Compose([A.HorizontalFlip()]).mixes_labels
    (out, target), params = pipe(x, y, generator=torch.Generator().manual_seed(0), num_classes=4, return_params=True)
    assert out.shape == (N, 3, 12, 12) and out.dtype == torch.uint8 and target.shape == (N, 4)
    again, again_target = pipe.replay(x, params, y, num_classes=4)
    assert torch.equal(again, out) and torch.equal(again_target, target)
    back = A.Compose.from_json(pipe.to_json())
    assert back == pipe and back.mixes_labels
    floats = pipe(x.float() / 255, y, generator=0, num_classes=4)[0]
    assert floats.dtype == torch.float32 and floats.min() >= 0 and floats.max() <= 1


def test_protocol_errors_name_the_problem():
    x = torch.rand(N, 3, 8, 8)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        A.MixUp(alpha=0)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        A.CutMix(alpha=-1.0)
    with pytest.raises(ValueError, match=r"labels of shape \(11,\) do not match the batch of 12"):
        A.MixUp()(x, torch.zeros(11, dtype=torch.long), num_classes=3)
    with pytest.raises(ValueError, match="soft labels have 7 columns but num_classes=10"):
        A.CutMix()(x, torch.full((N, 7), 1 / 7), num_classes=10)
    with pytest.raises(ValueError, match="num_classes is required"):
        A.MixUp()(x, torch.zeros(N, dtype=torch.long))
    with pytest.raises(ValueError, match=r"class indices must lie in 0 .. 2"):
        A.MixUp()(x, torch.full((N,), 3), num_classes=3)
    with pytest.raises(ValueError, match="rows summing to 1"):
        A.MixUp()(x, torch.ones(N, 3), num_classes=3)
    with pytest.raises(TypeError, match="MixUp mixes labels: call it with the labels"):
        A.MixUp()(x)
    with pytest.raises(TypeError, match="Compose mixes labels"):
        A.Compose([A.HorizontalFlip(), A.MixUp()])(x, generator=0)
    with pytest.raises(TypeError, match="Rotate does not mix labels"):
        A.Rotate(5)(x, torch.zeros(N, dtype=torch.long))
    with pytest.raises(ValueError, match="RandomApply cannot contain MixUp"):
        A.RandomApply([A.MixUp()])
    with pytest.raises(ValueError, match="OneOf cannot contain Compose, which mixes"):
        A.OneOf([A.Rotate(3), A.Compose([A.CutMix()])])


def test_mixup_and_cutmix_equal_torchvision_with_its_pairing_and_weight():
    v2 = pytest.importorskip("torchvision.transforms.v2")
    x, y = torch.rand(N, 3, 10, 14), torch.arange(N) % 5
    partner = torch.arange(N).roll(1)  # torchvision pairs sample n with n - 1
    lam = 0.3
    tv = v2.MixUp(num_classes=5)
    want = tv.transform(x, dict(lam=lam, labels=y, batch_size=N))
    want_target = tv.transform(y, dict(lam=lam, labels=y, batch_size=N))
    params = {"apply": torch.ones(N, dtype=torch.bool), "lam": torch.full((N,), lam, dtype=torch.float64),
              "partner": partner}
    out, target = A.MixUp().replay(x, params, y, num_classes=5)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(target, want_target)
    tv = v2.CutMix(num_classes=5)
    torch.manual_seed(0)
    drawn = tv.make_params([x])
    x1, y1, x2, y2 = drawn["box"]
    params.update(top=torch.full((N,), y1), left=torch.full((N,), x1), height=torch.full((N,), y2 - y1),
                  width=torch.full((N,), x2 - x1))
    out, target = A.CutMix().replay(x, params, y, num_classes=5)
    both = dict(drawn, labels=y, batch_size=N)
    torch.testing.assert_close(out, tv.transform(x, both))
    torch.testing.assert_close(target, tv.transform(y, both))


def _trainer_mixes_labels() -> bool:
    """Whether nets' training step calls a label-mixing augment with the labels (the training
    helper's side of the protocol): a one-batch fit, which augkit refuses with its own message when not."""
    images, y = load_digits_images()
    x = np.ascontiguousarray(images[:16].transpose(0, 3, 1, 2))
    try:
        nets.fit(nets.MLP((1, 8, 8), 10, widths=(4,)), (x, y[:16]), epochs=1, batch_size=16, augment=A.MixUp(),
                 verbose=0)
    except TypeError as error:
        if "mixes labels: call it with the labels" in str(error):
            return False
        raise
    return True


@pytest.mark.skipif(not _trainer_mixes_labels(), reason="nets' training step does not pass the labels to a "
                    "label-mixing augment yet (the training helper's side of issue 14)")
def test_mixup_and_cutmix_train_an_estimator_end_to_end_on_digits(digits_images, tmp_path):
    images, y = digits_images
    cnn = functools.partial(nets.SmallCNN, widths=(8, 16))
    for mix in (A.MixUp(alpha=0.4), A.CutMix(alpha=1.0)):
        clf = BaggedNetClassifier(member=cnn, n_members=2, epochs=6, lr=0.1, random_state=0, verbose=0,
                                  augment=A.Compose([A.Translate(x=1, y=1, unit="pixels"), mix]))
        clf.fit(images[:1200], y[:1200])
        proba = clf.predict_proba(images[1200:1500])
        assert np.allclose(proba.sum(1), 1, atol=1e-5)
        assert (proba.argmax(1) == y[1200:1500]).mean() > 0.6  # chance: 0.1; mixing slows learning
        clf.save(tmp_path / type(mix).__name__)
        again = BaggedNetClassifier.load(tmp_path / type(mix).__name__)
        assert again.augment == clf.augment and again.augment.mixes_labels
