"""examples/cifar10_robustness.py: trains, saves, loads and scores on a fake CIFAR-10 folder."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.script_loader import load_script


def _fake_cifar(root: Path, per_class: int = 30) -> None:
    rng = np.random.default_rng(0)
    for c in range(10):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            image[..., c % 3] //= 2 + c // 3  # something for the members to learn
            Image.fromarray(image).save(root / f"class{c}" / f"{i:03d}.png")


def test_example_trains_saves_loads_and_scores(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("AUGKIT_CACHE", str(tmp_path / "cache"))
    _fake_cifar(tmp_path / "cifar")
    example = load_script("examples/cifar10_robustness.py")
    common = ["--cifar10", str(tmp_path / "cifar"), "--val-per-class", "3", "--train-subset", "0", "--val-images",
              "0", "--epochs", "1", "--members", "2", "--widths", "4", "--jobs", "1", "--corruptions", "jpeg",
              "rotation", "--severities", "1", "5"]
    first = example.main(common + ["--out", str(tmp_path / "a"), "--save", str(tmp_path / "models")])
    rows = first["rows"]
    assert len(rows) == 4 * (1 + 2 * 2)  # 4 models x (clean + 2 corruptions x 2 severities)
    assert {r["model"] for r in rows} == {"single member", "single member, calibrated", "ensemble",
                                          "ensemble, calibrated"}
    for raw in (r for r in rows if r["model"] in ("single member", "ensemble")):
        calibrated = next(r for r in rows if r["model"] == raw["model"] + ", calibrated"
                          and (r["corruption"], r["severity"]) == (raw["corruption"], raw["severity"]))
        assert calibrated["accuracy"] == raw["accuracy"]  # a temperature never changes a prediction
    assert first["calibration_rows"]["single"] == 27  # its 10 % held-out rows of 270
    for name in ("cifar10_robustness.md", "robustness.png", "reliability.png"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    again = example.main(common + ["--out", str(tmp_path / "b"), "--load", str(tmp_path / "models")])
    assert again["temperatures"] == pytest.approx(first["temperatures"])
    assert [r["nll"] for r in again["rows"]] == pytest.approx([r["nll"] for r in rows], rel=1e-5)
