"""Ensembles on the GPU: training throughput, augmentation throughput, accuracy vs training time.

One run prints three tables (and writes ``gpu.md``, ``gpu.json``, ``gpu_accuracy.png`` to ``--out``):

1. member-images/second for ``--members`` (8) ``nets.SmallCNN`` members on CIFAR-10 training
   images, batch 128, SGD lr 0.05 momentum 0.9, one epoch, no augmentation: our vectorized
   engine with both strategies (``vectorize="vmap"``: vmap over stacked weights;
   ``vectorize="grouped"``: activations packed along channels, grouped convolutions), one-after-
   another plain training (``nets.fit`` per member), and torchensemble's
   ``BaggingClassifier(nets.SmallCNN)`` when torchensemble is importable. Each method is warmed
   up once on a small subset first (CUDA context, cuDNN autotuning).
2. images/second of the 32 px training pipeline (scale-crop 32..40, flip, PCA lighting, rotate 15,
   noise 0.03) on float batches of ``--aug-batch`` (8192) images on the device, median of 10 calls.
3. validation accuracy vs training seconds for ensembles of 1, 2, 4 and 8 members (vectorized
   engine with table 1's faster strategy; ``--member`` FastCNN (airbench94's network) by default;
   every member on all training rows with its own initialisation and minibatch order; flip +
   translate (2 px) augmentation, one-cycle Nesterov SGD at batch 512, label smoothing 0.2,
   bfloat16 autocast on CUDA; flip + shift test-time views (10)), validation = the last 1,000
   images of each class. The epoch count is sized by a timed probe so that the 8-member ensemble
   trains in about ``--budget`` (60) seconds; the smaller ensembles train the same epochs.
   Goal: >= 92.0 % within 60 s on one H100/H200. Every part of the recipe is a flag.

With ``--device cuda`` (the default when CUDA is available) everything runs at full size (45,000
training images) and should finish in under 5 minutes including data loading. On the CPU it runs
at reduced size (``--images`` 128 for table 1, ``--train-images`` 256 and 1 epoch for table 3,
batch 1024 for table 2) and says so.

Data: ``augkit.data.load_cifar10()`` by default, or ``--data-npy DIR`` holding ``labels.npy`` and
either ``images.npy`` (uint8 N x 32 x 32 x 3) or ``jpeg_bytes.npy`` + ``jpeg_offsets.npy`` (the
original JPEG files concatenated, 44 MiB, decoded on the fly: small enough to carry to a machine
without the data). ``--export-npy DIR [--export-format decoded|jpeg]`` writes such a folder from
``load_cifar10()`` (file order preserved, so the validation split is the same) and exits.

    python benchmarks/gpu.py --export-npy /tmp/cifar-npy --export-format jpeg
    python benchmarks/gpu.py --data-npy /tmp/cifar-npy            # on the GPU machine
    python benchmarks/gpu.py --device cpu                         # reduced size
"""
from __future__ import annotations

import argparse
import functools
import io
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

import augkit as A
import nets
from augkit.data import cifar10_root, last_per_class_split, load_cifar10, to_batch
from ensemble import BaggedNetClassifier

MEMBERS = {"fastcnn": nets.FastCNN,
           "resnet20": nets.ResNet20,
           "wide_cnn": functools.partial(nets.SmallCNN, widths=(64, 256, 512))}
STRATEGIES = {"vmap": "ours: vectorized engine, vmap",
              "grouped": "ours: vectorized engine, grouped convolutions"}


# ----------------------------------------------------------------------------- data
def cifar_file_order(root: Path) -> list[Path]:
    """The files of a CIFAR-10 ImageFolder in load_image_folder's order: sorted classes, then sorted
    relative paths (hidden names skipped)."""
    files = []
    for cls in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files += sorted((f for f in cls.rglob("*") if f.is_file() and not f.name.startswith(".")),
                        key=lambda f: f.relative_to(cls).as_posix())
    return files


