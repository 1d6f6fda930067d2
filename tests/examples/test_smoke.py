"""Smoke tests of the example and benchmark scripts at tiny sizes (their main(argv) functions)."""
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.script_loader import load_script

LECTURE = ["examples/lecture_init_symmetry.py", "examples/lecture_xavier_vs_he.py",
           "examples/lecture_batchnorm_placement.py", "examples/lecture_dropout_keep_rates.py",
           "examples/lecture_early_stopping.py"]
CIFAR10_EXAMPLES = {  # script: the arguments that make it read CIFAR-10
    "examples/cifar10_bagging.py": [], "examples/cifar10_ablation.py": [], "examples/bn_population_statistics.py": [],
    "examples/cifar10_equal_compute.py": [],
    "examples/invariance_audit.py": [], "examples/dropout_as_ensemble.py": ["--data", "cifar"],
    "examples/lecture_batchnorm_placement.py": [], "examples/lecture_dropout_keep_rates.py": ["--data", "cifar10"],
}


@pytest.mark.parametrize("script", ["examples/augment_gallery.py", "examples/dropout_as_ensemble.py",
                                    "benchmarks/ensemble_train.py", "benchmarks/gpu.py", *LECTURE,
                                    "examples/activation_stats.py", "examples/bn_population_statistics.py",
                                    "examples/cifar10_ablation.py", "examples/cifar10_bagging.py",
                                    "examples/cifar10_equal_compute.py",
                                    "examples/invariance_audit.py", "examples/streaming_photos.py",
                                    "examples/photo_folder_ensemble.py", "benchmarks/ensemble_photo_folder.py",
                                    "examples/calibration_by_members.py"])
