"""ensemble.demo: smoke test of the main job (python -m ensemble.demo) with a tiny budget."""
import json
import subprocess
import sys

import pytest

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


def test_demo_streams_a_photo_folder_at_its_crop_size(tmp_path):
    from tests.ensemble.photo_folders import make_photo_folder

    folder = make_photo_folder(tmp_path / "photos", per_class=10)
    results = main(["--data", str(folder), "--size", "24", "--epochs", "1", "--members", "2", "--jobs", "1",
                    "--quiet", "--out", str(tmp_path / "out")])
    assert results["data"] == str(folder) and results["tta"] == "flip"
    assert results["oob_share"]["formula"] == "P(w = 0) = e^-1"  # the Poisson bootstrap of a stream
    assert all(0 <= r["accuracy"] <= 1 for r in results["rows"].values())
    assert (tmp_path / "out" / "augment.png").stat().st_size > 0


@pytest.mark.parametrize("args, message", [
    (["--data", "no/such/folder"], "--data 'no/such/folder' is not a folder"),
    (["--members", "0"], "--members must be at least 1, got 0"),
    (["--epochs", "many"], "argument --epochs: invalid int value: 'many'"),
    (["--tta", "sideways"], "argument --tta: invalid choice"),
])
def test_a_command_line_mistake_gets_one_line_and_status_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and err.count("\n") == 1


def test_the_command_line_mistake_reaches_the_shell_without_a_traceback():
    done = subprocess.run([sys.executable, "-m", "ensemble.demo", "--data", "no/such/folder"], capture_output=True,
                          text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == "augkit-demo: error: --data 'no/such/folder' is not a folder (pass an ImageFolder tree: " \
                          "one sub-folder per class)\n"


def test_a_folder_without_images_gets_one_line_and_status_2(tmp_path, capsys):
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(tmp_path / "empty"), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "contains no image files" in err


def test_demo_help_names_every_option():
    text = build_parser().format_help()
    for option in ("--data", "--members", "--epochs", "--tta", "--bootstrap", "--no-bootstrap", "--jobs",
                   "--device", "--out", "--limit", "--size", "--seed"):
        assert option in text, option
    done = subprocess.run([sys.executable, "-m", "ensemble.demo", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "ImageFolder" in done.stdout