def decode_jpeg(blob: bytes) -> np.ndarray:
    """One JPEG's bytes -> uint8 H x W x 3 RGB."""
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def export_npy(folder: Path, fmt: str) -> None:
    """Write ``load_cifar10()`` as ``images.npy`` + ``labels.npy`` ("decoded", 147 MiB) or as the
    original JPEG bytes ``jpeg_bytes.npy`` + ``jpeg_offsets.npy`` + ``labels.npy`` ("jpeg"); the
    JPEG export is checked to decode to exactly the loaded images."""
    images, labels, classes = load_cifar10()
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "labels.npy", labels)
    if fmt == "decoded":
        np.save(folder / "images.npy", images)
    else:
        files = cifar10_file_list(len(images))
        blobs = [f.read_bytes() for f in files]
        offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        np.save(folder / "jpeg_bytes.npy", np.frombuffer(b"".join(blobs), dtype=np.uint8))
        np.save(folder / "jpeg_offsets.npy", offsets)
        if not np.array_equal(read_npy_folder(folder)[0], images):
            raise RuntimeError(f"the JPEG export in {folder} does not decode to load_cifar10()'s images")
    (folder / "classes.json").write_text(json.dumps(classes))
    print(f"wrote {len(images)} images ({fmt}) to {folder}: "
          + ", ".join(f"{p.name} {p.stat().st_size / 2**20:.1f} MiB" for p in sorted(folder.iterdir())))


def cifar10_file_list(expected: int) -> list[Path]:
    """CIFAR-10's files in loading order; raises when their number differs from the loaded images
    (bad files were skipped, so positions would not line up)."""
    root = cifar10_root()
    if root is None:
        raise FileNotFoundError("CIFAR-10 not found: set AUGKIT_CIFAR10")
    files = cifar_file_order(Path(root))
    if len(files) != expected:
        raise RuntimeError(f"{len(files)} files under {root} but {expected} images loaded")
    return files


def read_npy_folder(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 N x 32 x 32 x 3 images and int64 labels from an ``--export-npy`` folder."""
    labels = np.load(folder / "labels.npy")
    if (folder / "images.npy").exists():
        images = np.load(folder / "images.npy")
    else:
        data, offsets = np.load(folder / "jpeg_bytes.npy"), np.load(folder / "jpeg_offsets.npy")
        blobs = [data[offsets[i]:offsets[i + 1]].tobytes() for i in range(len(offsets) - 1)]
        with ThreadPoolExecutor(os.cpu_count()) as pool:
            images = np.stack(list(pool.map(decode_jpeg, blobs, chunksize=512)))
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3 or len(images) != len(labels):
        raise ValueError(f"{folder}: expected uint8 N x H x W x 3 images and N labels, got {images.dtype} "
                         f"{images.shape} and {labels.shape}")
    return images, labels.astype(np.int64)


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (timings must include it)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------- table 1
def train_vectorized(X, y, members: int, epochs: int, device: torch.device, member=nets.SmallCNN, **kw) -> tuple:
    """Fit BaggedNetClassifier with a stacked engine on all rows; (classifier, seconds of fit).
    ``kw`` overrides the estimator's settings (lr 0.05, momentum 0.9, no weight decay, batch 128);
    ``vectorize`` ("vmap" or "grouped") names the stacked engine."""
    settings = {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.0, "batch_size": 128, **kw}
    engine = settings.pop("vectorize", "vmap")
    clf = BaggedNetClassifier(member, n_members=members, bootstrap=False, early_stopping=False, epochs=epochs,
                              engine=engine, device=str(device), random_state=0, verbose=0, **settings)
    start = time.perf_counter()
    clf.fit(X, y)
    sync(device)
    return clf, time.perf_counter() - start


def train_sequential(X, y, members: int, device: torch.device) -> float:
    """nets.fit one SmallCNN after another on all rows (uint8 NCHW on the device); seconds."""
    mean, std = channel_stats(X)
    start = time.perf_counter()
    for m in range(members):
        torch.manual_seed(m)
        nets.fit(nets.SmallCNN(), (X, y), epochs=1, batch_size=128, lr=0.05, momentum=0.9,
                 normalize=(mean, std), device=device, generator=m, verbose=0)
    sync(device)
    return time.perf_counter() - start


def train_torchensemble(X, y, members: int, device: torch.device) -> float:
    """torchensemble BaggingClassifier(nets.SmallCNN) from a CPU TensorDataset of normalised floats."""
    import contextlib

    from torchensemble import BaggingClassifier

    x = torch.as_tensor(X).float() / 255
    mean, std = channel_stats(X)
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.as_tensor(y)),
                                         batch_size=128, shuffle=True)
    model = BaggingClassifier(nets.SmallCNN, n_estimators=members, cuda=device.type == "cuda", n_jobs=1,
                              estimator_args={"input_shape": (3, 32, 32), "n_classes": 10})
    model.set_optimizer("SGD", lr=0.05, momentum=0.9, nesterov=True)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        model.fit(loader, epochs=1, log_interval=10**9, save_model=False)
    sync(device)
    return time.perf_counter() - start


def channel_stats(X) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 N x 3 x H x W images on the [0, 1] scale."""
    x = torch.as_tensor(X[:10000]).float() / 255
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).tolist()


