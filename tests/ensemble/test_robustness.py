"""ensemble.robustness: scores of every model on every corrupted copy."""
import numpy as np
import pytest
import torch

from augkit.data import to_batch
from ensemble import metrics, robustness_scores
from ensemble.corruptions import corrupt
from ensemble.robustness import corrupted_copies, mean_over_corruptions


def _mean_brightness_model(images):
    """A fixed "model" of 2 classes: P(class 1) grows with an image's mean brightness."""
    x = torch.as_tensor(np.asarray(images)).double()
    m = x.flatten(1).mean(1) / 255
    return torch.stack([1 - m, m], 1).numpy()


def test_robustness_scores_score_every_copy_with_every_model(digits_images):
    images = digits_images[0][:60]
    y = (images.reshape(60, -1).mean(1) > images.mean()).astype(int)
    seen = []

    def model_a(imgs):
        seen.append(imgs.shape)
        return _mean_brightness_model(imgs)

    models = {"a": model_a, "b": lambda imgs: _mean_brightness_model(imgs)[:, ::-1].copy()}
    rows = robustness_scores(models, images, y, corruptions=["contrast", "jpeg"], severities=[1, 5], seed=2)
    assert [(r["model"], r["corruption"], r["severity"]) for r in rows[:4]] == [
        ("a", "clean", 0), ("b", "clean", 0), ("a", "contrast", 1), ("b", "contrast", 1)]
    assert len(rows) == 2 * (1 + 2 * 2)
    assert set(seen) == {images.shape}  # numpy N x H x W x C in, the same layout to the model
    row = next(r for r in rows if r["model"] == "a" and r["corruption"] == "jpeg" and r["severity"] == 5)
    copy = corrupt(to_batch(images), "jpeg", 5, seed=2).permute(0, 2, 3, 1).numpy()
    assert row["value"] == 40
    assert {k: row[k] for k in ("accuracy", "nll", "brier", "ece")} == metrics.summary(_mean_brightness_model(copy), y)
    means = mean_over_corruptions(rows)
    a5 = next(m for m in means if m["model"] == "a" and m["severity"] == 5)
    group = [r for r in rows if r["model"] == "a" and r["severity"] == 5]
    assert a5["ece"] == pytest.approx(np.mean([r["ece"] for r in group]))
    assert [m["severity"] for m in means if m["model"] == "b"] == [0, 1, 5]


def test_tensor_images_reach_the_model_as_tensors(digits_images):
    batch = to_batch(digits_images[0][:10])
    kinds = []

    def model(imgs):
        kinds.append(type(imgs))
        return _mean_brightness_model(imgs)

    rows = robustness_scores(model, batch, np.zeros(10, dtype=int), corruptions=["rotation"], severities=[2])
    assert kinds == [torch.Tensor, torch.Tensor] and rows[0]["model"] == "model"


def test_bad_corruption_names_fail_before_any_scoring(digits_images):
    calls = []
    with pytest.raises(ValueError, match="corruption must be one of"):
        robustness_scores(lambda imgs: calls.append(1), digits_images[0][:5], np.zeros(5, dtype=int),
                          corruptions=["snow"])
    assert calls == []
    with pytest.raises(ValueError, match="y has 4 labels but there are 5 images"):
        robustness_scores(_mean_brightness_model, digits_images[0][:5], np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="N x H x W x C"):
        next(corrupted_copies(digits_images[0][0]))
