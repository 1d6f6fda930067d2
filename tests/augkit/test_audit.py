"""augkit.audit: which augmentations change the class, judged by a model trained on digits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import augkit as A
from augkit.audit import AuditReport, audit
from augkit.data import load_digits_images, to_batch


@pytest.fixture(scope="module")
def digits_model():
    """A small MLP trained on 1400 digits with +-1 pixel translations; the other 397 held out."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: extra threads only contend on a shared CPU
    try:
        images, labels = load_digits_images()
        x, y = to_batch(images).float() / 255, torch.from_numpy(labels)
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        train, test = order[:1400], order[1400:]
        # Augmentation: every shift by -1, 0 or 1 pixel in x and y (augkit's Translate, fixed shift).
        shifted = [
            A.Translate(x=(dx, dx), y=(dy, dy), unit="pixels")(x[train], generator=0)
            for dx in (-1, 0, 1)
            for dy in (-1, 0, 1)
        ]
        x_train, y_train = torch.cat(shifted), y[train].repeat(len(shifted))
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
        generator = torch.Generator().manual_seed(1)
        for _ in range(6):
            for batch in torch.randperm(len(x_train), generator=generator).split(256):
                loss = torch.nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        model.train()  # audit must switch to eval and back
        yield model, images[test.numpy()], labels[test.numpy()]
    finally:
        torch.set_num_threads(threads)


def test_audit_flags_label_changing_transforms(digits_model) -> None:
    model, images, labels = digits_model
    transforms = {
        "vertical flip": A.VerticalFlip(p=1.0),
        "rotate 150-180": A.Rotate(degrees=(150, 180)),
        "translate 1px": A.Translate(x=1, y=1, unit="pixels"),
        "rotate 10": A.Rotate(degrees=10),
    }
    report = audit(model, images, labels, transforms, threshold=0.9)
    assert model.training  # training mode restored
    assert report.clean_accuracy > 0.9 and report.n_images == len(labels)
    assert report.flagged == ["vertical flip", "rotate 150-180"]
    rows = {row["transform"]: row for row in report.rows}
    assert rows["translate 1px"]["relative_accuracy"] > 0.9
    for row in report.rows:
        assert row["relative_accuracy"] == pytest.approx(row["accuracy"] / report.clean_accuracy)
        assert row["changes_labels"] == (row["relative_accuracy"] < 0.9)
        assert 0 <= row["changed"] <= 1
    # A label-changing transform changes many predictions; a harmless one few.
    assert rows["rotate 150-180"]["changed"] > 3 * rows["translate 1px"]["changed"]
    # Reproducible for a fixed seed (and batch_size); the same for a uint8 N x C x H x W tensor.
    again = audit(model, to_batch(images), torch.from_numpy(labels), transforms)
    assert again.to_dict() == report.to_dict()


def _identity(batch, generator=None):
    return batch


def _roll_channels(batch, generator=None):
    return batch.roll(1, dims=1)


class _BrightestChannel(torch.nn.Module):
    """Logits = the pixel values of a 3 x 1 x 1 image: predicts its brightest channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def test_audit_counts_exactly_and_reports() -> None:
    # 1 x 1 images whose brightest channel is the label: rolling channels maps class c to c + 1.
    labels = np.array([0, 1, 2, 2])
    images = np.zeros((4, 1, 3, 1), np.uint8)
    images[np.arange(4), 0, labels, 0] = 200
    images[3, 0, 0, 0] = 250  # brighter channel 0: the model misclassifies this one
    images = images.transpose(0, 1, 3, 2)  # N x H x W x C = 4 x 1 x 1 x 3
    report = audit(
        _BrightestChannel(), images, labels, {"identity": _identity, "roll": _roll_channels}, batch_size=3, threshold=0.5
    )
    assert report.clean_accuracy == 0.75
    identity, rolled = report.rows
    assert identity == {"transform": "identity", "accuracy": 0.75, "relative_accuracy": 1.0,
                        "changed": 0.0, "changes_labels": False}
    # rolled predictions: 1, 2, 0, 1 against labels 0, 1, 2, 2: none right, all changed.
    assert rolled == {"transform": "roll", "accuracy": 0.0, "relative_accuracy": 0.0,
                      "changed": 1.0, "changes_labels": True}
    assert report.flagged == ["roll"]
    table = report.to_markdown().splitlines()
    assert table[2].startswith("| (clean) | 0.750 |")
    assert table[4] == "| roll | 0.000 | 0.000 | 1.000 | yes (< 0.5) |"
    restored = json.loads(json.dumps(report.to_dict()))
    assert restored["flagged"] == ["roll"] and restored["rows"][1] == rolled
    assert isinstance(report, AuditReport)


def test_audit_preprocess_and_errors() -> None:
    images = torch.zeros(2, 3, 1, 1, dtype=torch.uint8)
    labels = torch.tensor([0, 0])
    seen = []

    def preprocess(x: torch.Tensor) -> torch.Tensor:
        seen.append(x)
        return x + 1  # pixel 0 wins every argmax
    report = audit(_BrightestChannel(), images, labels, {"identity": _identity}, preprocess=preprocess)
    assert report.clean_accuracy == 1.0 and seen[0].dtype == torch.float32
    with pytest.raises(ValueError, match="clean accuracy is 0"):
        audit(_BrightestChannel(), images, torch.tensor([1, 1]), {"identity": _identity}, preprocess=preprocess)
    with pytest.raises(ValueError, match="transforms must be a non-empty dict"):
        audit(_BrightestChannel(), images, labels, {})
    with pytest.raises(ValueError, match=r"transforms\['x'\] must be callable"):
        audit(_BrightestChannel(), images, labels, {"x": 3})
    with pytest.raises(ValueError, match="2 labels for 3 images"):
        audit(_BrightestChannel(), torch.zeros(3, 3, 1, 1, dtype=torch.uint8), labels, {"identity": _identity})
    with pytest.raises(ValueError, match="images must be a uint8"):
        audit(_BrightestChannel(), images.float(), labels, {"identity": _identity})
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        audit(_BrightestChannel(), images, labels, {"identity": _identity}, batch_size=0)