def test_help_documents_out(script, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # argparse wraps at hyphens: "augkit-" / "out/" on narrow terminals
    with pytest.raises(SystemExit) as exit_info:
        load_script(script).main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--out" in text and "augkit-out/" in text  # the documented default output folder


@pytest.mark.parametrize("script", sorted(CIFAR10_EXAMPLES))
def test_cifar10_examples_say_where_to_point_them(script, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("AUGKIT_CIFAR10", raising=False)
    args = CIFAR10_EXAMPLES[script] + ["--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        load_script(script).main(args)
    assert exit_info.value.code == 2
    assert "pass --cifar10 PATH (the training ImageFolder) or set AUGKIT_CIFAR10" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        load_script(script).main(args + ["--cifar10", str(tmp_path / "missing")])
    assert f"--cifar10 '{tmp_path / 'missing'}' is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()


def test_lecture_init_symmetry(tmp_path):
    results = load_script("examples/lecture_init_symmetry.py").main(
        ["--out", str(tmp_path), "--widths", "8", "8", "--epochs", "2", "--train-size", "200"])
    assert list(results) == ["zero", "constant 0.01", "Xavier (1/n)", "He (2/n)"]
    assert all(len(r["loss"]) == 2 for r in results.values())
    assert (tmp_path / "init_symmetry.png").stat().st_size > 0
    saved = json.loads((tmp_path / "init_symmetry.json").read_text())
    assert saved["results"]["zero"]["moved"] == ["layers.5.bias"] and saved["args"]["epochs"] == 2
    assert "| zero | " in (tmp_path / "init_symmetry.md").read_text()


def test_lecture_xavier_vs_he(tmp_path):
    runs = load_script("examples/lecture_xavier_vs_he.py").main(
        ["--out", str(tmp_path), "--depths", "3", "5", "--width", "8", "--epochs", "2", "--train-size", "200"])
    assert list(runs) == ["3 Xavier (1/n)", "3 He (2/n)", "5 Xavier (1/n)", "5 He (2/n)"]
    assert all(r["steps"] == 2 * 4 and len(r["loss"]) == 2 for r in runs.values())  # 200 images, batch 64
    assert (tmp_path / "xavier_vs_he.png").stat().st_size > 0
    assert "| 5 | He (2/n) |" in (tmp_path / "xavier_vs_he.md").read_text()


def test_lecture_batchnorm_placement_on_digits(tmp_path):
    results = load_script("examples/lecture_batchnorm_placement.py").main(
        ["--out", str(tmp_path), "--data", "digits", "--widths", "4", "8", "--epochs", "1", "--lrs", "0.1", "1000",
         "--sweep-epochs", "1", "--sweep-size", "200", "--threads", "1"])
    assert list(results["placement"]) == ["BN before ReLU", "BN after ReLU", "no BN"]
    assert [r["lr"] for r in results["sweep"]["no BN"]] == [0.1, 1000]
    assert set(results["largest_lr_that_trains"]) == {"BN before ReLU", "no BN"}
    assert (tmp_path / "batchnorm_placement.png").stat().st_size > 0
    assert "largest lr that trains" in (tmp_path / "batchnorm_placement.md").read_text()


def test_lecture_batchnorm_placement_on_cifar10(tmp_path, cifar10_root):
    results = load_script("examples/lecture_batchnorm_placement.py").main(
        ["--out", str(tmp_path), "--cifar10", str(cifar10_root), "--train-size", "256", "--widths", "4", "8",
         "--epochs", "1", "--lrs", "0.1", "--sweep-epochs", "1", "--sweep-size", "128", "--threads", "1"])
    assert results["args"].train_size == 256 and len(results["placement"]["no BN"]["val_acc"]) == 1


def test_lecture_dropout_keep_rates(tmp_path):
    results = load_script("examples/lecture_dropout_keep_rates.py").main(
        ["--out", str(tmp_path), "--train-size", "200", "--width", "16", "--epochs", "2", "--ts", "100", "10",
         "--mc-passes", "3"])
    assert list(results["accuracy"]) == ["no dropout", "input 0.8, hidden 0.5 (lecture)", "0.5 everywhere",
                                         "0.8 everywhere"]
    assert [(r["rule"], r["T"]) for r in results["expectation"]] == [
        ("inverted", 10), ("inverted", 100), ("weight scaling", 10), ("weight scaling", 100)]
    assert all(len(curve) == 2 for curve in results["test_acc_per_epoch"].values())
    assert (tmp_path / "dropout_keep_rates.png").stat().st_size > 0


def test_lecture_early_stopping(tmp_path):
    results = load_script("examples/lecture_early_stopping.py").main(
        ["--out", str(tmp_path), "--train-size", "100", "--width", "16", "--epochs", "4", "--patience", "2"])
    history = results["history"]
    assert len(results["distance"]) == len(history["loss"]) == len(history["val_loss"])
    assert results["restored"]["epoch"] == history["best_epoch"]
    assert (tmp_path / "early_stopping.png").stat().st_size > 0


def test_activation_stats(tmp_path):
    table = load_script("examples/activation_stats.py").main(
        ["--out", str(tmp_path), "--depth", "3", "--width", "20", "--n", "50"])
    assert list(table) == ["normal0.01_tanh", "normal1_tanh", "xavier_tanh", "xavier_relu", "he_relu"]
    assert all(len(row["std"]) == 3 for row in table.values())
    assert (tmp_path / "he_relu.png").stat().st_size > 0
    assert json.loads((tmp_path / "activation_stats.json").read_text()) == json.loads(json.dumps(table))


def test_invariance_audit_digits_only(tmp_path, monkeypatch):
    monkeypatch.delenv("AUGKIT_CIFAR10", raising=False)
    results = load_script("examples/invariance_audit.py").main(
        ["--out", str(tmp_path), "--cifar-subset", "0", "--digits-epochs", "1"])
    assert results["CIFAR-10"] is None and results["digits"] is not None
    page = (tmp_path / "invariance_audit.md").read_text()
    assert page.startswith("# Class-invariance audit") and "- **Date:** " in page and "\n### digits (flagged: " in page


def test_streaming_photos(tmp_path):
    rows = load_script("examples/streaming_photos.py").main(
        ["--out", str(tmp_path), "--copies", "2", "--epochs", "1", "--num-workers", "0", "--batch-size", "4"])
    assert [r["images"] for r in rows] == [4]  # 2 photos x 2 copies
    assert json.loads((tmp_path / "streaming_photos.json").read_text())["epochs"][0]["epoch"] == 0


def test_bn_population_statistics(tmp_path, cifar10_root):
    results = load_script("examples/bn_population_statistics.py").main(
        ["--out", str(tmp_path), "--cifar10", str(cifar10_root), "--train-subset", "256", "--epochs", "1",
         "--widths", "4", "8", "--threads", "1"])
    assert [(r["schedule"], r["epochs"]) for r in results["rows"]] == [("constant", 1), ("onecycle", 1)]
    assert "| constant | 1 |" in (tmp_path / "bn_population_statistics.md").read_text()


def test_augment_gallery_rows_and_figures(tmp_path):
    records = load_script("examples/augment_gallery.py").main(
        ["--out", str(tmp_path), "--samples", "2", "--photo-side", "40", "--no-cifar", "--no-tta"])
    rows = [r["row"] for r in records]
    names = {r["transform"]["name"] for r in records if r["transform"]}
    assert rows[0] == "input" and len(rows) == 22  # input + 21 transform rows
    assert names == {"HorizontalFlip", "VerticalFlip", "RandomScaleCrop", "PCALighting", "Rotate", "Translate",
                     "Shear", "Stretch", "LensDistortion", "GaussianNoise", "Compose", "RandomResizedCrop",
                     "ColorJitter", "Grayscale", "GaussianBlur", "RandomErasing", "TrivialAugmentWide",
                     "RandAugment", "MixUp", "CutMix"}
    lens = [r["transform"]["k1"] for r in records if r["row"].startswith("Lens")]
    assert lens[0][0] > 0 and lens[1][1] < 0  # barrel, then pincushion
    assert Image.open(tmp_path / "gallery_photos.png").size[0] > 0
    assert json.loads((tmp_path / "gallery.json").read_text())["rows"] == json.loads(json.dumps(records))


def test_dropout_as_ensemble_table(tmp_path):
    table = load_script("examples/dropout_as_ensemble.py").main(
        ["--out", str(tmp_path), "--ts", "3,2", "--epochs", "2", "--mc-repeats", "2"])
    assert sorted(table["mc_dropout"]) == sorted(table["ensemble"]) == ["2", "3"]
    for entry in [table["weight_scaling"], table["single_member"], *table["ensemble"].values()]:
        assert 0.5 < entry["acc"] <= 1.0 and entry["nll"] > 0  # digits after 2 epochs: well above chance
    assert table["mc_dropout"]["2"]["acc"]["std"] >= 0
    assert (tmp_path / "dropout_as_ensemble.png").stat().st_size > 0
    assert "| bagged ensemble | 3 |" in (tmp_path / "dropout_as_ensemble.md").read_text()


def test_ensemble_train_vectorized_row(tmp_path, cifar10_root, monkeypatch):
    monkeypatch.setenv("AUGKIT_CIFAR10", str(cifar10_root))
    rows = load_script("benchmarks/ensemble_train.py").main(
        ["--out", str(tmp_path), "--images", "64", "--members", "2", "--epochs", "1", "--rows", "vectorized"])
    assert [r["row"] for r in rows] == ["ours engine=vmap (CPU)"]
    assert rows[0]["member_images_per_s"] == pytest.approx(2 * 64 / rows[0]["seconds"])
    assert rows[0]["vs_torchensemble"] is None and rows[0]["vs_n_jobs_1"] is None


def write_fake_cifar(folder: Path, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """10 classes x 1001 random 32 x 32 images (enough for the last-1000-per-class split), saved
    as an --export-npy folder; the JPEG format stores real JPEG bytes of the first 30 images only."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 1001)
    images = rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
    folder.mkdir()
    if fmt == "decoded":
        np.save(folder / "images.npy", images)
    else:
        images, labels = images[:30], labels[:30]
        blobs = []
        for image in images:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="JPEG", quality=90)
            blobs.append(buffer.getvalue())
        np.save(folder / "jpeg_bytes.npy", np.frombuffer(b"".join(blobs), dtype=np.uint8))
        np.save(folder / "jpeg_offsets.npy", np.cumsum([0] + [len(b) for b in blobs]))
        images = np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in blobs])
    np.save(folder / "labels.npy", labels)
    return images, labels


def test_gpu_reads_jpeg_npy_folder(tmp_path):
    gpu = load_script("benchmarks/gpu.py")
    images, labels = write_fake_cifar(tmp_path / "jpeg", "jpeg")
    got_images, got_labels = gpu.read_npy_folder(tmp_path / "jpeg")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_gpu_cpu_reduced_run(tmp_path, capsys):
    gpu = load_script("benchmarks/gpu.py")
    write_fake_cifar(tmp_path / "data", "decoded")
    results = gpu.main(["--device", "cpu", "--data-npy", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
                        "--images", "32", "--members", "2", "--aug-batch", "64", "--sizes", "2,1",
                        "--train-images", "64", "--val-images", "20", "--tune-lr", "0.05,0.1"])
    assert "CPU REDUCED SIZE" in capsys.readouterr().out
    assert [r["members"] for r in results["accuracy"]] == [1, 2]
    assert all(r["epochs"] == 1 and r["member"] == "fastcnn" and r["tta"] == "flip_shift" for r in results["accuracy"])
    methods = [r["method"] for r in results["throughput"]]
    assert methods[:3] == ["ours: vectorized engine, vmap", "ours: vectorized engine, grouped convolutions",
                           "ours: nets.fit one member after another"]
    assert min(r["vectorized_vs_this"] for r in results["throughput"][:2]) == 1.0  # the faster strategy is the base
    assert f"vectorize={gpu.fastest_strategy(results['throughput'])}" in results["recipe"]
    tuning = results["lr_tuning"]
    assert [r["lr"] for r in tuning] == [0.05, 0.1]
    best = max(tuning, key=lambda r: r["holdout_acc"])["lr"]
    assert f"peak lr {best:g} " in results["recipe"]  # table 3 ran with the lr the hold-out chose
    saved = json.loads((tmp_path / "out" / "gpu.json").read_text())
    assert saved["accuracy"] == json.loads(json.dumps(results["accuracy"]))
    assert "3a. Peak learning rate" in (tmp_path / "out" / "gpu.md").read_text()
    assert results["augment"][0]["batch"] == 64
    assert (tmp_path / "out" / "gpu_accuracy.png").exists()


def tiny_recipe(real):
    """The recipe with a tiny member and small batches, so a smoke run trains in seconds; 5% held out so
    600 rows leave the 20 that tta='auto' and temperature calibration need."""
    import functools

    import nets

    def recipe(time_budget, **kwargs):
        member = kwargs.pop("member", functools.partial(nets.FastCNN, whiten=True, dirac=True, bn_scale=False,
                                                        batch_norm=kwargs.pop("batch_norm", True)))
        member = functools.partial(member, widths=(8, 16, 16))
        return real(time_budget, **{"member": member, "batch_size": 64, "verbose": 0, "validation_fraction": 0.05,
                                    **kwargs})
    return recipe


def test_recipe_example_one_run_and_curve(tmp_path, cifar10_root, monkeypatch):
    example = load_script("examples/cifar10_recipe.py")
    monkeypatch.setattr(example, "cifar10", tiny_recipe(example.cifar10))
    result = example.main(["--cifar10", str(cifar10_root), "--budget", "10", "--train-subset", "600",
                           "--val-per-class", "20", "--out", str(tmp_path / "one"), "--save", str(tmp_path / "model")])
    assert result["fit_seconds"] < 60 and 0 < result["epochs"] and result["tta"] in ("None", "flip", "flip_shift",
                                                                                      "ten_crop")
    assert 0.1 <= result["with_tta"]["accuracy"] <= 1 and result["calibrated"]["nll"] > 0
    assert "cifar10(10, n_members=1)" in (tmp_path / "one" / "cifar10_recipe.md").read_text()
    points = example.main(["--cifar10", str(cifar10_root), "--curve", "3", "--train-subset", "600",
                           "--val-per-class", "20", "--out", str(tmp_path / "curve")])
    assert [p["members"] for p in points["ensemble"]] == [1, 2, 4] and len(points["single"]) == 3
    assert (tmp_path / "curve" / "accuracy_vs_seconds.png").stat().st_size > 0
    ablation = load_script("examples/cifar10_ablation.py")
    monkeypatch.setattr(ablation, "cifar10", tiny_recipe(ablation.cifar10))
    monkeypatch.setattr(ablation.recipe, "cifar10", tiny_recipe(ablation.recipe.cifar10))
    rows = ablation.main(["--cifar10", str(cifar10_root), "--budget", "5", "--train-subset", "600",
                          "--val-per-class", "20", "--full", str(tmp_path / "model"), "--out", str(tmp_path / "ablation")])
    assert list(rows) == ["full recipe", "no TTA", *ablation.ROWS]
    assert rows["no TTA"]["with_tta"] == rows["full recipe"]["no_tta"]
    assert "points the technique earns" in (tmp_path / "ablation" / "cifar10_ablation.md").read_text()
    again = ablation.main(["--cifar10", str(cifar10_root), "--budget", "5", "--train-subset", "600",
                           "--val-per-class", "20", "--out", str(tmp_path / "ablation"), "--rerun", "no BatchNorm"])
    assert list(again) == list(rows) and (again["no weight decay"]["with_tta"]["accuracy"]
                                             == rows["no weight decay"]["with_tta"]["accuracy"])
    with pytest.raises(SystemExit):  # another budget's report is not merged
        ablation.main(["--cifar10", str(cifar10_root), "--budget", "6", "--train-subset", "600",
                       "--out", str(tmp_path / "ablation"), "--rerun", "no BatchNorm"])


def test_aug_e2e_case_one_row_per_installed_library(capsys):
    """Case (c) at a tiny size: six photos, one worker (the worker path runs), one timed pass."""
    rows = load_script("benchmarks/aug_e2e_case.py").main(
        ["--images", "6", "--repeats", "1", "--batch-size", "4", "--num-workers", "1"])
    peers = [name for name, module in (("torchvision.v2", "torchvision"), ("albumentations", "albumentations"))
             if importlib.util.find_spec(module) is not None
             and (module != "albumentations" or importlib.util.find_spec("cv2") is not None)]
    assert [r["library"] for r in rows] == ["augkit", *peers]
    assert rows[0]["augkit_ratio"] == 1.0 and all(r["images_per_s"] > 0 for r in rows)
    assert "(c) end to end from 6 JPEGs" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:.*rows were in every member's bag:UserWarning")
def test_calibration_by_members_scores_every_calibration(tmp_path):
    example = load_script("examples/calibration_by_members.py")
    rows = example.main(["--seeds", "0", "--digits-train", "300", "--digits-epochs", "2", "--out", str(tmp_path)])
    (row,) = rows
    assert set(row["scores"]) == set(example.CALIBRATIONS) and row["scores"]["uncalibrated"]["temperature"] == 1.0
    assert row["scores"]["law, applied"]["temperature"] == pytest.approx(
        example.TemperatureLaw(**row["law"]).temperature)
    assert (tmp_path / "calibration_by_members.md").stat().st_size > 0
