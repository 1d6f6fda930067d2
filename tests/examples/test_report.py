"""examples/_report.py: the tables, files, options and data splits every example shares."""
import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import nets
from tests.script_loader import load_script

report = load_script("examples/_report.py")


def test_markdown_table_aligns_number_columns_and_formats_floats():
    table = report.markdown_table(["name", "acc", "epochs", "seconds"],
                                  [["a", 0.91234, 3, 12.6], ["b", None, 10, "never"]], floats=[".4f", ".2f", "", ".0f"])
    assert table.splitlines() == ["| name | acc | epochs | seconds |", "|---|---:|---:|---:|",
                                  "| a | 0.91 | 3 | 13 |", "| b | n/a | 10 | never |"]
    assert report.markdown_table(["x"], [[1.5]]) == "| x |\n|---:|\n| 1.5000 |"


def test_markdown_table_rejects_ragged_rows_and_format_counts():
    with pytest.raises(ValueError, match=r"every row needs 2 cells \(the header's\), got 1: \['a'\]"):
        report.markdown_table(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match=r"floats must be one format spec or one per column \(2\), got \['.1f'\]"):
        report.markdown_table(["a", "b"], [[1, 2]], floats=[".1f"])


def test_write_report_writes_markdown_and_json(tmp_path, capsys):
    args = argparse.Namespace(out=tmp_path, n=3)
    data = {"args": args, "std": np.array([0.5, 0.25]), "mean": np.float32(1.5), "loss": torch.tensor([2.0])}
    paths = report.write_report(tmp_path / "sub", "thing", "| a |\n|---|", data, title="A thing",
                                command="python examples/thing.py", precision="float32")
    assert paths == [tmp_path / "sub" / "thing.md", tmp_path / "sub" / "thing.json"]
    assert paths[0].read_text() == (f"{report.report_header('A thing', command='python examples/thing.py', precision='float32')}"
                                    "\n\n| a |\n|---|\n")
    assert json.loads(paths[1].read_text()) == {"args": {"out": str(tmp_path), "n": 3}, "std": [0.5, 0.25],
                                                "mean": 1.5, "loss": [2.0]}
    assert "| a |" in capsys.readouterr().out
    with pytest.raises(TypeError, match="cannot write object to JSON"):
        report.write_report(tmp_path, "bad", "", {"x": object()})


def test_cifar10_argument_defaults_to_the_environment(monkeypatch, tmp_path, capsys):
    def parse(*argv):
        parser = argparse.ArgumentParser()
        report.add_cifar10_argument(parser)
        return parser, parser.parse_args(list(argv))

    monkeypatch.setenv("AUGKIT_CIFAR10", str(tmp_path))
    assert report.cifar10_folder(*parse()) == tmp_path
    assert report.cifar10_folder(*parse("--cifar10", str(tmp_path / ".."))) == tmp_path / ".."  # the option wins
    monkeypatch.delenv("AUGKIT_CIFAR10")
    with pytest.raises(SystemExit) as exit_info:
        report.cifar10_folder(*parse())
    assert exit_info.value.code == 2
    assert "CIFAR-10 is needed: pass --cifar10 PATH" in capsys.readouterr().err


def test_out_argument_default_names_the_example():
    parser = argparse.ArgumentParser()
    report.add_out_argument(parser, "thing")
    assert parser.parse_args([]).out == Path("augkit-out/thing")


def test_channel_stats_are_the_estimators():
    X = np.random.default_rng(0).integers(0, 256, (20, 3, 4, 4), dtype=np.uint8)
    mean, std = report.channel_stats(X)
    x = X.astype(np.float64) / 255
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(std, x.std(axis=(0, 2, 3)))  # population std, as BaggedNetClassifier
    assert report.channel_stats(np.zeros((2, 1, 2, 2), np.uint8)) == ((0.0,), (1e-6,))
    assert report.channel_stats(torch.as_tensor(X)) == (mean, std)


