"""examples/cifar10_equal_compute.py: every row trains and is scored on a fake CIFAR-10 folder (--quick)."""
import json

from tests.examples.test_cifar10_robustness import _fake_cifar
from tests.script_loader import load_script


def test_quick_run_trains_and_scores_every_row(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGKIT_CACHE", str(tmp_path / "cache"))
    _fake_cifar(tmp_path / "cifar", per_class=40)
    results = load_script("examples/cifar10_equal_compute.py").main(
        # a budget far above what 2 epochs take, so the rows never depend on this machine's speed
        ["--cifar10", str(tmp_path / "cifar"), "--out", str(tmp_path / "out"), "--quick", "--budget", "600",
         "--max-epochs", "2", "--widths", "4", "8", "8", "--batch-size", "32", "--val-per-class", "4"])
    assert list(results) == ["one member", "k independent", "snapshot", "FGE", "SWA"]
    assert not [name for name, r in results.items() if "failed" in r]
    assert [r["members"] for r in results.values()] == [1, 2, 2, 2, 1]
    assert [r["snapshot_steps"] for r in results.values()] == [[], [], [11, 22], [20, 22], [20, 22]]
    assert all(r["width"] == [4, 8, 8] and 0 <= r["with_tta"]["accuracy"] <= 1 for r in results.values())
    page = (tmp_path / "out" / "cifar10_equal_compute.md").read_text()
    assert "| SWA | 1 |" in page and "time_budget=600 s" in page
    assert all(r["epochs"] == 2 for r in results.values())
    saved = json.loads((tmp_path / "out" / "cifar10_equal_compute.json").read_text())
    assert saved["args"]["members"] == 2 and saved["args"]["val_per_class"] == 4