def table_throughput(X, y, args, device) -> list[dict]:
    """Table 1: member-images/s of the vectorized engine (vmap and grouped convolutions),
    sequential nets.fit and torchensemble."""
    X, y = X[:args.images], y[:args.images]
    methods = {label: functools.partial(lambda x, t, k, v: train_vectorized(x, t, k, 1, device, vectorize=v)[1], v=v)
               for v, label in STRATEGIES.items()}
    methods["ours: nets.fit one member after another"] = lambda x, t, k: train_sequential(x, t, k, device)
    try:
        import torchensemble  # noqa: F401
        methods["torchensemble BaggingClassifier n_jobs=1"] = lambda x, t, k: train_torchensemble(x, t, k, device)
    except ImportError:
        print("torchensemble not importable: its row is skipped")
    rows = []
    warm = min(len(X), 512)
    for name, run in methods.items():
        run(X[:warm], y[:warm], 2)  # warm-up: CUDA context, cuDNN autotuning, lazy imports
        seconds = run(X, y, args.members)
        rows.append({"method": name, "members": args.members, "images": len(X), "seconds": seconds,
                     "member_images_per_s": args.members * len(X) / seconds})
        print(f"  {name}: {seconds:.1f} s, {rows[-1]['member_images_per_s']:,.0f} member-images/s", flush=True)
    base = max(row["member_images_per_s"] for row in rows if row["method"] in STRATEGIES.values())
    for row in rows:
        row["vectorized_vs_this"] = base / row["member_images_per_s"]
    return rows


def fastest_strategy(rows: list[dict]) -> str:
    """The vectorize strategy with the higher member-images/s in table 1's rows."""
    speed = {v: row["member_images_per_s"] for row in rows for v, label in STRATEGIES.items() if row["method"] == label}
    return max(speed, key=speed.get)