def test_digits_split_is_stratified_and_reproducible():
    (X_tr, y_tr), (X_te, y_te) = report.digits_split(0)
    assert X_tr.shape == (1257, 1, 8, 8) and X_te.shape == (540, 1, 8, 8) and X_tr.dtype == np.uint8
    assert np.abs(np.bincount(y_te) / len(y_te) - np.bincount(y_tr) / len(y_tr)).max() < 0.01
    (again, _), _ = report.digits_split(0)
    np.testing.assert_array_equal(again, X_tr)


def test_cifar10_split_keeps_the_validation_images_out_of_training(cifar10_root):
    (X, y), (X_val, y_val) = report.cifar10_split(cifar10_root, 500, seed=0, val_per_class=10)
    assert X.shape == (500, 3, 32, 32) and X_val.shape == (100, 3, 32, 32) and len(y) == 500
    assert np.bincount(y_val).tolist() == [10] * 10
    assert not {a.tobytes() for a in X_val} & {a.tobytes() for a in X}


def test_fit_or_diverge_keeps_the_epochs_before_a_nan():
    X = torch.randn(64, 4)
    y = (X[:, 0] > 0).long()
    model = torch.nn.Linear(4, 2)
    history, diverged = report.fit_or_diverge(model, (X, y), epochs=2, lr=0.1, verbose=0)
    assert not diverged and len(history.loss) == 2
    history, diverged = report.fit_or_diverge(model, (X * 1e30, y), epochs=3, lr=1e30, verbose=0)
    assert diverged and isinstance(history, nets.History) and len(history.loss) < 3


def test_report_header_names_the_command_machine_and_date(monkeypatch):
    monkeypatch.setattr(report, "cpu_model", lambda: "Some CPU")
    monkeypatch.setattr(report, "instruction_set", lambda: "AVX2 only")
    monkeypatch.setattr(report.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(report.torch.cuda, "is_available", lambda: False)
    header = report.report_header("Title", command="python examples/x.py --out docs/results/x", date="2026-01-02")
    assert header.splitlines() == ["# Title", "", "- **Command:** `python examples/x.py --out docs/results/x`",
                                   f"- **Machine:** Some CPU, 2 cores, AVX2 only, torch {torch.__version__}",
                                   "- **Date:** 2026-01-02"]
    assert "precision bfloat16" in report.report_header("T", command="c", precision="bfloat16")


def test_command_line_is_typed_at_the_repository_root(tmp_path):
    root = report.REPO_ROOT
    assert report.command_line([str(root / "examples/x.py"), "--out", str(root / "docs/results/x"), "--n", "3"],
                               cwd=tmp_path) == "python examples/x.py --out docs/results/x --n 3"
    assert report.command_line(["x.py", "--out=../docs/results/y", "--data", str(tmp_path)],
                               cwd=root / "examples") == f"python examples/x.py --out=docs/results/y --data {tmp_path}"
    demo = report.command_line([str(root / "ensemble/demo.py"), "--out", "a b"], cwd=root)
    assert demo == "python -m ensemble.demo --out 'a b'"


def test_instruction_set_reads_the_cpu_flags(monkeypatch):
    for flags, expected in [("fpu avx avx2", "AVX2 only"), ("avx2 avx512f", "AVX-512"),
                            ("avx2 avx512f avx512_bf16 amx_bf16", "AVX-512 with AVX512-BF16 and AMX"), ("sse2", "no AVX2")]:
        monkeypatch.setattr(report, "_cpuinfo_lines", lambda flags=flags: ["model name : X", f"flags : {flags}"])
        assert report.instruction_set() == expected


def test_figures_are_linked_from_their_folders_page_in_either_order(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    report.save_figure(plt.figure(figsize=(1, 1)), tmp_path / "before.png", title="drawn first")
    md, _ = report.write_report(tmp_path, "page", "body", {}, title="T", command="c")
    report.save_figure(plt.figure(figsize=(1, 1)), tmp_path / "after.png")
    report.save_figure(plt.figure(figsize=(1, 1)), tmp_path / "elsewhere" / "other.png")
    text = md.read_text()
    assert text.index("body") < text.index("![drawn first](before.png)") < text.index("![after](after.png)")
    assert "other.png" not in text
