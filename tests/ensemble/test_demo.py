"""ensemble.demo: smoke test of the main job (python -m ensemble.demo) with a tiny budget."""
import json
import subprocess
import sys

from ensemble.demo import build_parser, main


def test_demo_writes_its_table_and_plots(tmp_path):
    results = main(["--epochs", "1", "--members", "2", "--jobs", "1", "--quiet", "--out", str(tmp_path)])
    assert set(results["rows"]) == {"single member", "2-member bagged ensemble"}
    for name in ("results.md", "results.json", "members.png", "training.png", "augment.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    table = (tmp_path / "results.md").read_text()
    assert "| single member |" in table and "TTA=shift" in table
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["data"] == "sklearn digits"
    n = saved["oob_share"]["rows"]
    assert saved["oob_share"]["expected"] == (1 - 1 / n) ** n and len(saved["oob_share"]["members"]) == 2
    assert "Out-of-bag share per member: " in table and f"for n = {n})" in table


def test_demo_help_names_every_option():
    text = build_parser().format_help()
    for option in ("--data", "--members", "--epochs", "--tta", "--bootstrap", "--no-bootstrap", "--jobs",
                   "--device", "--out", "--limit", "--size", "--seed"):
        assert option in text, option
    done = subprocess.run([sys.executable, "-m", "ensemble.demo", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "ImageFolder" in done.stdout
