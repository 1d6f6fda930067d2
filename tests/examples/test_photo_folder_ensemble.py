"""examples/photo_folder_ensemble.py and benchmarks/ensemble_photo_folder.py at tiny sizes, on a small photo
folder of mixed sizes (the real flowers folder only in the slow test, skipped when absent)."""
import json
import os
from pathlib import Path

import pytest

from tests.ensemble.photo_folders import make_photo_folder
from tests.script_loader import load_script

pytestmark = pytest.mark.filterwarnings("ignore:.*rows were in every member's bag:UserWarning")  # tiny folders

FLOWERS = Path(os.environ.get("AUGKIT_FLOWERS", Path(__file__).resolve().parents[3] / "shared/data/flowers/train"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("photos") / "train", per_class=10)


def test_example_reports_both_models_both_views_and_the_members_curve(folder, tmp_path):
    data = load_script("examples/photo_folder_ensemble.py").main(
        ["--data", str(folder), "--epochs", "1", "--members", "2", "--size", "24", "--widths", "4", "8",
         "--workers", "0", "--precision", "float32", "--out", str(tmp_path)])
    assert set(data["rows"]) == {"one member", "2-member bagged ensemble"}
    for row in data["rows"].values():
        assert set(row) >= {"centre crop", "ten-crop", "train_seconds"}
        assert all(0 <= row[view]["accuracy"] <= 1 and row[view]["nll"] > 0 for view in ("centre crop", "ten-crop"))
    assert [len(c) for c in data["curves"].values()] == [2, 2]
    for name in ("photo_folder_ensemble.md", "photo_folder_ensemble.json", "photo_folder_ensemble.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "24 px crops from shorter sides 27..51" in (tmp_path / "photo_folder_ensemble.md").read_text()


def test_example_needs_a_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_script("examples/photo_folder_ensemble.py").main(["--out", str(tmp_path)])
    assert exit_info.value.code == 2 and "--data must name an ImageFolder tree" in capsys.readouterr().err


def test_benchmark_row_table_and_linked_copies_without_torchensemble(folder, tmp_path):
    bench = load_script("benchmarks/ensemble_photo_folder.py")
    data = bench.main(["--data", str(folder), "--rows", "ours bagging float32", "--epochs", "1", "--members", "2",
                       "--size", "24", "--workers", "0", "--no-validate", "--repeats", "1", "--out", str(tmp_path)])
    [row] = data["rows"]
    assert row["member_images_per_s"] > 0 and row["peak_rss_mib"] > 0 and row["vs_torchensemble"] is None
    table = (tmp_path / "ensemble_photo_folder.md").read_text()
    assert table.startswith("command: ") and "| ours bagging float32 |" in table
    assert json.loads((tmp_path / "ensemble_photo_folder.json").read_text())["rows"][0]["row"] == "ours bagging float32"
    linked = bench.linked_copies(folder, 3, tmp_path / "linked")
    files = sorted(p for p in linked.rglob("*") if p.is_file())
    assert len(files) == 90 and all(p.is_symlink() for p in files)


@pytest.mark.slow
def test_example_on_the_flowers_folder(tmp_path):
    if not FLOWERS.is_dir():
        pytest.skip(f"the flowers folder is not at {FLOWERS}: set AUGKIT_FLOWERS")
    data = load_script("examples/photo_folder_ensemble.py").main(
        ["--data", str(FLOWERS), "--epochs", "2", "--members", "2", "--limit", "500", "--out", str(tmp_path)])
    assert data["rows"]["2-member bagged ensemble"]["centre crop"]["accuracy"] > 0.3  # 5 classes: chance is 0.2