# ----------------------------------------------------------------------------- table 2
def table_augment(X_uint8: np.ndarray, args, device) -> list[dict]:
    """Table 2: images/s of the 32 px training pipeline on float batches on the device;
    ``X_uint8`` is N x 32 x 32 x 3 (repeated to fill the batch)."""
    pipe = A.Compose([A.RandomScaleCrop(size=32, scale=(32, 40)), A.HorizontalFlip(),
                      A.PCALighting.fit(X_uint8[:10000], sigma=0.1), A.Rotate(degrees=15),
                      A.GaussianNoise(sigma=0.03)])
    n = args.aug_batch
    reps = -(-n // len(X_uint8))
    batch = to_batch(np.concatenate([X_uint8] * reps)[:n]).to(device).float() / 255
    generator = torch.Generator(device=device).manual_seed(0)
    times = []
    for i in range(13):
        sync(device)
        start = time.perf_counter()
        pipe(batch, generator=generator)
        sync(device)
        if i >= 3:  # three warm-up calls
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    row = {"pipeline": "scale-crop 32..40, flip, PCA lighting, rotate 15, noise 0.03", "batch": n,
           "device": str(device), "median_seconds": seconds, "images_per_s": n / seconds}
    print(f"  batch {n}: {seconds * 1e3:.1f} ms, {row['images_per_s']:,.0f} images/s", flush=True)
    return [row]


# ----------------------------------------------------------------------------- table 3
def table_accuracy(X_train, y_train, X_val, y_val, args, device, results: dict) -> list[dict]:
    """Table 3: validation accuracy (with --tta views) vs training seconds for ensembles of --sizes members.
    With ``--tune-lr``, first picks the peak learning rate on a hold-out carved from the training rows."""
    member = MEMBERS[args.member]
    augment = A.Compose([A.HorizontalFlip(), A.Translate(x=args.translate, y=args.translate, unit="pixels")])
    recipe = dict(member=member, lr=args.lr, weight_decay=args.weight_decay, lr_schedule="onecycle",
                  augment=augment, tta=args.tta, batch_size=args.batch_size, label_smoothing=args.label_smoothing,
                  precision=args.precision, vectorize=args.vectorize)
    sizes = sorted(args.sizes)
    if args.epochs is None:
        probe = min(len(X_train), 4096)
        train_vectorized(X_train[:512], y_train[:512], sizes[-1], 1, device, **recipe)  # warm-up
        _, seconds = train_vectorized(X_train[:probe], y_train[:probe], sizes[-1], 1, device, **recipe)
        epochs = max(1, int(args.budget / (seconds * len(X_train) / probe)))
        print(f"  probe: 1 epoch of {sizes[-1]} members on {probe} images took {seconds:.1f} s -> "
              f"{epochs} epochs fit in {args.budget:g} s", flush=True)
    else:
        epochs = args.epochs
    if args.tune_lr:
        results["lr_tuning"] = tune_lr(X_train, y_train, epochs, args, device, recipe)
        args.lr = recipe["lr"] = max(results["lr_tuning"], key=lambda r: r["holdout_acc"])["lr"]
    results["recipe"] = recipe_text(args)
    print(f"  recipe: {results['recipe']}", flush=True)
    rows = results["accuracy"] = []  # filled row by row, saved after each
    for k in sizes:
        clf, seconds = train_vectorized(X_train, y_train, k, epochs, device, **recipe)
        start = time.perf_counter()
        acc_tta = float(clf.score(X_val, y_val))
        sync(device)
        eval_seconds = time.perf_counter() - start
        acc_plain = float((clf.predict(X_val, tta=None) == y_val).mean())
        rows.append({"members": k, "member": args.member, "epochs": epochs, "train_seconds": seconds,
                     "eval_seconds": eval_seconds, "tta": args.tta, "val_acc_flip_tta": acc_tta,
                     "val_acc_no_tta": acc_plain, "goal_met": bool(acc_tta >= 0.92 and seconds <= 60)})
        print(f"  {k} members x {epochs} epochs: {seconds:.1f} s, val acc {acc_tta:.4f} ({args.tta} TTA, "
              f"{eval_seconds:.1f} s), {acc_plain:.4f} (no TTA)", flush=True)
        save(results, args.out)
    return rows


def tune_lr(X_train, y_train, epochs: int, args, device, recipe: dict) -> list[dict]:
    """One member per candidate peak lr, trained on the training rows minus a random hold-out of
    10 % of them and scored there (no TTA): the validation split plays no part in the choice."""
    order = np.random.default_rng(1).permutation(len(X_train))
    held, rest = np.sort(order[:len(order) // 10]), np.sort(order[len(order) // 10:])
    rows = []
    for lr in args.tune_lr:
        clf, seconds = train_vectorized(X_train[rest], y_train[rest], 1, epochs, device, **{**recipe, "lr": lr})
        acc = float((clf.predict(X_train[held], tta=None) == y_train[held]).mean())
        rows.append({"lr": lr, "epochs": epochs, "train_seconds": seconds, "holdout_acc": acc})
        print(f"  lr {lr:g}: 1 member x {epochs} epochs on {len(rest)} rows, {seconds:.1f} s, "
              f"hold-out acc {acc:.4f}", flush=True)
    return rows


def recipe_text(args) -> str:
    """Table 3's recipe in one line."""
    return (f"{args.member}, batch {args.batch_size}, one-cycle SGD peak lr {args.lr:g} (Nesterov 0.9), "
            f"weight decay {args.weight_decay:g}, label smoothing {args.label_smoothing:g}, {args.precision}, "
            f"flip + translate {args.translate} px, {args.tta} TTA, vectorize={args.vectorize}")


def plot_accuracy(rows: list[dict], path: Path, dpi: int, title: str) -> None:
    """Validation accuracy (test-time views) vs training seconds, one labelled point per ensemble size."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4))
    xs, ys = [r["train_seconds"] for r in rows], [100 * r["val_acc_flip_tta"] for r in rows]
    ax.plot(xs, ys, marker="o")
    for r, x, y in zip(rows, xs, ys):
        ax.annotate(f"{r['members']}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.axhline(92.0, color="k", linestyle="--", linewidth=0.8, label="goal 92 %")
    ax.axvline(60.0, color="gray", linestyle=":", linewidth=0.8, label="60 s")
    ax.set_xlabel("training seconds")
    ax.set_ylabel(f"validation accuracy, {rows[0]['tta']} TTA (%)")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


# ----------------------------------------------------------------------------- report
def table(title: str, columns: list[str], align: str, cells: list[list[str]], intro: str = "") -> list[str]:
    """One markdown section: a heading, an optional sentence, and a table (``align``: one
    character per column, "l" or "r")."""
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return ([f"### {title}", ""] + ([intro, ""] if intro else []) + ["| " + " | ".join(columns) + " |", rule]
            + ["| " + " | ".join(row) + " |" for row in cells] + [""])


def markdown(results: dict) -> str:
    """The three tables as markdown."""
    lines = [results["header"], ""]
    if results.get("throughput"):
        lines += table("1. Training throughput (SmallCNN, batch 128, 1 epoch)",
                       ["method", "members", "images", "seconds", "member-images/s", "faster vectorized / this"],
                       "lrrrrr", [[r["method"], str(r["members"]), f"{r['images']:,}", f"{r['seconds']:.1f}",
                                   f"{r['member_images_per_s']:,.0f}", f"{r['vectorized_vs_this']:.2f}x"]
                                  for r in results["throughput"]])
    if results.get("augment"):
        lines += table("2. Augmentation pipeline on the device (float batches)",
                       ["pipeline", "device", "batch", "median ms", "images/s"], "llrrr",
                       [[r["pipeline"], r["device"], f"{r['batch']:,}", f"{r['median_seconds'] * 1e3:.1f}",
                         f"{r['images_per_s']:,.0f}"] for r in results["augment"]])
    if results.get("lr_tuning"):
        lines += table("3a. Peak learning rate, chosen on a hold-out of 10 % of the training rows (1 member)",
                       ["peak lr", "epochs", "training s", "hold-out acc (no TTA)"], "rrrr",
                       [[f"{r['lr']:g}", str(r["epochs"]), f"{r['train_seconds']:.1f}", f"{100 * r['holdout_acc']:.2f} %"]
                        for r in results["lr_tuning"]])
    if results.get("accuracy"):
        tta = results["accuracy"][0]["tta"]
        lines += table("3. Accuracy vs training time (vectorized engine)",
                       ["members", "member", "epochs", "training s", f"val acc ({tta} TTA)", "TTA eval s",
                        "val acc (no TTA)", ">= 92 % in 60 s"], "rlrrrrrl",
                       [[str(r["members"]), r["member"], str(r["epochs"]), f"{r['train_seconds']:.1f}",
                         f"{100 * r['val_acc_flip_tta']:.2f} %", f"{r['eval_seconds']:.1f}",
                         f"{100 * r['val_acc_no_tta']:.2f} %", "yes" if r["goal_met"] else "no"]
                        for r in results["accuracy"]], intro=f"Recipe: {results['recipe']}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="torch device; full size on cuda, reduced size on cpu (default: %(default)s)")
    parser.add_argument("--data-npy", type=Path, default=None,
                        help="folder written by --export-npy (default: augkit.data.load_cifar10())")
    parser.add_argument("--export-npy", type=Path, default=None, metavar="DIR",
                        help="write CIFAR-10 from load_cifar10() to DIR and exit")
    parser.add_argument("--export-format", choices=("decoded", "jpeg"), default="decoded",
                        help="decoded: images.npy uint8 N x 32 x 32 x 3 (147 MiB); jpeg: the original JPEG "
                             "bytes (44 MiB) (default: %(default)s)")
    parser.add_argument("--tables", default="1,2,3", help="which tables to run (default: %(default)s)")
    parser.add_argument("--members", type=int, default=8, help="members in table 1 (default: %(default)s)")
    parser.add_argument("--images", type=int, default=None,
                        help="training images in table 1 (default: 10000 on cuda, 128 on cpu)")
    parser.add_argument("--aug-batch", type=int, default=None, help="table 2 batch (default: 8192 on cuda, 1024 on cpu)")
    parser.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")], default=[1, 2, 4, 8],
                        help="ensemble sizes in table 3 (default: 1,2,4,8)")
    parser.add_argument("--member", choices=sorted(MEMBERS), default="fastcnn",
                        help="table 3 member network (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=512, help="table 3 batch size (default: %(default)s)")
    parser.add_argument("--weight-decay", type=float, default=5e-4, help="table 3 weight decay (default: %(default)s)")
    parser.add_argument("--label-smoothing", type=float, default=0.2,
                        help="table 3 label smoothing (default: %(default)s)")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default=None,
                        help="table 3 training precision (default: bfloat16 on cuda, float32 on cpu)")
    parser.add_argument("--translate", type=int, default=2, help="table 3 translation, pixels (default: %(default)s)")
    parser.add_argument("--tta", default="flip_shift", choices=("flip", "shift", "flip_shift"),
                        help="table 3 test-time views (default: %(default)s)")
    parser.add_argument("--vectorize", choices=("auto", "vmap", "grouped"), default="auto",
                        help="table 3 strategy; auto = the faster one in table 1, else vmap (default: %(default)s)")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="table 3: training seconds of the largest ensemble that size the epochs (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="table 3 epochs (default: from --budget on cuda, 1 on cpu)")
    parser.add_argument("--lr", type=float, default=0.8, help="table 3 peak learning rate (default: %(default)s)")
    parser.add_argument("--tune-lr", type=lambda s: [float(v) for v in s.split(",")], default=None, metavar="LR,LR,..",
                        help="table 3: first train one member per peak lr on 90 %% of the training rows, keep the lr "
                             "with the best accuracy on the other 10 %%")
    parser.add_argument("--train-images", type=int, default=None,
                        help="table 3 training images (default: all 45000 on cuda, 256 on cpu)")
    parser.add_argument("--val-images", type=int, default=None,
                        help="table 3 validation images (default: all 10000 on cuda, 500 on cpu)")
    parser.add_argument("--out", type=Path, default=Path("augkit-out/gpu"),
                        help="folder for gpu.md/.json/gpu_accuracy.png (default: %(default)s)")
    parser.add_argument("--dpi", type=int, default=80, help="PNG resolution (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.export_npy is not None:
        export_npy(args.export_npy, args.export_format)
        return {}
    device = torch.device(args.device)
    reduced = device.type != "cuda"
    tables = {int(t) for t in args.tables.split(",")}
    args.images = args.images or (128 if reduced else 10_000)
    args.aug_batch = args.aug_batch or (1024 if reduced else 8192)
    if reduced and args.epochs is None:
        args.epochs = 1
    args.precision = args.precision or ("float32" if reduced else "bfloat16")
    if device.type == "cuda":  # TF32 convolutions/matmuls for the float32 parts, autotuned cuDNN kernels
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    images, labels = read_npy_folder(args.data_npy) if args.data_npy else load_cifar10()[:2]
    train_idx, val_idx = last_per_class_split(labels, 1000)
    X = to_batch(images).numpy()  # uint8 N x 3 x 32 x 32
    rng = np.random.default_rng(0)
    n_train = args.train_images or (256 if reduced else len(train_idx))
    n_val = args.val_images or (500 if reduced else len(val_idx))
    train_idx = np.sort(rng.choice(train_idx, min(n_train, len(train_idx)), replace=False))
    val_idx = np.sort(rng.choice(val_idx, min(n_val, len(val_idx)), replace=False))
    load_seconds = time.perf_counter() - start
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    header = (f"device: {name}; torch {torch.__version__}; data loaded in {load_seconds:.1f} s"
              + ("; CPU REDUCED SIZE (small subsets, 1 epoch): not the GPU benchmark" if reduced else ""))
    print(header, flush=True)
    results = {"header": header, "args": {k: str(v) for k, v in vars(args).items()}}
    if 1 in tables:
        print("1. training throughput", flush=True)
        results["throughput"] = table_throughput(X[train_idx], labels[train_idx], args, device)
        save(results, args.out)
        if args.vectorize == "auto":
            args.vectorize = fastest_strategy(results["throughput"])
    if args.vectorize == "auto":
        args.vectorize = "vmap"
    if 2 in tables:
        print("2. augmentation throughput", flush=True)
        results["augment"] = table_augment(images[train_idx], args, device)
        save(results, args.out)
    if 3 in tables:
        print("3. accuracy vs training time", flush=True)
        table_accuracy(X[train_idx], labels[train_idx], X[val_idx], labels[val_idx], args, device, results)
        plot_accuracy(results["accuracy"], args.out / "gpu_accuracy.png", args.dpi, header[:90])
    results["total_seconds"] = time.perf_counter() - start
    print(save(results, args.out))
    return results


def save(results: dict, out: Path) -> str:
    """Write gpu.md and gpu.json (after every table, so a run cut short keeps what it measured)."""
    text = markdown(results)
    if "total_seconds" in results:
        text += f"\nTotal wall time {results['total_seconds']:.0f} s.\n"
    (out / "gpu.md").write_text(text)
    (out / "gpu.json").write_text(json.dumps(results, indent=1))
    return text


if __name__ == "__main__":
    main()
